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
};

constexpr u32 memory_rights(bool read, bool write, bool execute) {
  return (read ? abi::rights_of(abi::MemoryRight::Read) : 0u) | (write ? abi::rights_of(abi::MemoryRight::Write) : 0u) |
         (execute ? abi::rights_of(abi::MemoryRight::Execute) : 0u);
}

}  // namespace sys
