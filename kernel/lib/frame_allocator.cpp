// FrameAllocator: bitmap allocation of physical frames; see frame_allocator.hpp for the invariant.
#include "lib/frame_allocator.hpp"

namespace klib {

void FrameAllocator::init(u64 base, usize frame_count, u64* bitmap_words) {
  base_ = base;
  frame_count_ = frame_count;
  bitmap_ = bitmap_words;
  free_frames_ = 0;
  search_hint_ = frame_count;
  for (usize word = 0; word < bitmap_words_for(frame_count); ++word) bitmap_[word] = ~u64{0};
}

void FrameAllocator::release_range(u64 start, u64 end) {
  u64 limit = base_ + frame_count_ * PAGE_SIZE;
  start = align_up(start < base_ ? base_ : start, PAGE_SIZE);
  end = align_down(end > limit ? limit : end, PAGE_SIZE);
  for (u64 address = start; address < end; address += PAGE_SIZE) {
    usize index = (address - base_) / PAGE_SIZE;
    if (test(index)) {
      clear(index);
      ++free_frames_;
      if (index < search_hint_) search_hint_ = index;
    }
  }
}

void FrameAllocator::reserve_range(u64 start, u64 end) {
  u64 limit = base_ + frame_count_ * PAGE_SIZE;
  start = align_down(start < base_ ? base_ : start, PAGE_SIZE);
  end = align_up(end > limit ? limit : end, PAGE_SIZE);
  for (u64 address = start; address < end; address += PAGE_SIZE) {
    usize index = (address - base_) / PAGE_SIZE;
    if (!test(index)) {
      set(index);
      --free_frames_;
    }
  }
}

Result<u64> FrameAllocator::allocate() {
  if (free_frames_ == 0) return Error::OutOfMemory;
  for (usize word = search_hint_ / 64; word < bitmap_words_for(frame_count_); ++word) {
    if (bitmap_[word] == ~u64{0}) continue;
    usize bit = static_cast<usize>(__builtin_ctzll(~bitmap_[word]));
    usize index = word * 64 + bit;
    if (index >= frame_count_) break;
    set(index);
    --free_frames_;
    search_hint_ = index + 1;
    return base_ + index * PAGE_SIZE;
  }
  // Unreachable while the invariant holds: free_frames_ > 0 means a clear bit at or after the hint.
  return Error::OutOfMemory;
}

Result<u64> FrameAllocator::allocate_contiguous(usize count, u64 alignment) {
  if (count == 0 || alignment < PAGE_SIZE || (alignment & (alignment - 1)) != 0) return Error::InvalidArgument;
  if (count > free_frames_) return Error::OutOfMemory;
  usize step = static_cast<usize>(alignment / PAGE_SIZE);
  usize first = static_cast<usize>((align_up(base_, alignment) - base_) / PAGE_SIZE);
  // Every frame below the hint is in use (the invariant), so the search starts there; the
  // aligned candidates are indexed relative to `first` (the first aligned frame).
  usize start = first;
  if (search_hint_ > first) start = first + static_cast<usize>(align_up(search_hint_ - first, step));
  while (start + count <= frame_count_) {
    usize run = 0;
    while (run < count && !test(start + run)) ++run;
    if (run == count) {
      for (usize i = 0; i < count; ++i) set(start + i);
      free_frames_ -= count;
      return base_ + start * PAGE_SIZE;
    }
    // No run through the used frame at start + run can succeed: continue after it.
    start = first + static_cast<usize>(align_up(start + run + 1 - first, step));
  }
  return Error::OutOfMemory;
}

Result<void> FrameAllocator::free(u64 address) {
  if (address < base_ || !is_aligned(address, PAGE_SIZE)) return Error::InvalidArgument;
  usize index = (address - base_) / PAGE_SIZE;
  if (index >= frame_count_ || !test(index)) return Error::InvalidArgument;
  clear(index);
  ++free_frames_;
  if (index < search_hint_) search_hint_ = index;
  return {};
}

bool FrameAllocator::is_free(u64 address) const {
  if (address < base_) return false;
  usize index = (address - base_) / PAGE_SIZE;
  return index < frame_count_ && !test(index);
}

}  // namespace klib
