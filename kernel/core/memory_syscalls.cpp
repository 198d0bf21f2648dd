// MemoryWrite, MemoryRead, MemoryCopy: moving bytes into, out of and between memory objects
// through the kernel's direct map, so a server (the container manager) need not map an object
// into its own address space (page tables, and a TLB shootdown on unmap) just to fill it.
// Invariant: ranges are checked against the objects before any byte moves; user memory is
// touched only through UserSpan copies; device memory and lazy memory (whose pages
// may have no frame) are refused. MemoryDecommit gives back the touched pages of lazy memory, MemoryCommit
// gives untouched ones their frames ahead of use.
#include "arch/x86_64/cpu.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "core/user_memory.hpp"
#include "object/capability_space.hpp"
#include "object/lazy_memory.hpp"

namespace kernel {
namespace {

using abi::Error;
using abi::rights_of;
using abi::Syscall;

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

}  // namespace

template <>
Result<Outcome> invoke<Syscall::MemoryWrite>(Thread&, Target<Syscall::MemoryWrite> target,
                                             SyscallArguments<Syscall::MemoryWrite>& arguments) {
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

template <>
Result<Outcome> invoke<Syscall::MemoryRead>(Thread&, Target<Syscall::MemoryRead> target,
                                            SyscallArguments<Syscall::MemoryRead>& arguments) {
  Memory& memory = target.object;
  u64 offset = arguments.offset();
  UserSpan<u8> destination = arguments.destination();
  if (!range_valid(memory, offset, destination.count()) || !destination.in_user_space()) return Error::InvalidArgument;
  u64 step_end = destination.count() > TRANSFER_STEP ? destination.count() - TRANSFER_STEP : 0;
  while (destination.count() > step_end) {
    u64 in_page;
    const u8* source = byte_at(memory, offset, in_page);
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

template <>
Result<Outcome> invoke<Syscall::MemoryCopy>(Thread& self, Target<Syscall::MemoryCopy> target_memory,
                                            SyscallArguments<Syscall::MemoryCopy>& arguments) {
  Memory& target = target_memory.object;
  Capability* source_slot = TRY(lookup(own_task(self), arguments.source_selector(), ObjectType::Memory,
                                       rights_of(abi::MemoryRight::Read)));
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

template <>
Result<Outcome> invoke<Syscall::MemoryDecommit>(Thread&, Target<Syscall::MemoryDecommit> target,
                                                SyscallArguments<Syscall::MemoryDecommit>& arguments) {
  arguments.set_stopped_at(TRY(decommit_memory(target.object, arguments.first_page(), arguments.page_count())));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryDecommit);

template <>
Result<Outcome> invoke<Syscall::MemoryCommit>(Thread&, Target<Syscall::MemoryCommit> target,
                                              SyscallArguments<Syscall::MemoryCommit>& arguments) {
  u64 stopped_at = 0;
  Error error = commit_memory(target.object, arguments.first_page(), arguments.page_count(), stopped_at);
  // o1 says where it stopped, on success and on failure alike.
  arguments.set_stopped_at(stopped_at);
  if (error != Error::None) return error;
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(MemoryCommit);

}  // namespace kernel
