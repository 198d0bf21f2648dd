// TenantAdmission: the event loop's per-tenant admission of invocations to the workers. Each
// tenant (API key) may have at most `running limit` invocations on workers at once — its key's
// limit=, and always fewer than the workers, so no tenant ever holds them all — then up to its
// key's queue= waiting in its own queue (in arrival order), and gets 429 beyond that. A queued
// request that waits longer than the queue's deadline is dropped with 503. Pure and host-tested;
// every method takes the lock (the loop changes it, the workers render it for /metrics).
// Invariant: a tenant's running count never exceeds its running limit, its queue never exceeds
// its queue limit, and every request admitted (Run, or later taken from the queue) is matched by
// exactly one finish().
#pragma once

#include "config.hpp"
#include "sys/spin_lock.hpp"
#include "sys/spin_lock.hpp"

namespace gateway {

using sys::SpinLock;

class TenantAdmission {
 public:
  static constexpr usize MAX_TENANTS = 16;  // keys.hpp: MAX_KEYS, one tenant per key.
  static constexpr usize MAX_QUEUE = 64;

  enum class Decision { Run, Queued, Rejected };

  // Called once before the loop starts; `workers`: the worker threads (each tenant runs fewer).
  void configure(const ApiKey* keys, usize key_count, usize workers);
  // A complete invocation request of `tenant` on connection `connection` (queued_since: now, in
  // microseconds). Run: hand it to the workers now; Queued: it waits (take it from next());
  // Rejected: answer 429. A tenant without an entry always runs.
  Decision arrive(u32 tenant, u32 connection, u64 now);
  // An admitted request of `tenant` was answered; true with `connection` when a queued one of the
  // same tenant may run now (it counts as running from here).
  bool finish(u32 tenant, u32& connection);
  // A queued request that waited past `deadline` (microseconds): true with its connection and
  // tenant, taken out of its queue and counted as dropped.
  bool expired(u64 deadline, u32& connection, u32& tenant);

  u32 running_limit(u32 tenant) const;
  u32 queue_limit(u32 tenant) const;
  u32 running(u32 tenant) const;
  u32 queued(u32 tenant) const;
  u64 rejected(u32 tenant) const;
  u64 queued_total(u32 tenant) const;
  u64 dropped(u32 tenant) const;
  // Prometheus text, by tenant: queued now, queued in all, rejected (429) and dropped (503).
  // Every tenant's lines, or only `tenant`'s.
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

  Entry entries_[MAX_TENANTS];
  usize count_ = 0;
  mutable SpinLock lock_;
};

}  // namespace gateway
