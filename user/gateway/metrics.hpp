// Metrics: the gateway's own counters, histograms and per-function record of recent invocation
// results (served as /metrics in Prometheus text format and as /system/logs). Pure, host-tested.
// Invariant: memory is fixed (MAX_SERIES functions, LOG_ENTRIES results each); when the table is
// full, a deleted function's entry is reused first, else new functions count only in the totals.
// Every public method holds the lock, so the gateway's worker threads may share one Metrics.
#pragma once

#include "sys/spin_lock.hpp"
#include "text.hpp"

namespace gateway {

using sys::LockGuard;
using sys::SpinLock;

struct InvocationRecord {
  u64 call_id = 0;
  u32 status = 0;            // manager::Status.
  u64 exit_code = 0;
  u64 detail = 0;            // Fault address etc.
  u64 output_size = 0;
  u64 duration_us = 0;       // As the gateway measured it, manager round trip included.
  u64 cold_start_us = 0;     // The manager's create + load phases.
  bool has_phases = false;   // The manager ran the function (the phase ticks are meaningful).
};

class Metrics {
 public:
  static constexpr usize MAX_SERIES = 128;
  static constexpr usize LOG_ENTRIES = 16;
  static constexpr usize BUCKETS = 14;
  static constexpr u64 BUCKET_BOUNDS_US[BUCKETS] = {500,     1000,    2500,    5000,      10000,     25000,     50000,
                                                    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

  void record_invocation(u32 tenant, const char* name, const InvocationRecord& record);
  // A deleted function: its log goes (its counters stay, as Prometheus counters must).
  void forget(u32 tenant, const char* name);
  void count_response(u32 http_status);
  void render(Buffer& output) const;
  // Appends the function's recent results, oldest first, one line each.
  void render_log(u32 tenant, const char* name, Buffer& output) const;

 private:
  struct Histogram {
    u64 counts[BUCKETS + 1] = {};  // The last is +Inf.
    u64 sum_us = 0;
    u64 count = 0;
    void observe(u64 microseconds);
    // The series of one histogram: `labels` (e.g. `function="x",tenant="1"`, or "") on every line.
    void render(const char* metric, const char* labels, Buffer& output) const;
  };
  struct Series {
    bool used = false;
    bool live = false;  // Deployed as far as the gateway knows (a delete makes it reusable).
    u32 tenant = 0;
    char name[32] = {};
    u64 invocations = 0;
    u64 errors = 0;                // Not STATUS_OK.
    u64 timeouts = 0;
    u64 unsupported_syscalls = 0;  // Linux calls its personality answered ENOSYS (the exit's detail).
    Histogram cold_start;
    Histogram duration;
    InvocationRecord log[LOG_ENTRIES];
    usize log_count = 0;  // Entries ever logged since the last forget (the ring holds the last ones).
  };
  struct ResponseCount {
    u32 status = 0;
    u64 count = 0;
  };

  Series* find(u32 tenant, const char* name);
  const Series* find(u32 tenant, const char* name) const;

  Series series_[MAX_SERIES];
  u64 invocations_ = 0;
  u64 errors_ = 0;
  u64 timeouts_ = 0;
  u64 unlisted_invocations_ = 0;
  Histogram cold_start_;
  Histogram duration_;
  ResponseCount responses_[16];
  mutable SpinLock lock_;
};

// The manager status's name ("OK", "CRASHED", ...).
const char* status_name(u32 status);

}  // namespace gateway
