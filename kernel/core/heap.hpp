// Kernel heap: size-class slabs for kernel objects, backed by whole frames.
// Invariant: every block handed out is zeroed, aligned to its size class, and returns to the
// class it came from; callers charge the class size (allocation_size) to a factory's quota.
#pragma once

#include "lib/types.hpp"

namespace kernel {
using namespace klib;

// The byte count actually reserved for a request of size bytes (its size class), or 0 if too big.
usize allocation_size(usize size);
// A zeroed block of at least size bytes (at most one page), or nullptr when memory is gone.
void* heap_allocate(usize size);
void heap_free(void* block, usize size);

}  // namespace kernel
