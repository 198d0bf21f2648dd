// InvokeLimits: what an invocation needs to know of its function before it runs (its output limit,
// which decides the output window, and its timeout, which bounds the wait for a manager worker),
// kept between invocations so that each does not first ask the manager (a DESCRIBE round trip:
// two address-space switches and a worker's wake, about a fifth of an empty function's request).
// Pure, host-tested.
// Invariant: an entry is believed only while the epoch it was filled under is still current; the
// epoch moves after every manager request that may change or remove a function (ChangeTracking
// in api.hpp), and a filler takes the epoch *before* its DESCRIBE, so a description that raced a
// change is never believed. A miss only costs the DESCRIBE: entries are a cache (direct-mapped by
// tenant and name, a colliding function replaces another's), not a table anything depends on.
#pragma once

#include "manager/protocol.hpp"
#include "sys/spin_lock.hpp"

namespace gateway {

using sys::u32;
using sys::u64;
using sys::usize;

class InvokeLimits {
 public:
  struct Limits {
    u64 max_output_bytes = 0;
    u64 timeout_nanoseconds = 0;
  };
  static constexpr usize ENTRIES = 2048;

  // Taken before the DESCRIBE whose answer store() keeps.
  u64 epoch() const { return __atomic_load_n(&epoch_, __ATOMIC_ACQUIRE); }
  // A function may have changed (after the manager answered, or failed to answer, a request that
  // can change one).
  void invalidate() { __atomic_fetch_add(&epoch_, 1, __ATOMIC_ACQ_REL); }

  bool find(u32 tenant, const char* name, Limits& limits) const {
    const Entry& entry = entries_[index_of(tenant, name)];
    sys::LockGuard guard(lock_);
    if (!entry.used || entry.epoch != epoch() || entry.tenant != tenant || !same_name(entry.name, name)) return false;
    limits = entry.limits;
    return true;
  }
  // Keeps what a DESCRIBE begun at `epoch` said, unless a change came since.
  void store(u32 tenant, const char* name, u64 epoch, const Limits& limits) {
    Entry& entry = entries_[index_of(tenant, name)];
    sys::LockGuard guard(lock_);
    if (epoch != this->epoch()) return;
    entry.used = true;
    entry.epoch = epoch;
    entry.tenant = tenant;
    for (usize index = 0; index < manager::NAME_BYTES; ++index) {
      entry.name[index] = name[index];
      if (name[index] == '\0') break;
    }
    entry.limits = limits;
  }

 private:
  struct Entry {
    bool used = false;
    u32 tenant = 0;
    u64 epoch = 0;
    char name[manager::NAME_BYTES] = {};
    Limits limits;
  };

  // Names are NUL-terminated within NAME_BYTES (the manager's names).
  static bool same_name(const char* a, const char* b) {
    for (usize index = 0; index < manager::NAME_BYTES; ++index) {
      if (a[index] != b[index]) return false;
      if (a[index] == '\0') return true;
    }
    return true;
  }
  static usize index_of(u32 tenant, const char* name) {
    u64 hash = 0xcbf29ce484222325ull ^ tenant;  // FNV-1a over the tenant, then the name.
    for (usize index = 0; index < manager::NAME_BYTES && name[index] != '\0'; ++index)
      hash = (hash ^ static_cast<unsigned char>(name[index])) * 0x100000001b3ull;
    return static_cast<usize>(hash % ENTRIES);
  }

  Entry entries_[ENTRIES];
  u64 epoch_ = 1;
  mutable sys::SpinLock lock_;
};

}  // namespace gateway
