// Factory: creates kernel objects into empty slots of the caller's space, charged to its quota.
// Invariant: each create_* names the destination slot explicitly; allocation of slots is the
// caller's business (see SlotAllocator), so a failed create never leaks a slot here.
#pragma once

#include "sys/capability.hpp"
#include "sys/endpoint.hpp"
#include "sys/memory.hpp"
#include "sys/task.hpp"
#include "sys/thread.hpp"

namespace sys {

struct FactoryQuota {
  u64 quota_bytes;
  u64 used_bytes;
  u64 machine_free_bytes;  // Physical memory the kernel has free, machine-wide (0 without Observe).
  u64 kernel_heap_used_bytes;  // Bytes in live kernel heap objects (0 without Observe).
  u64 kernel_heap_bytes;       // Bytes of the pages the kernel heap holds (0 without Observe).
};

class Factory : public TypedCapability<ObjectType::Factory> {
 public:
  using TypedCapability::TypedCapability;

  // The raw operation: a1 = type, a2 = destination slot, a3 = size (pages for Memory, quota bytes
  // for Factory, capability slots for Task), a4 = task selector and a5 = UTCB address (Thread).
  [[nodiscard]] Result<u64> create(ObjectType type, u64 destination, u64 size = 0, u64 task = 0,
                                   u64 utcb_address = 0) const {
    Error error = invoke(abi::Syscall::FactoryCreate, selector(), static_cast<u64>(type), destination, size, task,
                         utcb_address);
    if (error != Error::None) return error;
    return destination;
  }

  [[nodiscard]] Result<Task> create_task(u64 destination, u64 capability_slots) const {
    return wrap<Task>(create(ObjectType::Task, destination, capability_slots));
  }
  // The kernel maps the thread's UTCB page at utcb_address in `task`.
  [[nodiscard]] Result<Thread> create_thread(u64 destination, Task task, u64 utcb_address) const {
    return wrap<Thread>(create(ObjectType::Thread, destination, 0, task.selector(), utcb_address));
  }
  [[nodiscard]] Result<Endpoint> create_endpoint(u64 destination) const {
    return wrap<Endpoint>(create(ObjectType::Endpoint, destination));
  }
  [[nodiscard]] Result<Memory> create_memory(u64 destination, u64 pages) const {
    return wrap<Memory>(create(ObjectType::Memory, destination, pages));
  }
  [[nodiscard]] Result<Factory> create_factory(u64 destination, u64 quota_bytes) const {
    return wrap<Factory>(create(ObjectType::Factory, destination, quota_bytes));
  }

  [[nodiscard]] Result<FactoryQuota> info() const {
    SyscallRegisters registers;
    Error error = invoke(abi::Syscall::FactoryInfo, selector(), registers);
    if (error != Error::None) return error;
    return FactoryQuota{registers.argument1, registers.argument2, registers.argument3, registers.argument4,
                        registers.argument5};
  }

 private:
  template <typename Handle>
  static Result<Handle> wrap(Result<u64> created) {
    if (!created.ok()) return created.error();
    return Handle(created.value());
  }
};

}  // namespace sys
