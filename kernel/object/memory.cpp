// Memory: creation (ordinary, device and contiguous; lazy memory is lazy_memory.cpp), mapping into
// tasks and unmapping, copies into, out of and between objects, and destruction in bounded steps.
// Bounds on the time one CPU holds the kernel lock, whatever a tenant builds within its quota:
// map_memory finds overlaps in a task's mapping tree in O(log n) and maps at most
// abi::MAP_MAX_PAGES pages (TaskMap's o1 says where to go on); unmap_memory cuts or removes
// mappings in one ordered pass with one shootdown and stops after abi::UNMAP_MAX_MAPPINGS
// mappings or abi::UNMAP_MAX_PAGES pages; a copy moves at most TRANSFER_STEP bytes per entry.
// Invariant: see memory.hpp; no frame returns to the pool while any CPU may still hold a
// translation to it (unmap frees only Mapping records; destruction frees frames after one
// batched shootdown); user memory is touched only through UserSpan copies.
#include "object/memory.hpp"

#include "arch/x86_64/cpu.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/lazy_memory.hpp"

namespace kernel {

using abi::Error;
using abi::rights_of;
using abi::Syscall;

Result<Memory*> create_memory_object(Factory* factory) { return allocate_object<Memory>(factory, ObjectType::Memory); }

void abandon_memory_object(Memory* memory) { abandon_object(memory); }

namespace {

// An ordinary Memory charged for all page_count pages, with its frame table and no frames yet
// (pages_pending = page_count): the steps that fill it cannot fail on the quota, and destruction
// refunds exactly what was charged however far they got.
Result<Memory*> begin_memory(Factory* factory, u64 page_count) {
  // 65536 pages (256 MiB) per object keeps the frame table within 128 contiguous pages.
  if (page_count == 0 || page_count > 65536) return Error::InvalidArgument;
  Memory* memory = TRY(allocate_object<Memory>(factory, ObjectType::Memory));
  usize table_bytes = static_cast<usize>(page_count * sizeof(u64));
  usize charged_table = table_bytes <= PAGE_SIZE ? allocation_size(table_bytes) : align_up(table_bytes, PAGE_SIZE);
  if (!factory_charge(factory, charged_table + page_count * PAGE_SIZE).ok()) {
    abandon_object(memory);
    return Error::QuotaExceeded;
  }
  u64* table = nullptr;
  if (table_bytes <= PAGE_SIZE) {
    table = static_cast<u64*>(heap_allocate(table_bytes));
  } else {
    auto run = frames().allocate_contiguous(charged_table / PAGE_SIZE, PAGE_SIZE);
    if (run) table = reinterpret_cast<u64*>(arch::physical_to_virtual(run.value()));
  }
  if (table == nullptr) {
    factory_refund(factory, charged_table + page_count * PAGE_SIZE);
    abandon_object(memory);
    return Error::OutOfMemory;
  }
  memory->frames = table;
  memory->frames_table_bytes = charged_table;
  memory->pages_pending = page_count;
  return memory;
}

// Allocates and zeroes the next MEMORY_FILL_STEP_PAGES pending pages at most: true once whole.
// Out of physical memory, the caller destroys the object (which frees what exists).
Result<bool> fill_memory_step(Memory& memory) {
  u64 step = memory.pages_pending < MEMORY_FILL_STEP_PAGES ? memory.pages_pending : MEMORY_FILL_STEP_PAGES;
  for (u64 page = 0; page < step; ++page) {
    auto frame = frames().allocate();
    if (!frame) return Error::OutOfMemory;
    arch::zero_words(arch::physical_to_virtual(frame.value()), PAGE_SIZE);
    memory.frames[memory.page_count++] = frame.value();
    --memory.pages_pending;
  }
  return memory.pages_pending == 0;
}

void destroy_unfinished(Memory& memory) {
  schedule_destroy(&memory.header);
  process_destroy_queue();
}

}  // namespace

Result<Memory*> create_memory(Factory* factory, u64 page_count) {
  Memory* memory = TRY(begin_memory(factory, page_count));
  for (;;) {
    auto filled = fill_memory_step(*memory);
    if (!filled) {
      destroy_unfinished(*memory);
      return filled.error();
    }
    if (filled.value()) return memory;
  }
}

void abandon_memory_creation(Thread& self) {
  Memory* memory = self.building_memory;
  if (memory == nullptr) return;
  self.building_memory = nullptr;
  memory->builder = nullptr;
  schedule_destroy(&memory->header);
}

Result<Memory*> continue_memory_creation(Thread& self, Factory* factory, u64 page_count) {
  Memory* memory = self.building_memory;
  // The same request entering again goes on; anything else starts afresh (the thread may have
  // run a signal handler that created something else in between).
  if (memory != nullptr &&
      (memory->header.factory != factory || memory->page_count + memory->pages_pending != page_count)) {
    abandon_memory_creation(self);
    memory = nullptr;
  }
  if (memory == nullptr) {
    // Held by its thread from the start, so every failure below takes the one drop path.
    memory = TRY(begin_memory(factory, page_count));
    memory->builder = &self;
    self.building_memory = memory;
  }
  auto filled = fill_memory_step(*memory);
  if (!filled) {
    abandon_memory_creation(self);
    return filled.error();
  }
  if (!filled.value()) return nullptr;
  memory->builder = nullptr;
  self.building_memory = nullptr;
  return memory;
}

Result<Memory*> create_device_memory(Factory* factory, u64 physical, u64 page_count) {
  if (page_count == 0 || page_count > PAGE_SIZE / sizeof(u64)) return Error::InvalidArgument;
  Memory* memory = TRY(allocate_object<Memory>(factory, ObjectType::Memory));
  usize table_bytes = allocation_size(static_cast<usize>(page_count * sizeof(u64)));
  if (!factory_charge(factory, table_bytes).ok()) {
    abandon_object(memory);
    return Error::QuotaExceeded;
  }
  auto* table = static_cast<u64*>(heap_allocate(table_bytes));
  if (table == nullptr) {
    factory_refund(factory, table_bytes);
    abandon_object(memory);
    return Error::OutOfMemory;
  }
  for (u64 page = 0; page < page_count; ++page) table[page] = physical + page * PAGE_SIZE;
  memory->frames = table;
  memory->page_count = page_count;
  memory->frames_table_bytes = table_bytes;
  memory->device = true;
  return memory;
}

Result<Memory*> create_contiguous_memory(Factory* factory, u64 page_count) {
  if (page_count == 0 || page_count > PAGE_SIZE / sizeof(u64)) return Error::InvalidArgument;
  Memory* memory = TRY(allocate_object<Memory>(factory, ObjectType::Memory));
  usize table_bytes = allocation_size(static_cast<usize>(page_count * sizeof(u64)));
  if (!factory_charge(factory, table_bytes + page_count * PAGE_SIZE).ok()) {
    abandon_object(memory);
    return Error::QuotaExceeded;
  }
  auto* table = static_cast<u64*>(heap_allocate(table_bytes));
  auto run = table == nullptr ? Result<u64>(Error::OutOfMemory) : frames().allocate_contiguous(page_count, PAGE_SIZE);
  if (!run) {
    if (table != nullptr) heap_free(table, table_bytes);
    factory_refund(factory, table_bytes + page_count * PAGE_SIZE);
    abandon_object(memory);
    return Error::OutOfMemory;
  }
  arch::zero_words(arch::physical_to_virtual(run.value()), static_cast<usize>(page_count * PAGE_SIZE));
  for (u64 page = 0; page < page_count; ++page) table[page] = run.value() + page * PAGE_SIZE;
  memory->frames = table;
  memory->page_count = page_count;
  memory->frames_table_bytes = table_bytes;
  return memory;
}

namespace {

u64 mapping_end(const Mapping& mapping) { return mapping.address + mapping.page_count * PAGE_SIZE; }

// The mapping of task with the lowest address that overlaps [start, end), or null: O(log n).
Mapping* first_overlapping(Task& task, u64 start, u64 end) {
  Mapping* mapping = task.mappings.floor(start);
  if (mapping != nullptr && mapping_end(*mapping) > start) return mapping;
  mapping = task.mappings.lower_bound(start);
  return mapping != nullptr && mapping->address < end ? mapping : nullptr;
}

// Clears the page-table entries of [start, end) in task; other CPUs keep stale translations
// until the caller's shootdown.
void clear_pages(Task& task, u64 start, u64 end) { arch::address_space_unmap_range(task.page_table_root, start, end); }

}  // namespace

// Unlinks and frees a mapping record whose pages are cleared (or whose tables are going away).
void free_mapping(Mapping& mapping) {
  Task& task = *mapping.task;
  task.mappings.remove(mapping);
  decltype(mapping.memory->mappings)::remove(mapping);
  --mapping.memory->mapping_count;
  factory_refund(task.header.factory, allocation_size(sizeof(Mapping)));
  heap_free(&mapping, sizeof(Mapping));
}

Result<u64> map_memory(Task& task, Memory& memory, u64 page_offset, u64 address, u64 page_count, bool writable,
                       bool executable) {
  using metteagle::abi::USER_SPACE_START;
  using metteagle::abi::USER_SPACE_USABLE_END;
  if (page_count == 0 || !is_aligned(address, PAGE_SIZE) || page_offset > memory.page_count ||
      page_count > memory.page_count - page_offset || address < USER_SPACE_START || address >= USER_SPACE_USABLE_END ||
      page_count > (USER_SPACE_USABLE_END - address) / PAGE_SIZE)
    return Error::InvalidArgument;
  if (writable && executable) return Error::InvalidArgument;  // W^X.
  u64 end = address + page_count * PAGE_SIZE;
  if (first_overlapping(task, address, end) != nullptr) return Error::Busy;
  for (Thread& thread : task.threads)
    if (thread.utcb_address >= address && thread.utcb_address < end) return Error::Busy;
  if (memory.lazy && memory.mapping_count >= LAZY_MAX_MAPPINGS) return Error::Busy;

  // The whole range was checked; this call maps its first MAP_MAX_PAGES pages as one mapping (a
  // lazy object's whole range: its record is all this call makes).
  if (!memory.lazy && page_count > metteagle::abi::MAP_MAX_PAGES) page_count = metteagle::abi::MAP_MAX_PAGES;
  TRY_VOID(factory_charge(task.header.factory, allocation_size(sizeof(Mapping))));
  void* block = heap_allocate(sizeof(Mapping));
  if (block == nullptr) {
    factory_refund(task.header.factory, allocation_size(sizeof(Mapping)));
    return Error::OutOfMemory;
  }
  auto* mapping = new (block) Mapping();
  mapping->task = &task;
  mapping->memory = &memory;
  mapping->address = address;
  mapping->page_offset = page_offset;
  mapping->page_count = 0;
  mapping->writable = writable;
  mapping->executable = executable;
  (void)task.mappings.insert(*mapping);  // Cannot collide: nothing overlaps [address, end).
  memory.mappings.push_back(*mapping);
  ++memory.mapping_count;
  // A lazy object's pages, touched or not, are mapped by the fault path when the task touches
  // them: mapping it costs the record alone, whatever its size.
  if (memory.lazy) {
    mapping->page_count = page_count;
    return mapping_end(*mapping);
  }
  for (u64 page = 0; page < page_count; ++page) {
    u64 frame = memory.frames[page_offset + page];
    auto mapped = arch::address_space_map(task.page_table_root, address + page * PAGE_SIZE, frame,
                                          {writable, executable, memory.device}, table_source(task));
    if (!mapped.ok()) {
      // The pages mapped so far go, and with them any translation another CPU made of them.
      clear_pages(task, address, mapping_end(*mapping));
      arch::address_space_flush_remote(task.page_table_root);
      free_mapping(*mapping);
      return mapped.error();
    }
    mapping->page_count = page + 1;
  }
  return mapping_end(*mapping);
}

Result<u64> unmap_memory(Task& task, u64 address, u64 page_count) {
  using metteagle::abi::UNMAP_MAX_MAPPINGS;
  using metteagle::abi::UNMAP_MAX_PAGES;
  if (!is_aligned(address, PAGE_SIZE) || page_count == 0 || address >= metteagle::abi::USER_SPACE_END ||
      page_count > (metteagle::abi::USER_SPACE_END - address) / PAGE_SIZE)
    return Error::InvalidArgument;
  u64 end = address + page_count * PAGE_SIZE;
  Mapping* mapping = first_overlapping(task, address, end);
  if (mapping == nullptr) return Error::NotFound;
  // A mapping that reaches past this call's part of the range on both sides is cut in two: its
  // tail needs a new Mapping, charged before anything changes. Only the first mapping can start
  // before the range (mappings never overlap), and this call clears at most UNMAP_MAX_PAGES.
  u64 first_limit = end - address > UNMAP_MAX_PAGES * PAGE_SIZE ? address + UNMAP_MAX_PAGES * PAGE_SIZE : end;
  Mapping* tail = nullptr;
  if (mapping->address < address && mapping_end(*mapping) > first_limit) {
    TRY_VOID(factory_charge(task.header.factory, allocation_size(sizeof(Mapping))));
    void* block = heap_allocate(sizeof(Mapping));
    if (block == nullptr) {
      factory_refund(task.header.factory, allocation_size(sizeof(Mapping)));
      return Error::OutOfMemory;
    }
    tail = new (block) Mapping();
  }
  // One ordered pass: mappings wholly inside go; the others lose only the pages inside the range,
  // so the pages around it stay mapped all along (other threads may be using them). A cut that
  // raises a mapping's address keeps the tree's order: nothing else lies in the part it drops.
  // The pass ends before the next mapping after UNMAP_MAX_MAPPINGS mappings, or inside one when
  // UNMAP_MAX_PAGES pages are cleared (that mapping keeps the rest, from where the call stopped).
  u64 mappings_done = 0;
  u64 pages_done = 0;
  u64 stopped_at = end;
  while (mapping != nullptr && mapping->address < end) {
    if (mappings_done >= UNMAP_MAX_MAPPINGS || pages_done >= UNMAP_MAX_PAGES) {
      stopped_at = mapping->address;  // Past the first mapping, so inside [address, end).
      break;
    }
    Mapping* next = decltype(task.mappings)::next(*mapping);
    u64 old_end = mapping_end(*mapping);
    u64 cut_start = mapping->address > address ? mapping->address : address;
    u64 cut_end = old_end < end ? old_end : end;
    u64 room = (UNMAP_MAX_PAGES - pages_done) * PAGE_SIZE;
    bool partial = cut_end - cut_start > room;
    if (partial) cut_end = cut_start + room;
    clear_pages(task, cut_start, cut_end);
    pages_done += (cut_end - cut_start) / PAGE_SIZE;
    ++mappings_done;
    if (mapping->address >= address && old_end <= cut_end) {
      free_mapping(*mapping);
    } else if (mapping->address < address && old_end > cut_end) {  // The cut in two (tail charged above).
      KERNEL_ASSERT(tail != nullptr);  // cut_end is first_limit here, so the tail was made above.
      tail->task = &task;
      tail->memory = mapping->memory;
      tail->address = cut_end;
      tail->page_offset = mapping->page_offset + (cut_end - mapping->address) / PAGE_SIZE;
      tail->page_count = (old_end - cut_end) / PAGE_SIZE;
      tail->writable = mapping->writable;
      tail->executable = mapping->executable;
      ++tail->memory->mapping_count;
      mapping->page_count = (address - mapping->address) / PAGE_SIZE;
      (void)task.mappings.insert(*tail);  // Its range was the mapping's: no other key there.
      tail->memory->mappings.push_back(*tail);
    } else if (mapping->address < address) {
      mapping->page_count = (address - mapping->address) / PAGE_SIZE;
    } else {
      mapping->page_offset += (cut_end - mapping->address) / PAGE_SIZE;
      mapping->page_count = (old_end - cut_end) / PAGE_SIZE;
      mapping->address = cut_end;
    }
    if (partial) {
      stopped_at = cut_end;
      break;
    }
    mapping = next;
  }
  // One shootdown for the whole pass. Only Mapping records were freed (kernel memory no
  // translation points to) and page tables stay: no frame can be reached through a stale entry
  // and reused meanwhile.
  arch::address_space_flush_remote(task.page_table_root);
  return stopped_at;
}

namespace {

constexpr u64 MAX_TRANSFER = 16ull << 20;
// One kernel entry moves at most this much (a millisecond or two under TCG, even byte by byte);
// a longer transfer continues in the next entry with its argument registers advanced.
constexpr u64 TRANSFER_STEP = 256ull << 10;

// `lazy_allowed`: MemoryRead, which reads a lazy object's untouched pages as zero (they gain no frame).
bool range_valid(const Memory& memory, u64 offset, u64 length, bool lazy_allowed = false) {
  u64 size = memory.page_count * PAGE_SIZE;
  return !memory.device && (lazy_allowed || !memory.lazy) && length <= MAX_TRANSFER && offset <= size &&
         length <= size - offset;
}

// What an untouched page of a lazy object reads as.
alignas(PAGE_SIZE) const u8 zero_page[PAGE_SIZE] = {};

// The kernel address of byte offset of memory and how many bytes follow it in the same page.
u8* byte_at(const Memory& memory, u64 offset, u64& bytes_in_page) {
  bytes_in_page = PAGE_SIZE - offset % PAGE_SIZE;
  return arch::physical_to_virtual(memory.frames[offset / PAGE_SIZE]) + offset % PAGE_SIZE;
}

// Copies bytes between kernel addresses of any alignment, eight at a time where it can (x86
// loads and stores need no alignment): a byte loop made the largest copy take seconds under TCG.
void copy_unaligned(u8* to, const u8* from, u64 length) {
  u64 index = 0;
  for (; index + sizeof(u64) <= length; index += sizeof(u64)) {
    u64 word;
    __builtin_memcpy(&word, from + index, sizeof word);
    __builtin_memcpy(to + index, &word, sizeof word);
  }
  for (; index < length; ++index) to[index] = from[index];
}

}  // namespace

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::MemoryWrite>(
    Thread&, Target<Syscall::MemoryWrite> target, SyscallArguments<Syscall::MemoryWrite>& arguments) {
  Memory& memory = target.object;
  u64 offset = arguments.offset();
  UserSpan<const u8> source = arguments.source();
  if (!range_valid(memory, offset, source.count()) || !source.in_user_space()) return Error::InvalidArgument;
  u64 step_end = source.count() > TRANSFER_STEP ? source.count() - TRANSFER_STEP : 0;
  while (source.count() > step_end) {
    u64 in_page;
    u8* target_bytes = byte_at(memory, offset, in_page);
    u64 chunk = source.count() < in_page ? source.count() : in_page;
    // A fault part-way leaves a prefix written: the caller asked for bytes it could not supply.
    TRY_VOID(source.subspan(0, chunk).copy_in(target_bytes));
    offset += chunk;
    source = source.subspan(chunk, source.count() - chunk);
  }
  if (source.count() > 0) {
    arguments.set_remaining(offset, source);
    arguments.restart(Syscall::MemoryWrite);
    return Outcome::Continues;
  }
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryWrite);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::MemoryRead>(
    Thread&, Target<Syscall::MemoryRead> target, SyscallArguments<Syscall::MemoryRead>& arguments) {
  Memory& memory = target.object;
  u64 offset = arguments.offset();
  UserSpan<u8> destination = arguments.destination();
  if (!range_valid(memory, offset, destination.count(), true) || !destination.in_user_space())
    return Error::InvalidArgument;
  u64 step_end = destination.count() > TRANSFER_STEP ? destination.count() - TRANSFER_STEP : 0;
  while (destination.count() > step_end) {
    u64 in_page = PAGE_SIZE - offset % PAGE_SIZE;
    u64 lazy_physical = memory.lazy ? lazy_frame(memory, offset / PAGE_SIZE) : 0;
    const u8* source = !memory.lazy         ? byte_at(memory, offset, in_page)
                       : lazy_physical != 0 ? arch::physical_to_virtual(lazy_physical) + offset % PAGE_SIZE
                                            : zero_page + offset % PAGE_SIZE;
    u64 chunk = destination.count() < in_page ? destination.count() : in_page;
    TRY_VOID(destination.subspan(0, chunk).copy_out(source));
    offset += chunk;
    destination = destination.subspan(chunk, destination.count() - chunk);
  }
  if (destination.count() > 0) {
    arguments.set_remaining(offset, destination);
    arguments.restart(Syscall::MemoryRead);
    return Outcome::Continues;
  }
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryRead);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::MemoryCopy>(
    Thread& self, Target<Syscall::MemoryCopy> target_memory, SyscallArguments<Syscall::MemoryCopy>& arguments) {
  Memory& target = target_memory.object;
  Capability* source_slot =
      TRY(lookup(own_task(self), arguments.source_selector(), ObjectType::Memory, rights_of(abi::MemoryRight::Read)));
  Memory& source = *object_of<Memory>(*source_slot);
  u64 target_offset = arguments.target_offset(), source_offset = arguments.source_offset(), length = arguments.length();
  if (!range_valid(target, target_offset, length) || !range_valid(source, source_offset, length))
    return Error::InvalidArgument;
  u64 step_end = length > TRANSFER_STEP ? length - TRANSFER_STEP : 0;
  while (length > step_end) {
    u64 target_room, source_room;
    u8* to = byte_at(target, target_offset, target_room);
    u8* from = byte_at(source, source_offset, source_room);
    u64 chunk = length - step_end;
    if (chunk > target_room) chunk = target_room;
    if (chunk > source_room) chunk = source_room;
    // Whole aligned pages (the common case: segment templates) move eight bytes at a time.
    if (chunk == PAGE_SIZE) arch::copy_words(to, from, PAGE_SIZE);
    else copy_unaligned(to, from, chunk);
    target_offset += chunk;
    source_offset += chunk;
    length -= chunk;
  }
  if (length > 0) {
    arguments.set_remaining(target_offset, source_offset, length);
    arguments.restart(Syscall::MemoryCopy);
    return Outcome::Continues;
  }
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryCopy);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::MemoryDecommit>(
    Thread&, Target<Syscall::MemoryDecommit> target, SyscallArguments<Syscall::MemoryDecommit>& arguments) {
  arguments.set_stopped_at(TRY(decommit_memory(target.object, arguments.first_page(), arguments.page_count())));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryDecommit);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::MemoryCommit>(
    Thread&, Target<Syscall::MemoryCommit> target, SyscallArguments<Syscall::MemoryCommit>& arguments) {
  u64 stopped_at = 0;
  Error error = commit_memory(target.object, arguments.first_page(), arguments.page_count(), stopped_at);
  // o1 says where it stopped, on success and on failure alike.
  arguments.set_stopped_at(stopped_at);
  if (error != Error::None) return error;
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryCommit);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::MemoryCopyCommitted>(
    Thread& self, Target<Syscall::MemoryCopyCommitted> target,
    SyscallArguments<Syscall::MemoryCopyCommitted>& arguments) {
  Capability* source_slot =
      TRY(lookup(own_task(self), arguments.source_selector(), ObjectType::Memory, rights_of(abi::MemoryRight::Read)));
  u64 stopped_at = 0;
  Error error = copy_committed_memory(target.object, *object_of<Memory>(*source_slot), arguments.first_page(),
                                      arguments.page_count(), stopped_at);
  // o1 says where it stopped, on success and on failure alike.
  arguments.set_stopped_at(stopped_at);
  if (error != Error::None) return error;
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryCopyCommitted);

// At most 64 pages: one look at each, bounded work under the lock.
template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::MemoryResidency>(
    Thread&, Target<Syscall::MemoryResidency> target, SyscallArguments<Syscall::MemoryResidency>& arguments) {
  const Memory& memory = target.object;
  u64 first = arguments.first_page(), count = arguments.page_count();
  if (count == 0 || count > 64 || first > memory.page_count || count > memory.page_count - first)
    return Error::InvalidArgument;
  u64 bits = 0;
  for (u64 i = 0; i < count; ++i)
    if (!memory.lazy || lazy_frame(memory, first + i) != 0) bits |= u64{1} << i;
  arguments.set_resident(bits);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryResidency);

// Destroys memory in steps (see destroy_task). Each step ends with one shootdown for every page
// it unmapped, whichever tasks they were in; the frames go back only after the last one.
bool destroy_memory(Memory& memory, u64& work) {
  // Destroyed while being built (its factory went): its builder's next entry starts afresh.
  if (memory.builder != nullptr) {
    memory.builder->building_memory = nullptr;
    memory.builder = nullptr;
  }
  bool unmapped = false;
  while (Mapping* mapping = memory.mappings.front()) {
    if (work >= DESTROY_STEP_WORK) {
      if (unmapped) arch::address_space_flush_remote_all();
      return false;
    }
    if (!mapping->task->address_space_left) {
      // A mapping larger than what is left of the step loses its first pages now and the rest
      // in later steps (its task goes on using them meanwhile; the Memory is dying anyway).
      u64 pages = mapping->page_count < DESTROY_STEP_WORK - work ? mapping->page_count : DESTROY_STEP_WORK - work;
      clear_pages(*mapping->task, mapping->address, mapping->address + pages * PAGE_SIZE);
      work += pages;
      unmapped = true;
      if (pages < mapping->page_count) {
        mapping->address += pages * PAGE_SIZE;  // Within its own range: the tree's order holds.
        mapping->page_offset += pages;
        mapping->page_count -= pages;
        continue;
      }
    }
    free_mapping(*mapping);
    work += 1;
  }
  if (unmapped) arch::address_space_flush_remote_all();
  // Device registers were never RAM of ours: only ordinary pages go back to the pool. A lazy
  // object's touched pages go in steps of leaves.
  if (memory.lazy) {
    if (!release_lazy_frames(memory, work, DESTROY_STEP_WORK)) return false;
    factory_refund(memory.header.factory, memory.leaves_table_bytes);
    free_table(memory.leaves, memory.leaves_table_bytes);
  } else if (!memory.device) {
    for (u64 page = 0; page < memory.page_count; ++page) (void)frames().free(memory.frames[page]);
    // Pages still pending (a creation that stopped midway) were charged but never allocated.
    factory_refund(memory.header.factory, (memory.page_count + memory.pages_pending) * PAGE_SIZE);
    work += memory.page_count / 16;
  }
  factory_refund(memory.header.factory, memory.frames_table_bytes);
  free_table(memory.frames, memory.frames_table_bytes);
  free_object(&memory);
  return true;
}

}  // namespace kernel
