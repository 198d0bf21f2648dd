// Memory: a set of physical pages that tasks map with explicit rights, and Mapping, one range of
// it mapped into one task.
// Invariant: frames[i] belongs to this object for its whole life (a lazy object: leaves[i / 512][i %
// 512], once non-zero, until decommitted or freed, and its leaf pages and frames are charged to its
// factory while they exist; a page-table entry of a lazy object's page exists only while the
// frame does); every mapping of it is on
// `mappings` (and in its task's tree), so destroying either side unmaps before anything is freed,
// and no frame goes back to the pool before every CPU has flushed its translations to it.
// A Memory under construction (pages_pending > 0) is charged for all its pages, holds frames for
// page_count of them, is named by no capability and is held by exactly one thread (`builder`,
// whose building_memory points back), until it is whole or destroyed.
#pragma once

#include "lib/result.hpp"

#include "abi/syscall.hpp"
#include "lib/intrusive_tree.hpp"
#include "object/kernel_object.hpp"

namespace kernel {

struct Task;
struct Memory;
struct Thread;

struct Mapping {
  Task* task = nullptr;
  Memory* memory = nullptr;
  u64 address = 0;  // The key in task->mappings; a cut may raise it, never past another mapping.
  u64 page_offset = 0;
  u64 page_count = 0;
  bool writable = false;  // The rights it was mapped with: a demand-zero fault maps with these.
  bool executable = false;
  TreeNode task_node;    // In task->mappings, ordered by address.
  ListNode memory_node;  // On memory->mappings.
};

struct Memory {
  KernelObject header;
  u64 page_count = 0;
  u64* frames = nullptr;  // page_count physical addresses.
  usize frames_table_bytes = 0;
  // Creation in steps (continue_memory_creation): pages charged but not yet allocated, and the
  // thread whose FactoryCreate is filling the object.
  u64 pages_pending = 0;
  Thread* builder = nullptr;
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

struct Factory;
// An ordinary Memory of page_count zeroed pages, filled at once (boot time and small objects).
[[nodiscard]] Result<Memory*> create_memory(Factory* factory, u64 page_count);
// One kernel entry's worth of FactoryCreate for an ordinary Memory: at most
// MEMORY_FILL_STEP_PAGES pages are allocated and zeroed per entry, the object held by `self`
// in between. Returns the whole object, or null when the caller must enter again; a call for
// another factory or size abandons what `self` was building.
[[nodiscard]] Result<Memory*> continue_memory_creation(Thread& self, Factory* factory, u64 page_count);
// Drops the Memory `self` was building (its thread ends, or its FactoryCreate failed).
void abandon_memory_creation(Thread& self);
// Zeroing 512 pages (2 MiB) takes a few milliseconds under TCG: the longest another CPU waits
// for one step.
constexpr u64 MEMORY_FILL_STEP_PAGES = 512;
// Device registers: the caller (a Platform holder) validated the range.
[[nodiscard]] Result<Memory*> create_device_memory(Factory* factory, u64 physical, u64 page_count);
// Physically contiguous, zeroed pages (for DMA), charged like ordinary memory.
[[nodiscard]] Result<Memory*> create_contiguous_memory(Factory* factory, u64 page_count);
// Maps pages [page_offset, page_offset + page_count) of memory at address in task, after checking
// the whole range: at most abi::MAP_MAX_PAGES of them, as one mapping. Returns where it stopped
// (the range's end, or where the rest begins, from which the caller continues).
[[nodiscard]] Result<u64> map_memory(Task& task, Memory& memory, u64 page_offset, u64 address, u64 page_count,
                                     bool writable, bool executable);
// Removes the pages inside [address, address + page_count pages): mappings wholly inside go, a
// mapping reaching past the range keeps the rest (cut in two if it reaches past both ends). No
// mapping there is NotFound. Returns where it stopped: the range's end, or (after
// abi::UNMAP_MAX_MAPPINGS mappings or abi::UNMAP_MAX_PAGES pages) where the rest of the range
// begins, from which the caller continues.
[[nodiscard]] Result<u64> unmap_memory(Task& task, u64 address, u64 page_count);
// Unlinks and frees a mapping record whose pages are cleared (or whose tables are going away).
void free_mapping(Mapping& mapping);
// Destroys memory in steps: false, with work at the step's limit, when it must go on later.
[[nodiscard]] bool destroy_memory(Memory& memory, u64& work);

}  // namespace kernel
