// WindowBudget (see window_budget.hpp).
#include "window_budget.hpp"

#include "metrics.hpp"

namespace gateway {

void WindowBudget::configure(u64 total_pages, const TenantSlots& slots) {
  sys::LockGuard guard(lock_);
  slots_ = &slots;
  count_ = slots.count();
  for (usize slot = 0; slot < count_; ++slot) entries_[slot] = Entry{};
  guarantee_ = total_pages / 4 / count_;
  shared_ = total_pages - guarantee_ * count_;
  borrowed_ = 0;
}

WindowBudget::Entry* WindowBudget::find(u32 tenant) {
  u32 slot = slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant);
  return slot == TenantSlots::NONE ? nullptr : &entries_[slot];
}

const WindowBudget::Entry* WindowBudget::find(u32 tenant) const { return const_cast<WindowBudget*>(this)->find(tenant); }

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

bool WindowBudget::render(Buffer& output, u32 tenant, RowCursor& rows, usize budget) const {
  sys::LockGuard guard(lock_);
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    u64 Entry::*figure;
  } const families[] = {
      {"metteagle_window_bytes", "gauge",
       "Bytes of the gateway's window memory the tenant's bodies, outputs, logs, async jobs and envProcess texts "
       "hold now.",
       &Entry::used},
      {"metteagle_window_refused_total", "counter",
       "Window memory refused (503 for a window): the tenant's guarantee and the free shared part could not hold it.",
       &Entry::refused},
  };
  auto head = [&](usize family) {
    gateway::family(output, families[family].name, families[family].type, families[family].help);
  };
  auto row = [&](usize family, usize slot) {
    u32 owner = slots_->tenant_at(static_cast<u32>(slot));
    if (tenant != ALL_TENANTS && owner != tenant) return;
    u64 value = entries_[slot].*families[family].figure;
    tenant_sample(output, families[family].name, owner, families[family].figure == &Entry::used ? value * PAGE_BYTES : value);
  };
  if (!rows.render(output, budget, 2, count_, head, row)) return false;
  gauge(output, "metteagle_window_guarantee_bytes",
        "Bytes of window memory each tenant is guaranteed whatever the others hold.", guarantee_ * PAGE_BYTES);
  if (tenant != ALL_TENANTS) return true;
  gauge(output, "metteagle_window_shared_bytes",
        "Bytes of window memory shared by all tenants, first come first served.", shared_ * PAGE_BYTES);
  gauge(output, "metteagle_window_borrowed_bytes",
        "Bytes of the shared part that tenants hold now beyond their guarantees.", borrowed_ * PAGE_BYTES);
  return true;
}

}  // namespace gateway
