// Demand-zero Memory: a reservation that costs its object and a small leaf directory, whose pages
// get a zeroed frame, charged to the object's factory, when a task first touches them, and give
// it back on MemoryDecommit or destruction (MemoryCommit gives frames ahead of the touch, for a
// caller that must learn of a refused page as an error rather than as a fault).
// Invariants: a frame is charged from the moment it enters a leaf until it leaves it; a frame
// leaves a leaf only after its page-table entries in every mapping are cleared and every CPU
// flushed them; a fault maps a page only in the faulting task, with its mapping's rights, and only
// pages of a mapping the task itself holds (so no fault reaches memory outside the task's own
// mappings). Work under the kernel lock: one page per fault, at most
// UNMAP_MAX_PAGES page-table entries (summed over mappings) per decommit call, UNMAP_MAX_PAGES
// frames per commit call, COPY_COMMITTED_MAX_PAGES page copies and UNMAP_MAX_PAGES pages looked
// at per copy call, one leaf of
// LAZY_LEAF_PAGES frames per destruction unit.
#include "object/lazy_memory.hpp"

#include "abi/syscall.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/heap.hpp"
#include "core/memory.hpp"
#include "object/factory.hpp"

namespace kernel {

using metteagle::abi::Error;

namespace {

constexpr u64 PAGE_FAULT_PRESENT = 1;
constexpr u64 PAGE_FAULT_WRITE = 2;
constexpr u64 PAGE_FAULT_FETCH = 16;

u64 leaf_count(u64 page_count) { return (page_count + LAZY_LEAF_PAGES - 1) / LAZY_LEAF_PAGES; }

u64* leaf_at(u64 physical) { return reinterpret_cast<u64*>(arch::physical_to_virtual(physical)); }

// The frame of page, making it (and its leaf) if it has none yet.
Result<u64> commit_page(Memory& memory, u64 page) {
  u64** slot = &memory.leaves[page / LAZY_LEAF_PAGES];
  if (*slot == nullptr) {
    u64 leaf = TRY(allocate_charged_frame(memory.header.factory));
    *slot = leaf_at(leaf);
  }
  u64& entry = (*slot)[page % LAZY_LEAF_PAGES];
  if (entry == 0) {
    entry = TRY(allocate_charged_frame(memory.header.factory));
    ++memory.resident_pages;
  }
  return entry;
}

u64 leaf_physical(const u64* leaf) { return reinterpret_cast<u64>(leaf) - arch::physical_window_base; }

}  // namespace

Result<Memory*> create_lazy_memory(Factory* factory, u64 page_count) {
  if (page_count == 0 || page_count > LAZY_MAX_PAGES) return Error::InvalidArgument;
  usize directory_bytes = static_cast<usize>(leaf_count(page_count) * sizeof(u64*));
  usize charged =
      directory_bytes <= PAGE_SIZE ? allocation_size(directory_bytes) : align_up(directory_bytes, PAGE_SIZE);
  TRY_VOID(factory_charge(factory, charged));
  auto created = create_memory_object(factory);
  if (!created) {
    factory_refund(factory, charged);
    return created.error();
  }
  Memory* memory = created.value();
  void* directory = nullptr;
  if (directory_bytes <= PAGE_SIZE) {
    directory = heap_allocate(directory_bytes);
  } else {
    auto run = frames().allocate_contiguous(charged / PAGE_SIZE, PAGE_SIZE);
    if (run) directory = arch::physical_to_virtual(run.value());
  }
  if (directory == nullptr) {
    factory_refund(factory, charged);
    abandon_memory_object(memory);
    return Error::OutOfMemory;
  }
  arch::zero_words(directory, directory_bytes);
  memory->lazy = true;
  memory->page_count = page_count;
  memory->leaves = static_cast<u64**>(directory);
  memory->leaves_table_bytes = charged;
  return memory;
}

u64 lazy_frame(const Memory& memory, u64 page) {
  const u64* leaf = memory.leaves[page / LAZY_LEAF_PAGES];
  return leaf == nullptr ? 0 : leaf[page % LAZY_LEAF_PAGES];
}

u64 lazy_next_leaf(u64 page) { return (page / LAZY_LEAF_PAGES + 1) * LAZY_LEAF_PAGES; }

DemandFault resolve_demand_fault(Task& task, u64 address, u64 error_code) {
  constexpr DemandFault NO = DemandFault::NotDemandZero;
  if ((error_code & PAGE_FAULT_PRESENT) != 0 || task.address_space_left) return NO;
  Mapping* mapping = task.mappings.floor(address);
  if (mapping == nullptr || address >= mapping->address + mapping->page_count * PAGE_SIZE) return NO;
  Memory& memory = *mapping->memory;
  if (!memory.lazy || memory.header.dying) return NO;
  // The mapping's rights decide, as the page-table entry would: a fault they do not allow is the
  // program's, for its handler.
  if ((error_code & PAGE_FAULT_WRITE) != 0 && !mapping->writable) return NO;
  if ((error_code & PAGE_FAULT_FETCH) != 0 && !mapping->executable) return NO;
  u64 page_address = align_down(address, PAGE_SIZE);
  u64 page = mapping->page_offset + (page_address - mapping->address) / PAGE_SIZE;
  auto frame = commit_page(memory, page);
  if (!frame) return frame.error() == Error::QuotaExceeded ? DemandFault::QuotaExceeded : DemandFault::OutOfMemory;
  // Another thread of the task may have mapped it meanwhile: mapping it again changes nothing.
  // The page tables are charged to the task's factory (for a function, the same memory limit).
  auto mapped = arch::address_space_map(task.page_table_root, page_address, frame.value(),
                                        {mapping->writable, mapping->executable}, table_source(task));
  if (mapped.ok()) return DemandFault::Resolved;
  return mapped.error() == Error::QuotaExceeded ? DemandFault::QuotaExceeded : DemandFault::OutOfMemory;
}

Result<u64> decommit_memory(Memory& memory, u64 first_page, u64 page_count) {
  if (!memory.lazy || page_count == 0 || first_page > memory.page_count || page_count > memory.page_count - first_page)
    return Error::InvalidArgument;
  // Each page costs one entry in each mapping that shows it. Mappings of disjoint parts (the
  // usual case) share the budget; where aliases overlap the range, it shrinks until the entries to
  // clear fit: at most UNMAP_MAX_PAGES entries and two walks of at most LAZY_MAX_MAPPINGS records.
  using metteagle::abi::UNMAP_MAX_PAGES;
  u64 end = page_count > UNMAP_MAX_PAGES ? first_page + UNMAP_MAX_PAGES : first_page + page_count;
  u64 entries = 0, showing = 0;
  for (Mapping& mapping : memory.mappings) {
    u64 low = mapping.page_offset > first_page ? mapping.page_offset : first_page;
    u64 high = mapping.page_offset + mapping.page_count < end ? mapping.page_offset + mapping.page_count : end;
    if (low >= high) continue;
    entries += high - low;
    ++showing;
  }
  if (entries > UNMAP_MAX_PAGES) end = first_page + UNMAP_MAX_PAGES / showing;  // showing >= 2 here.
  bool cleared = false;
  for (Mapping& mapping : memory.mappings) {
    if (mapping.task->address_space_left) continue;  // No CPU uses its tables any more.
    u64 low = mapping.page_offset > first_page ? mapping.page_offset : first_page;
    u64 high = mapping.page_offset + mapping.page_count < end ? mapping.page_offset + mapping.page_count : end;
    if (low >= high) continue;
    arch::address_space_unmap_range(mapping.task->page_table_root,
                                    mapping.address + (low - mapping.page_offset) * PAGE_SIZE,
                                    mapping.address + (high - mapping.page_offset) * PAGE_SIZE);
    cleared = true;
  }
  // One shootdown for every mapping before any frame goes back to the pool.
  if (cleared) arch::address_space_flush_remote_all();
  for (u64 page = first_page; page < end;) {
    u64*& leaf = memory.leaves[page / LAZY_LEAF_PAGES];
    u64 leaf_end = lazy_next_leaf(page) < end ? lazy_next_leaf(page) : end;
    if (leaf == nullptr) {
      page = leaf_end;
      continue;
    }
    bool whole_leaf = page % LAZY_LEAF_PAGES == 0 && leaf_end - page == LAZY_LEAF_PAGES;
    for (; page < leaf_end; ++page) {
      u64& entry = leaf[page % LAZY_LEAF_PAGES];
      if (entry == 0) continue;
      free_charged_frame(memory.header.factory, entry);
      entry = 0;
      --memory.resident_pages;
    }
    if (whole_leaf) {
      free_charged_frame(memory.header.factory, leaf_physical(leaf));
      leaf = nullptr;
    }
  }
  return end;
}

Error commit_memory(Memory& memory, u64 first_page, u64 page_count, u64& stopped_at) {
  stopped_at = first_page;
  if (!memory.lazy || page_count == 0 || first_page > memory.page_count || page_count > memory.page_count - first_page)
    return Error::InvalidArgument;
  using metteagle::abi::UNMAP_MAX_PAGES;
  u64 end = page_count > UNMAP_MAX_PAGES ? first_page + UNMAP_MAX_PAGES : first_page + page_count;
  for (; stopped_at < end; ++stopped_at) {
    auto frame = commit_page(memory, stopped_at);
    if (!frame) return frame.error();
  }
  return Error::None;
}

Error copy_committed_memory(Memory& target, const Memory& source, u64 first_page, u64 page_count, u64& stopped_at) {
  stopped_at = first_page;
  if (!target.lazy || !source.lazy || page_count == 0 || first_page > target.page_count ||
      page_count > target.page_count - first_page || first_page > source.page_count ||
      page_count > source.page_count - first_page)
    return Error::InvalidArgument;
  using metteagle::abi::COPY_COMMITTED_MAX_PAGES;
  using metteagle::abi::UNMAP_MAX_PAGES;
  u64 end = first_page + page_count;
  u64 looked = 0, copied = 0;
  while (stopped_at < end && looked < UNMAP_MAX_PAGES && copied < COPY_COMMITTED_MAX_PAGES) {
    const u64* leaf = source.leaves[stopped_at / LAZY_LEAF_PAGES];
    ++looked;
    if (leaf == nullptr) {  // Nothing touched in this 2 MiB: skip it whole.
      stopped_at = lazy_next_leaf(stopped_at) < end ? lazy_next_leaf(stopped_at) : end;
      continue;
    }
    u64 from = leaf[stopped_at % LAZY_LEAF_PAGES];
    if (from != 0) {
      // The source's frame stays its own: a target page that shares nothing with it gets a new one.
      auto frame = commit_page(target, stopped_at);
      if (!frame) return frame.error();
      if (frame.value() != from)
        arch::copy_words(arch::physical_to_virtual(frame.value()), arch::physical_to_virtual(from), PAGE_SIZE);
      ++copied;
    }
    ++stopped_at;
  }
  return Error::None;
}

bool release_lazy_frames(Memory& memory, u64& work, u64 step_work) {
  u64 leaves = leaf_count(memory.page_count);
  for (u64 index = 0; index < leaves; ++index) {
    u64*& leaf = memory.leaves[index];
    work += 1;
    if (leaf == nullptr) continue;
    if (work >= step_work) return false;
    for (u64 entry = 0; entry < LAZY_LEAF_PAGES; ++entry)
      if (leaf[entry] != 0) free_charged_frame(memory.header.factory, leaf[entry]);
    free_charged_frame(memory.header.factory, leaf_physical(leaf));
    leaf = nullptr;
    work += LAZY_LEAF_PAGES / 16;
  }
  memory.resident_pages = 0;
  return true;
}

}  // namespace kernel
