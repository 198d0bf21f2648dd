// virtio::MmioTransport and virtio::Virtqueue: probing microvm's virtio-mmio transports and driving
// the legacy (version 1) interface. Register offsets from the virtio 1.x specification, section
// 4.2.4 (legacy interface).
#include "virtio/mmio.hpp"

namespace virtio {
namespace {

using namespace sys;

constexpr u64 TRANSPORTS_BASE = 0xfeb00000;
// microvm wires transport i to GSI base + i (QEMU's hw/i386/microvm.c, microvm_devices_init):
// with ioapic2 (the default) there are 24 transports on the second I/O APIC, GSI 24-47; with
// ioapic2=off and ACPI on (the default) 8 transports on GSI 16-23; with acpi=off 8 on GSI 5-12.
// The guest cannot tell the last two apart from the transports alone; we assume ACPI is on
// (scripts/qemu.py never turns it off). Checked by experiment: transport 7 interrupts on GSI 23.
constexpr u64 IRQ_BASE_ONE_IOAPIC = 16;
constexpr u64 IRQ_BASE_TWO_IOAPICS = 24;

constexpr u32 VIRTIO_MAGIC = 0x74726976;  // "virt"

enum Register : usize {
  MAGIC = 0x000,
  VERSION = 0x004,
  DEVICE_ID = 0x008,
  HOST_FEATURES = 0x010,
  HOST_FEATURES_SELECT = 0x014,
  GUEST_FEATURES = 0x020,
  GUEST_FEATURES_SELECT = 0x024,
  GUEST_PAGE_SIZE = 0x028,
  QUEUE_SELECT = 0x030,
  QUEUE_SIZE_MAX = 0x034,
  QUEUE_SIZE = 0x038,
  QUEUE_ALIGN = 0x03c,
  QUEUE_PFN = 0x040,
  QUEUE_NOTIFY = 0x050,
  INTERRUPT_STATUS = 0x060,
  INTERRUPT_ACK = 0x064,
  STATUS = 0x070,
  CONFIG = 0x100,
};

constexpr u32 STATUS_ACKNOWLEDGE = 1;
constexpr u32 STATUS_DRIVER = 2;
constexpr u32 STATUS_DRIVER_OK = 4;
constexpr u32 STATUS_FAILED = 128;
// Legacy queues take a 32-bit page frame number.
constexpr u64 LEGACY_ADDRESS_LIMIT = u64{1} << 44;

// Ring flags (virtio 1.x, 2.7.6 and 2.7.8): the driver's "do not interrupt" in the available
// ring, the device's "do not notify" in the used ring.
constexpr u16 AVAILABLE_NO_INTERRUPT = 1;
constexpr u16 USED_NO_NOTIFY = 1;

constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

// Keeps the compiler from moving ring writes across each other; x86 keeps stores in order.
inline void compiler_barrier() { asm volatile("" ::: "memory"); }

}  // namespace

void Virtqueue::place(u8* memory, u16 size) {
  size_ = size;
  descriptors_ = reinterpret_cast<Descriptor*>(memory);
  available_ = reinterpret_cast<volatile u16*>(memory + 16 * usize{size});
  used_ = memory + used_offset(size);
  next_available_ = 0;
  last_used_ = 0;
}

void Virtqueue::publish(u16 head) {
  available_[2 + next_available_ % size_] = head;
  compiler_barrier();  // The ring entry (and the descriptors) before the index that publishes it.
  ++next_available_;
  available_[1] = next_available_;
}

u16 Virtqueue::used_index() const {
  compiler_barrier();
  return *reinterpret_cast<volatile const u16*>(used_ + 2);
}

bool Virtqueue::has_used() const { return last_used_ != used_index(); }

void Virtqueue::suppress_interrupts() { available_[0] = AVAILABLE_NO_INTERRUPT; }

bool Virtqueue::device_wants_notification() const {
  // The device clears the flag, then looks at the index once more; a full fence makes the index
  // visible before our read of the flag, so one of the two sides sees the other's write.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return (*reinterpret_cast<volatile const u16*>(used_) & USED_NO_NOTIFY) == 0;
}

bool Virtqueue::take_used(UsedElement& element) {
  if (last_used_ == used_index()) return false;
  compiler_barrier();  // The index before the element it covers.
  auto* entry = reinterpret_cast<volatile const u32*>(used_ + 4 + 8 * (last_used_ % size_));
  element = UsedElement{entry[0], entry[1]};
  ++last_used_;
  return true;
}

Result<void> MmioTransport::probe(const MmioResources& resources, u32 device_id) {
  u64 slot = TRY(resources.slots.allocate());
  Memory transports = TRY(resources.platform.create_mmio(slot, TRANSPORTS_BASE, TRANSPORT_PAGES, resources.factory));
  TRY_VOID(resources.self.map(transports, 0, resources.registers_address, TRANSPORT_PAGES, READ_WRITE));
  u64 found = MAX_TRANSPORTS;
  u64 count = 0;
  for (u64 index = 0; index < MAX_TRANSPORTS; ++index) {
    auto* window = reinterpret_cast<volatile u32*>(resources.registers_address + index * TRANSPORT_STRIDE);
    if (window[MAGIC / 4] != VIRTIO_MAGIC) continue;
    ++count;
    if (found == MAX_TRANSPORTS && window[VERSION / 4] == 1 && window[DEVICE_ID / 4] == device_id) found = index;
  }
  if (found == MAX_TRANSPORTS) return Error::NotFound;
  registers_ = reinterpret_cast<volatile u32*>(resources.registers_address + found * TRANSPORT_STRIDE);
  location_ = Location{found, count, (count > 8 ? IRQ_BASE_TWO_IOAPICS : IRQ_BASE_ONE_IOAPIC) + found};
  return {};
}

u32 MmioTransport::begin_initialization() {
  write(STATUS, 0);  // Reset.
  write(STATUS, STATUS_ACKNOWLEDGE);
  write(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
  write(HOST_FEATURES_SELECT, 0);
  return read(HOST_FEATURES);
}

void MmioTransport::accept_features(u32 features) {
  write(GUEST_FEATURES_SELECT, 0);
  write(GUEST_FEATURES, features);
  write(GUEST_PAGE_SIZE, PAGE_SIZE);
}

Result<void> MmioTransport::setup_queue(u16 index, Virtqueue& queue, u16 size, u8* dma, u64 dma_physical,
                                        usize offset) {
  if (dma_physical + offset + Virtqueue::pages(size) * PAGE_SIZE > LEGACY_ADDRESS_LIMIT) return Error::Unsupported;
  write(QUEUE_SELECT, index);
  if (read(QUEUE_PFN) != 0) return Error::Busy;
  u32 maximum = read(QUEUE_SIZE_MAX);
  if (maximum < size) return Error::Unsupported;
  queue.place(dma + offset, size);
  write(QUEUE_SIZE, size);
  write(QUEUE_ALIGN, PAGE_SIZE);
  write(QUEUE_PFN, static_cast<u32>((dma_physical + offset) / PAGE_SIZE));
  return {};
}

void MmioTransport::driver_ok() { write(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK); }

void MmioTransport::fail() { write(STATUS, read(STATUS) | STATUS_FAILED); }

u32 MmioTransport::status() const { return read(STATUS); }

void MmioTransport::notify(u16 queue) const {
  compiler_barrier();
  write(QUEUE_NOTIFY, queue);
}

u32 MmioTransport::acknowledge_interrupt() const {
  u32 status = read(INTERRUPT_STATUS);
  if (status != 0) write(INTERRUPT_ACK, status);
  return status;
}

u8 MmioTransport::config_u8(usize offset) const {
  return reinterpret_cast<volatile const u8*>(registers_)[CONFIG + offset];
}

u32 MmioTransport::config_u32(usize offset) const {
  auto* bytes = reinterpret_cast<volatile const u8*>(registers_) + CONFIG + offset;
  return u32{bytes[0]} | u32{bytes[1]} << 8 | u32{bytes[2]} << 16 | u32{bytes[3]} << 24;
}

u64 MmioTransport::config_u64(usize offset) const {
  // Bounded: a device that keeps changing the field gets its last value, which the driver then
  // validates like any other.
  u64 value = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    value = u64{config_u32(offset)} | u64{config_u32(offset + 4)} << 32;
    u64 again = u64{config_u32(offset)} | u64{config_u32(offset + 4)} << 32;
    if (value == again) break;
  }
  return value;
}

}  // namespace virtio
