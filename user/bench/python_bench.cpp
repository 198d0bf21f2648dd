// Python benchmark client (issue 11): deploys the Python image's packed tree (images/python) as an
// image function running `python3 -c pass` and measures cold invocations of it end to end (each
// in a fresh task with the tree mapped, never copied): `python_cold_start`, the figure the Linux
// guest measures with `crun run` of the same tree. Prints BENCH lines and ends the machine.
#include "manager/protocol.hpp"
#include "print.hpp"
#include "statistics.hpp"
#include "sys/sys.hpp"

extern "C" const unsigned char python_tree_image[];
extern "C" const unsigned char python_tree_image_end[];
extern "C" void* memcpy(void* destination, const void* source, sys::usize length);

using namespace sys;

namespace {

Console console(sys::CONSOLE);
constexpr u64 SERVICE = 8;  // Our badged capability to the manager's endpoint.
constexpr u64 SAMPLES = 10;  // A Python start costs about 100 empty invocations.
// What the python scenario runs (user/tests/python): program, argument, then the environment.
constexpr char ARGUMENTS[] = "/usr/bin/python3\0-c\0pass\0\0PATH=/usr/bin:/bin\0HOME=/\0LANG=C.UTF-8";

u64 samples[SAMPLES];

Result<void> deploy_python(SlotAllocator& slots) {
  u64 size = static_cast<u64>(python_tree_image_end - python_tree_image);
  u64 pages = (size + 4095) / 4096;
  u64 slot = TRY(slots.allocate());
  Memory tree = TRY(Factory(OWN_FACTORY).create_memory(slot, pages));
  // MemoryWrite moves at most 16 MiB per call.
  constexpr u64 STEP = 16ull << 20;
  for (u64 done = 0; done < size; done += STEP)
    TRY_VOID(tree.write(done, python_tree_image + done, size - done < STEP ? size - done : STEP));
  Message request = Message::make(manager::DEPLOY);
  manager::pack_name("python", request.words);
  request.words[4] = size;
  manager::FunctionConfig config = manager::DEFAULT_CONFIG;
  config.flags = manager::FUNCTION_FLAG_LINUX | manager::FUNCTION_FLAG_IMAGE;
  config.memory_limit_bytes = 192ull << 20;
  config.timeout_nanoseconds = 120'000'000'000;
  memcpy(&request.words[5], &config, sizeof config);
  memcpy(&request.words[manager::DEPLOY_ARGUMENTS_FIRST_WORD], ARGUMENTS, sizeof ARGUMENTS);
  request.set_words(manager::DEPLOY, manager::DEPLOY_ARGUMENTS_FIRST_WORD + (sizeof ARGUMENTS + 7) / 8);
  request.attach(tree, abi::rights_of(abi::MemoryRight::Read));
  Message reply;
  TRY_VOID(Endpoint(SERVICE).call(request, reply));
  (void)tree.remove();
  if (reply.label() != manager::STATUS_OK) {
    printf(console, "# deploy status %u, word 0 %#lx\n", reply.label(), reply.words[0]);
    return Error::InvalidArgument;
  }
  return {};
}

bool invoke_python() {
  Message request = Message::make(manager::INVOKE);
  manager::pack_name("python", request.words);
  request.set_words(manager::INVOKE, manager::INLINE_FIRST_WORD);
  Message reply;
  if (!Endpoint(SERVICE).call(request, reply).ok()) return false;
  if (reply.label() != manager::STATUS_OK) {
    printf(console, "# invocation status %u, exit %lu, detail %#lx\n", reply.label(), reply.words[0], reply.words[7]);
    return false;
  }
  return true;
}

}  // namespace

extern "C" void metteagle_main(u64) {
  static SlotAllocator slots(64, 256);
  ThreadSelfInfo self = thread_self();
  printf(console, "BENCH-BEGIN metteagle python: %lu CPUs\n", self.cpu_count);
  static_assert(sizeof ARGUMENTS <= manager::MAX_ARGUMENT_BYTES);
  if (!deploy_python(slots).ok()) {
    printf(console, "BENCH-ERROR python_cold_start deploying the Python image failed\n");
    (void)console.exit(0x11);
  }
  invoke_python();  // Warm-up: the manager's first use of its paths.
  printf(console, "BENCH-START python_cold_start\n");
  for (u64 sample = 0; sample < SAMPLES; ++sample) {
    u64 start = bench::read_tsc();
    if (!invoke_python()) {
      printf(console, "BENCH-ERROR python_cold_start invocation failed\n");
      (void)console.exit(0x11);
    }
    samples[sample] = bench::tenths_of_nanoseconds(bench::read_tsc() - start, 1, self.tsc_hertz);
  }
  bench::report(console, "python_cold_start", samples, SAMPLES);
  printf(console, "BENCH-DONE\n");
  (void)console.exit(0x10);
  exit_thread();
}
