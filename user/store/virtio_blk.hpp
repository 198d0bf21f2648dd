// VirtioBlock: a driver for QEMU's legacy virtio-mmio block device (microvm's transports) that is
// the store's store::BlockDevice. One request queue; SLOTS requests in flight at once, each with its
// own header, status byte and SLOT_BYTES data buffer in DMA memory; completions arrive by interrupt
// (polled when the line cannot be routed). Everything the device reports is checked: its
// capacity and limits at start, the id and status of every completion.
// Invariant: a slot is either free or owned by exactly one request the device holds; the driver
// writes a slot's buffers only while it is free, and believes a completion only for an owned slot.
#pragma once

#include "block_device.hpp"
#include "sys/sys.hpp"
#include "virtio/mmio.hpp"

namespace store {

struct VirtioBlockResources {
  sys::Platform platform;
  sys::Factory factory;
  sys::Task self;
  sys::SlotAllocator& slots;
  u64 registers_address;  // Page-aligned virtual addresses: the transports' window,
  u64 queue_address;      // the queue and request headers (QUEUE_REGION_PAGES),
  u64 data_address;       // the data buffers (DATA_PAGES).
};

class VirtioBlock final : public BlockDevice {
 public:
  static constexpr u16 QUEUE_SIZE = 128;
  static constexpr u64 SLOTS = 32;             // Three descriptors each.
  static constexpr u64 SLOT_BYTES = 64 * 1024;
  static constexpr u64 QUEUE_PAGES = virtio::Virtqueue::pages(QUEUE_SIZE);
  static constexpr u64 QUEUE_REGION_PAGES = QUEUE_PAGES + 1;  // Plus the headers' and statuses' page.
  static constexpr u64 DATA_PAGES = SLOTS * SLOT_BYTES / 4096;  // 512: the kernel's largest DMA region.
  static_assert(3 * SLOTS <= QUEUE_SIZE);

  // Finds the block transport, validates and configures the device, and binds its interrupt.
  [[nodiscard]] sys::Result<void> start(const VirtioBlockResources& resources);

  u64 size() const override { return size_; }
  Status read(u64 offset, void* target, u64 length) override;
  Status write(u64 offset, const void* source, u64 length) override;
  Status flush() override;

  const virtio::Location& location() const { return transport_.location(); }
  bool interrupts() const { return interrupts_; }
  bool read_only() const { return read_only_; }
  bool flush_supported() const { return flush_supported_; }
  u64 requests() const { return requests_; }
  u64 most_in_flight() const { return most_in_flight_; }

 private:
  struct Slot {
    bool busy;
    u8* copy_to;   // For reads: where the data goes when the request completes.
    u64 length;
  };

  Status transfer(u32 type, u64 offset, u8* target, const u8* source, u64 length);
  void submit(u64 slot, u32 type, u64 sector, u64 length);
  // Waits until at least one completion is on the used ring, then takes them all; IO_ERROR when
  // the device stops answering or breaks the protocol (then every later request fails too).
  Status collect(Status& request_status);
  Status fail_device();
  u8* data(u64 slot) const { return data_ + slot * SLOT_BYTES; }

  virtio::MmioTransport transport_;
  virtio::Virtqueue queue_;
  sys::Notification events_{};
  sys::Irq irq_{};
  bool interrupts_ = false;
  u8* queue_memory_ = nullptr;
  u64 queue_physical_ = 0;
  u8* data_ = nullptr;
  u64 data_physical_ = 0;
  u64 size_ = 0;
  u64 piece_limit_ = SLOT_BYTES;  // The device's size_max, if smaller.
  bool read_only_ = false;
  bool flush_supported_ = false;
  bool failed_ = false;
  Slot slots_[SLOTS] = {};
  u64 in_flight_ = 0;
  u64 requests_ = 0;
  u64 most_in_flight_ = 0;
};

}  // namespace store
