// SlotAllocator: hands out empty slots of the caller's capability space.
// Invariant: a slot is handed out at most once until freed, and only slots in [first, limit) are
// ever handed out; the allocator trusts that nobody else fills slots in that range.
#pragma once

#include "sys/types.hpp"

namespace sys {

class SlotAllocator {
 public:
  static constexpr u64 MAX_SLOTS = 65536;    // The largest capability space the kernel makes.
  static constexpr u64 INLINE_SLOTS = 4096;  // The most slots the allocator's own bitmap covers.
  static constexpr u64 bitmap_words(u64 slots) { return (slots + 63) / 64; }

  // Manages [first, limit) with its own bitmap; limit is clamped to MAX_SLOTS and to
  // first + INLINE_SLOTS.
  SlotAllocator(u64 first, u64 limit);
  // Manages [first, limit) with the caller's bitmap of word_count zeroed words, which must outlive
  // the allocator; limit is clamped to MAX_SLOTS and to first + 64 * word_count. A large range
  // (up to MAX_SLOTS, an 8 KiB bitmap) so costs only the program that has one, not every small
  // allocator (a function's runtime keeps one in its .bss).
  SlotAllocator(u64 first, u64 limit, u64* bitmap, u64 word_count);
  // The bitmap may be the allocator's own: an allocator never moves.
  SlotAllocator(const SlotAllocator&) = delete;
  SlotAllocator& operator=(const SlotAllocator&) = delete;

  // The first free slot at or after the last one handed out (wrapping around), found a word of
  // 64 slots at a time; NotFound when the range is full.
  [[nodiscard]] Result<u64> allocate();
  void free(u64 slot);
  u64 free_count() const;

 private:
  // The first free slot in [from, to), or to when there is none.
  u64 first_free(u64 from, u64 to) const;

  u64 first_;
  u64 limit_;
  u64 next_hint_;
  u64* used_;  // Bit (slot - first) is set exactly while the slot is handed out.
  u64 own_bitmap_[INLINE_SLOTS / 64] = {};
};

}  // namespace sys
