// Tenants' slices on the host (tenants.hpp SliceMemory) for tables of thousands of tenants: the
// span in the heap, touched only where backed (unlike table_memory.hpp's HeapSliceMemory, which
// zeroes it all), backed up to a budget of pages, refusing one chosen tenant, counting back()
// calls (the gateway backs it from its factory and charges the tenant's window budget, main.cpp),
// the pages asked for twice (none may be: each would be charged twice), and the calls made while
// the table that owns the slices held its lock (none may be: back() is a system call in the
// gateway). Thread-safe, for tests that back slices from several threads at once.
#pragma once

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tenants.hpp"

namespace gateway {

class LazySliceMemory final : public SliceMemory {
 public:
  // A span of `bytes` (left untouched until backed, so a large span costs only what is backed) of
  // which at most `budget_pages` pages can be backed.
  LazySliceMemory(usize bytes, usize budget_pages)
      : span_(new u8[bytes]), bytes_(bytes), budget_(budget_pages), backed_(bytes / TenantSlices::PAGE_BYTES) {}
  u8* base() override { return span_.get(); }
  bool back(u32 tenant, usize first_page, usize pages) override {
    bool under_lock = table_locked_ && table_locked_();
    // A commit takes time: a thread that backs the same pages meanwhile would be caught below.
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    std::lock_guard<std::mutex> guard(mutex_);
    ++calls_;
    if (under_lock) ++calls_under_lock_;
    usize end = (first_page + pages) * TenantSlices::PAGE_BYTES;
    if (tenant == refused_ || backed_pages_ + pages > budget_ || end > bytes_) return false;
    for (usize page = first_page; page < first_page + pages; ++page) {
      if (backed_[page]) ++backed_twice_;
      backed_[page] = true;
    }
    std::memset(span_.get() + first_page * TenantSlices::PAGE_BYTES, 0, pages * TenantSlices::PAGE_BYTES);
    backed_pages_ += pages;
    return true;
  }
  usize backed_pages() const { return locked([&] { return backed_pages_; }); }
  usize calls() const { return locked([&] { return calls_; }); }
  usize backed_twice() const { return locked([&] { return backed_twice_; }); }
  usize calls_under_lock() const { return locked([&] { return calls_under_lock_; }); }
  void set_budget(usize pages) {
    std::lock_guard<std::mutex> guard(mutex_);
    budget_ = pages;
  }
  // back() fails for `tenant` whatever the budget (NONE: for none).
  void refuse(u32 tenant) {
    std::lock_guard<std::mutex> guard(mutex_);
    refused_ = tenant;
  }
  // `locked` tells whether the owning table holds its lock (e.g. [&] { return logs.locked(); }):
  // each back() called while it does is counted in calls_under_lock().
  void watch(std::function<bool()> locked) { table_locked_ = std::move(locked); }
  // Each back() takes this long (before tests start threads).
  void delay(std::chrono::microseconds each) { delay_ = each; }

 private:
  template <typename Read> usize locked(Read read) const {
    std::lock_guard<std::mutex> guard(mutex_);
    return read();
  }
  std::unique_ptr<u8[]> span_;
  usize bytes_;
  usize budget_;
  std::vector<bool> backed_;  // By page of the span.
  usize backed_pages_ = 0;
  usize calls_ = 0;
  usize backed_twice_ = 0;
  usize calls_under_lock_ = 0;
  u32 refused_ = TenantSlots::NONE;
  std::function<bool()> table_locked_;
  std::chrono::microseconds delay_{0};
  mutable std::mutex mutex_;
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
