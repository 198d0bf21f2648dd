// Notifications and device access for user-level drivers: Notification, Irq, IoPorts, Platform.
// Invariant: each wrapper is one system call of abi/syscall.hpp with its arguments in ABI order.
#pragma once

#include "sys/capability.hpp"
#include "sys/factory.hpp"
#include "sys/memory.hpp"

namespace sys {

class Notification : public TypedCapability<ObjectType::Notification> {
 public:
  using TypedCapability::TypedCapability;
  [[nodiscard]] Result<void> signal(u64 bits) const {
    return as_result(invoke(abi::Syscall::NotificationSignal, selector(), bits));
  }
  // The bits that were set (all are cleared), or Timeout.
  [[nodiscard]] Result<u64> wait(u64 timeout = abi::TIMEOUT_INFINITE) const {
    SyscallRegisters registers{};
    registers.timeout_or_badge = timeout;
    Error error = invoke(abi::Syscall::NotificationWait, selector(), registers);
    if (error != Error::None) return error;
    return registers.argument1;
  }
};

class Irq : public TypedCapability<ObjectType::Irq> {
 public:
  using TypedCapability::TypedCapability;
  [[nodiscard]] Result<void> bind(Notification notification, u64 bits) const {
    return as_result(invoke(abi::Syscall::IrqBind, selector(), notification.selector(), bits));
  }
  [[nodiscard]] Result<void> acknowledge() const { return as_result(invoke(abi::Syscall::IrqAcknowledge, selector())); }
};

class IoPorts : public TypedCapability<ObjectType::IoPorts> {
 public:
  using TypedCapability::TypedCapability;
  [[nodiscard]] Result<u64> read(u64 port, u64 width) const {
    SyscallRegisters registers{port, width, 0, 0, 0, 0};
    Error error = invoke(abi::Syscall::IoPortRead, selector(), registers);
    if (error != Error::None) return error;
    return registers.argument1;
  }
  [[nodiscard]] Result<void> write(u64 port, u64 width, u64 value) const {
    return as_result(invoke(abi::Syscall::IoPortWrite, selector(), port, width, value));
  }
};

class Platform : public TypedCapability<ObjectType::Platform> {
 public:
  using TypedCapability::TypedCapability;
  [[nodiscard]] Result<Memory> create_mmio(u64 destination, u64 physical, u64 pages, Factory charged) const {
    Error error = invoke(abi::Syscall::PlatformCreateMmio, selector(), destination, physical, pages, charged.selector());
    if (error != Error::None) return error;
    return Memory(destination);
  }
  [[nodiscard]] Result<IoPorts> create_io_ports(u64 destination, u64 first, u64 count, Factory charged) const {
    Error error = invoke(abi::Syscall::PlatformCreateIoPorts, selector(), destination, first, count, charged.selector());
    if (error != Error::None) return error;
    return IoPorts(destination);
  }
  // Physically contiguous, zeroed memory for device queues and buffers.
  [[nodiscard]] Result<Memory> create_dma_memory(u64 destination, u64 pages, Factory charged) const {
    Error error = invoke(abi::Syscall::PlatformCreateDmaMemory, selector(), destination, pages, 0, charged.selector());
    if (error != Error::None) return error;
    return Memory(destination);
  }
  [[nodiscard]] Result<u64> physical_address(Memory memory, u64 page) const {
    SyscallRegisters registers{memory.selector(), page, 0, 0, 0, 0};
    Error error = invoke(abi::Syscall::PlatformMemoryPhysical, selector(), registers);
    if (error != Error::None) return error;
    return registers.argument1;
  }
  // flags: bit 0 level-triggered, bit 1 active-low.
  [[nodiscard]] Result<Irq> create_irq(u64 destination, u64 line, u64 flags, Factory charged) const {
    Error error = invoke(abi::Syscall::PlatformCreateIrq, selector(), destination, line, flags, charged.selector());
    if (error != Error::None) return error;
    return Irq(destination);
  }
};

}  // namespace sys
