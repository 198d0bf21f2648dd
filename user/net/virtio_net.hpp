// VirtioNet: a driver for QEMU's legacy virtio-mmio network device (microvm's transports), one
// receive and one transmit queue, no offloads. The transport and the virtqueues are the shared
// virtio code (user/virtio); the queues and all packet buffers live in one physically contiguous
// DMA memory object, so a buffer's device address is base + offset.
// Invariant: a descriptor is owned either by the device (on the available ring, not yet used) or by
// the driver (free list or being refilled), never both; the driver touches only its own.
#pragma once

#include "sys/sys.hpp"
#include "virtio/mmio.hpp"

namespace net {

using sys::u16;
using sys::u32;
using sys::u64;
using sys::u8;
using sys::usize;

constexpr usize MAC_LENGTH = 6;
constexpr usize MAX_FRAME = 1514;  // Ethernet header plus a 1500-byte payload, without the FCS.

// Where the driver may put things in its own address space and which kernel objects it may use.
struct VirtioNetResources {
  sys::Platform platform;
  sys::Factory factory;
  sys::Task self;
  sys::SlotAllocator& slots;
  u64 registers_address;  // Page-aligned virtual address for the transports' registers (3 pages).
  u64 dma_address;        // Page-aligned virtual address for the DMA region (DMA_PAGES pages).
};

using VirtioNetLocation = virtio::Location;

class VirtioNet {
 public:
  static constexpr u16 QUEUE_SIZE = 128;
  static constexpr usize BUFFER_SIZE = 2048;  // Header plus one frame; two buffers per page.

  // Finds the network transport, resets and configures the device, fills the receive queue.
  [[nodiscard]] sys::Result<void> start(const VirtioNetResources& resources);

  const u8* mac() const { return mac_; }
  const VirtioNetLocation& location() const { return transport_.location(); }

  // Copies one frame (at most MAX_FRAME bytes, given as pieces) into a transmit buffer and
  // notifies the device unless it says it needs no notification (each notification is a trap to
  // the hypervisor). Busy when every transmit buffer is in flight.
  template <typename PieceVisitor>
  [[nodiscard]] sys::Result<void> transmit(usize length, PieceVisitor&& copy_pieces) {
    if (length > MAX_FRAME) return sys::Error::InvalidArgument;
    reclaim_transmitted();
    if (free_transmit_count_ == 0) return sys::Error::Busy;
    u16 descriptor = free_transmit_[--free_transmit_count_];
    u8* buffer = transmit_buffer(descriptor);
    for (usize index = 0; index < HEADER_LENGTH; ++index) buffer[index] = 0;
    copy_pieces(buffer + HEADER_LENGTH);
    transmit_.set_descriptor(descriptor, dma_physical_ + TRANSMIT_BUFFERS_OFFSET + descriptor * BUFFER_SIZE,
                             static_cast<u32>(HEADER_LENGTH + length), 0);
    transmit_owned_[descriptor] = true;
    transmit_.publish(descriptor);
    if (transmit_.device_wants_notification()) transport_.notify(TRANSMIT_QUEUE);
    return {};
  }

  // Hands every received frame to `deliver(const u8* frame, usize length)`, then gives the
  // buffers back to the device. Returns the number of frames.
  template <typename Deliver>
  usize receive(Deliver&& deliver) {
    usize frames = 0;
    virtio::UsedElement element{};
    while (receive_.take_used(element)) {
      // The device names the buffer and its length; neither is believed beyond our own bounds.
      if (element.id >= QUEUE_SIZE) continue;
      u16 descriptor = static_cast<u16>(element.id);
      if (element.length > HEADER_LENGTH && element.length <= BUFFER_SIZE)
        deliver(receive_buffer(descriptor) + HEADER_LENGTH, element.length - HEADER_LENGTH);
      queue_receive_buffer(descriptor);
      ++frames;
    }
    if (frames != 0 && receive_.device_wants_notification()) transport_.notify(RECEIVE_QUEUE);
    return frames;
  }

  // Reads and acknowledges the device's interrupt status (deasserts its level-triggered line).
  u32 acknowledge_interrupt() { return transport_.acknowledge_interrupt(); }

  void reclaim_transmitted();

 private:
  static constexpr usize HEADER_LENGTH = 10;  // Legacy virtio_net_hdr without mergeable buffers.
  static constexpr u16 RECEIVE_QUEUE = 0;
  static constexpr u16 TRANSMIT_QUEUE = 1;
  static constexpr usize QUEUE_PAGES = virtio::Virtqueue::pages(QUEUE_SIZE);
  static constexpr usize BUFFER_PAGES = QUEUE_SIZE * BUFFER_SIZE / 4096;

 public:
  static constexpr usize DMA_PAGES = 2 * QUEUE_PAGES + 2 * BUFFER_PAGES;

 private:
  static constexpr usize RECEIVE_BUFFERS_OFFSET = 2 * QUEUE_PAGES * 4096;
  static constexpr usize TRANSMIT_BUFFERS_OFFSET = RECEIVE_BUFFERS_OFFSET + BUFFER_PAGES * 4096;

  void queue_receive_buffer(u16 descriptor);
  u8* receive_buffer(u16 descriptor) const { return dma_ + RECEIVE_BUFFERS_OFFSET + descriptor * BUFFER_SIZE; }
  u8* transmit_buffer(u16 descriptor) const { return dma_ + TRANSMIT_BUFFERS_OFFSET + descriptor * BUFFER_SIZE; }

  virtio::MmioTransport transport_;
  u8* dma_ = nullptr;
  u64 dma_physical_ = 0;
  u8 mac_[MAC_LENGTH] = {};
  virtio::Virtqueue receive_;
  virtio::Virtqueue transmit_;
  u16 free_transmit_[QUEUE_SIZE] = {};
  u16 free_transmit_count_ = 0;
  bool transmit_owned_[QUEUE_SIZE] = {};  // In flight: the device has it, a used element may return it.
};

}  // namespace net
