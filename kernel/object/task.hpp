// Task: an address space and a capability space.
// Invariants: slots[0] is always empty (selector 0 names nothing); every thread of the task is
// on `threads` and every mapping into it in `mappings`, a tree ordered by address in which no two
// mappings overlap; page_table_root's upper half is the kernel's, its lower half only ever holds
// this task's mappings; once address_space_left is set (destruction), no CPU runs on its tables.
#pragma once

#include "lib/result.hpp"

#include "arch/x86_64/address_space.hpp"

#include "object/kernel_object.hpp"
#include "object/memory.hpp"
#include "object/thread.hpp"

namespace kernel {

struct Task {
  KernelObject header;
  u64 page_table_root = 0;   // Physical address of the PML4.
  u64 page_table_pages = 0;  // Lower-half page-table pages, charged to the factory.
  Capability* slots = nullptr;
  u64 slot_count = 0;
  usize slots_bytes = 0;
  IntrusiveList<Thread, &Thread::task_node> threads;
  IntrusiveTree<Mapping, &Mapping::task_node, &Mapping::address> mappings;
  bool address_space_left = false;  // Destruction moved every CPU off page_table_root.
};

constexpr u64 MAX_TASK_SLOTS = 4096;

struct Factory;
[[nodiscard]] Result<Task*> create_task(Factory* factory, u64 slot_count);
// Destroys task in steps: false, with work at the step's limit, when it must go on later.
[[nodiscard]] bool destroy_task(Task& task, u64& work);
// Page-table frames of a task, charged to its factory.
arch::TableFrameSource table_source(Task& task);

}  // namespace kernel
