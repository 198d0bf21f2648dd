// Task: an address space and a capability space.
// Invariants: slots[0] is always empty (selector 0 names nothing); every thread of the task is
// on `threads` and every mapping into it on `mappings`; page_table_root's upper half is the
// kernel's, its lower half only ever holds this task's mappings.
#pragma once

#include "object/kernel_object.hpp"
#include "object/memory.hpp"
#include "object/thread.hpp"

namespace kernel {

struct Task {
  KernelObject header;
  u64 page_table_root = 0;  // Physical address of the PML4.
  u64 page_table_pages = 0; // Lower-half page-table pages, charged to the factory.
  Capability* slots = nullptr;
  u64 slot_count = 0;
  usize slots_bytes = 0;
  IntrusiveList<Thread, &Thread::task_node> threads;
  IntrusiveList<Mapping, &Mapping::task_node> mappings;
};

constexpr u64 MAX_TASK_SLOTS = 4096;

}  // namespace kernel
