// SlotAllocator: a bitmap over [first, limit) with a moving hint so allocation is usually O(1).
// Invariant: bit (slot) of used_ is set exactly while the slot is handed out.
#include "sys/slots.hpp"

namespace sys {

SlotAllocator::SlotAllocator(u64 first, u64 limit)
    : first_(first), limit_(limit < MAX_SLOTS ? limit : MAX_SLOTS), next_hint_(first) {}

Result<u64> SlotAllocator::allocate() {
  if (first_ >= limit_) return Error::NotFound;
  u64 span = limit_ - first_;
  for (u64 step = 0; step < span; ++step) {
    u64 slot = first_ + (next_hint_ - first_ + step) % span;
    u64 bit = u64{1} << (slot % 64);
    if ((used_[slot / 64] & bit) != 0) continue;
    used_[slot / 64] |= bit;
    next_hint_ = slot + 1 < limit_ ? slot + 1 : first_;
    return slot;
  }
  return Error::NotFound;
}

void SlotAllocator::free(u64 slot) {
  // Freeing a slot outside the range is a caller bug; ignoring it keeps the bitmap consistent.
  if (slot < first_ || slot >= limit_) return;
  used_[slot / 64] &= ~(u64{1} << (slot % 64));
}

u64 SlotAllocator::free_count() const {
  u64 count = 0;
  for (u64 slot = first_; slot < limit_; ++slot)
    if ((used_[slot / 64] & (u64{1} << (slot % 64))) == 0) ++count;
  return count;
}

}  // namespace sys
