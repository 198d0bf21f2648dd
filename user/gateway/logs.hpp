// FunctionLogs: each tenant's recent function log lines (the functions' stderr, the stdout of
// failed invocations and one result line per invocation), served by /system/logs as OpenFaaS's
// JSON lines. Pure, host-tested. Invariant: fixed memory, LINES_PER_TENANT lines per tenant in the
// tenant's own ring, so a tenant's logging only ever evicts its own older lines, never another
// tenant's; every public method holds the lock.
#pragma once

#include "manager/protocol.hpp"
#include "sys/spin_lock.hpp"
#include "text.hpp"

namespace gateway {

class FunctionLogs {
 public:
  static constexpr usize MAX_TENANTS = 16;  // keys.hpp: MAX_KEYS, one tenant per key.
  static constexpr usize LINES_PER_TENANT = 128;
  static constexpr usize LINE_BYTES = 200;  // Longer lines are cut into several.

  // Appends `text` as lines (split at '\n'; a last line without one counts too; empty lines are
  // left out) of the tenant's function `name`, invocation `call`, at `time_us` since boot.
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
  struct TenantLog {
    bool used = false;
    u32 tenant = 0;
    usize next = 0;  // Where the next line goes (the oldest line when the ring is full).
    Line lines[LINES_PER_TENANT];
  };
  TenantLog* log_of(u32 tenant);  // Made on first use; nullptr beyond MAX_TENANTS tenants.
  const TenantLog* find(u32 tenant) const;

  TenantLog tenants_[MAX_TENANTS];
  u64 next_sequence_ = 1;
  mutable sys::SpinLock lock_;
};

// The follow streams (/system/logs?follow=true) each tenant has open: at most PER_TENANT, so a
// tenant cannot hold the gateway's connections with streams that last FOLLOW_LIMIT_US. Locked.
class FollowStreams {
 public:
  static constexpr u32 PER_TENANT = 4;
  static constexpr usize MAX_TENANTS = 16;  // keys.hpp: MAX_KEYS, one tenant per key.
  bool try_enter(u32 tenant);  // False at the tenant's bound (or with MAX_TENANTS others open).
  void leave(u32 tenant);

 private:
  struct Entry {
    u32 tenant = 0;
    u32 open = 0;
  };
  Entry entries_[MAX_TENANTS];
  sys::SpinLock lock_;
};

// Parses append_boot_time's form ("1970-01-01T00:00:12.345678Z", the fraction optional) back to
// microseconds since boot; false when malformed.
bool parse_boot_time(Slice text, u64& microseconds);

}  // namespace gateway
