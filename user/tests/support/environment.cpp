// The shared environment of the adversarial/lifecycle programs and their common main.
#include "environment.hpp"

#include "local_thread.hpp"

namespace support {
namespace {
Environment* current_environment = nullptr;
}  // namespace

Environment& environment() { return *current_environment; }

SlotAllocator& slots() { return *environment().slots; }

u64 elapsed_nanoseconds(u64 start_timestamp, u64 end_timestamp) {
  u64 hertz = environment().boot_info->tsc_hertz;
  u64 ticks = end_timestamp - start_timestamp;
  // Seconds and remainder apart, so ticks * 1e9 cannot overflow.
  return ticks / hertz * 1'000'000'000 + ticks % hertz * 1'000'000'000 / hertz;
}

void pause_for(u64 nanoseconds) {
  u64 start = thread_self().timestamp;
  while (elapsed_nanoseconds(start, thread_self().timestamp) < nanoseconds) yield_thread();
}

namespace {

// ThreadConfigure refuses a priority above the caller's own, so the highest priority a fresh,
// never-started thread accepts is the caller's. The probe thread lives in a throwaway task.
u64 probe_own_priority(Factory factory, SlotAllocator& slots) {
  u64 task_slot = slots.allocate().value();   // The space is empty at start: slots exist.
  u64 thread_slot = slots.allocate().value();
  u64 priority = 0;
  if (factory.create_task(task_slot, 16).ok() &&
      factory.create_thread(thread_slot, Task(task_slot), 0x10000).ok()) {
    for (u64 candidate = 63; candidate > 0; --candidate) {
      if (Thread(thread_slot).configure(candidate, 0, 0).ok()) {
        priority = candidate;
        break;
      }
    }
  }
  (void)Capability(thread_slot).remove();
  (void)Capability(task_slot).remove();
  slots.free(thread_slot);
  slots.free(task_slot);
  return priority;
}

// A capability space larger than a page of slots gets each page (51 slots) from its factory when
// one of its slots is first filled, and keeps it until the task goes, as it keeps its page tables.
// Filling and emptying every free slot once makes them all now, so the cases' accounting of the
// own factory (back to where it started) does not count the space's pages first reached by them.
void warm_up_capability_space(SlotAllocator& slots) {
  for (u64 selector = FIRST_FREE; selector < abi::ROOT_CAPABILITY_SLOTS; ++selector) {
    auto slot = slots.allocate();
    if (!slot.ok()) return;
    if (Capability(CONSOLE).copy_to(slot.value()).ok()) (void)Capability(slot.value()).remove();
    slots.free(slot.value());
  }
}

}  // namespace

void run_program(const char* name, u64 argument, std::initializer_list<TestGroup> groups) {
  constexpr usize MAX_TESTS = 128;
  static test::TestEntry tests[MAX_TESTS];
  usize count = 0;
  for (const TestGroup& group : groups)
    for (usize index = 0; index < group.count && count < MAX_TESTS; ++index) tests[count++] = group.tests[index];
  Console console(CONSOLE);
  if (argument != abi::ROOT_BOOT_INFO_ADDRESS) {
    // The cases need the ROOT_* capabilities with all rights; as a child they would only fail.
    printf(console, "# %s must run as the root task\n0 passed, 1 failed\n", name);
    (void)console.exit(0x11);
    return;
  }
  static SlotAllocator slots(FIRST_FREE, abi::ROOT_CAPABILITY_SLOTS);
  static Environment storage{reinterpret_cast<const abi::RootBootInfo*>(argument), Task(SELF_TASK),
                             Thread(SELF_THREAD), Factory(OWN_FACTORY), Console(CONSOLE), &slots, 0};
  storage.own_priority = probe_own_priority(storage.factory, slots);
  current_environment = &storage;
  LocalThread::warm_up_page_tables();
  warm_up_capability_space(slots);
  printf(console, "# %s: %zu cases, %lu CPUs, own priority %lu\n", name, count, storage.boot_info->cpu_count,
         storage.own_priority);
  test::run_all(console, tests, count);
}

}  // namespace support
