// store::ExtentAllocator: a sorted array of free extents; allocation scans it (first fit), release
// finds its place by binary search and merges with its neighbours.
#include "extents.hpp"

namespace store {

Status ExtentAllocator::build(u64 first, u64 end, const Vector<Extent>& used) {
  free_.clear();
  first_ = first;
  end_ = end;
  free_blocks_ = 0;
  u64 cursor = first;
  for (u64 index = 0; index <= used.size(); ++index) {
    u64 next = end;
    if (index < used.size()) {
      const Extent& extent = used[index];
      if (extent.blocks == 0 || extent.start < cursor || extent.start >= end || extent.blocks > end - extent.start)
        return STATUS_CORRUPT;
      next = extent.start;
    }
    if (next > cursor) {
      if (!free_.push_back(Extent{cursor, next - cursor})) return STATUS_OUT_OF_MEMORY;
      free_blocks_ += next - cursor;
    }
    if (index < used.size()) cursor = used[index].start + used[index].blocks;
  }
  return STATUS_OK;
}

Extent ExtentAllocator::allocate(u64 want, u64 near) {
  if (want == 0 || free_.empty()) return Extent{0, 0};
  u64 chosen = free_.size();
  if (near != 0) {
    for (u64 index = 0; index < free_.size(); ++index)
      if (free_[index].start == near) {
        chosen = index;
        break;
      }
  }
  if (chosen == free_.size()) {
    u64 largest = 0;
    for (u64 index = 0; index < free_.size(); ++index) {
      if (free_[index].blocks >= want) {
        chosen = index;
        break;
      }
      if (free_[index].blocks > free_[largest].blocks) largest = index;
    }
    if (chosen == free_.size()) chosen = largest;
  }
  Extent& source = free_[chosen];
  u64 taken = source.blocks < want ? source.blocks : want;
  Extent result{source.start, taken};
  source.start += taken;
  source.blocks -= taken;
  if (source.blocks == 0) free_.erase(chosen);
  free_blocks_ -= taken;
  return result;
}

Status ExtentAllocator::release(Extent extent) {
  if (extent.blocks == 0) return STATUS_OK;
  // The first free extent starting after this one.
  u64 low = 0;
  u64 high = free_.size();
  while (low < high) {
    u64 middle = (low + high) / 2;
    if (free_[middle].start < extent.start)
      low = middle + 1;
    else
      high = middle;
  }
  bool joins_previous = low > 0 && free_[low - 1].start + free_[low - 1].blocks == extent.start;
  bool joins_next = low < free_.size() && extent.start + extent.blocks == free_[low].start;
  if (joins_previous && joins_next) {
    free_[low - 1].blocks += extent.blocks + free_[low].blocks;
    free_.erase(low);
  } else if (joins_previous) {
    free_[low - 1].blocks += extent.blocks;
  } else if (joins_next) {
    free_[low].start = extent.start;
    free_[low].blocks += extent.blocks;
  } else if (!free_.insert(low, extent)) {
    return STATUS_OUT_OF_MEMORY;
  }
  free_blocks_ += extent.blocks;
  return STATUS_OK;
}

u64 ExtentAllocator::largest_free() const {
  u64 largest = 0;
  for (u64 index = 0; index < free_.size(); ++index)
    if (free_[index].blocks > largest) largest = free_[index].blocks;
  return largest;
}

}  // namespace store
