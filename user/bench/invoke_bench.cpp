// Container benchmarks, run as a client of the container manager: deploys the empty function
// once, then measures cold invocations end to end (each in a fresh task) with the manager's
// per-phase figures, and invocation throughput with one and with two client threads.
// Prints BENCH lines (statistics.hpp) and ends the machine.
#include "manager/protocol.hpp"
#include "print.hpp"
#include "statistics.hpp"
#include "sys/sys.hpp"

extern "C" const unsigned char empty_function_image[];
extern "C" const unsigned char empty_function_image_end[];
extern "C" const unsigned char linux_empty_image[];
extern "C" const unsigned char linux_empty_image_end[];
extern "C" const unsigned char go_hello_image[];
extern "C" const unsigned char go_hello_image_end[];
extern "C" const unsigned char fork_exec_tree_image[];
extern "C" const unsigned char fork_exec_tree_image_end[];

using namespace sys;

namespace {

Console console(sys::CONSOLE);
constexpr u64 SERVICE = 8;  // Our badged capability to the manager's endpoint.



constexpr u64 SAMPLES = 60;
constexpr u64 GO_SAMPLES = 30;  // A Go start costs ~30 empty ones; 30 keep the boot short.
constexpr u64 THROUGHPUT_SECONDS_TENTHS = 5;  // Half a second of guest time per measurement.
constexpr u64 HELPER_STACK = 0x60000000;
constexpr u64 HELPER_UTCB = 0x61000000;

u64 tsc_hertz = 0;
u64 samples[6][SAMPLES];

// Deploys an embedded executable (or, with FUNCTION_FLAG_IMAGE, an image tree) under name; flags
// are FunctionConfig flags (0 = native); `arguments` are the deploy strings (docs/LINUX.md).
Result<void> deploy(SlotAllocator& slots, const char* name, const u8* bytes, const u8* end, u64 flags,
                    u64 memory_limit = manager::DEFAULT_CONFIG.memory_limit_bytes, const char* arguments = nullptr,
                    u64 argument_bytes = 0, u64 cpu_mask = 0) {
  u64 size = static_cast<u64>(end - bytes);
  u64 pages = (size + 4095) / 4096;
  u64 slot = TRY(slots.allocate());
  Memory image = TRY(Factory(OWN_FACTORY).create_memory(slot, pages));
  TRY_VOID(image.write(0, bytes, size));
  manager::DeployRequest body{};
  manager::pack_name(name, body.name);
  body.executable_size = size;
  body.config = manager::DEFAULT_CONFIG;
  body.config.flags = flags;
  body.config.memory_limit_bytes = memory_limit;
  if (cpu_mask != 0) body.config.cpu_mask = cpu_mask;
#ifdef METTEAGLE_LINUX_PROFILE
  body.config.grants = manager::GRANT_CONSOLE;  // The profiling build's report goes to the console.
#endif
  if (argument_bytes > manager::MAX_ARGUMENT_BYTES) argument_bytes = 0;
  if (argument_bytes > 0) __builtin_memcpy(body.arguments, arguments, argument_bytes);
  Message request = message_of(manager::DEPLOY, body, offsetof(manager::DeployRequest, arguments) + argument_bytes);
  request.attach(image, abi::rights_of(abi::MemoryRight::Read));
  Message reply;
  TRY_VOID(Endpoint(SERVICE).call(request, reply));
  if (reply.label() != manager::STATUS_OK) return Error::InvalidArgument;
  return {};
}

// One cold invocation; fills the end-to-end time and the manager's phases (ticks).
bool invoke_empty(u64* phases, const char* name = "empty") {
  manager::InvokeRequest body{};
  manager::pack_name(name, body.name);
  Message request = message_of(manager::INVOKE, body, manager::INVOKE_HEAD_BYTES);
  Message reply;
  if (!Endpoint(SERVICE).call(request, reply).ok()) return false;
  manager::InvocationResult result;
  get(reply, result);
  if (reply.label() != manager::STATUS_OK) {
    printf(console, "# invocation status %u, exit %lu, detail %#lx\n", reply.label(), result.exit_code, result.detail);
    return false;
  }
  if (phases != nullptr) {
    phases[0] = result.create_ticks;
    phases[1] = result.load_ticks;
    phases[2] = result.run_ticks;
    phases[3] = result.teardown_ticks;
  }
  return true;
}

// Invocations completed by one thread until the deadline.
volatile u64 helper_count = 0;
volatile u64 helper_deadline = 0;
u64 helper_finished = 0;  // A Notification the helper signals when it is done.

void count_until_deadline(u64) {
  u64 count = 0;
  while (bench::read_tsc() < helper_deadline)
    if (invoke_empty(nullptr)) ++count;
  helper_count = count;
  (void)Notification(helper_finished).signal(1);
}

// A benchmark program of the image tree (the Linux guest's own, same source and compiler) run as
// one image function (`arguments`: the program's path, argv, an empty string, the environment;
// `cpu_mask` 0: the default set): it prints its own BENCH line for `metric` (CLOCK_MONOTONIC, the
// TSC: instructions under icount), which is relayed here. A failure is the metric's BENCH-ERROR.
void run_image_program(SlotAllocator& slots, const char* name, const char* metric, const char* arguments,
                       u64 argument_bytes, u64 cpu_mask) {
  printf(console, "BENCH-START %s\n", metric);
  Message reply;
  manager::InvokeRequest body{};
  manager::pack_name(name, body.name);
  body.output_capacity = manager::INLINE_BYTES;
  Message request = message_of(manager::INVOKE, body, manager::INVOKE_HEAD_BYTES);
  manager::InvokeReply answer{};
  if (!deploy(slots, name, fork_exec_tree_image, fork_exec_tree_image_end,
              manager::FUNCTION_FLAG_LINUX | manager::FUNCTION_FLAG_IMAGE, 32ull << 20, arguments, argument_bytes,
              cpu_mask)
           .ok() ||
      !Endpoint(SERVICE).call(request, reply).ok() || reply.label() != manager::STATUS_OK) {
    get(reply, answer);
    printf(console, "BENCH-ERROR %s the function failed (status %u, exit %lu)\n", metric, reply.label(),
           answer.result.exit_code);
    (void)console.exit(0x11);
  }
  // The function's stdout: one BENCH line (inline output, at most INLINE_BYTES).
  get(reply, answer);
  static char line[manager::INLINE_BYTES + 1];
  u64 size = answer.result.output_size < manager::INLINE_BYTES ? answer.result.output_size : manager::INLINE_BYTES;
  __builtin_memcpy(line, answer.tail, size);
  line[size] = '\0';
  printf(console, "%s", line);
}

u64 per_second(u64 count, u64 ticks) { return ticks == 0 ? 0 : count * tsc_hertz / ticks; }

}  // namespace

