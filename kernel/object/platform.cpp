// Platform: the authority over the machine's devices; creates device memory, I/O port ranges,
// interrupt objects and DMA memory, and tells a page's physical address.
// Invariant: see platform.hpp; device ranges never alias RAM, the first MiB or the interrupt
// controllers, port ranges never include the kernel's own ports, and both are checked before any
// object exists.
#include "object/platform.hpp"

#include "core/memory.hpp"
#include "core/panic.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::rights_of;
using abi::Syscall;

Platform* create_platform() {
  auto platform = allocate_object<Platform>(nullptr, ObjectType::Platform);
  KERNEL_ASSERT(platform.ok());  // Boot time: the heap has memory.
  return platform.value();
}

const BootInfo& boot_information();

namespace {

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

// Decodes the common part of the platform's creations (the dispatcher checked the Platform
// right): the destination slot and the factory charged.
struct PlatformRequest {
  Capability* destination;
  Factory* factory;
};
Result<PlatformRequest> decode_platform(Thread& self, const PlatformCreationView& arguments) {
  Task& task = own_task(self);
  Capability* factory =
      TRY(lookup(task, arguments.factory_selector(), ObjectType::Factory, rights_of(abi::FactoryRight::Create)));
  Capability* destination = TRY(lookup_empty(task, arguments.destination_slot()));  // May make its chunk.
  return PlatformRequest{destination, object_of<Factory>(*factory)};
}

}  // namespace

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::PlatformCreateMmio>(
    Thread& self, Target<Syscall::PlatformCreateMmio>, SyscallArguments<Syscall::PlatformCreateMmio>& arguments) {
  PlatformRequest request = TRY(decode_platform(self, arguments));
  if (!device_range_allowed(arguments.physical_address(), arguments.page_count())) return Error::InvalidArgument;
  Memory* memory = TRY(create_device_memory(request.factory, arguments.physical_address(), arguments.page_count()));
  install_capability(*request.destination, &memory->header, rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(PlatformCreateMmio);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::PlatformCreateIoPorts>(
    Thread& self, Target<Syscall::PlatformCreateIoPorts>, SyscallArguments<Syscall::PlatformCreateIoPorts>& arguments) {
  PlatformRequest request = TRY(decode_platform(self, arguments));
  u64 first = arguments.first_port();
  u64 count = arguments.port_count();
  if (!ports_allowed(first, count)) return Error::InvalidArgument;
  IoPorts* ports = TRY(create_io_ports(request.factory, static_cast<u32>(first), static_cast<u32>(count)));
  install_capability(*request.destination, &ports->header, abi::ALL_RIGHTS);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(PlatformCreateIoPorts);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::PlatformCreateIrq>(
    Thread& self, Target<Syscall::PlatformCreateIrq>, SyscallArguments<Syscall::PlatformCreateIrq>& arguments) {
  PlatformRequest request = TRY(decode_platform(self, arguments));
  u64 line = arguments.line();
  u64 flags = arguments.flags();
  if (line >= IRQ_LINES || (flags & ~u64{3}) != 0) return Error::InvalidArgument;
  Irq* irq = TRY(create_irq(request.factory, static_cast<u32>(line), (flags & 1) != 0, (flags & 2) != 0));
  install_capability(*request.destination, &irq->header, abi::ALL_RIGHTS);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(PlatformCreateIrq);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::PlatformCreateDmaMemory>(
    Thread& self, Target<Syscall::PlatformCreateDmaMemory>,
    SyscallArguments<Syscall::PlatformCreateDmaMemory>& arguments) {
  PlatformRequest request = TRY(decode_platform(self, arguments));
  Memory* memory = TRY(create_contiguous_memory(request.factory, arguments.page_count()));
  install_capability(*request.destination, &memory->header, abi::ALL_RIGHTS);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(PlatformCreateDmaMemory);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::PlatformMemoryPhysical>(
    Thread& self, Target<Syscall::PlatformMemoryPhysical>,
    SyscallArguments<Syscall::PlatformMemoryPhysical>& arguments) {
  Capability* slot = TRY(lookup(own_task(self), arguments.memory_selector(), ObjectType::Memory, 0));
  Memory& memory = *object_of<Memory>(*slot);
  u64 page = arguments.page();
  // A lazy object's pages have no fixed frame: no device may be pointed at them.
  if (page >= memory.page_count || memory.lazy) return Error::InvalidArgument;
  arguments.set_physical_address(memory.frames[page]);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(PlatformMemoryPhysical);

}  // namespace kernel
