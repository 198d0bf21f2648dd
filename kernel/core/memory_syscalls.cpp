// MemoryWrite, MemoryRead, MemoryCopy: moving bytes into, out of and between memory objects
// through the kernel's direct map, so a server (the container manager) need not map an object
// into its own address space (page tables, and a TLB shootdown on unmap) just to fill it.
// Invariant: ranges are checked against the objects before any byte moves; user memory is
// touched only through copy_from_user/copy_to_user; device memory and lazy memory (whose pages
// may have no frame) are refused. MemoryDecommit gives back the touched pages of lazy memory, MemoryCommit
// gives untouched ones their frames ahead of use, MemoryCopyCommitted copies the touched pages of one
// lazy object into another (fork's copy of a reservation).
#include "arch/x86_64/cpu.hpp"
#include "core/syscall_support.hpp"
#include "core/user_memory.hpp"
#include "object/capability_space.hpp"
#include "object/lazy_memory.hpp"

namespace kernel {
namespace {

namespace abi = metteagle::abi;
using abi::Error;
using abi::rights_of;
using arch::TrapFrame;

constexpr u64 MAX_TRANSFER = 16ull << 20;
// One kernel entry moves at most this much (a millisecond or two under TCG, even byte by byte);
// a longer transfer continues in the next entry with its argument registers advanced.
constexpr u64 TRANSFER_STEP = 256ull << 10;

bool range_valid(const Memory& memory, u64 offset, u64 length) {
  u64 size = memory.page_count * PAGE_SIZE;
  return !memory.device && !memory.lazy && length <= MAX_TRANSFER && offset <= size && length <= size - offset;
}

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

Result<Memory*> decode(Thread& self, u64 selector, abi::MemoryRight right) {
  Capability* slot = TRY(lookup(own_task(self), selector, ObjectType::Memory, rights_of(right)));
  return object_of<Memory>(*slot);
}

}  // namespace

void memory_write(Thread& self, TrapFrame& frame) {
  auto memory = decode(self, frame.rdi, abi::MemoryRight::Write);
  if (!memory) return finish(frame, memory.error());
  u64 offset = argument(frame, 1), source = argument(frame, 2), length = argument(frame, 3);
  if (!range_valid(*memory.value(), offset, length) || !user_range_valid(source, length))
    return finish(frame, Error::InvalidArgument);
  u64 step_end = length > TRANSFER_STEP ? length - TRANSFER_STEP : 0;
  while (length > step_end) {
    u64 in_page;
    u8* target = byte_at(*memory.value(), offset, in_page);
    u64 chunk = length < in_page ? length : in_page;
    // A fault part-way leaves a prefix written: the caller asked for bytes it could not supply.
    if (!copy_from_user(target, source, chunk)) return finish(frame, Error::InvalidArgument);
    offset += chunk;
    source += chunk;
    length -= chunk;
  }
  if (length > 0) {
    frame.rsi = offset;
    frame.rdx = source;
    frame.r10 = length;
    return continue_in_next_entry(frame, abi::Syscall::MemoryWrite);
  }
  finish(frame, Error::None);
}

void memory_read(Thread& self, TrapFrame& frame) {
  auto memory = decode(self, frame.rdi, abi::MemoryRight::Read);
  if (!memory) return finish(frame, memory.error());
  u64 offset = argument(frame, 1), destination = argument(frame, 2), length = argument(frame, 3);
  if (!range_valid(*memory.value(), offset, length) || !user_range_valid(destination, length))
    return finish(frame, Error::InvalidArgument);
  u64 step_end = length > TRANSFER_STEP ? length - TRANSFER_STEP : 0;
  while (length > step_end) {
    u64 in_page;
    u8* source = byte_at(*memory.value(), offset, in_page);
    u64 chunk = length < in_page ? length : in_page;
    if (!copy_to_user(destination, source, chunk)) return finish(frame, Error::InvalidArgument);
    offset += chunk;
    destination += chunk;
    length -= chunk;
  }
  if (length > 0) {
    frame.rsi = offset;
    frame.rdx = destination;
    frame.r10 = length;
    return continue_in_next_entry(frame, abi::Syscall::MemoryRead);
  }
  finish(frame, Error::None);
}

void memory_copy(Thread& self, TrapFrame& frame) {
  auto target = decode(self, frame.rdi, abi::MemoryRight::Write);
  if (!target) return finish(frame, target.error());
  auto source = decode(self, argument(frame, 2), abi::MemoryRight::Read);
  if (!source) return finish(frame, source.error());
  u64 target_offset = argument(frame, 1), source_offset = argument(frame, 3), length = argument(frame, 4);
  if (!range_valid(*target.value(), target_offset, length) || !range_valid(*source.value(), source_offset, length))
    return finish(frame, Error::InvalidArgument);
  u64 step_end = length > TRANSFER_STEP ? length - TRANSFER_STEP : 0;
  while (length > step_end) {
    u64 target_room, source_room;
    u8* to = byte_at(*target.value(), target_offset, target_room);
    u8* from = byte_at(*source.value(), source_offset, source_room);
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
    frame.rsi = target_offset;
    frame.r10 = source_offset;
    frame.r8 = length;
    return continue_in_next_entry(frame, abi::Syscall::MemoryCopy);
  }
  finish(frame, Error::None);
}

void memory_decommit(Thread& self, TrapFrame& frame) {
  auto memory = decode(self, frame.rdi, abi::MemoryRight::Write);
  if (!memory) return finish(frame, memory.error());
  auto stopped_at = decommit_memory(*memory.value(), argument(frame, 1), argument(frame, 2));
  if (!stopped_at) return finish(frame, stopped_at.error());
  frame.rsi = stopped_at.value();
  finish(frame, Error::None);
}

void memory_commit(Thread& self, TrapFrame& frame) {
  auto memory = decode(self, frame.rdi, abi::MemoryRight::Write);
  if (!memory) return finish(frame, memory.error());
  u64 stopped_at = 0;
  Error error = commit_memory(*memory.value(), argument(frame, 1), argument(frame, 2), stopped_at);
  frame.rsi = stopped_at;
  finish(frame, error);
}

void memory_copy_committed(Thread& self, TrapFrame& frame) {
  auto target = decode(self, frame.rdi, abi::MemoryRight::Write);
  if (!target) return finish(frame, target.error());
  auto source = decode(self, argument(frame, 1), abi::MemoryRight::Read);
  if (!source) return finish(frame, source.error());
  u64 stopped_at = 0;
  Error error = copy_committed_memory(*target.value(), *source.value(), argument(frame, 2), argument(frame, 3),
                                      stopped_at);
  frame.rsi = stopped_at;
  finish(frame, error);
}

}  // namespace kernel
