// SlotAllocator: a bitmap over [first, limit), one bit per slot counted from first, scanned a word
// at a time from a moving hint, so allocation is usually O(1) and at worst limit - first bits / 64.
// Invariant: bit (slot - first) of used_ is set exactly while the slot is handed out; bits at and
// beyond limit - first are never set.
#include "sys/slots.hpp"

namespace sys {
namespace {

u64 clamp_limit(u64 first, u64 limit, u64 capacity) {
  if (limit > SlotAllocator::MAX_SLOTS) limit = SlotAllocator::MAX_SLOTS;
  if (first < limit && limit - first > capacity) limit = first + capacity;
  return limit;
}

// Set bits in word (SWAR: programs link no compiler runtime and may run without POPCNT).
u64 count_bits(u64 word) {
  word = word - ((word >> 1) & 0x5555555555555555ull);
  word = (word & 0x3333333333333333ull) + ((word >> 2) & 0x3333333333333333ull);
  word = (word + (word >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (word * 0x0101010101010101ull) >> 56;
}

}  // namespace

SlotAllocator::SlotAllocator(u64 first, u64 limit)
    : first_(first), limit_(clamp_limit(first, limit, INLINE_SLOTS)), next_hint_(first), used_(own_bitmap_) {}

SlotAllocator::SlotAllocator(u64 first, u64 limit, u64* bitmap, u64 word_count)
    : first_(first), limit_(clamp_limit(first, limit, word_count * 64)), next_hint_(first), used_(bitmap) {}

u64 SlotAllocator::first_free(u64 from, u64 to) const {
  if (from >= to) return to;
  u64 begin = from - first_;
  u64 end = to - first_;
  for (u64 word = begin / 64; word * 64 < end; ++word) {
    u64 free = ~used_[word];
    if (word == begin / 64) free &= ~u64{0} << (begin % 64);
    if (free == 0) continue;
    u64 bit = word * 64 + static_cast<u64>(__builtin_ctzll(free));
    return bit < end ? first_ + bit : to;
  }
  return to;
}

Result<u64> SlotAllocator::allocate() {
  if (first_ >= limit_) return Error::NotFound;
  u64 slot = first_free(next_hint_, limit_);
  if (slot == limit_) {
    slot = first_free(first_, next_hint_);  // Wrap around to the slots before the hint.
    if (slot == next_hint_) return Error::NotFound;
  }
  used_[(slot - first_) / 64] |= u64{1} << ((slot - first_) % 64);
  next_hint_ = slot + 1 < limit_ ? slot + 1 : first_;
  return slot;
}

void SlotAllocator::free(u64 slot) {
  // Freeing a slot outside the range is a caller bug; ignoring it keeps the bitmap consistent.
  if (slot < first_ || slot >= limit_) return;
  used_[(slot - first_) / 64] &= ~(u64{1} << ((slot - first_) % 64));
}

u64 SlotAllocator::free_count() const {
  if (first_ >= limit_) return 0;
  u64 used = 0;
  for (u64 word = 0; word < bitmap_words(limit_ - first_); ++word) used += count_bits(used_[word]);
  return limit_ - first_ - used;
}

}  // namespace sys
