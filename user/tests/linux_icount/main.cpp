// linux_icount_tests: Linux image functions that once never answered under QEMU's instruction
// counting (the benchmarks' icount mode, docs/BENCHMARKS.md "pipe_roundtrip"), run from a tenant
// started by the root task in the scenario linux_icount (-icount shift=0,sleep=off, two vCPUs).
// The programs are the Linux guest's own benchmark workloads (bench/linux/workloads), from the
// benchmark's image tree. There pid 1's signal watcher, woken by SIGCHLD while pid 1 was already in
// its final EVENT_EXIT, yielded in a loop for the state lock that exit keeps; that kept CPU 0 busy,
// and under icount QEMU then ran the other vCPU, where the manager's worker was to answer, not at all.
// Invariant: every case removes what it deployed.
#include "checks.hpp"
#include "tenant.hpp"

// The benchmark's image tree: /bench/fork_exec_wait, /bench/empty, /bench/pipe_roundtrip (page-aligned).
extern "C" const sys::u8 fork_exec_tree_image[], fork_exec_tree_image_end[];

namespace {

using namespace containers;
using test::Case;

// Twice the 8 invocations a boot of only pipe_roundtrip answered, under icount, before the fix.
constexpr int PIPE_ROUNDS = 16;
constexpr char PIPE_LINE[] = "BENCH pipe_roundtrip ns min=";
constexpr char FORK_EXEC_LINE[] = "BENCH fork_exec_wait ns min=";

// Deploys `name` from the benchmark's tree with `strings` ("program\0argv...\0\0environment") on
// the CPUs of `cpu_mask`; the case fails unless the manager says OK.
template <usize N>
bool deploy_program(Case& test, const char* name, const char (&strings)[N], u64 cpu_mask) {
  FunctionConfig config = manager::DEFAULT_CONFIG;
  config.flags = manager::FUNCTION_FLAG_LINUX | manager::FUNCTION_FLAG_IMAGE;
  config.memory_limit_bytes = 32ull << 20;
  config.cpu_mask = cpu_mask;
  Reply reply = client().deploy(RawName::of(name), fork_exec_tree_image,
                                static_cast<u64>(fork_exec_tree_image_end - fork_exec_tree_image), config, nullptr,
                                true, strings, N);
  if (reply.status == manager::STATUS_OK && reply.transport == Error::None) return true;
  test.fail(__FILE__, __LINE__, "deploy %s gave %s (ipc %s, detail %#lx)", name, status_name(reply.status),
            error_name(reply.transport), reply.detail());
  return false;
}

// One invocation of `name`: answered OK, exit 0, and its output is the program's one BENCH line,
// which starts with `line` and ends with " n=<samples>\n".
void expect_bench_line(Case& test, const char* name, const char* line, const char* samples_tail) {
  Reply reply = client().invoke(name, "");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_EQ(reply.result().exit_code, 0ul);
  u64 size = reply.result().output_size;
  const char* output = reinterpret_cast<const char*>(reply.inline_output());
  usize prefix = strlen(line), tail = strlen(samples_tail);
  if (size < prefix + tail || size > manager::INLINE_BYTES || memcmp(output, line, prefix) != 0 ||
      memcmp(output + size - tail, samples_tail, tail) != 0)
    test.fail(__FILE__, __LINE__, "%s printed %lu bytes, not one \"%s... %s\" line", name, size, line, "n=...");
}

constexpr char PIPE_STRINGS[] = "/bench/pipe_roundtrip\0" "400\0" "10\0\0PATH=/bench";
constexpr char FORK_EXEC_STRINGS[] =
    "/bench/fork_exec_wait\0fork_exec_wait\0" "60\0" "3\0" "/bench/empty\0\0PATH=/bench";

// pipe_roundtrip, confined to CPU 0 as the benchmark runs it, again and again: each invocation
// answers (before the fix, the first one here never did).
void pipe_roundtrip_answers_every_time(Case& test) {
  if (!deploy_program(test, "pipe_roundtrip", PIPE_STRINGS, 0b01)) return;
  for (int round = 0; round < PIPE_ROUNDS && !test.failed(); ++round)
    expect_bench_line(test, "pipe_roundtrip", PIPE_LINE, " n=400\n");
  EXPECT_STATUS(client().remove("pipe_roundtrip"), manager::STATUS_OK);
}

// The benchmark's order: fork_exec_wait on both CPUs, then pipe_roundtrip on CPU 0 (the order
// that never answered in the benchmark's containers boot before the fix).
void pipe_roundtrip_answers_after_fork_exec_wait(Case& test) {
  if (!deploy_program(test, "fork_exec", FORK_EXEC_STRINGS, 0)) return;
  expect_bench_line(test, "fork_exec", FORK_EXEC_LINE, " n=60\n");
  EXPECT_STATUS(client().remove("fork_exec"), manager::STATUS_OK);
  if (!deploy_program(test, "pipe_roundtrip", PIPE_STRINGS, 0b01)) return;
  expect_bench_line(test, "pipe_roundtrip", PIPE_LINE, " n=400\n");
  EXPECT_STATUS(client().remove("pipe_roundtrip"), manager::STATUS_OK);
}

const test::TestEntry TESTS[] = {
    {"pipe_roundtrip_answers_every_time", pipe_roundtrip_answers_every_time},
    {"pipe_roundtrip_answers_after_fork_exec_wait", pipe_roundtrip_answers_after_fork_exec_wait},
};

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  if (endpoint_count < 1) {
    printf(console(), "# linux_icount_tests: needs the manager endpoint\n0 passed, 1 failed\n");
    (void)console().exit(0x11);
    exit_thread();
  }
  printf(console(), "# linux_icount_tests: %zu cases\n", sizeof TESTS / sizeof TESTS[0]);
  test::run_all(console(), TESTS, sizeof TESTS / sizeof TESTS[0]);
  exit_thread();
}
