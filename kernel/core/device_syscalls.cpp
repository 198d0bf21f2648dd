// System calls for notifications, interrupts and devices: what user-level drivers need.
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/ioapic.hpp"
#include "core/scheduler.hpp"
#include "core/syscall_support.hpp"
#include "lib/multiboot.hpp"
#include "object/capability_space.hpp"
#include "object/lifetime.hpp"

namespace kernel {

const BootInfo& boot_information();

namespace {

namespace abi = metteagle::abi;
using abi::Error;
using abi::rights_of;
using arch::TrapFrame;

constexpr u64 LOCAL_APIC_PAGE = 0xfee00000;
constexpr u64 IOAPIC_PAGES = 0xfec00000;  // Both I/O APICs: 0xfec00000 and 0xfec10000.

// Ports the kernel itself drives: COM1, both PICs, the PIT and QEMU's exit port.
struct PortRange {
  u32 first;
  u32 count;
};
constexpr PortRange KERNEL_PORTS[] = {{0x3f8, 8}, {0x20, 2}, {0xa0, 2}, {0x40, 4}, {0xf4, 4}};

bool overlaps(u64 start, u64 end, u64 other_start, u64 other_end) { return start < other_end && other_start < end; }

// Device memory may not alias RAM or the interrupt controllers the kernel programs.
bool device_range_allowed(u64 physical, u64 pages) {
  if (!is_aligned(physical, PAGE_SIZE) || pages == 0 || pages > (~u64{0} - physical) / PAGE_SIZE) return false;
  u64 end = physical + pages * PAGE_SIZE;
  const BootInfo& info = boot_information();
  for (usize index = 0; index < info.region_count; ++index)
    if (info.regions[index].usable && overlaps(physical, end, info.regions[index].start, info.regions[index].end))
      return false;
  if (overlaps(physical, end, 0, 1 << 20)) return false;  // Firmware and the AP trampoline.
  if (overlaps(physical, end, LOCAL_APIC_PAGE, LOCAL_APIC_PAGE + PAGE_SIZE)) return false;
  if (overlaps(physical, end, IOAPIC_PAGES, IOAPIC_PAGES + PAGE_SIZE)) return false;
  if (overlaps(physical, end, IOAPIC_PAGES + 0x10000, IOAPIC_PAGES + 0x10000 + PAGE_SIZE)) return false;
  return true;
}

bool ports_allowed(u64 first, u64 count) {
  if (count == 0 || first > 0xffff || count > 0x10000 - first) return false;
  for (const PortRange& range : KERNEL_PORTS)
    if (overlaps(first, first + count, range.first, range.first + range.count)) return false;
  return true;
}

// Decodes the common part of the platform calls: the Platform right, the destination, the factory.
struct PlatformRequest {
  Capability* destination;
  Factory* factory;
};
Result<PlatformRequest> decode_platform(Thread& self, TrapFrame& frame) {
  Task& task = own_task(self);
  TRY(lookup(task, frame.rdi, ObjectType::Platform, rights_of(abi::PlatformRight::Devices)));
  Capability* destination = TRY(lookup_empty(task, argument(frame, 1)));
  Capability* factory = TRY(lookup(task, argument(frame, 4), ObjectType::Factory, rights_of(abi::FactoryRight::Create)));
  return PlatformRequest{destination, reinterpret_cast<Factory*>(factory->object)};
}

bool port_access_valid(const IoPorts& ports, u64 port, u64 width) {
  if (width != 1 && width != 2 && width != 4) return false;
  return port >= ports.first && port + width <= u64{ports.first} + ports.count;
}

}  // namespace

void notification_signal_handler(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi, ObjectType::Notification, rights_of(abi::NotificationRight::Signal));
  if (!slot) return finish(frame, slot.error());
  u64 bits = argument(frame, 1);
  if (bits == 0) return finish(frame, Error::InvalidArgument);
  notification_signal(*object_of<Notification>(*slot.value()), bits);
  finish(frame, Error::None);
}

void notification_wait_handler(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi, ObjectType::Notification, rights_of(abi::NotificationRight::Wait));
  if (!slot) return finish(frame, slot.error());
  auto& notification = *object_of<Notification>(*slot.value());
  if (notification.bits != 0) {
    frame.rsi = notification.bits;
    notification.bits = 0;
    return finish(frame, Error::None);
  }
  u64 timeout = frame.r12;
  if (timeout == 0) return finish(frame, Error::Timeout);
  notification.waiters.push_back(self);
  if (timeout != abi::TIMEOUT_INFINITE) {
    u64 now = arch::read_tsc();
    u64 delay = nanoseconds_to_tsc(timeout);
    if (delay <= ~u64{0} - now) add_timeout(self, now + delay);
  }
  block_current(ThreadState::BlockedReceive);  // The signaller (or a timeout) fills in the result.
}

void platform_create_mmio(Thread& self, TrapFrame& frame) {
  auto request = decode_platform(self, frame);
  if (!request) return finish(frame, request.error());
  u64 physical = argument(frame, 2);
  u64 pages = argument(frame, 3);
  if (!device_range_allowed(physical, pages)) return finish(frame, Error::InvalidArgument);
  auto memory = create_device_memory(request->factory, physical, pages);
  if (!memory) return finish(frame, memory.error());
  install_capability(*request->destination, &memory.value()->header,
                     rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write));
  finish(frame, Error::None);
}

