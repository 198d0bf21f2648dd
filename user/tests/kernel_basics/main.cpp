// kernel_basics: the kernel's system calls exercised from user space, one case per behaviour.
// Runs as the root task (rdi = ROOT_BOOT_INFO_ADDRESS) or as a child started by the root task with
// `task thread factory=... console=write+exit` (see docs/BOOT.md).
#include "environment.hpp"

namespace kernel_basics {
namespace {
// A child's space size is not passed to it; the root task's default (docs/BOOT.md) is assumed.
constexpr u64 CHILD_CAPABILITY_SLOTS = 256;

Environment* current_environment = nullptr;
constexpr usize MAX_TESTS = 64;
test::TestEntry all_tests[MAX_TESTS];
usize all_test_count = 0;

void append(const test::TestEntry* tests, usize count) {
  for (usize index = 0; index < count && all_test_count < MAX_TESTS; ++index) all_tests[all_test_count++] = tests[index];
}
}  // namespace

Environment& environment() { return *current_environment; }

SlotAllocator& slots() { return *environment().slots; }

}  // namespace kernel_basics

extern "C" void metteagle_main(sys::u64 argument) {
  using namespace kernel_basics;
  bool is_root = argument == abi::ROOT_BOOT_INFO_ADDRESS;
  u64 slot_count = is_root ? abi::ROOT_CAPABILITY_SLOTS : CHILD_CAPABILITY_SLOTS;
  static SlotAllocator slots(FIRST_FREE, slot_count);
  static Environment environment_storage{
      is_root, is_root ? reinterpret_cast<const abi::RootBootInfo*>(argument) : nullptr, slot_count, Task(SELF_TASK),
      Thread(SELF_THREAD), Factory(OWN_FACTORY), Console(CONSOLE), &slots};
  current_environment = &environment_storage;

  append(CAPABILITY_TESTS, CAPABILITY_TEST_COUNT);
  append(RIGHTS_TESTS, RIGHTS_TEST_COUNT);
  append(FACTORY_TESTS, FACTORY_TEST_COUNT);
  append(MEMORY_TESTS, MEMORY_TEST_COUNT);
  append(IPC_TESTS, IPC_TEST_COUNT);

  printf(environment_storage.console, "# kernel_basics: %zu cases, started as %s\n", all_test_count,
         is_root ? "the root task" : "a child task");
  test::run_all(environment_storage.console, all_tests, all_test_count);
}
