// SlabHeap: power-of-two size classes from 64 bytes to a page, carved from pages of a page source;
// a page goes back to the source the moment its last block is freed.
// Invariants: bit i of a slab page's free_mask is set exactly when block i of that page is free;
// a page is on its class's partial list exactly when it has both used and free blocks; the heap
// holds no page without a used block (so pages_held() counts only pages with live blocks).
#pragma once

#include "lib/result.hpp"
#include "lib/types.hpp"

namespace klib {

// One per page of the region, found from a block's address by its page index. Sixteen bytes
// per page of memory (0.4 %), so the table can cover all of RAM.
struct SlabPage {
  u64 free_mask;  // Bit i: block i is free.
  u32 next;       // Partial-list links (page indices); NO_PAGE at either end.
  u32 previous : 28;
  u32 size_class : 4;  // Class index + 1; 0: the page is not the heap's.
};
static_assert(sizeof(SlabPage) == 16);

class SlabHeap {
 public:
  static constexpr usize SMALLEST_CLASS_SHIFT = 6;
  static constexpr usize CLASS_COUNT = 7;  // 64, 128, ..., 4096 bytes.
  static constexpr u32 NO_PAGE = (u32{1} << 28) - 1;
  // The largest region a descriptor table can cover (page indices must fit in 28 bits).
  static constexpr usize MAX_PAGES = NO_PAGE;

  // Where whole pages come from and go back to: allocate returns a page-aligned page inside the
  // region, or null when memory is gone.
  struct PageSource {
    u8* (*allocate)(void* context);
    void (*release)(void* context, u8* page);
    void* context;
  };

  // The heap serves pages of [region, region + page_count pages); descriptors has page_count
  // entries and is cleared here.
  void init(u8* region, usize page_count, SlabPage* descriptors, PageSource source);

  // The byte count actually reserved for a request of size bytes (its class), or 0 if too big.
  static usize allocation_size(usize size);
  // A zeroed block of allocation_size(size) bytes aligned to that size, or null when the page
  // source is empty (or size is 0 or above a page). O(1).
  [[nodiscard]] void* allocate(usize size);
  // Returns a block of the given request size; InvalidArgument for a pointer that is not a used
  // block of that class (foreign, misaligned, already free), which then changes nothing. O(1).
  [[nodiscard]] Result<void> free(void* block, usize size);

  usize pages_held() const { return pages_held_; }
  // Bytes in live blocks (their class sizes): back to the same figure exactly when the same
  // objects live again, however the blocks are spread over pages.
  usize bytes_in_use() const { return bytes_in_use_; }
  // Pages of a class with both used and free blocks (for tests and statistics).
  usize partial_pages(usize class_index) const;

 private:
  static int class_of(usize size);
  u32 index_of(const u8* page) const { return static_cast<u32>((page - region_) / static_cast<long>(PAGE_SIZE)); }
  u8* page_at(u32 index) const { return region_ + usize{index} * PAGE_SIZE; }
  void push_partial(usize class_index, u32 index);
  void unlink_partial(usize class_index, u32 index);

  u8* region_ = nullptr;
  usize page_count_ = 0;
  SlabPage* pages_ = nullptr;
  PageSource source_{};
  u32 partial_heads_[CLASS_COUNT] = {};
  usize pages_held_ = 0;
  usize bytes_in_use_ = 0;
};

}  // namespace klib
