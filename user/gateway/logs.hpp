// FunctionLogs: each tenant's recent function log lines (the functions' stderr, the stdout of
// failed invocations and one result line per invocation), served by /system/logs as OpenFaaS's
// JSON lines. Pure, host-tested. Invariant: each tenant's LINES_PER_TENANT lines are a ring in the
// tenant's own slice of the span (tenants.hpp), RING_BYTES rounded up to pages; the slice is backed
// (charged to the tenant) on the tenant's first append and never before, so a tenant that never
// logs costs only its counters. A tenant's logging only ever evicts its own older lines, never
// another tenant's; lines that find no memory are not kept and are counted as dropped. Every
// public method holds the lock, and none makes a system call under it (append backs the ring
// before it takes the lock).
#pragma once

#include "manager/protocol.hpp"
#include "sys/spin_lock.hpp"
#include "tenants.hpp"
#include "text.hpp"

namespace gateway {

class FunctionLogs {
 public:
  static constexpr usize LINES_PER_TENANT = 128;
  static constexpr usize LINE_BYTES = 200;  // Longer lines are cut into several.

 private:
  struct Line {
    bool used = false;
    char name[manager::NAME_BYTES] = {};
    u64 call = 0;
    u64 sequence = 0;  // Every line of every tenant gets the next one: a follow's position.
    u64 time_us = 0;
    usize length = 0;
    char text[LINE_BYTES] = {};
  };
  // A tenant's lines, in its slice. All zero (as a slice is when first backed) is an empty ring.
  struct Ring {
    usize next = 0;  // Where the next line goes (the oldest line when the ring is full).
    Line lines[LINES_PER_TENANT];
  };

 public:
  // One tenant's ring (about 39 KiB), and the slice that holds it: whole pages.
  static constexpr usize RING_BYTES = sizeof(Ring);
  static constexpr usize SLICE_BYTES =
      (RING_BYTES + TenantSlices::PAGE_BYTES - 1) / TenantSlices::PAGE_BYTES * TenantSlices::PAGE_BYTES;

  // Once, at boot: the tenants served (`slots` must outlive this) and the span their rings live
  // in, slots.count() * SLICE_BYTES (slot s's slice at s * SLICE_BYTES). Forgets every line and
  // count. Until then every line is dropped.
  void configure(const TenantSlots& slots, SliceMemory* memory);
  // Appends `text` as lines (split at '\n'; a last line without one counts too; empty lines are
  // left out) of the tenant's function `name`, invocation `call`, at `time_us` since boot. Backs
  // the tenant's slice on its first line; when that cannot be done (or the tenant has no slot) the
  // lines are dropped and counted.
  void append(u32 tenant, const char* name, u64 call, u64 time_us, const char* text, usize length);
  // The function's lines at or after since_us, the last `tail` of them (0: all the ring holds),
  // oldest first, each one JSON object and '\n': {"name", "namespace", "instance", "timestamp",
  // "text"}.
  // `latest` (when given) gets the sequence of the newest line of the tenant at that moment, where
  // a follow (render_after) goes on from.
  void render(u32 tenant, const char* name, u64 since_us, u64 tail, Buffer& output, u64* latest = nullptr) const;
  // /system/logs?follow=true: the function's lines newer than sequence `after`, oldest first, as
  // many whole lines as fit `output` (it never overflows); `after` moves to the last one rendered
  // (or to the tenant's newest when none of the new lines is the function's).
  void render_after(u32 tenant, const char* name, u64& after, Buffer& output) const;
  // A deleted function's lines go.
  void forget(u32 tenant, const char* name);
  // Lines of the tenant not kept because its slice could not be backed (0 for a tenant without a
  // slot), and the same over every tenant (tenants without a slot included).
  u64 dropped(u32 tenant) const;
  u64 dropped_total() const;
  // The /metrics family metteagle_log_lines_dropped_total (Prometheus text): dropped(t) of every
  // tenant in slot order (the key file's) for ALL_TENANTS (the operator's page), or of `tenant`
  // only. False when `budget` was reached first: `rows` says where the next call goes on.
  bool render_metrics(Buffer& output, u32 tenant, RowCursor& rows, usize budget) const;
  // Whether a thread holds the lock now (tests: no slice is backed under it).
  bool locked() const { return lock_.held(); }

 private:
  // The ring of a tenant that has logged (its slice backed), else nullptr; never takes memory.
  Ring* find(u32 tenant);
  const Ring* find(u32 tenant) const;

  const TenantSlots* slots_ = nullptr;
  TenantSlices slices_;
  u64 dropped_[MAX_TENANT_SLOTS] = {};  // By slot.
  u64 dropped_total_ = 0;
  u64 next_sequence_ = 1;
  mutable sys::SpinLock lock_;
};

// The follow streams (/system/logs?follow=true) each tenant has open: at most PER_TENANT, so a
// tenant cannot hold the gateway's connections with streams that last FOLLOW_LIMIT_US. Invariant:
// open_[slot] streams are open for the slot's tenant, never more than PER_TENANT; a tenant without
// a slot has none. Locked.
class FollowStreams {
 public:
  static constexpr u32 PER_TENANT = 4;
  // Once, at boot: the tenants served (`slots` must outlive this). Until then every stream is
  // refused.
  void configure(const TenantSlots& slots);
  bool try_enter(u32 tenant);  // False at the tenant's bound, or for a tenant without a slot.
  void leave(u32 tenant);
  u32 open(u32 tenant) const;

 private:
  const TenantSlots* slots_ = nullptr;
  u32 open_[MAX_TENANT_SLOTS] = {};  // By slot.
  mutable sys::SpinLock lock_;
};

// Parses append_boot_time's form ("1970-01-01T00:00:12.345678Z", the fraction optional) back to
// microseconds since boot; false when malformed.
bool parse_boot_time(Slice text, u64& microseconds);

}  // namespace gateway
