// Kernel heap: one free list per power-of-two size class from 64 bytes to a page.
#include "core/heap.hpp"

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/memory.hpp"
#include "core/spinlock.hpp"

namespace kernel {
namespace {

constexpr usize SMALLEST_CLASS_SHIFT = 6;
constexpr usize CLASS_COUNT = 7;  // 64, 128, ..., 4096.

struct FreeBlock {
  FreeBlock* next;
};

SpinLock heap_lock;
FreeBlock* free_lists[CLASS_COUNT];

int class_of(usize size) {
  for (usize index = 0; index < CLASS_COUNT; ++index)
    if (size <= (usize{1} << (SMALLEST_CLASS_SHIFT + index))) return static_cast<int>(index);
  return -1;
}

}  // namespace

usize allocation_size(usize size) {
  int index = class_of(size);
  return index < 0 ? 0 : usize{1} << (SMALLEST_CLASS_SHIFT + static_cast<usize>(index));
}

void* heap_allocate(usize size) {
  int index = class_of(size);
  if (index < 0) return nullptr;
  usize block_size = usize{1} << (SMALLEST_CLASS_SHIFT + static_cast<usize>(index));
  void* block;
  {
    SpinLockGuard guard(heap_lock);
    if (free_lists[index] == nullptr) {
      auto frame = frames().allocate();
      if (!frame) return nullptr;
      u8* page = arch::physical_to_virtual(frame.value());
      for (usize offset = 0; offset < PAGE_SIZE; offset += block_size) {
        auto* free_block = reinterpret_cast<FreeBlock*>(page + offset);
        free_block->next = free_lists[index];
        free_lists[index] = free_block;
      }
    }
    block = free_lists[index];
    free_lists[index] = free_lists[index]->next;
  }
  arch::zero_words(block, block_size);
  return block;
}

void heap_free(void* block, usize size) {
  int index = class_of(size);
  if (block == nullptr || index < 0) return;
  SpinLockGuard guard(heap_lock);
  auto* free_block = static_cast<FreeBlock*>(block);
  free_block->next = free_lists[index];
  free_lists[index] = free_block;
}

}  // namespace kernel
