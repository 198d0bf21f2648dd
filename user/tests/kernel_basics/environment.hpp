// What every kernel_basics case shares: the capabilities it starts with, how it was started
// (as the root task or as a child of it) and a slot allocator for its own capability space.
// Invariant: cases leave the capability space as they found it (every slot they fill is emptied
// and freed), so cases do not depend on their order.
#pragma once

#include "../framework.hpp"

namespace kernel_basics {

using namespace sys;
using test::Case;

struct Environment {
  bool is_root;                     // Started as module 0 with the ROOT_* selectors.
  const abi::RootBootInfo* boot_info;  // Only when is_root.
  u64 capability_slots;             // Size of the own capability space (as far as known).
  Task self_task{SELF_TASK};
  Thread self_thread{SELF_THREAD};
  Factory factory{OWN_FACTORY};
  Console console{CONSOLE};
  SlotAllocator* slots;
};

Environment& environment();

// Free addresses in the own address space for the cases' temporary mappings; above the program
// image and the root task's fixed areas (boot info, modules, stack), below the kernel half.
constexpr u64 SCRATCH_MAPPING_ADDRESS = 0x0000000050000000;
constexpr u64 WORKER_STACK_ADDRESS = 0x0000000060000000;
constexpr u64 WORKER_STACK_PAGES = 4;
constexpr u64 WORKER_UTCB_ADDRESS = 0x0000000061000000;
constexpr u64 SPARE_UTCB_ADDRESS = 0x0000000062000000;

// The program's slot allocator (environment().slots), and slots of it that live for one case.
SlotAllocator& slots();
using ScopedSlot = test::ScopedSlotOf<slots>;

// The case lists of each file, concatenated by main.cpp.
extern const test::TestEntry CAPABILITY_TESTS[];
extern const usize CAPABILITY_TEST_COUNT;
extern const test::TestEntry RIGHTS_TESTS[];
extern const usize RIGHTS_TEST_COUNT;
extern const test::TestEntry FACTORY_TESTS[];
extern const usize FACTORY_TEST_COUNT;
extern const test::TestEntry MEMORY_TESTS[];
extern const usize MEMORY_TEST_COUNT;
extern const test::TestEntry IPC_TESTS[];
extern const usize IPC_TEST_COUNT;

}  // namespace kernel_basics
