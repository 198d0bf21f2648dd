// Image-function benchmarks (issue 11), run as a client of the container manager:
// - python_cold_start: the Python image's packed tree (images/python) deployed as an image
//   function running `python3 -c pass`, cold invocations timed end to end (each in a fresh task
//   with the tree mapped, never copied); the Linux guest runs the same tree with `crun run`.
// - fs_stat, fs_open_read_close, fs_getdents_1000: bench/linux/workloads/fs_ops.c, dynamically
//   linked against Debian's glibc, from the linux scenario's image tree (user/tests/linux/
//   make-image-tree: a 4 KiB file and a 1,000-entry directory), prints its own BENCH line, which
//   this client copies to the console; the Linux guest runs the same source on its initramfs.
// Prints BENCH lines and ends the machine.
#include "manager/protocol.hpp"
#include "print.hpp"
#include "statistics.hpp"
#include "sys/sys.hpp"

extern "C" const unsigned char python_tree_image[];
extern "C" const unsigned char python_tree_image_end[];
extern "C" const unsigned char files_tree_image[];
extern "C" const unsigned char files_tree_image_end[];
#include "sys/string.hpp"

using namespace sys;

namespace {

Console console(sys::CONSOLE);
constexpr u64 SERVICE = 8;  // Our badged capability to the manager's endpoint.
constexpr u64 SAMPLES = 10;  // A Python start costs about 100 empty invocations.
// What the python scenario runs (user/tests/python): program, argument, then the environment.
constexpr char ARGUMENTS[] = "/usr/bin/python3\0-c\0pass\0\0PATH=/usr/bin:/bin\0HOME=/\0LANG=C.UTF-8";

u64 samples[SAMPLES];

// Deploys the packed tree [tree, end) as the image function `name` running `arguments` (program,
// arguments, an empty string, the environment).
Result<void> deploy_image(SlotAllocator& slots, const char* name, const unsigned char* tree_bytes,
                          const unsigned char* end, const char* arguments, u64 argument_bytes) {
  u64 size = static_cast<u64>(end - tree_bytes);
  u64 pages = (size + 4095) / 4096;
  u64 slot = TRY(slots.allocate());
  Memory tree = TRY(Factory(OWN_FACTORY).create_memory(slot, pages));
  // MemoryWrite moves at most 16 MiB per call.
  constexpr u64 STEP = 16ull << 20;
  for (u64 done = 0; done < size; done += STEP)
    TRY_VOID(tree.write(done, tree_bytes + done, size - done < STEP ? size - done : STEP));
  manager::DeployRequest body{};
  manager::pack_name(name, body.name);
  body.executable_size = size;
  body.config = manager::DEFAULT_CONFIG;
  body.config.flags = manager::FUNCTION_FLAG_LINUX | manager::FUNCTION_FLAG_IMAGE;
  body.config.memory_limit_bytes = 192ull << 20;
  body.config.timeout_nanoseconds = 120'000'000'000;
  if (argument_bytes > manager::MAX_ARGUMENT_BYTES) return Error::InvalidArgument;
  memcpy(body.arguments, arguments, argument_bytes);
  Message request = message_of(manager::DEPLOY, body, offsetof(manager::DeployRequest, arguments) + argument_bytes);
  request.attach(tree, abi::rights_of(abi::MemoryRight::Read));
  Message reply;
  Result<void> called = Endpoint(SERVICE).call(request, reply);
  (void)tree.remove();
  slots.free(slot);
  TRY_VOID(called);
  if (reply.label() != manager::STATUS_OK) {
    manager::DetailReply refusal;
    get(reply, refusal);
    printf(console, "# deploy status %u, detail %#lx\n", reply.label(), refusal.detail);
    return Error::InvalidArgument;
  }
  return {};
}

// Removes the function `name` (its tree leaves the tenant's storage).
void remove(const char* name) {
  manager::NameRequest body;
  manager::pack_name(name, body.name);
  Message request = message_of(manager::REMOVE, body);
  Message reply;
  (void)Endpoint(SERVICE).call(request, reply);
}

// One cold invocation of `name` with no input; its inline output (NUL-terminated) in `output`.
bool invoke(const char* name, char (&output)[manager::INLINE_BYTES + 1]) {
  manager::InvokeRequest body{};
  manager::pack_name(name, body.name);
  body.output_capacity = manager::INLINE_BYTES;
  Message request = message_of(manager::INVOKE, body, manager::INVOKE_HEAD_BYTES);
  Message reply;
  if (!Endpoint(SERVICE).call(request, reply).ok()) return false;
  manager::InvokeReply answer;
  get(reply, answer);
  if (reply.label() != manager::STATUS_OK) {
    printf(console, "# invocation status %u, exit %lu, detail %#lx\n", reply.label(), answer.result.exit_code,
           answer.result.detail);
    return false;
  }
  u64 size = answer.result.output_size < manager::INLINE_BYTES ? answer.result.output_size : manager::INLINE_BYTES;
  memcpy(output, answer.tail, size);
  output[size] = '\0';
  return true;
}

// fs_ops' arguments: metric, samples, batch, the 4 KiB file, the directory (as the Linux suite's
// "full" scale), then the environment.
#define FS_OPS(metric, batch) "/usr/bin/fs_ops\0" metric "\00020\0" batch "\0data/page.txt\0bench/many\0\0PATH=/usr/bin:/bin"
constexpr char FS_STAT[] = FS_OPS("fs_stat", "100");
constexpr char FS_OPEN_READ_CLOSE[] = FS_OPS("fs_open_read_close", "100");
constexpr char FS_GETDENTS[] = FS_OPS("fs_getdents_1000", "5");

}  // namespace

