// VirtioNet: configuring the network device over the shared virtio-mmio transport (user/virtio)
// and recycling its receive and transmit buffers.
#include "virtio_net.hpp"

namespace net {
namespace {

using namespace sys;

constexpr u32 FEATURE_MAC = 1u << 5;
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

}  // namespace

Result<void> VirtioNet::start(const VirtioNetResources& resources) {
  TRY_VOID(transport_.probe(
      virtio::MmioResources{resources.platform, resources.factory, resources.self, resources.slots,
                            resources.registers_address},
      virtio::DEVICE_NETWORK));
  u64 slot = TRY(resources.slots.allocate());
  Memory dma = TRY(resources.platform.create_dma_memory(slot, DMA_PAGES, resources.factory));
  TRY_VOID(resources.self.map(dma, 0, resources.dma_address, DMA_PAGES, READ_WRITE));
  dma_ = reinterpret_cast<u8*>(resources.dma_address);
  dma_physical_ = TRY(resources.platform.physical_address(dma, 0));

  u32 offered = transport_.begin_initialization();
  if ((offered & FEATURE_MAC) == 0) return Error::Unsupported;
  transport_.accept_features(FEATURE_MAC);  // No offloads: lwIP computes every checksum.
  TRY_VOID(transport_.setup_queue(RECEIVE_QUEUE, receive_, QUEUE_SIZE, dma_, dma_physical_, 0));
  TRY_VOID(transport_.setup_queue(TRANSMIT_QUEUE, transmit_, QUEUE_SIZE, dma_, dma_physical_, QUEUE_PAGES * PAGE_SIZE));
  // Sent buffers are reclaimed before each transmit and after each receive pass, so their return
  // needs no interrupt: only received frames wake the server.
  transmit_.suppress_interrupts();

  for (usize index = 0; index < MAC_LENGTH; ++index) mac_[index] = transport_.config_u8(index);

  for (u16 descriptor = 0; descriptor < QUEUE_SIZE; ++descriptor) {
    queue_receive_buffer(descriptor);
    free_transmit_[free_transmit_count_++] = static_cast<u16>(QUEUE_SIZE - 1 - descriptor);
  }
  transport_.driver_ok();
  transport_.notify(RECEIVE_QUEUE);
  return {};
}

void VirtioNet::queue_receive_buffer(u16 descriptor) {
  receive_.set_descriptor(descriptor, dma_physical_ + RECEIVE_BUFFERS_OFFSET + descriptor * BUFFER_SIZE, BUFFER_SIZE,
                          virtio::DESCRIPTOR_WRITE);
  receive_.publish(descriptor);
}

void VirtioNet::reclaim_transmitted() {
  virtio::UsedElement element{};
  while (transmit_.take_used(element)) {
    // Only a buffer the device holds comes back: a repeated or invented id is ignored, so no
    // buffer can be handed out twice.
    if (element.id >= QUEUE_SIZE || !transmit_owned_[element.id]) continue;
    transmit_owned_[element.id] = false;
    free_transmit_[free_transmit_count_++] = static_cast<u16>(element.id);
  }
}

}  // namespace net
