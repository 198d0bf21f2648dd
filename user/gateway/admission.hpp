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
//
// Scale: up to MAX_KEYS tenants. A tenant's entry is found in O(1) through its TenantSlots slot;
// only the tenants a key names have an entry (a request of any other tenant, tenant 0 included, is
// rejected). A queued request is its connection's index (below MAX_CONNECTION_LIMIT): main.cpp
// arrives a connection's request only when the connection has read a complete one, and the
// connection reads nothing more until that request is answered (handed on by next() and answered,
// or dropped by expired()), so a connection has at most one request queued at a time, in one of
// the two tables. The queues are therefore links between connections, not per-tenant arrays.
// arrive(), finish(), expired() and the table's figures take O(1); next() looks at each slot in
// use once (O(count()) of the TenantSlots), but only while something is queued and a thread is
// free; render() of every tenant is O(count()).
// Memory: 64 bytes per tenant slot (MAX_TENANT_SLOTS entries, about 256 KiB per table) and 24
// bytes per connection (MAX_CONNECTION_LIMIT of them, 6 KiB per table).
// Invariant: a tenant's running count never exceeds its running limit, its queue never exceeds
// its queue limit, the running counts add up to at most `capacity`, and while at most capacity / 2
// tenants exist besides a given one, the sum over tenants of max(running, 1) stays at most
// `capacity`; every request admitted (Run, or later taken with next()) is matched by exactly one
// finish(). A waiting connection is in exactly one tenant's queue and once in the table's arrival
// order (oldest first), no other connection is in either, and `idle_` counts the entries with
// nothing running.
#pragma once

#include "config.hpp"
#include "keys.hpp"
#include "sys/spin_lock.hpp"
#include "tenants.hpp"

namespace gateway {

using sys::LockGuard;
using sys::SpinLock;

class TenantAdmission {
 public:
  static constexpr usize MAX_QUEUE = 64;

  enum class Decision { Run, Queued, Rejected };
  // Which work the table admits: it names the table's /metrics series.
  enum class Work { Invocations, Control };
  // A tenant's figures (/metrics shows all but its queue limit).
  enum class Figure { Running, RunningLimit, QueueLimit, Rejected, Waiting, QueuedTotal, Dropped, Admitted };

  // Called once before the loop starts; `slots`: the gateway's tenants (it must outlive the table
  // and keep its slots while the table is in use); `capacity`: requests that may run at once over
  // all tenants (the threads). Each key's tenant gets an entry with the key's limit= and queue=
  // (at most the capacity and MAX_QUEUE); a key whose tenant has no slot gets none.
  void configure(const TenantSlots& slots, const ApiKey* keys, usize key_count, usize capacity);
  // Control requests: every key's tenant may run up to the capacity (the kept slots make its
  // share) and queue `queue_limit` (at most MAX_QUEUE).
  void configure_control(const TenantSlots& slots, const ApiKey* keys, usize key_count, usize capacity,
                         u32 queue_limit);
  // A complete request of `tenant` on connection `connection` (now: microseconds, never earlier
  // than the previous call's). Run: hand it to a thread now; Queued: it waits (next() hands it
  // on); Rejected: answer 429 (counted). A tenant without an entry (no key names it) is rejected;
  // so is (counted) a connection index of MAX_CONNECTION_LIMIT or more, or one already waiting.
  Decision arrive(u32 tenant, u32 connection, u64 now);
  // An admitted request of `tenant` was answered: its slot is free.
  void finish(u32 tenant);
  // A queued request that may run now, of the tenant with the fewest running (in turn among
  // equals): true with its connection (it counts as running from here). Call until false after
  // each finish().
  bool next(u32& connection);
  // The oldest queued request of all tenants, when it waited past `deadline` (microseconds): true
  // with its connection and tenant, taken out of its queue and counted as dropped.
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
  // Prometheus text, by tenant in slot order (the key file's order) (Work::Invocations:
  // metteagle_invocations_in_flight and the metteagle_admission_* series; Work::Control: the
  // metteagle_control_* series). Every tenant's lines, or only `tenant`'s.
  // False when `budget` was reached first: `rows` says where the next call goes on.
  bool render(Buffer& output, u32 tenant, RowCursor& rows, usize budget) const;

 private:
  static constexpr u32 NONE = 0xffffffff;  // No connection (an empty queue's ends, a list's end).

  struct Entry {
    u32 tenant = 0;
    u32 running_limit = 0;
    u32 queue_limit = 0;
    u32 running = 0;
    u32 queue_head = NONE;  // The tenant's oldest waiting connection, linked through next_.
    u32 queue_tail = NONE;
    u32 queue_count = 0;
    bool configured = false;  // A key names the tenant: without, the tenant has no entry.
    u64 rejected = 0;
    u64 queued_total = 0;
    u64 dropped = 0;
    u64 admitted = 0;
  };
  static_assert(sizeof(Entry) <= 64, "the header states 64 bytes per tenant slot");

  const Entry* find(u32 tenant) const;
  Entry* find(u32 tenant);
  // Counts `entry` as running one more.
  void start(Entry& entry);
  static u64 figure(const Entry& entry, Figure which);
  // Whether `entry` may start one more invocation now (its limit, the capacity, and the slots kept
  // for the tenants with nothing running).
  bool may_start(const Entry& entry) const;
  // Takes the oldest connection out of `entry`'s queue (not empty) and out of the arrival order.
  u32 take_head(Entry& entry);
  // One figure of `tenant`'s entry under the lock (0 without one).
  u64 read(u32 tenant, Figure which) const;

  const TenantSlots* slots_ = nullptr;
  Entry entries_[MAX_TENANT_SLOTS];  // By slot; of the first count_, those a key names are configured.
  usize count_ = 0;                  // The slots in use at configure().
  // Per connection, while it waits: the next in its tenant's queue, its neighbours in the arrival
  // order of the whole table, its tenant's slot, and since when it waits.
  u32 next_[MAX_CONNECTION_LIMIT] = {};
  u32 older_[MAX_CONNECTION_LIMIT] = {};
  u32 newer_[MAX_CONNECTION_LIMIT] = {};
  u32 waiting_slot_[MAX_CONNECTION_LIMIT] = {};  // Slot + 1; 0: not waiting.
  u64 since_[MAX_CONNECTION_LIMIT] = {};
  u32 oldest_ = NONE;  // The arrival order's ends: expired() looks only at the oldest.
  u32 newest_ = NONE;
  Work work_ = Work::Invocations;
  u32 capacity_ = 0;
  u32 running_total_ = 0;
  u32 idle_ = 0;    // Entries with nothing running (may_start() keeps a slot for each).
  usize turn_ = 0;  // Where next() starts among tenants with equal running counts.
  mutable SpinLock lock_;
};

}  // namespace gateway
