// VirtioNet: probing microvm's virtio-mmio transports and driving the legacy (version 1)
// interface. Register offsets from the virtio 1.x specification, section 4.2.4 (legacy interface).
#include "virtio_net.hpp"

namespace net {
namespace {

using namespace sys;

constexpr u64 TRANSPORTS_BASE = 0xfeb00000;
constexpr u64 TRANSPORT_STRIDE = 0x200;
constexpr u64 MAX_TRANSPORTS = 24;  // microvm has 8, or 24 with its second I/O APIC (ioapic2).
constexpr u64 TRANSPORT_PAGES = MAX_TRANSPORTS * TRANSPORT_STRIDE / PAGE_SIZE;
// microvm wires transport i to GSI base + i (QEMU's hw/i386/microvm.c, microvm_devices_init):
// with ioapic2 (the default) there are 24 transports on the second I/O APIC, GSI 24-47; with
// ioapic2=off and ACPI on (the default) 8 transports on GSI 16-23; with acpi=off 8 on GSI 5-12.
// The guest cannot tell the last two apart from the transports alone; we assume ACPI is on
// (scripts/qemu.py never turns it off). Checked by experiment: transport 7 interrupts on GSI 23.
constexpr u64 IRQ_BASE_ONE_IOAPIC = 16;
constexpr u64 IRQ_BASE_TWO_IOAPICS = 24;

constexpr u32 VIRTIO_MAGIC = 0x74726976;  // "virt"
constexpr u32 DEVICE_NETWORK = 1;

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
  QUEUE_SIZE_REGISTER = 0x038,
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
constexpr u32 FEATURE_MAC = 1u << 5;
constexpr u16 DESCRIPTOR_WRITE = 2;  // The device writes into the buffer.

constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

// Keeps the compiler from moving ring writes across each other; x86 keeps stores in order.
inline void compiler_barrier() { asm volatile("" ::: "memory"); }

}  // namespace

u32 VirtioNet::read_register(usize offset) const { return registers_[offset / 4]; }

void VirtioNet::write_register(usize offset, u32 value) const { registers_[offset / 4] = value; }

void VirtioNet::notify(u16 queue) {
  compiler_barrier();
  write_register(QUEUE_NOTIFY, queue);
}

Result<void> VirtioNet::probe(const VirtioNetResources& resources) {
  u64 slot = TRY(resources.slots.allocate());
  Memory transports = TRY(resources.platform.create_mmio(slot, TRANSPORTS_BASE, TRANSPORT_PAGES, resources.factory));
  TRY_VOID(resources.self.map(transports, 0, resources.registers_address, TRANSPORT_PAGES, READ_WRITE));
  u64 found = MAX_TRANSPORTS;
  u64 count = 0;
  for (u64 index = 0; index < MAX_TRANSPORTS; ++index) {
    auto* window = reinterpret_cast<volatile u32*>(resources.registers_address + index * TRANSPORT_STRIDE);
    if (window[MAGIC / 4] != VIRTIO_MAGIC) continue;
    ++count;
    if (found == MAX_TRANSPORTS && window[VERSION / 4] == 1 && window[DEVICE_ID / 4] == DEVICE_NETWORK) found = index;
  }
  if (found == MAX_TRANSPORTS) return Error::NotFound;
  registers_ = reinterpret_cast<volatile u32*>(resources.registers_address + found * TRANSPORT_STRIDE);
  location_ = VirtioNetLocation{found, count, (count > 8 ? IRQ_BASE_TWO_IOAPICS : IRQ_BASE_ONE_IOAPIC) + found};
  return {};
}

Result<void> VirtioNet::setup_queue(u16 index, Queue& queue, usize offset) {
  write_register(QUEUE_SELECT, index);
  if (read_register(QUEUE_PFN) != 0) return Error::Busy;
  u32 maximum = read_register(QUEUE_SIZE_MAX);
  if (maximum < QUEUE_SIZE) return Error::Unsupported;
  queue.offset = offset;
  queue.descriptors = reinterpret_cast<Descriptor*>(dma_ + offset);
  queue.available = reinterpret_cast<volatile u16*>(dma_ + offset + 16 * QUEUE_SIZE);
  queue.used = dma_ + offset + USED_OFFSET;
  queue.next_available = 0;
  queue.last_used = 0;
  write_register(QUEUE_SIZE_REGISTER, QUEUE_SIZE);
  write_register(QUEUE_ALIGN, PAGE_SIZE);
  write_register(QUEUE_PFN, static_cast<u32>((dma_physical_ + offset) / PAGE_SIZE));
  return {};
}

Result<void> VirtioNet::start(const VirtioNetResources& resources) {
  TRY_VOID(probe(resources));
  u64 slot = TRY(resources.slots.allocate());
  Memory dma = TRY(resources.platform.create_dma_memory(slot, DMA_PAGES, resources.factory));
  TRY_VOID(resources.self.map(dma, 0, resources.dma_address, DMA_PAGES, READ_WRITE));
  dma_ = reinterpret_cast<u8*>(resources.dma_address);
  dma_physical_ = TRY(resources.platform.physical_address(dma, 0));
  // Legacy queues take a 32-bit page frame number.
  if (dma_physical_ + DMA_PAGES * PAGE_SIZE > (u64{1} << 44)) return Error::Unsupported;

  write_register(STATUS, 0);  // Reset.
  write_register(STATUS, STATUS_ACKNOWLEDGE);
  write_register(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
  write_register(HOST_FEATURES_SELECT, 0);
  u32 offered = read_register(HOST_FEATURES);
  if ((offered & FEATURE_MAC) == 0) return Error::Unsupported;
  write_register(GUEST_FEATURES_SELECT, 0);
  write_register(GUEST_FEATURES, FEATURE_MAC);  // No offloads: lwIP computes every checksum.
  write_register(GUEST_PAGE_SIZE, PAGE_SIZE);
  TRY_VOID(setup_queue(RECEIVE_QUEUE, receive_, 0));
  TRY_VOID(setup_queue(TRANSMIT_QUEUE, transmit_, QUEUE_PAGES * PAGE_SIZE));

  auto* config = reinterpret_cast<volatile u8*>(registers_) + CONFIG;
  for (usize index = 0; index < MAC_LENGTH; ++index) mac_[index] = config[index];

  for (u16 descriptor = 0; descriptor < QUEUE_SIZE; ++descriptor) {
    queue_buffer(receive_, descriptor, BUFFER_SIZE);
    free_transmit_[free_transmit_count_++] = static_cast<u16>(QUEUE_SIZE - 1 - descriptor);
  }
  write_register(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
  notify(RECEIVE_QUEUE);
  return {};
}

void VirtioNet::queue_buffer(Queue& queue, u16 descriptor, u32 length) {
  bool receiving = &queue == &receive_;
  usize buffer_offset = (receiving ? RECEIVE_BUFFERS_OFFSET : TRANSMIT_BUFFERS_OFFSET) + descriptor * BUFFER_SIZE;
  queue.descriptors[descriptor] =
      Descriptor{dma_physical_ + buffer_offset, length, receiving ? DESCRIPTOR_WRITE : u16{0}, 0};
  queue.available[2 + queue.next_available % QUEUE_SIZE] = descriptor;
  compiler_barrier();  // The ring entry before the index that publishes it.
  ++queue.next_available;
  queue.available[1] = queue.next_available;
}

u16 VirtioNet::used_index(const Queue& queue) const {
  compiler_barrier();
  return *reinterpret_cast<volatile const u16*>(queue.used + 2);
}

VirtioNet::UsedElement VirtioNet::used_element(const Queue& queue, u16 position) const {
  auto* element = reinterpret_cast<volatile const u32*>(queue.used + 4 + 8 * (position % QUEUE_SIZE));
  return UsedElement{element[0], element[1]};
}

void VirtioNet::reclaim_transmitted() {
  while (transmit_.last_used != used_index(transmit_)) {
    UsedElement element = used_element(transmit_, transmit_.last_used);
    ++transmit_.last_used;
    if (element.id < QUEUE_SIZE && free_transmit_count_ < QUEUE_SIZE)
      free_transmit_[free_transmit_count_++] = static_cast<u16>(element.id);
  }
}

u32 VirtioNet::acknowledge_interrupt() {
  u32 status = read_register(INTERRUPT_STATUS);
  if (status != 0) write_register(INTERRUPT_ACK, status);
  return status;
}

}  // namespace net