extern "C" void metteagle_main(u64) {
  static SlotAllocator slots(64, 256);
  ThreadSelfInfo self = thread_self();
  tsc_hertz = self.tsc_hertz;
  printf(console, "BENCH-BEGIN metteagle containers: %lu CPUs\n", self.cpu_count);
  if (!deploy(slots, "empty", empty_function_image, empty_function_image_end, 0).ok() ||
      !deploy(slots, "linux_empty", linux_empty_image, linux_empty_image_end, manager::FUNCTION_FLAG_LINUX).ok()) {
    printf(console, "BENCH-ERROR cold_invoke_empty deploying the empty functions failed\n");
    (void)console.exit(0x11);
  }
  invoke_empty(nullptr);  // Warm-up: the manager's first use of its paths.

  printf(console, "BENCH-START cold_invoke_empty\n");
  for (u64 sample = 0; sample < SAMPLES; ++sample) {
    u64 phases[4];
    u64 start = bench::read_tsc();
    if (!invoke_empty(phases)) {
      printf(console, "BENCH-ERROR cold_invoke_empty invocation failed\n");
      (void)console.exit(0x11);
    }
    samples[0][sample] = bench::tenths_of_nanoseconds(bench::read_tsc() - start, 1, tsc_hertz);
    for (int i = 0; i < 4; ++i) samples[1 + i][sample] = bench::tenths_of_nanoseconds(phases[i], 1, tsc_hertz);
  }
  const char* names[] = {"cold_invoke_empty", "cold_invoke_create", "cold_invoke_load", "cold_invoke_run",
                         "cold_invoke_teardown"};
  for (int i = 0; i < 5; ++i) bench::report(console, names[i], samples[i], SAMPLES);

  // The same empty program the Linux guest spawns and runs in crun, unmodified, through the
  // Linux personality.
  printf(console, "BENCH-START cold_invoke_linux_static\n");
  invoke_empty(nullptr, "linux_empty");  // Warm-up.
  for (u64 sample = 0; sample < SAMPLES; ++sample) {
    u64 start = bench::read_tsc();
    if (!invoke_empty(nullptr, "linux_empty")) {
      printf(console, "BENCH-ERROR cold_invoke_linux_static invocation failed\n");
      (void)console.exit(0x11);
    }
    samples[0][sample] = bench::tenths_of_nanoseconds(bench::read_tsc() - start, 1, tsc_hertz);
  }
  bench::report(console, "cold_invoke_linux_static", samples[0], SAMPLES);

  // The static Go "hello, world" (Debian's golang-go, CGO_ENABLED=0) that the Linux guest spawns
  // and runs in crun: the Go runtime's whole start (its address-space reservations, threads,
  // signal set-up) through the personality. Its 32 MiB limit is what the linux scenario gives it.
  printf(console, "BENCH-START cold_invoke_go_hello\n");
  if (!deploy(slots, "go_hello", go_hello_image, go_hello_image_end, manager::FUNCTION_FLAG_LINUX, 32ull << 20).ok()) {
    printf(console, "BENCH-ERROR cold_invoke_go_hello deploying go_hello failed\n");
    (void)console.exit(0x11);
  }
  invoke_empty(nullptr, "go_hello");  // Warm-up.
  for (u64 sample = 0; sample < GO_SAMPLES; ++sample) {
    u64 start = bench::read_tsc();
    if (!invoke_empty(nullptr, "go_hello")) {
      printf(console, "BENCH-ERROR cold_invoke_go_hello invocation failed\n");
      (void)console.exit(0x11);
    }
    samples[0][sample] = bench::tenths_of_nanoseconds(bench::read_tsc() - start, 1, tsc_hertz);
  }
  bench::report(console, "cold_invoke_go_hello", samples[0], GO_SAMPLES);

  // The Linux guest's fork_exec_wait, the same source and compiler, inside one image function: it
  // forks, execs the static empty program from the image tree and waits, and prints its own BENCH
  // line (CLOCK_MONOTONIC, the TSC: instructions under icount), which is relayed here.
  static const char fork_exec_arguments[] =
      "/bench/fork_exec_wait\0fork_exec_wait\0" "60\0" "3\0" "/bench/empty\0\0PATH=/bench";
  run_image_program(slots, "fork_exec", "fork_exec_wait", fork_exec_arguments, sizeof fork_exec_arguments, 0);

  // The Linux guest's pipe_roundtrip (the same source and counts as its full run: 400 samples,
  // each the mean of 10 one-byte round trips between two processes over two pipes) from the same
  // tree, confined to CPU 0 as Linux pins both processes there, so the figure is a same-CPU round
  // trip on both sides.
  static const char pipe_arguments[] = "/bench/pipe_roundtrip\0" "400\0" "10\0\0PATH=/bench";
  run_image_program(slots, "pipe_roundtrip", "pipe_roundtrip", pipe_arguments, sizeof pipe_arguments, 0b01);

  // Throughput: one client thread, then two (the second on the other CPU), same duration.
  u64 duration = tsc_hertz / 10 * THROUGHPUT_SECONDS_TENTHS;
  for (u64 clients = 1; clients <= 2; ++clients) {
    const char* metric = clients == 1 ? "invocations_per_second_1cpu" : "invocations_per_second_2cpu";
    printf(console, "BENCH-START %s\n", metric);
    if (clients == 2 && self.cpu_count < 2) {
      printf(console, "BENCH-ERROR %s needs two CPUs\n", metric);
      (void)console.exit(0x11);
    }
    u64 start = bench::read_tsc();
    helper_deadline = start + duration;
    helper_count = 0;
    if (clients == 2) {
      helper_finished = slots.allocate().value();
      (void)Factory(OWN_FACTORY).create(ObjectType::Notification, helper_finished);
      u64 stack_slot = slots.allocate().value();
      u64 thread_slot = slots.allocate().value();
      Memory stack = Factory(OWN_FACTORY).create_memory(stack_slot, 16).value();
      (void)Task(SELF_TASK).map(stack, 0, HELPER_STACK, 16, abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write));
      Thread helper = Factory(OWN_FACTORY).create_thread(thread_slot, Task(SELF_TASK), HELPER_UTCB).value();
      (void)helper.configure(16, 1, abi::NULL_SELECTOR);
      (void)start_thread(helper, HELPER_STACK + 16 * 4096, count_until_deadline, 0);
    }
    u64 count = 0;
    while (bench::read_tsc() < helper_deadline)
      if (invoke_empty(nullptr)) ++count;
    if (clients == 2) (void)Notification(helper_finished).wait();  // Blocks: no spinning against the helper.
    u64 total = count + helper_count;
    u64 rate = per_second(total, bench::read_tsc() - start);
    // One sample: the figure is a rate, printed with the statistics line's fields all equal.
    printf(console, "BENCH %s per_second min=%lu.0 median=%lu.0 p99=%lu.0 n=1\n", metric, rate, rate, rate);
  }
  printf(console, "BENCH-DONE\n");
  (void)console.exit(0x10);
}