extern "C" void metteagle_main(u64) {
  static SlotAllocator slots(64, 256);
  static char output[manager::INLINE_BYTES + 1];
  ThreadSelfInfo self = thread_self();
  printf(console, "BENCH-BEGIN metteagle images: %lu CPUs\n", self.cpu_count);
  static_assert(sizeof ARGUMENTS <= manager::MAX_ARGUMENT_BYTES);
  if (!deploy_image(slots, "python", python_tree_image, python_tree_image_end, ARGUMENTS, sizeof ARGUMENTS).ok()) {
    printf(console, "BENCH-ERROR python_cold_start deploying the Python image failed\n");
    (void)console.exit(0x11);
  }
  (void)invoke("python", output);  // Warm-up: the manager's first use of its paths.
  printf(console, "BENCH-START python_cold_start\n");
  for (u64 sample = 0; sample < SAMPLES; ++sample) {
    u64 start = bench::read_tsc();
    if (!invoke("python", output)) {
      printf(console, "BENCH-ERROR python_cold_start invocation failed\n");
      (void)console.exit(0x11);
    }
    samples[sample] = bench::tenths_of_nanoseconds(bench::read_tsc() - start, 1, self.tsc_hertz);
  }
  bench::report(console, "python_cold_start", samples, SAMPLES);
  remove("python");

  struct FileOperation {
    const char* metric;
    const char* arguments;
    u64 bytes;
  } const operations[] = {{"fs_stat", FS_STAT, sizeof FS_STAT},
                          {"fs_open_read_close", FS_OPEN_READ_CLOSE, sizeof FS_OPEN_READ_CLOSE},
                          {"fs_getdents_1000", FS_GETDENTS, sizeof FS_GETDENTS}};
  for (const FileOperation& operation : operations) {
    printf(console, "BENCH-START %s\n", operation.metric);
    if (!deploy_image(slots, operation.metric, files_tree_image, files_tree_image_end, operation.arguments,
                      operation.bytes)
             .ok() ||
        !invoke(operation.metric, output)) {
      printf(console, "BENCH-ERROR %s fs_ops failed\n", operation.metric);
      (void)console.exit(0x11);
    }
    printf(console, "%s", output);  // fs_ops' own BENCH line (or BENCH-ERROR).
    remove(operation.metric);
  }
  printf(console, "BENCH-DONE\n");
  (void)console.exit(0x10);
  exit_thread();
}
