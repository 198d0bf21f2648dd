// Task: an address space and a capability space; mapping memory and handing out capabilities.
// Invariant: every operation names the task through a capability, including the caller's own.
#pragma once

#include "sys/capability.hpp"
#include "sys/memory.hpp"

namespace sys {

class Task : public TypedCapability<ObjectType::Task> {
 public:
  using TypedCapability::TypedCapability;

  // Maps `pages` pages of `memory`, starting at its page `page_offset`, at `address` with
  // `rights` (MemoryRight bits), which may not exceed the memory capability's rights.
  [[nodiscard]] Result<void> map(Memory memory, u64 page_offset, u64 address, u64 pages, u32 rights) const {
    return as_result(invoke(abi::Syscall::TaskMap, selector(), memory.selector(), page_offset, address, pages, rights));
  }
  // Removes the pages in the range. One TaskUnmap stops after abi::UNMAP_MAX_MAPPINGS mappings
  // (or UNMAP_MAX_PAGES pages) and says where; this goes on from there until the range is done.
  [[nodiscard]] Result<void> unmap(u64 address, u64 pages) const {
    u64 end = address + pages * PAGE_SIZE;
    for (;;) {
      SyscallRegisters registers{address, pages, 0, 0, 0, 0};
      Error error = invoke(abi::Syscall::TaskUnmap, selector(), registers);
      if (error != Error::None || registers.argument1 >= end || registers.argument1 <= address)
        return as_result(error);
      pages = (end - registers.argument1) / PAGE_SIZE;
      address = registers.argument1;
    }
  }
  // Copies the caller's capability `own` into this task's empty slot `destination`, rights & mask.
  [[nodiscard]] Result<void> give(Capability own, u64 destination, u32 rights_mask = abi::ALL_RIGHTS) const {
    return as_result(invoke(abi::Syscall::TaskGiveCapability, selector(), own.selector(), destination, rights_mask));
  }
};

}  // namespace sys
