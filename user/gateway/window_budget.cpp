// WindowBudget (see window_budget.hpp).
#include "window_budget.hpp"

#include "metrics.hpp"

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
  if (entry == nullptr) return false;
  bool fits = pages <= guarantee_ + shared_ - entry->used;
  u64 more = fits ? over(entry->used + pages) - over(entry->used) : 0;  // What it borrows anew.
  if (!fits || more > shared_ - borrowed_) {
    ++entry->refused;
    return false;
  }
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

u64 WindowBudget::refused(u32 tenant) const {
  sys::LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->refused;
}

u64 WindowBudget::borrowed() const {
  sys::LockGuard guard(lock_);
  return borrowed_;
}

void WindowBudget::render(Buffer& output, u32 tenant) const {
  sys::LockGuard guard(lock_);
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    u64 Entry::*figure;
  } const families[] = {
      {"metteagle_window_bytes", "gauge",
       "Bytes of the gateway's window memory the tenant's bodies and outputs hold now.", &Entry::used},
      {"metteagle_window_refused_total", "counter",
       "Windows refused (503): the tenant's guarantee and the free shared part could not hold them.",
       &Entry::refused},
  };
  for (const Family& series : families) {
    family(output, series.name, series.type, series.help);
    for (usize index = 0; index < count_; ++index) {
      const Entry& entry = entries_[index];
      if (tenant != ALL_TENANTS && entry.tenant != tenant) continue;
      u64 value = entry.*series.figure;
      tenant_sample(output, series.name, entry.tenant, series.figure == &Entry::used ? value * PAGE_BYTES : value);
    }
  }
  gauge(output, "metteagle_window_guarantee_bytes",
        "Bytes of window memory each tenant is guaranteed whatever the others hold.", guarantee_ * PAGE_BYTES);
  if (tenant != ALL_TENANTS) return;
  gauge(output, "metteagle_window_shared_bytes",
        "Bytes of window memory shared by all tenants, first come first served.", shared_ * PAGE_BYTES);
  gauge(output, "metteagle_window_borrowed_bytes",
        "Bytes of the shared part that tenants hold now beyond their guarantees.", borrowed_ * PAGE_BYTES);
}

}  // namespace gateway
