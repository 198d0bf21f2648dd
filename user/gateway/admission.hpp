// TenantAdmission: the one per-tenant table of invocations — how many each tenant (API key) has
// running, its limit, its queue, and its 429s and 503s. The event loop admits every invocation
// here before an invocation thread takes it (docs/NETWORK.md, "Fairness"): a tenant may have its
// key's limit= running at once, then its key's queue= waiting in its own queue (arrival order),
// and gets 429 beyond that; a queued request that waits past the queue's deadline is dropped with
// 503. All tenants together run at most `capacity` (the invocation threads), and every tenant with
// nothing running keeps one of those free for itself (up to half the capacity in all): its first
// invocation starts at once, however many the others hold. A freed slot goes to the queued tenant with the fewest running (in turn
// among equals), not to whoever queued first. Pure and host-tested; every method takes the lock (the loop changes it, the workers render
// it for /metrics).
// Invariant: a tenant's running count never exceeds its running limit, its queue never exceeds
// its queue limit, the running counts add up to at most `capacity`, and while at most capacity / 2
// tenants exist besides a given one, the sum over tenants of max(running, 1) stays at most
// `capacity`; every
// request admitted (Run, or later taken with next()) is matched by exactly one finish().
#pragma once

#include "config.hpp"
#include "keys.hpp"
#include "sys/spin_lock.hpp"

namespace gateway {

using sys::LockGuard;
using sys::SpinLock;

class TenantAdmission {
 public:
  static constexpr usize MAX_TENANTS = 16;
  static_assert(MAX_KEYS <= MAX_TENANTS, "one entry per key: every key's tenant is admitted here");
  static constexpr usize MAX_QUEUE = 64;

  enum class Decision { Run, Queued, Rejected };

  // Called once before the loop starts; `capacity`: invocations that may run at once over all
  // tenants (the invocation threads).
  void configure(const ApiKey* keys, usize key_count, usize capacity);
  // A complete invocation request of `tenant` on connection `connection` (now: microseconds).
  // Run: hand it to an invocation thread now; Queued: it waits (next() hands it on); Rejected:
  // answer 429 (counted). A tenant without an entry (no key names it) is rejected.
  Decision arrive(u32 tenant, u32 connection, u64 now);
  // An admitted invocation of `tenant` was answered: its slot is free.
  void finish(u32 tenant);
  // A queued invocation that may run now, of the tenant with the fewest running (in turn among
  // equals): true with its connection (it counts as running from here). Call until false after
  // each finish().
  bool next(u32& connection);
  // A queued request that waited past `deadline` (microseconds): true with its connection and
  // tenant, taken out of its queue and counted as dropped.
  bool expired(u64 deadline, u32& connection, u32& tenant);

  u32 running_limit(u32 tenant) const;  // 0: no entry.
  u32 queue_limit(u32 tenant) const;
  u32 running(u32 tenant) const;
  u32 queued(u32 tenant) const;
  u64 rejected(u32 tenant) const;
  u64 queued_total(u32 tenant) const;
  u64 dropped(u32 tenant) const;
  u32 running_total() const;
  // Prometheus text, by tenant: running now, its limit, 429s, queued now, queued in all, dropped
  // (503). Every tenant's lines, or only `tenant`'s.
  void render(Buffer& output, u32 tenant = 0xffffffff) const;

 private:
  struct Entry {
    u32 tenant = 0;
    u32 running_limit = 0;
    u32 queue_limit = 0;
    u32 running = 0;
    u32 queue_head = 0;
    u32 queue_count = 0;
    u32 queue[MAX_QUEUE] = {};
    u64 since[MAX_QUEUE] = {};
    u64 rejected = 0;
    u64 queued_total = 0;
    u64 dropped = 0;
  };
  const Entry* find(u32 tenant) const;
  Entry* find(u32 tenant);
  // Whether `entry` may start one more invocation now (its limit, the capacity, and the slots kept
  // for the tenants with nothing running).
  bool may_start(const Entry& entry) const;
  // One field of `tenant`'s entry under the lock (0 without one).
  template <typename Field>
  u64 read(u32 tenant, Field field) const;

  Entry entries_[MAX_TENANTS];
  usize count_ = 0;
  u32 capacity_ = 0;
  u32 running_total_ = 0;
  usize turn_ = 0;  // Where next() starts among tenants with equal running counts.
  mutable SpinLock lock_;
};

}  // namespace gateway
