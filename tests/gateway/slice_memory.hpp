// Tenants' slices on the host (tenants.hpp SliceMemory) for tables of thousands of tenants: the
// span in the heap, touched only where backed (unlike table_memory.hpp's HeapSliceMemory, which
// zeroes it all), backed up to a budget of pages, refusing one chosen tenant, counting back()
// calls (the gateway backs it from its factory and charges the tenant's window budget, main.cpp).
#pragma once

#include <cstring>
#include <memory>

#include "tenants.hpp"

namespace gateway {

class LazySliceMemory final : public SliceMemory {
 public:
  // A span of `bytes` (left untouched until backed, so a large span costs only what is backed) of
  // which at most `budget_pages` pages can be backed.
  LazySliceMemory(usize bytes, usize budget_pages) : span_(new u8[bytes]), bytes_(bytes), budget_(budget_pages) {}
  u8* base() override { return span_.get(); }
  bool back(u32 tenant, usize first_page, usize pages) override {
    ++calls_;
    usize end = (first_page + pages) * TenantSlices::PAGE_BYTES;
    if (tenant == refused_ || backed_ + pages > budget_ || end > bytes_) return false;
    std::memset(span_.get() + first_page * TenantSlices::PAGE_BYTES, 0, pages * TenantSlices::PAGE_BYTES);
    backed_ += pages;
    return true;
  }
  usize backed_pages() const { return backed_; }
  usize calls() const { return calls_; }
  void set_budget(usize pages) { budget_ = pages; }
  // back() fails for `tenant` whatever the budget (NONE: for none).
  void refuse(u32 tenant) { refused_ = tenant; }

 private:
  std::unique_ptr<u8[]> span_;
  usize bytes_;
  usize budget_;
  usize backed_ = 0;
  usize calls_ = 0;
  u32 refused_ = TenantSlots::NONE;
};

// Slots for tenants 1..count (and tenant 0), in that order.
inline std::unique_ptr<TenantSlots> numbered_slots(u32 count) {
  auto slots = std::make_unique<TenantSlots>();
  std::unique_ptr<u32[]> tenants(new u32[count + 1]);
  for (u32 index = 0; index < count; ++index) tenants[index] = index + 1;
  slots->configure(tenants.get(), count);
  return slots;
}

// Memory for one slice of `slice_bytes` (e.g. FunctionLogs::SLICE_BYTES) per slot of `slots`,
// with a budget for every one of them.
inline std::unique_ptr<LazySliceMemory> lazy_slice_memory(const TenantSlots& slots, usize slice_bytes) {
  return std::make_unique<LazySliceMemory>(slots.count() * slice_bytes,
                                           slots.count() * slice_bytes / TenantSlices::PAGE_BYTES);
}

}  // namespace gateway
