// store::Heap: the store server's memory for its catalog, handles and buffers: one lazily committed
// Memory (MEMORY_LAZY) mapped over a large range, carved into power-of-two blocks with a free list
// per size. Pages are committed (charged to the store's factory) before a block is handed out, so
// an exhausted quota is a nullptr, never a fault; blocks of 64 KiB and more give their pages back
// when released. The image importer's arena will come from the same range.
// Invariant: [base, top) is carved; every page below committed_end_ is committed except the
// pages after the first of a free large block; a block on a
// free list of class c is 2^c bytes, 2^c-aligned relative to base, and (c >= LARGE_CLASS) has no
// committed pages.
#pragma once

#include "layout/memory.hpp"
#include "sys/sys.hpp"

namespace store {

class Heap final : public MemorySource {
 public:
  [[nodiscard]] sys::Result<void> start(sys::Factory factory, sys::Task self, sys::SlotAllocator& slots, u64 address,
                                        u64 bytes);
  void* allocate(u64 bytes) override;
  void release(void* block, u64 bytes) override;
  u64 committed_bytes() const { return committed_; }

 private:
  static constexpr u64 MIN_CLASS = 4;     // 16 bytes.
  static constexpr u64 LARGE_CLASS = 16;  // 64 KiB: whole pages, decommitted when free.
  static constexpr u64 CLASSES = 40;

  static u64 class_of(u64 bytes);
  bool commit(u64 address, u64 bytes);

  sys::Memory memory_{};
  u64 base_ = 0;
  u64 end_ = 0;
  u64 top_ = 0;
  u64 committed_end_ = 0;  // Small blocks are carved from committed pages below this.
  u64 committed_ = 0;
  void* free_[CLASSES] = {};
};

}  // namespace store
