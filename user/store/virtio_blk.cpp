// VirtioBlock: starting the device (features, capacity, limits, queue, interrupt) and moving
// requests through the slots: split a transfer into pieces, keep up to SLOTS in flight, check
// each completion.
#include "virtio_blk.hpp"

namespace store {
namespace {

using namespace sys;

constexpr u32 FEATURE_SIZE_MAX = 1u << 1;
constexpr u32 FEATURE_READ_ONLY = 1u << 5;
constexpr u32 FEATURE_FLUSH = 1u << 9;
constexpr usize CONFIG_CAPACITY = 0;   // u64, in 512-byte sectors.
constexpr usize CONFIG_SIZE_MAX = 8;   // u32, bytes per data descriptor.

constexpr u32 REQUEST_IN = 0;
constexpr u32 REQUEST_OUT = 1;
constexpr u32 REQUEST_FLUSH = 4;
constexpr u8 STATUS_DONE_OK = 0;
constexpr u8 STATUS_PENDING = 0xff;  // Set before submission: a completion that leaves it did not write it.

// A capacity beyond 2^40 sectors (512 TiB) is not believed: it would overflow byte arithmetic
// later and no QEMU disk file here comes close.
constexpr u64 MAX_SECTORS = u64{1} << 40;
constexpr u64 DEVICE_BIT = 1;
// A device that completes nothing for this long is given up (every request then fails).
constexpr u64 COMPLETION_TIMEOUT_SECONDS = 30;
constexpr u64 NANOSECONDS_PER_SECOND = 1'000'000'000;
constexpr u64 POLL_INTERVAL_NS = 100'000;
constexpr u64 LEVEL_TRIGGERED = 1;

struct RequestHeader {
  u32 type;
  u32 reserved;
  u64 sector;
};
static_assert(sizeof(RequestHeader) == 16);
constexpr usize HEADERS_OFFSET = VirtioBlock::QUEUE_PAGES * PAGE_SIZE;
constexpr usize STATUS_OFFSET = HEADERS_OFFSET + VirtioBlock::SLOTS * sizeof(RequestHeader);

constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

}  // namespace

Result<void> VirtioBlock::start(const VirtioBlockResources& resources) {
  TRY_VOID(transport_.probe(virtio::MmioResources{resources.platform, resources.factory, resources.self,
                                                  resources.slots, resources.registers_address},
                            virtio::DEVICE_BLOCK));
  u64 queue_slot = TRY(resources.slots.allocate());
  Memory queue_memory = TRY(resources.platform.create_dma_memory(queue_slot, QUEUE_REGION_PAGES, resources.factory));
  TRY_VOID(resources.self.map(queue_memory, 0, resources.queue_address, QUEUE_REGION_PAGES, READ_WRITE));
  queue_memory_ = reinterpret_cast<u8*>(resources.queue_address);
  queue_physical_ = TRY(resources.platform.physical_address(queue_memory, 0));
  u64 data_slot = TRY(resources.slots.allocate());
  Memory data_memory = TRY(resources.platform.create_dma_memory(data_slot, DATA_PAGES, resources.factory));
  TRY_VOID(resources.self.map(data_memory, 0, resources.data_address, DATA_PAGES, READ_WRITE));
  data_ = reinterpret_cast<u8*>(resources.data_address);
  data_physical_ = TRY(resources.platform.physical_address(data_memory, 0));

  u32 offered = transport_.begin_initialization();
  u32 accepted = offered & (FEATURE_SIZE_MAX | FEATURE_READ_ONLY | FEATURE_FLUSH);
  transport_.accept_features(accepted);
  read_only_ = (accepted & FEATURE_READ_ONLY) != 0;
  flush_supported_ = (accepted & FEATURE_FLUSH) != 0;
  u64 sectors = transport_.config_u64(CONFIG_CAPACITY);
  if (sectors == 0 || sectors > MAX_SECTORS) {
    transport_.fail();
    return Error::Unsupported;
  }
  size_ = sectors * SECTOR_BYTES;
  if ((accepted & FEATURE_SIZE_MAX) != 0) {
    u32 size_max = transport_.config_u32(CONFIG_SIZE_MAX);
    if (size_max < SECTOR_BYTES) {
      transport_.fail();
      return Error::Unsupported;
    }
    if (size_max < piece_limit_) piece_limit_ = size_max / SECTOR_BYTES * SECTOR_BYTES;
  }
  if (auto queued = transport_.setup_queue(0, queue_, QUEUE_SIZE, queue_memory_, queue_physical_, 0); !queued.ok()) {
    transport_.fail();
    return queued.error();
  }
  transport_.driver_ok();

  u64 notification_slot = TRY(resources.slots.allocate());
  TRY(resources.factory.create(ObjectType::Notification, notification_slot));
  events_ = Notification(notification_slot);
  u64 irq_slot = TRY(resources.slots.allocate());
  auto irq = resources.platform.create_irq(irq_slot, location().interrupt_line, LEVEL_TRIGGERED, resources.factory);
  if (irq.ok() && irq->bind(events_, DEVICE_BIT).ok()) {
    irq_ = irq.value();
    interrupts_ = true;
  } else {
    resources.slots.free(irq_slot);  // Not routable (the second I/O APIC's lines): poll instead.
  }
  return {};
}

void VirtioBlock::submit(u64 slot, u32 type, u64 sector, u64 length) {
  auto* header = reinterpret_cast<RequestHeader*>(queue_memory_ + HEADERS_OFFSET) + slot;
  *header = RequestHeader{type, 0, sector};
  volatile u8* status = queue_memory_ + STATUS_OFFSET + slot;
  *status = STATUS_PENDING;
  u16 head = static_cast<u16>(3 * slot);
  u64 header_physical = queue_physical_ + HEADERS_OFFSET + slot * sizeof(RequestHeader);
  u64 status_physical = queue_physical_ + STATUS_OFFSET + slot;
  if (type == REQUEST_FLUSH) {
    queue_.set_descriptor(head, header_physical, sizeof(RequestHeader), virtio::DESCRIPTOR_NEXT, static_cast<u16>(head + 2));
  } else {
    queue_.set_descriptor(head, header_physical, sizeof(RequestHeader), virtio::DESCRIPTOR_NEXT, static_cast<u16>(head + 1));
    queue_.set_descriptor(static_cast<u16>(head + 1), data_physical_ + slot * SLOT_BYTES, static_cast<u32>(length),
                          static_cast<u16>(virtio::DESCRIPTOR_NEXT | (type == REQUEST_IN ? virtio::DESCRIPTOR_WRITE : 0)),
                          static_cast<u16>(head + 2));
  }
  queue_.set_descriptor(static_cast<u16>(head + 2), status_physical, 1, virtio::DESCRIPTOR_WRITE);
  slots_[slot].busy = true;
  ++in_flight_;
  ++requests_;
  if (in_flight_ > most_in_flight_) most_in_flight_ = in_flight_;
  queue_.publish(head);
}

Status VirtioBlock::fail_device() {
  // The device may still own slots; none can be reused safely, so the driver stops here.
  failed_ = true;
  transport_.fail();
  return STATUS_IO_ERROR;
}

Status VirtioBlock::collect(Status& request_status) {
  ThreadSelfInfo start = thread_self();
  u64 deadline = start.timestamp + COMPLETION_TIMEOUT_SECONDS * start.tsc_hertz;
  while (!queue_.has_used()) {
    if (thread_self().timestamp >= deadline) return fail_device();
    // With interrupts the wait is long but bounded, so a lost interrupt costs a second, not the store.
    auto bits = events_.wait(interrupts_ ? NANOSECONDS_PER_SECOND : POLL_INTERVAL_NS);
    if (interrupts_ && bits.ok() && (bits.value() & DEVICE_BIT) != 0) {
      // At the device first (its level-triggered line drops), then unmask; a completion that
      // arrives after this raises the line again.
      transport_.acknowledge_interrupt();
      (void)irq_.acknowledge();
    }
  }
  virtio::UsedElement element{};
  while (queue_.take_used(element)) {
    u64 slot = element.id / 3;
    if (element.id % 3 != 0 || slot >= SLOTS || !slots_[slot].busy) return fail_device();
    slots_[slot].busy = false;
    --in_flight_;
    u8 status = queue_memory_[STATUS_OFFSET + slot];
    // A read that succeeded wrote its data and the status byte; a shorter length means the buffer
    // holds less than was asked for, which the caller must not take as the disk's bytes.
    bool short_read = slots_[slot].copy_to != nullptr && element.length < slots_[slot].length + 1;
    if (status != STATUS_DONE_OK || short_read) {
      request_status = STATUS_IO_ERROR;
      continue;
    }
    if (slots_[slot].copy_to != nullptr) copy_bytes(slots_[slot].copy_to, data(slot), slots_[slot].length);
  }
  return STATUS_OK;
}

Status VirtioBlock::transfer(u32 type, u64 offset, u8* target, const u8* source, u64 length) {
  if (failed_) return STATUS_IO_ERROR;
  if (offset % SECTOR_BYTES != 0 || length % SECTOR_BYTES != 0 || offset > size_ || length > size_ - offset)
    return STATUS_BAD_REQUEST;
  if (type == REQUEST_OUT && read_only_) return STATUS_IO_ERROR;
  Status outcome = STATUS_OK;
  u64 submitted = 0;
  while (submitted < length || in_flight_ > 0) {
    bool queued = false;
    for (u64 slot = 0; slot < SLOTS && submitted < length && outcome == STATUS_OK; ++slot) {
      if (slots_[slot].busy) continue;
      u64 piece = length - submitted < piece_limit_ ? length - submitted : piece_limit_;
      if (type == REQUEST_OUT) copy_bytes(data(slot), source + submitted, piece);
      slots_[slot].copy_to = type == REQUEST_IN ? target + submitted : nullptr;
      slots_[slot].length = piece;
      submit(slot, type, (offset + submitted) / SECTOR_BYTES, piece);
      submitted += piece;
      queued = true;
    }
    if (queued) transport_.notify(0);
    if (outcome != STATUS_OK) submitted = length;  // Stop issuing; drain what is in flight.
    if (in_flight_ == 0) break;
    if (Status status = collect(outcome); status != STATUS_OK) return status;
  }
  return outcome;
}

Status VirtioBlock::read(u64 offset, void* target, u64 length) {
  return transfer(REQUEST_IN, offset, static_cast<u8*>(target), nullptr, length);
}

Status VirtioBlock::write(u64 offset, const void* source, u64 length) {
  return transfer(REQUEST_OUT, offset, nullptr, static_cast<const u8*>(source), length);
}

Status VirtioBlock::flush() {
  if (failed_) return STATUS_IO_ERROR;
  // Without the feature the device writes through (virtio 1.x, 5.2.6.2): nothing to wait for.
  if (!flush_supported_) return STATUS_OK;
  Status outcome = STATUS_OK;
  slots_[0].copy_to = nullptr;
  slots_[0].length = 0;
  submit(0, REQUEST_FLUSH, 0, 0);
  transport_.notify(0);
  while (in_flight_ > 0)
    if (Status status = collect(outcome); status != STATUS_OK) return status;
  return outcome;
}

}  // namespace store
