// Memory: a handle to physical pages; they are used through Task::map.
// Invariant: the handle carries no mapping state; the kernel tracks mappings.
#pragma once

#include "sys/capability.hpp"

namespace sys {

class Memory : public TypedCapability<ObjectType::Memory> {
 public:
  using TypedCapability::TypedCapability;
};

constexpr u32 memory_rights(bool read, bool write, bool execute) {
  return (read ? abi::rights_of(abi::MemoryRight::Read) : 0u) | (write ? abi::rights_of(abi::MemoryRight::Write) : 0u) |
         (execute ? abi::rights_of(abi::MemoryRight::Execute) : 0u);
}

}  // namespace sys
