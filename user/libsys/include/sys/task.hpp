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
  // `rights` (MemoryRight bits), which may not exceed the memory capability's rights. One TaskMap
  // maps at most abi::MAP_MAX_PAGES pages and says where it stopped; this goes on from there, and
  // if a later part fails it unmaps the parts it mapped, so the range is mapped whole or not at all.
  [[nodiscard]] Result<void> map(Memory memory, u64 page_offset, u64 address, u64 pages, u32 rights) const {
    u64 start = address;
    u64 end = address + pages * PAGE_SIZE;
    for (;;) {
      SyscallRegisters registers{memory.selector(), page_offset, address, pages, rights, 0};
      Error error = invoke(abi::Syscall::TaskMap, selector(), registers);
      if (error != Error::None) {
        if (address != start) (void)unmap(start, (address - start) / PAGE_SIZE);
        return as_result(error);
      }
      if (registers.argument1 >= end || registers.argument1 <= address) return as_result(error);
      page_offset += (registers.argument1 - address) / PAGE_SIZE;
      pages = (end - registers.argument1) / PAGE_SIZE;
      address = registers.argument1;
    }
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
