// python_tests: the paper's Python workloads (issue 11) as image functions. The Python image built
// from Debian bookworm packages by images/python/build-rootfs (python3, jinja2, igraph and the
// project's functions under /function) is deployed as each function's tree; every case's stdout
// and exit status must be byte for byte those of the same python3 run natively in the same tree
// (run-native: chrooted, uid 1000, a private /tmp, at build time).
// Invariant: every case removes what it deployed.
#include "../framework.hpp"
#include "checks.hpp"
#include "tenant.hpp"
#include "lib/elf.hpp"

#include "sys/string.hpp"

#define NATIVE_CASE(name) \
  extern "C" const sys::u8 python_native_##name[], python_native_##name##_end[], python_native_##name##_status[], \
      python_native_##name##_status_end[];
NATIVE_CASE(pass)
NATIVE_CASE(version)
NATIVE_CASE(empty)
NATIVE_CASE(dynamic_html)
NATIVE_CASE(compression)
NATIVE_CASE(graph_pagerank)
NATIVE_CASE(graph_bfs)
NATIVE_CASE(graph_mst)
#undef NATIVE_CASE
// The Python image's packed tree (images/python/build-rootfs), page-aligned.
extern "C" const sys::u8 python_image_tree[], python_image_tree_end[];

namespace {

using namespace containers;
using test::Case;


u64 read_tsc() {
  u32 low = 0, high = 0;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (u64{high} << 32) | low;
}

// What every Python function gets: the image tree, 192 MiB (igraph's standard graphs need far
// more than the small ones), stderr on the console, a generous timeout for a loaded host.
FunctionConfig python_config() {
  FunctionConfig config = manager::DEFAULT_CONFIG;
  config.memory_limit_bytes = 192ull << 20;
  config.grants = manager::GRANT_CONSOLE;
  config.flags = manager::FUNCTION_FLAG_LINUX | manager::FUNCTION_FLAG_IMAGE;
  config.timeout_nanoseconds = 120'000'000'000;
  return config;
}

// The environment of every case, as run-native gives it.
#define PYTHON_ENVIRONMENT "\0\0PATH=/usr/bin:/bin\0HOME=/\0LANG=C.UTF-8"

#define NATIVE(name) NATIVE_RUN(python, name)

// Deploys `name` with the Python tree and "program\0arguments...\0\0environment", invokes it with
// `input`, requires the native run's stdout and status, prints the time it took and the calls
// answered ENOSYS, removes it.
template <usize N>
void as_natively(Case& test, const char* name, const char (&strings)[N], const char* input, const NativeRun& native) {
  Reply deployed = client().deploy(RawName::of(name), python_image_tree,
                                   static_cast<u64>(python_image_tree_end - python_image_tree), python_config(),
                                   nullptr, true, strings, N);
  if (deployed.status != manager::STATUS_OK) {
    test.fail(__FILE__, __LINE__, "deploy %s gave %s (detail %#lx, transport %lu)", name, status_name(deployed.status),
              deployed.detail(), static_cast<u64>(deployed.transport));
    return;
  }
  static char text[TRANSCRIPT_PAGES * 4096 + 1];
  Reply reply;
  u64 started = read_tsc();
  bool invoked = invoke_transcript(test, name, reply, text, input);
  u64 ticks = read_tsc() - started;
  if (invoked) {
    u64 expected_status = 0;
    for (const u8* digit = native.status; digit < native.status_end && *digit >= '0' && *digit <= '9'; ++digit)
      expected_status = expected_status * 10 + static_cast<u64>(*digit - '0');
    if (expected_status == 0) {
      EXPECT_STATUS(reply, manager::STATUS_OK);
    } else {
      EXPECT_STATUS(reply, manager::STATUS_FAILED);
      EXPECT_EQ(reply.result().exit_code, expected_status);
    }
    auto native_size = static_cast<usize>(native.output_end - native.output);
    usize size = strlen(text);
    if (size != native_size || memcmp(text, native.output, size) != 0) {
      usize at = 0;
      while (at < size && at < native_size && static_cast<u8>(text[at]) == native.output[at]) ++at;
      usize from = at > 40 ? at - 40 : 0;
      char got[81] = {}, wanted[81] = {};
      for (usize i = 0; i < 80 && from + i < size; ++i) got[i] = text[from + i];
      for (usize i = 0; i < 80 && from + i < native_size; ++i) wanted[i] = static_cast<char>(native.output[from + i]);
      test.fail(__FILE__, __LINE__, "%s differs from its native run at byte %zu (%zu vs %zu bytes): got \"%s\", native \"%s\"",
                name, at, size, native_size, got, wanted);
    }
    printf(console(), "# %s: %zu bytes as natively, status %lu, %lu calls answered ENOSYS, %lu TSC ticks\n", name,
           size, expected_status, reply.result().detail, ticks);
  }
  EXPECT_STATUS(client().remove(name), manager::STATUS_OK);
}

constexpr const char* SMALL = "{\"size\": \"small\"}";

// The interpreter itself: start-up and exit (the cold-start figure), then a line that needs the
// standard library's modules from the tree.
void python_starts_and_exits(Case& test) {
  as_natively(test, "pypass", "/usr/bin/python3\0-c\0pass" PYTHON_ENVIRONMENT, "", NATIVE(pass));
  as_natively(test, "pyversion",
              "/usr/bin/python3\0-c\0"
              "print(__import__('json').dumps([__import__('sys').version_info[:3], __import__('sys').platform, __import__('os').getcwd(), sorted(__import__('os').listdir('/function'))]))"
              PYTHON_ENVIRONMENT,
              "", NATIVE(version));
}

void empty_workload(Case& test) {
  as_natively(test, "empty", "/usr/bin/python3\0/function/empty.py" PYTHON_ENVIRONMENT, SMALL, NATIVE(empty));
}

void dynamic_html_workload(Case& test) {
  as_natively(test, "dynhtml", "/usr/bin/python3\0/function/dynamic_html.py" PYTHON_ENVIRONMENT, SMALL,
              NATIVE(dynamic_html));
}

void compression_workload(Case& test) {
  as_natively(test, "compression", "/usr/bin/python3\0/function/compression.py" PYTHON_ENVIRONMENT, SMALL,
              NATIVE(compression));
}

void graph_workloads(Case& test) {
  as_natively(test, "pagerank", "/usr/bin/python3\0/function/graph_pagerank.py" PYTHON_ENVIRONMENT, SMALL,
              NATIVE(graph_pagerank));
  as_natively(test, "bfs", "/usr/bin/python3\0/function/graph_bfs.py" PYTHON_ENVIRONMENT, SMALL, NATIVE(graph_bfs));
  as_natively(test, "mst", "/usr/bin/python3\0/function/graph_mst.py" PYTHON_ENVIRONMENT, SMALL, NATIVE(graph_mst));
}

const test::TestEntry TESTS[] = {
    {"python_starts_and_exits", python_starts_and_exits},
    {"empty_workload", empty_workload},
    {"dynamic_html_workload", dynamic_html_workload},
    {"compression_workload", compression_workload},
    {"graph_workloads", graph_workloads},
};

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  if (endpoint_count < 1) {
    printf(console(), "# python_tests: needs the manager endpoint\n0 passed, 1 failed\n");
    (void)console().exit(0x11);
    exit_thread();
  }
  printf(console(), "# python_tests: %zu cases\n", sizeof TESTS / sizeof TESTS[0]);
  test::run_all(console(), TESTS, sizeof TESTS / sizeof TESTS[0]);
  exit_thread();
}