void platform_create_io_ports(Thread& self, TrapFrame& frame) {
  auto request = decode_platform(self, frame);
  if (!request) return finish(frame, request.error());
  u64 first = argument(frame, 2);
  u64 count = argument(frame, 3);
  if (!ports_allowed(first, count)) return finish(frame, Error::InvalidArgument);
  auto ports = create_io_ports(request->factory, static_cast<u32>(first), static_cast<u32>(count));
  if (!ports) return finish(frame, ports.error());
  install_capability(*request->destination, &ports.value()->header, abi::ALL_RIGHTS);
  finish(frame, Error::None);
}

void platform_create_irq(Thread& self, TrapFrame& frame) {
  auto request = decode_platform(self, frame);
  if (!request) return finish(frame, request.error());
  u64 line = argument(frame, 2);
  u64 flags = argument(frame, 3);
  if (line >= IRQ_LINES || (flags & ~u64{3}) != 0) return finish(frame, Error::InvalidArgument);
  auto irq = create_irq(request->factory, static_cast<u32>(line), (flags & 1) != 0, (flags & 2) != 0);
  if (!irq) return finish(frame, irq.error());
  install_capability(*request->destination, &irq.value()->header, abi::ALL_RIGHTS);
  finish(frame, Error::None);
}

void irq_bind(Thread& self, TrapFrame& frame) {
  Task& task = own_task(self);
  auto slot = lookup(task, frame.rdi, ObjectType::Irq, rights_of(abi::IrqRight::Control));
  if (!slot) return finish(frame, slot.error());
  auto& irq = *object_of<Irq>(*slot.value());
  u64 notification_selector = argument(frame, 1);
  u64 bits = argument(frame, 2);
  Notification* notification = nullptr;
  if (notification_selector != abi::NULL_SELECTOR) {
    auto target = lookup(task, notification_selector, ObjectType::Notification,
                         rights_of(abi::NotificationRight::Signal));
    if (!target) return finish(frame, target.error());
    if (bits == 0) return finish(frame, Error::InvalidArgument);
    notification = object_of<Notification>(*target.value());
  }
  if (irq.notification != nullptr) decltype(irq.notification->bound_irqs)::remove(irq);
  irq.notification = notification;
  irq.bits = bits;
  if (notification != nullptr) {
    notification->bound_irqs.push_back(irq);
    arch::ioapic_unmask(irq.line);
  } else {
    arch::ioapic_mask(irq.line);
  }
  finish(frame, Error::None);
}

void irq_acknowledge(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi, ObjectType::Irq, rights_of(abi::IrqRight::Control));
  if (!slot) return finish(frame, slot.error());
  auto& irq = *object_of<Irq>(*slot.value());
  if (irq.notification != nullptr) arch::ioapic_unmask(irq.line);
  finish(frame, Error::None);
}

void io_port_read(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi, ObjectType::IoPorts, rights_of(abi::IoPortsRight::Read));
  if (!slot) return finish(frame, slot.error());
  u64 port = argument(frame, 1);
  u64 width = argument(frame, 2);
  if (!port_access_valid(*object_of<IoPorts>(*slot.value()), port, width)) return finish(frame, Error::InvalidArgument);
  auto number = static_cast<u16>(port);
  frame.rsi = width == 1 ? arch::in8(number) : width == 2 ? arch::in16(number) : arch::in32(number);
  finish(frame, Error::None);
}

void io_port_write(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi, ObjectType::IoPorts, rights_of(abi::IoPortsRight::Write));
  if (!slot) return finish(frame, slot.error());
  u64 port = argument(frame, 1);
  u64 width = argument(frame, 2);
  u64 value = argument(frame, 3);
  if (!port_access_valid(*object_of<IoPorts>(*slot.value()), port, width)) return finish(frame, Error::InvalidArgument);
  auto number = static_cast<u16>(port);
  if (width == 1) arch::out8(number, static_cast<u8>(value));
  else if (width == 2) arch::out16(number, static_cast<u16>(value));
  else arch::out32(number, static_cast<u32>(value));
  finish(frame, Error::None);
}

void platform_create_dma_memory(Thread& self, TrapFrame& frame) {
  auto request = decode_platform(self, frame);
  if (!request) return finish(frame, request.error());
  auto memory = create_contiguous_memory(request->factory, argument(frame, 2));
  if (!memory) return finish(frame, memory.error());
  install_capability(*request->destination, &memory.value()->header, abi::ALL_RIGHTS);
  finish(frame, Error::None);
}

void platform_memory_physical(Thread& self, TrapFrame& frame) {
  Task& task = own_task(self);
  auto platform = lookup(task, frame.rdi, ObjectType::Platform, rights_of(abi::PlatformRight::Devices));
  if (!platform) return finish(frame, platform.error());
  auto slot = lookup(task, argument(frame, 1), ObjectType::Memory, 0);
  if (!slot) return finish(frame, slot.error());
  auto& memory = *object_of<Memory>(*slot.value());
  u64 page = argument(frame, 2);
  // A lazy object's pages have no fixed frame: no device may be pointed at them.
  if (page >= memory.page_count || memory.lazy) return finish(frame, Error::InvalidArgument);
  frame.rsi = memory.frames[page];
  finish(frame, Error::None);
}

void on_device_interrupt(u32 line) {
  Irq* irq = irq_of_line(line);
  if (irq == nullptr) return;
  // Masked until the driver acknowledges: a level-triggered line would fire again at once.
  arch::ioapic_mask(line);
  if (irq->notification != nullptr) notification_signal(*irq->notification, irq->bits);
}

}  // namespace kernel
