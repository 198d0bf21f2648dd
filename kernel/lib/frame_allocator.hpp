// FrameAllocator: hands out 4 KiB physical frames from a bitmap over one physical range.
// Invariant: a bit is set exactly when its frame is in use (allocated or reserved);
// free_frames_ equals the number of clear bits; search_hint_ never points past a clear bit.
#pragma once

#include "lib/result.hpp"
#include "lib/types.hpp"

namespace klib {

class FrameAllocator {
 public:
  static constexpr usize bitmap_words_for(usize frame_count) { return (frame_count + 63) / 64; }

  // Covers frame_count frames starting at base (page-aligned); every frame starts out in use,
  // so only ranges the memory map names as usable become allocatable through release_range.
  void init(u64 base, usize frame_count, u64* bitmap_words);

  // Marks [start, end) usable / in use; the range is clipped to the managed range and to
  // whole frames (rounded inward for release, outward for reserve).
  void release_range(u64 start, u64 end);
  void reserve_range(u64 start, u64 end);

  [[nodiscard]] Result<u64> allocate();
  // count contiguous frames whose first frame is aligned to alignment bytes (a power of two).
  [[nodiscard]] Result<u64> allocate_contiguous(usize count, u64 alignment);
  // Fails with InvalidArgument for an address outside the range, unaligned, or already free.
  [[nodiscard]] Result<void> free(u64 address);

  usize free_frames() const { return free_frames_; }
  usize total_frames() const { return frame_count_; }
  bool is_free(u64 address) const;

 private:
  bool test(usize index) const { return (bitmap_[index / 64] >> (index % 64)) & 1; }
  void set(usize index) { bitmap_[index / 64] |= u64{1} << (index % 64); }
  void clear(usize index) { bitmap_[index / 64] &= ~(u64{1} << (index % 64)); }

  u64 base_ = 0;
  usize frame_count_ = 0;
  u64* bitmap_ = nullptr;
  usize free_frames_ = 0;
  usize search_hint_ = 0;
};

}  // namespace klib
