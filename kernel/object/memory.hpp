// Memory: a set of physical pages that tasks map with explicit rights, and Mapping, one range of
// it mapped into one task.
// Invariant: frames[i] belongs to this object for its whole life (a lazy object: leaves[i / 512][i %
// 512], once non-zero, until decommitted or freed, and its leaf pages and frames are charged to its
// factory while they exist; a page-table entry of a lazy object's page exists only while the
// frame does); every mapping of it is on
// `mappings` (and in its task's tree), so destroying either side unmaps before anything is freed,
// and no frame goes back to the pool before every CPU has flushed its translations to it.
#pragma once

#include "abi/syscall.hpp"
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
  bool writable = false;   // The rights it was mapped with: a demand-zero fault maps with these.
  bool executable = false;
  TreeNode task_node;    // In task->mappings, ordered by address.
  ListNode memory_node;  // On memory->mappings.
};

struct Memory {
  KernelObject header;
  u64 page_count = 0;
  u64* frames = nullptr;  // page_count physical addresses.
  usize frames_table_bytes = 0;
  bool device = false;  // Device registers: mapped uncached, never returned to the frame pool.
  // Demand-zero (lazy_memory.cpp): no frame until first touched, frames stays null, and the
  // frames live in a sparse two-level table: leaves[i] is null or a page of LAZY_LEAF_PAGES frame
  // addresses (0 = not touched).
  bool lazy = false;
  u64** leaves = nullptr;
  usize leaves_table_bytes = 0;
  u64 resident_pages = 0;  // Touched pages of a lazy object, each charged to the factory.
  u64 mapping_count = 0;   // Entries on `mappings`; lazy objects allow LAZY_MAX_MAPPINGS.
  IntrusiveList<Mapping, &Mapping::memory_node> mappings;
};

constexpr u64 LAZY_LEAF_PAGES = 512;
// A lazy object may span 4 GiB: its leaf directory is 16 KiB at most (2048 pointers), the only
// cost of the reservation besides the object itself.
constexpr u64 LAZY_MAX_PAGES = metteagle::abi::LAZY_MAX_PAGES;
// Decommit walks every mapping of the object (twice) under the kernel lock: this bounds the walk.
constexpr u64 LAZY_MAX_MAPPINGS = metteagle::abi::LAZY_MAX_MAPPINGS;

}  // namespace kernel
