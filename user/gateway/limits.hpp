// ConcurrencyLimits: how many invocations each tenant has in flight across all connections, its
// limit (from the key file) and how many invocations were refused for it (429). Shared by the
// worker threads; every method takes the lock. Pure and host-tested.
// Invariant: a tenant's in-flight count never exceeds its limit, and every successful try_enter
// is matched by exactly one leave (InFlight does it when it goes out of scope).
#pragma once

#include "config.hpp"
#include "sys/spin_lock.hpp"

namespace gateway {

using sys::LockGuard;
using sys::SpinLock;

class ConcurrencyLimits {
 public:
  static constexpr usize MAX_TENANTS = 16;  // keys.hpp: MAX_KEYS, one tenant per key.

  // Called once before the workers start; tenants beyond MAX_TENANTS are not limited.
  void configure(const ApiKey* keys, usize key_count);
  // True when the tenant may start one more invocation (and counts it); false when it is at its
  // limit (counted as a rejection). A tenant without an entry is not limited.
  bool try_enter(u32 tenant);
  void leave(u32 tenant);
  // Counts a rejection made in front of it (the event loop's TenantAdmission answered 429), so
  // metteagle_rejected_total keeps counting every 429 of a tenant's concurrency.
  void count_rejection(u32 tenant);
  u32 limit(u32 tenant) const;  // 0 = not limited.
  u32 in_flight(u32 tenant) const;
  u64 rejected(u32 tenant) const;
  // Prometheus text: in-flight gauge, limit gauge and rejection counter, by tenant.
  // Every tenant's lines, or only `tenant`'s (ALL_TENANTS: every tenant).
  void render(Buffer& output, u32 tenant = 0xffffffff) const;

 private:
  struct Entry {
    u32 tenant = 0;
    u32 limit = 0;
    u32 in_flight = 0;
    u64 rejected = 0;
  };
  const Entry* find(u32 tenant) const;
  Entry* find(u32 tenant);

  Entry entries_[MAX_TENANTS];
  usize count_ = 0;
  mutable SpinLock lock_;
};

// One admitted invocation: leaves the tenant's count when it goes out of scope.
class InFlight {
 public:
  InFlight(ConcurrencyLimits& limits, u32 tenant) : limits_(limits), tenant_(tenant) {}
  ~InFlight() { limits_.leave(tenant_); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  ConcurrencyLimits& limits_;
  u32 tenant_;
};

}  // namespace gateway
