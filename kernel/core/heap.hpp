// Kernel heap: size-class slabs for kernel objects, backed by whole frames.
// Invariant: every block handed out is zeroed, aligned to its size class, and returns to the
// class it came from; callers charge the class size (allocation_size) to a factory's quota; a
// frame whose blocks are all free goes back to the frame allocator at once (nothing is parked).
#pragma once

#include "lib/types.hpp"

namespace kernel {
using namespace klib;

// Sets up the page descriptors over all managed frames; after memory_init and paging_init.
void heap_init();
// The byte count actually reserved for a request of size bytes (its size class), or 0 if too big.
usize allocation_size(usize size);
// A zeroed block of at least size bytes (at most one page), or nullptr when memory is gone.
void* heap_allocate(usize size);
// size is the size given to heap_allocate; a block that is not a live heap block panics.
void heap_free(void* block, usize size);
// Frames the heap holds now (each has at least one live block).
usize heap_frames();
// Bytes in live heap blocks (class sizes); equal again whenever the same objects live again.
usize heap_bytes_in_use();

}  // namespace kernel
