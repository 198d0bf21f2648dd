// TenantAdmission: one per-tenant table of admitted work — how many requests each tenant (API
// key) has running on a pool of threads, its limit, its queue, and its 429s and 503s. The gateway
// has two (docs/NETWORK.md, "Fairness"): its invocations (GatewayShared::admission, in front of the
// invocation threads; a tenant's limits are its key's limit= and queue=) and its control requests
// (GatewayShared::control, in front of the 4 workers that answer deploys, listings, image pushes
// and everything else but invocations and /healthz; every tenant may queue CONTROL_QUEUE). The
// event loop admits each request here before a thread takes it: a tenant may have its limit
// running at once, then its queue limit waiting in its own queue (arrival order), and gets 429
// beyond that; a queued request that waits past the queue's deadline is dropped with 503. All
// tenants together run at most `capacity` (the threads), and every tenant with nothing running
// keeps one of those free for itself (up to half the capacity in all): its first request starts
// at once, however many the others hold. A freed slot goes to the queued tenant with the fewest
// running (in turn among equals), not to whoever queued first. Pure and host-tested; every method
// takes the lock (the loop changes it, the workers render it for /metrics).
// Invariant: a tenant's running count never exceeds its running limit, its queue never exceeds
// its queue limit, the running counts add up to at most `capacity`, and while at most capacity / 2
// tenants exist besides a given one, the sum over tenants of max(running, 1) stays at most
// `capacity`; every request admitted (Run, or later taken with next()) is matched by exactly one
// finish().
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
  // Which work the table admits: it names the table's /metrics series.
  enum class Work { Invocations, Control };
  // A tenant's figures (/metrics shows all but its queue limit).
  enum class Figure { Running, RunningLimit, QueueLimit, Rejected, Waiting, QueuedTotal, Dropped, Admitted };

  // Called once before the loop starts; `capacity`: requests that may run at once over all
  // tenants (the threads). Invocations: each key's limit= and queue= (at most the capacity and
  // MAX_QUEUE).
  void configure(const ApiKey* keys, usize key_count, usize capacity);
  // Control requests: every key may run up to the capacity (the kept slots make its share) and
  // queue `queue_limit` (at most MAX_QUEUE).
  void configure_control(const ApiKey* keys, usize key_count, usize capacity, u32 queue_limit);
  // A complete request of `tenant` on connection `connection` (now: microseconds). Run: hand it
  // to a thread now; Queued: it waits (next() hands it on); Rejected: answer 429 (counted). A
  // tenant without an entry (no key names it) is rejected.
  Decision arrive(u32 tenant, u32 connection, u64 now);
  // An admitted request of `tenant` was answered: its slot is free.
  void finish(u32 tenant);
  // A queued request that may run now, of the tenant with the fewest running (in turn among
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
  u64 admitted(u32 tenant) const;  // Started on a thread, at once or from the queue.
  u32 running_total() const;
  // Prometheus text, by tenant (Work::Invocations: metteagle_invocations_in_flight and the
  // metteagle_admission_* series; Work::Control: the metteagle_control_* series). Every tenant's
  // lines, or only `tenant`'s.
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
    u64 admitted = 0;
  };
  const Entry* find(u32 tenant) const;
  Entry* find(u32 tenant);
  // Counts `entry` as running one more.
  void start(Entry& entry);
  static u64 figure(const Entry& entry, Figure which);
  // Whether `entry` may start one more invocation now (its limit, the capacity, and the slots kept
  // for the tenants with nothing running).
  bool may_start(const Entry& entry) const;
  // One figure of `tenant`'s entry under the lock (0 without one).
  u64 read(u32 tenant, Figure which) const;

  Entry entries_[MAX_TENANTS];
  usize count_ = 0;
  Work work_ = Work::Invocations;
  u32 capacity_ = 0;
  u32 running_total_ = 0;
  usize turn_ = 0;  // Where next() starts among tenants with equal running counts.
  mutable SpinLock lock_;
};

}  // namespace gateway
