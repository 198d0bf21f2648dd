// store::ExtentAllocator: the free space of the data area, in blocks. It is never written to disk:
// mounting rebuilds it as the complement of every extent the catalog names, so no allocator state
// can disagree with the catalog after an unclean stop.
// Invariant: free_ is sorted by start, its extents are non-empty, disjoint and never adjacent
// (neighbours are merged), all within [first_, end_), and free_blocks_ is their sum.
#pragma once

#include "memory.hpp"
#include "store/protocol.hpp"

namespace store {

struct Extent {
  u64 start;   // First block.
  u64 blocks;  // Length in blocks (> 0).
};

class ExtentAllocator {
 public:
  explicit ExtentAllocator(MemorySource& memory) : free_(memory) {}

  // Everything in [first, end) is free except `used`, which must be sorted by start. CORRUPT if a
  // used extent is empty, leaves the range or overlaps another; OUT_OF_MEMORY if the list cannot grow.
  [[nodiscard]] Status build(u64 first, u64 end, const Vector<Extent>& used);

  // Takes up to `want` blocks: continuing at `near` if that block is free (so a growing blob stays
  // contiguous), else the first free extent that holds all of them, else the largest there is.
  // Returns an empty extent when nothing is free.
  Extent allocate(u64 want, u64 near = 0);
  // Gives blocks back (they must be allocated now). OUT_OF_MEMORY when the list cannot grow: the
  // blocks are then lost until the next mount recomputes the free space.
  [[nodiscard]] Status release(Extent extent);

  u64 free_blocks() const { return free_blocks_; }
  u64 largest_free() const;
  u64 pieces() const { return free_.size(); }
  const Vector<Extent>& free_list() const { return free_; }

 private:
  Vector<Extent> free_;
  u64 first_ = 0;
  u64 end_ = 0;
  u64 free_blocks_ = 0;
};

}  // namespace store
