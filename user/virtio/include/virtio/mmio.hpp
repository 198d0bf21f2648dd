// virtio::MmioTransport and virtio::Virtqueue: QEMU microvm's legacy (version 1) virtio-mmio
// transports and the split virtqueue in the legacy layout, shared by every user-level virtio driver
// (the network server's virtio-net, the image store's virtio-blk). Register offsets from the virtio
// 1.x specification, section 4.2.4 (legacy interface).
// Invariant: a descriptor is owned either by the device (published, not yet returned on the used
// ring) or by the driver, never both; the driver writes only descriptors it owns, and every used
// element the device returns is checked by the driver before it is believed.
#pragma once

#include "sys/sys.hpp"

namespace virtio {

using sys::u16;
using sys::u32;
using sys::u64;
using sys::u8;
using sys::usize;

// Device IDs (virtio 1.x, section 5).
constexpr u32 DEVICE_NETWORK = 1;
constexpr u32 DEVICE_BLOCK = 2;

constexpr u16 DESCRIPTOR_NEXT = 1;   // The chain continues at `next`.
constexpr u16 DESCRIPTOR_WRITE = 2;  // The device writes into the buffer.

// Where a driver may put the transports' registers in its own address space, and the kernel
// objects it may use for them.
struct MmioResources {
  sys::Platform platform;
  sys::Factory factory;
  sys::Task self;
  sys::SlotAllocator& slots;
  u64 registers_address;  // Page-aligned virtual address for the transports' window (TRANSPORT_PAGES pages).
};

// What the probe found: the transport slot and the interrupt line it is wired to.
struct Location {
  u64 slot;
  u64 transport_count;
  u64 interrupt_line;  // I/O APIC input (GSI).
};

struct UsedElement {
  u32 id;
  u32 length;
};

// One split virtqueue in the legacy layout: `size` descriptors, then the available ring, then the
// used ring at the next page boundary; placed by the driver inside a DMA region it owns.
class Virtqueue {
 public:
  struct Descriptor {
    u64 address;
    u32 length;
    u16 flags;
    u16 next;
  };
  static_assert(sizeof(Descriptor) == 16);

  // Bytes the queue occupies (whole pages) for `size` descriptors.
  static constexpr usize used_offset(u16 size) { return (16 * usize{size} + 2 * (3 + usize{size}) + 4095) & ~usize{4095}; }
  static constexpr usize pages(u16 size) { return (used_offset(size) + 6 + 8 * usize{size} + 4095) / 4096; }

  void place(u8* memory, u16 size);
  u16 size() const { return size_; }

  void set_descriptor(u16 index, u64 address, u32 length, u16 flags, u16 next = 0) {
    descriptors_[index] = Descriptor{address, length, flags, next};
  }
  // Offers the chain starting at `head` to the device (the caller notifies the device after).
  void publish(u16 head);
  // The next element the device returned, if any; the caller validates its id and length.
  bool take_used(UsedElement& element);
  // True when the device has returned elements not yet taken.
  bool has_used() const;
  // Asks the device not to interrupt when it returns elements of this queue (the driver looks at
  // the used ring itself): VIRTQ_AVAIL_F_NO_INTERRUPT, a hint the device may ignore.
  void suppress_interrupts();
  // After publish: false while the device says it will look at the available ring without a
  // notification (VIRTQ_USED_F_NO_NOTIFY, set by QEMU while it is still taking this queue's
  // buffers or has plenty of them). Orders the published index before the flag is read.
  bool device_wants_notification() const;

 private:
  u16 used_index() const;

  Descriptor* descriptors_ = nullptr;
  volatile u16* available_ = nullptr;  // flags, idx, ring[size], used_event
  volatile u8* used_ = nullptr;        // flags, idx, ring[size] of UsedElement, avail_event
  u16 size_ = 0;
  u16 next_available_ = 0;
  u16 last_used_ = 0;
};

class MmioTransport {
 public:
  static constexpr u64 MAX_TRANSPORTS = 24;  // microvm has 8, or 24 with its second I/O APIC (ioapic2).
  static constexpr u64 TRANSPORT_STRIDE = 0x200;
  static constexpr u64 TRANSPORT_PAGES = MAX_TRANSPORTS * TRANSPORT_STRIDE / sys::PAGE_SIZE;

  // Maps microvm's transport window and takes the first legacy transport of `device_id`.
  // NotFound when there is none.
  [[nodiscard]] sys::Result<void> probe(const MmioResources& resources, u32 device_id);
  const Location& location() const { return location_; }

  // Resets the device, sets ACKNOWLEDGE and DRIVER, and returns the features it offers (bits 0-31).
  u32 begin_initialization();
  // Accepts `features` (a subset of what was offered) and sets the guest page size.
  void accept_features(u32 features);
  // Gives the device queue `index`, placed at `offset` of a physically contiguous DMA region
  // (`dma` mapped, `dma_physical` its device address). Busy if the queue is in use, Unsupported if
  // the device's maximum is below the queue's size.
  [[nodiscard]] sys::Result<void> setup_queue(u16 index, Virtqueue& queue, u16 size, u8* dma, u64 dma_physical,
                                              usize offset);
  void driver_ok();
  // Sets FAILED: the device stops using the driver's memory until the next reset.
  void fail();
  u32 status() const;
  void notify(u16 queue) const;
  // Reads and acknowledges the device's interrupt status (deasserts its level-triggered line).
  u32 acknowledge_interrupt() const;

  u8 config_u8(usize offset) const;
  u32 config_u32(usize offset) const;
  // A 64-bit configuration field, read until two reads agree (the legacy interface has no
  // generation counter, and the device may change it between the two halves).
  u64 config_u64(usize offset) const;

 private:
  u32 read(usize offset) const { return registers_[offset / 4]; }
  void write(usize offset, u32 value) const { registers_[offset / 4] = value; }

  volatile u32* registers_ = nullptr;  // The chosen transport's 0x200-byte window.
  Location location_{};
};

}  // namespace virtio
