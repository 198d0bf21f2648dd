// Memory: a set of physical pages that tasks map with explicit rights, and Mapping, one range of
// it mapped into one task.
// Invariant: frames[i] belongs to this object for its whole life; every mapping of it is on
// `mappings` (and in its task's tree), so destroying either side unmaps before anything is freed,
// and no frame goes back to the pool before every CPU has flushed its translations to it.
#pragma once

#include "lib/intrusive_tree.hpp"
#include "object/kernel_object.hpp"

namespace kernel {

struct Task;
struct Memory;

struct Mapping {
  Task* task = nullptr;
  Memory* memory = nullptr;
  u64 address = 0;      // The key in task->mappings; a cut may raise it, never past another mapping.
  u64 page_offset = 0;
  u64 page_count = 0;
  TreeNode task_node;    // In task->mappings, ordered by address.
  ListNode memory_node;  // On memory->mappings.
};

struct Memory {
  KernelObject header;
  u64 page_count = 0;
  u64* frames = nullptr;  // page_count physical addresses.
  usize frames_table_bytes = 0;
  bool device = false;  // Device registers: mapped uncached, never returned to the frame pool.
  IntrusiveList<Mapping, &Mapping::memory_node> mappings;
};

}  // namespace kernel
