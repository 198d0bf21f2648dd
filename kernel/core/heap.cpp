// Kernel heap: the slab heap of kernel/lib over the frame allocator, behind a lock.
#include "core/heap.hpp"

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "core/spinlock.hpp"
#include "lib/slab_heap.hpp"

namespace kernel {
namespace {

SpinLock heap_lock;
SlabHeap heap;

u8* take_frame(void*) {
  auto frame = frames().allocate();
  return frame ? arch::physical_to_virtual(frame.value()) : nullptr;
}

void return_frame(void*, u8* page) {
  // The heap returns only frames it took from the allocator, once each.
  (void)frames().free(static_cast<u64>(page - arch::physical_to_virtual(0)));
}

}  // namespace

void heap_init() {
  usize page_count = frames().total_frames();
  if (page_count > SlabHeap::MAX_PAGES) page_count = SlabHeap::MAX_PAGES;
  usize table_pages = align_up(page_count * sizeof(SlabPage), PAGE_SIZE) / PAGE_SIZE;
  auto table = frames().allocate_contiguous(table_pages, PAGE_SIZE);
  if (!table) panic("no room for the heap's page descriptors (%zu frames)", table_pages);
  heap.init(arch::physical_to_virtual(0), page_count,
            reinterpret_cast<SlabPage*>(arch::physical_to_virtual(table.value())), {take_frame, return_frame, nullptr});
}

usize allocation_size(usize size) { return SlabHeap::allocation_size(size); }

void* heap_allocate(usize size) {
  SpinLockGuard guard(heap_lock);
  return heap.allocate(size);
}

void heap_free(void* block, usize size) {
  if (block == nullptr) return;
  SpinLockGuard guard(heap_lock);
  KERNEL_ASSERT(heap.free(block, size).ok());
}

usize heap_frames() {
  SpinLockGuard guard(heap_lock);
  return heap.pages_held();
}

usize heap_bytes_in_use() {
  SpinLockGuard guard(heap_lock);
  return heap.bytes_in_use();
}

}  // namespace kernel
