// Memory: a handle to physical pages; they are used through Task::map.
// Invariant: the handle carries no mapping state; the kernel tracks mappings.
#pragma once

#include "sys/capability.hpp"

namespace sys {

class Memory : public TypedCapability<ObjectType::Memory> {
 public:
  using TypedCapability::TypedCapability;

  // Byte copies through the kernel, without mapping the object.
  [[nodiscard]] Result<void> write(u64 offset, const void* source, u64 length) const {
    return as_result(invoke(abi::Syscall::MemoryWrite, selector(), offset, reinterpret_cast<u64>(source), length));
  }
  [[nodiscard]] Result<void> read(u64 offset, void* destination, u64 length) const {
    return as_result(invoke(abi::Syscall::MemoryRead, selector(), offset, reinterpret_cast<u64>(destination), length));
  }
  // Copies length bytes from source (at source_offset) into this object (at offset).
  [[nodiscard]] Result<void> copy_from(u64 offset, Memory source, u64 source_offset, u64 length) const {
    return as_result(invoke(abi::Syscall::MemoryCopy, selector(), offset, source.selector(), source_offset, length));
  }
  // Gives back the touched pages of [first_page, first_page + pages) of a lazy object, in as many
  // MemoryDecommit calls as its bound needs.
  [[nodiscard]] Result<void> decommit(u64 first_page, u64 pages) const {
    u64 end = first_page + pages;
    do {  // At least one call, so the kernel judges every request (an empty range too).
      SyscallRegisters registers{first_page, end - first_page, 0, 0, 0, 0};
      Error error = invoke(abi::Syscall::MemoryDecommit, selector(), registers);
      if (error != Error::None) return error;
      first_page = registers.argument1;
    } while (first_page < end);
    return {};
  }
  // Gives the untouched pages of [first_page, first_page + pages) of a lazy object their frames
  // now (charged), in as many MemoryCommit calls as its bound needs.
  [[nodiscard]] Result<void> commit(u64 first_page, u64 pages) const {
    u64 end = first_page + pages;
    do {
      SyscallRegisters registers{first_page, end - first_page, 0, 0, 0, 0};
      Error error = invoke(abi::Syscall::MemoryCommit, selector(), registers);
      if (error != Error::None) return error;
      first_page = registers.argument1;
    } while (first_page < end);
    return {};
  }
  // Which of pages [first_page, first_page + pages) hold a frame now (bit i: first_page + i), for
  // 1 to 64 pages; every page of an object that is not lazy.
  [[nodiscard]] Result<u64> residency(u64 first_page, u64 pages) const {
    SyscallRegisters registers{first_page, pages, 0, 0, 0, 0};
    Error error = invoke(abi::Syscall::MemoryResidency, selector(), registers);
    if (error != Error::None) return error;
    return registers.argument1;
  }
  // Copies the touched pages of [first_page, first_page + pages) of the lazy `source` into the same
  // pages of this lazy object (charged to its factory), in as many MemoryCopyCommitted calls as
  // their bound needs; untouched pages are skipped.
  [[nodiscard]] Result<void> copy_committed_from(Memory source, u64 first_page, u64 pages) const {
    u64 end = first_page + pages;
    do {
      SyscallRegisters registers{source.selector(), first_page, end - first_page, 0, 0, 0};
      Error error = invoke(abi::Syscall::MemoryCopyCommitted, selector(), registers);
      if (error != Error::None) return error;
      first_page = registers.argument1;
    } while (first_page < end);
    return {};
  }
};

constexpr u32 memory_rights(bool read, bool write, bool execute) {
  return (read ? abi::rights_of(abi::MemoryRight::Read) : 0u) | (write ? abi::rights_of(abi::MemoryRight::Write) : 0u) |
         (execute ? abi::rights_of(abi::MemoryRight::Execute) : 0u);
}

}  // namespace sys
