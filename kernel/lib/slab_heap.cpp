// SlabHeap: per-page free bitmaps and per-class lists of partly used pages; see slab_heap.hpp.
#include "lib/slab_heap.hpp"

namespace klib {
namespace {

usize block_size_of(usize class_index) { return usize{1} << (SlabHeap::SMALLEST_CLASS_SHIFT + class_index); }

// All blocks of a page of this class free.
u64 full_mask_of(usize class_index) {
  usize blocks = PAGE_SIZE / block_size_of(class_index);
  return blocks == 64 ? ~u64{0} : (u64{1} << blocks) - 1;
}

}  // namespace

void SlabHeap::init(u8* region, usize page_count, SlabPage* descriptors, PageSource source) {
  region_ = region;
  page_count_ = page_count < MAX_PAGES ? page_count : MAX_PAGES;
  pages_ = descriptors;
  source_ = source;
  for (usize index = 0; index < page_count_; ++index) pages_[index] = SlabPage{0, NO_PAGE, NO_PAGE, 0};
  for (u32& head : partial_heads_) head = NO_PAGE;
  pages_held_ = 0;
  bytes_in_use_ = 0;
}

int SlabHeap::class_of(usize size) {
  if (size == 0) return -1;
  for (usize index = 0; index < CLASS_COUNT; ++index)
    if (size <= block_size_of(index)) return static_cast<int>(index);
  return -1;
}

usize SlabHeap::allocation_size(usize size) {
  int index = class_of(size);
  return index < 0 ? 0 : block_size_of(static_cast<usize>(index));
}

void SlabHeap::push_partial(usize class_index, u32 index) {
  SlabPage& page = pages_[index];
  page.previous = NO_PAGE;
  page.next = partial_heads_[class_index];
  if (page.next != NO_PAGE) pages_[page.next].previous = index & NO_PAGE;
  partial_heads_[class_index] = index;
}

void SlabHeap::unlink_partial(usize class_index, u32 index) {
  SlabPage& page = pages_[index];
  if (page.previous != NO_PAGE) pages_[page.previous].next = page.next;
  else partial_heads_[class_index] = page.next;
  if (page.next != NO_PAGE) pages_[page.next].previous = page.previous;
  page.next = NO_PAGE;
  page.previous = NO_PAGE;
}

void* SlabHeap::allocate(usize size) {
  int found = class_of(size);
  if (found < 0) return nullptr;
  auto class_index = static_cast<usize>(found);
  // A partly used page first: it is what keeps the number of pages held low.
  u32 index = partial_heads_[class_index];
  if (index == NO_PAGE) {
    u8* page = source_.allocate(source_.context);
    if (page == nullptr) return nullptr;
    if (page < region_ || page >= region_ + page_count_ * PAGE_SIZE) {
      source_.release(source_.context, page);  // Beyond the descriptors: unusable here.
      return nullptr;
    }
    index = index_of(page);
    pages_[index] = SlabPage{full_mask_of(class_index), NO_PAGE, NO_PAGE, static_cast<u32>(class_index + 1) & 0xf};
    push_partial(class_index, index);
    ++pages_held_;
  }
  SlabPage& page = pages_[index];
  auto block = static_cast<usize>(__builtin_ctzll(page.free_mask));
  page.free_mask &= ~(u64{1} << block);
  if (page.free_mask == 0) unlink_partial(class_index, index);  // Full: nothing more to give.
  usize block_size = block_size_of(class_index);
  bytes_in_use_ += block_size;
  auto* words = reinterpret_cast<u64*>(page_at(index) + block * block_size);
  for (usize word = 0; word < block_size / sizeof(u64); ++word) words[word] = 0;
  return words;
}

Result<void> SlabHeap::free(void* block, usize size) {
  int found = class_of(size);
  auto* address = static_cast<u8*>(block);
  if (found < 0 || address < region_ || address >= region_ + page_count_ * PAGE_SIZE) return Error::InvalidArgument;
  auto class_index = static_cast<usize>(found);
  usize block_size = block_size_of(class_index);
  auto offset = static_cast<usize>(address - region_);
  u32 index = static_cast<u32>(offset / PAGE_SIZE);
  usize within = offset % PAGE_SIZE;
  SlabPage& page = pages_[index];
  if (page.size_class != class_index + 1 || within % block_size != 0) return Error::InvalidArgument;
  u64 bit = u64{1} << (within / block_size);
  if ((page.free_mask & bit) != 0) return Error::InvalidArgument;  // Freed twice.
  bool was_full = page.free_mask == 0;
  page.free_mask |= bit;
  bytes_in_use_ -= block_size;
  if (page.free_mask == full_mask_of(class_index)) {
    // The last used block: the page goes back at once, so freed memory never stays parked here.
    if (!was_full) unlink_partial(class_index, index);
    page = SlabPage{0, NO_PAGE, NO_PAGE, 0};
    --pages_held_;
    source_.release(source_.context, page_at(index));
  } else if (was_full) {
    push_partial(class_index, index);
  }
  return {};
}

usize SlabHeap::partial_pages(usize class_index) const {
  usize count = 0;
  if (class_index >= CLASS_COUNT) return 0;
  for (u32 index = partial_heads_[class_index]; index != NO_PAGE; index = pages_[index].next) ++count;
  return count;
}

}  // namespace klib
