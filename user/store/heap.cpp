// store::Heap: power-of-two blocks over a lazily committed Memory (see heap.hpp).
#include "heap.hpp"

namespace store {
namespace {
constexpr u64 PAGE = sys::PAGE_SIZE;
constexpr u64 COMMIT_CHUNK = 64 * 1024;
}  // namespace

sys::Result<void> Heap::start(sys::Factory factory, sys::Task self, sys::SlotAllocator& slots, u64 address, u64 bytes) {
  u64 slot = TRY(slots.allocate());
  memory_ = TRY(factory.create_lazy_memory(slot, bytes / PAGE));
  TRY_VOID(self.map(memory_, 0, address, bytes / PAGE, sys::memory_rights(true, true, false)));
  base_ = top_ = committed_end_ = address;
  end_ = address + bytes;
  return {};
}

u64 Heap::class_of(u64 bytes) {
  u64 size_class = MIN_CLASS;
  while ((u64{1} << size_class) < bytes) ++size_class;
  return size_class;
}

bool Heap::commit(u64 address, u64 bytes) {
  if (!memory_.commit((address - base_) / PAGE, bytes / PAGE).ok()) return false;
  committed_ += bytes;
  return true;
}

void* Heap::allocate(u64 bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes > end_ - base_) return nullptr;
  u64 size_class = class_of(bytes);
  u64 size = u64{1} << size_class;
  if (free_[size_class] != nullptr) {
    void* block = free_[size_class];
    if (size_class >= LARGE_CLASS) {
      // Its pages went back on release; the list link lived in a page kept for it (below).
      u64 address = reinterpret_cast<u64>(block);
      void* next = *static_cast<void**>(block);
      if (!commit(address + PAGE, size - PAGE)) return nullptr;
      free_[size_class] = next;
      return block;
    }
    free_[size_class] = *static_cast<void**>(block);
    return block;
  }
  // Carve a new block, aligned to its size relative to base (so large ones are page aligned).
  u64 offset = (top_ - base_ + size - 1) / size * size;
  u64 address = base_ + offset;
  if (address > end_ || size > end_ - address) return nullptr;
  u64 needed_end = address + size;
  if (needed_end > committed_end_) {
    u64 from = committed_end_ > address ? committed_end_ : address / PAGE * PAGE;
    u64 to = (needed_end + COMMIT_CHUNK - 1) / COMMIT_CHUNK * COMMIT_CHUNK;
    if (to > end_) to = end_;
    if (from < to && !commit(from, to - from)) return nullptr;
    committed_end_ = to;
  }
  top_ = needed_end;
  return reinterpret_cast<void*>(address);
}

void Heap::release(void* block, u64 bytes) {
  if (block == nullptr) return;
  if (bytes == 0) bytes = 1;
  u64 size_class = class_of(bytes);
  u64 size = u64{1} << size_class;
  *static_cast<void**>(block) = free_[size_class];
  free_[size_class] = block;
  if (size_class >= LARGE_CLASS) {
    // Keep the first page (it holds the list link); the rest goes back to the factory.
    u64 address = reinterpret_cast<u64>(block);
    if (memory_.decommit((address - base_) / PAGE + 1, (size - PAGE) / PAGE).ok()) committed_ -= size - PAGE;
  }
}

}  // namespace store
