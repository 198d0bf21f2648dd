// WindowBudget: the gateway's memory for windows (request bodies and responses too large for a
// connection's buffers, docs/NETWORK.md) divided between tenants so that no tenant can take what
// another is promised. Each tenant (every API key's, and tenant 0 for requests without a key) is
// guaranteed an equal part of a quarter of the budget; the other three quarters are shared, first
// come first served. A tenant may hold its guarantee plus whatever of the shared half is free, so one tenant's
// many large uploads or outputs can slow only that tenant: another's windows up to its guarantee
// are always there. Pages, not bytes; pure and host-tested; every method takes the lock (the event
// loop, the workers and the async threads all open and close windows).
// Invariant: for every tenant, used ≤ guarantee + shared; the sum over tenants of
// max(0, used − guarantee) (`borrowed_`) never exceeds shared, so the pages all tenants hold stay
// within total = guarantee × tenants + shared, and each tenant can always reach its guarantee.
#pragma once

#include "tenants.hpp"
#include "sys/spin_lock.hpp"
#include "metrics.hpp"
#include "text.hpp"

namespace gateway {

class WindowBudget {
 public:
  static constexpr u64 PAGE_BYTES = 4096;              // The budget counts pages of this size.

  // `total_pages` for the tenants of `slots` (tenant 0 included); `slots` must outlive the budget.
  void configure(u64 total_pages, const TenantSlots& slots);
  // Takes `pages` for `tenant`: false, and nothing taken, when the tenant's guarantee and the free
  // shared pages cannot hold them (counted as a refusal), or when the tenant has no entry.
  bool charge(u32 tenant, u64 pages);
  // Gives back pages the tenant took (at most what it holds).
  void refund(u32 tenant, u64 pages);

  u64 used(u32 tenant) const;
  u64 refused(u32 tenant) const;
  u64 guarantee() const { return guarantee_; }
  u64 shared() const { return shared_; }
  u64 borrowed() const;

  // The /metrics families (Prometheus text) of `tenant`, or every tenant's and the shared pages'
  // use for 0xffffffff (the operator's page): a tenant sees neither another's series nor how much
  // of the shared part others hold.
  // False when `budget` was reached first: `rows` says where the next call goes on.
  bool render(Buffer& output, u32 tenant, RowCursor& rows, usize budget) const;

 private:
  struct Entry {
    u64 used = 0;
    u64 refused = 0;  // Charges refused: the tenant's guarantee and the free shared pages were short.
  };
  Entry* find(u32 tenant);
  const Entry* find(u32 tenant) const;
  u64 over(u64 used) const { return used > guarantee_ ? used - guarantee_ : 0; }

  mutable sys::SpinLock lock_;
  const TenantSlots* slots_ = nullptr;
  Entry entries_[MAX_TENANT_SLOTS] = {};  // By slot.
  usize count_ = 0;
  u64 guarantee_ = 0;
  u64 shared_ = 0;
  u64 borrowed_ = 0;
};

}  // namespace gateway
