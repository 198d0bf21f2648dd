// The manager's shared services: global slots, invocation numbers, the scratch window.
#include "service.hpp"

namespace manager {

namespace {
Manager state;
}  // namespace

Manager& manager_state() { return state; }

sys::Result<u64> allocate_global_slot() {
  LockGuard guard(state.slots_lock);
  return state.global_slots->allocate();
}

void free_global_slot(u64 slot) {
  LockGuard guard(state.slots_lock);
  state.global_slots->free(slot);
}

u64 new_invocation_id() {
  LockGuard guard(state.slots_lock);
  return state.next_invocation_id++;
}

sys::Result<u64> map_scratch(Worker& worker, sys::Memory memory, u64 pages, bool writable) {
  u32 rights = writable ? sys::abi::rights_of(sys::abi::MemoryRight::Read, sys::abi::MemoryRight::Write)
                        : sys::abi::rights_of(sys::abi::MemoryRight::Read);
  TRY_VOID(state.self.map(memory, 0, worker.scratch_base, pages, rights));
  return worker.scratch_base;
}

void unmap_scratch(Worker& worker, u64 pages) { (void)state.self.unmap(worker.scratch_base, pages); }

}  // namespace manager
