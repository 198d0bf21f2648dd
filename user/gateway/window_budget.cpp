// WindowBudget (see window_budget.hpp).
#include "window_budget.hpp"

namespace gateway {

void WindowBudget::configure(u64 total_pages, const u32* tenants, usize count) {
  sys::LockGuard guard(lock_);
  count_ = 0;
  for (usize i = 0; i < count && count_ < MAX_TENANTS; ++i) {
    bool seen = false;
    for (usize j = 0; j < count_; ++j) seen = seen || entries_[j].tenant == tenants[i];
    if (!seen) entries_[count_++] = Entry{tenants[i], 0};
  }
  guarantee_ = count_ == 0 ? 0 : total_pages / 4 / count_;
  shared_ = total_pages - guarantee_ * count_;
  borrowed_ = 0;
}

WindowBudget::Entry* WindowBudget::find(u32 tenant) {
  for (usize i = 0; i < count_; ++i)
    if (entries_[i].tenant == tenant) return &entries_[i];
  return nullptr;
}

const WindowBudget::Entry* WindowBudget::find(u32 tenant) const {
  for (usize i = 0; i < count_; ++i)
    if (entries_[i].tenant == tenant) return &entries_[i];
  return nullptr;
}

bool WindowBudget::charge(u32 tenant, u64 pages) {
  sys::LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry == nullptr || pages > guarantee_ + shared_ - entry->used) return false;
  u64 more = over(entry->used + pages) - over(entry->used);
  if (more > shared_ - borrowed_) return false;
  borrowed_ += more;
  entry->used += pages;
  return true;
}

void WindowBudget::refund(u32 tenant, u64 pages) {
  sys::LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry == nullptr) return;
  if (pages > entry->used) pages = entry->used;
  borrowed_ -= over(entry->used) - over(entry->used - pages);
  entry->used -= pages;
}

u64 WindowBudget::used(u32 tenant) const {
  sys::LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->used;
}

u64 WindowBudget::borrowed() const {
  sys::LockGuard guard(lock_);
  return borrowed_;
}

}  // namespace gateway
