// The per-function tables' memory on the host: the span in the heap, backed up to a budget (the
// gateway backs it from its factory, main.cpp FactoryTableMemory).
#pragma once

#include <memory>

#include "function_table.hpp"

namespace gateway {

class HeapTableMemory final : public TableMemory {
 public:
  // A span of `capacity` bytes of which at most `budget` bytes can be backed.
  HeapTableMemory(usize capacity, usize budget) : span_(new u8[capacity]()), capacity_(capacity), budget_(budget) {}
  void* back(usize bytes) override {
    if (bytes > capacity_ || bytes > budget_) return nullptr;
    if (bytes > backed_) backed_ = bytes;
    return span_.get();
  }
  usize backed() const { return backed_; }
  void set_budget(usize budget) { budget_ = budget; }

 private:
  std::unique_ptr<u8[]> span_;
  usize capacity_;
  usize budget_;
  usize backed_ = 0;
};

// Memory for a table of entries of `entry_bytes` (e.g. Metrics::ENTRY_BYTES), without a budget
// below the whole span.
inline std::unique_ptr<HeapTableMemory> heap_table_memory(usize entry_bytes) {
  usize bytes = MAX_FUNCTION_ENTRIES * entry_bytes;
  return std::make_unique<HeapTableMemory>(bytes, bytes);
}

}  // namespace gateway
