// Metrics: the gateway's own counters, histograms and per-function record of recent invocation
// results (served as /metrics in Prometheus text format and as /system/logs). Pure, host-tested.
// Invariant: memory is fixed (MAX_SERIES functions, LOG_ENTRIES results each). Each tenant may hold
// at most SERIES_PER_TENANT series and MAX_SERIES = MAX_TENANTS * SERIES_PER_TENANT, so no tenant can
// take the room another needs: a tenant over its bound loses only its own series (counted in
// series_refused). A deleted function's series goes at once, and an invocation records into a
// series only through the ticket it took when it began, so an invocation that outlives a delete
// (or a delete and a new deploy of the same name) never brings the old series back.
// Every public method holds the lock, so the gateway's worker threads may share one Metrics.
#pragma once

#include "manager/protocol.hpp"
#include "sys/spin_lock.hpp"
#include "text.hpp"

namespace gateway {

// The /metrics page of an operator key: every tenant's series and the totals.
constexpr u32 ALL_TENANTS = 0xffffffff;

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

// Where an invocation's result goes: a series slot and the generation it had when the invocation
// began (a delete or a new deploy of the name changes the generation).
struct SeriesTicket {
  static constexpr usize NONE = ~usize{0};
  usize slot = NONE;
  u64 generation = 0;
};

class Metrics {
 public:
  static constexpr usize MAX_TENANTS = 16;        // keys.hpp: MAX_KEYS, one tenant per key.
  static constexpr usize SERIES_PER_TENANT = 64;  // The manager's registry holds 64 functions in all.
  static constexpr usize MAX_SERIES = MAX_TENANTS * SERIES_PER_TENANT;
  static constexpr usize LOG_ENTRIES = 16;
  static constexpr usize BUCKETS = 14;
  static constexpr u64 BUCKET_BOUNDS_US[BUCKETS] = {500,     1000,    2500,    5000,      10000,     25000,     50000,
                                                    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

  // A function was deployed: it starts with a fresh series (zero counters, empty log), or none when
  // the tenant holds SERIES_PER_TENANT series already (counted in series_refused).
  void open(u32 tenant, const char* name);
  // An invocation of an existing function begins: the ticket to record its result with. Makes the
  // function's series if it has none (e.g. deployed before the gateway started), if there is room.
  SeriesTicket begin(u32 tenant, const char* name);
  // Counts the result in the totals, and in the ticket's series if that is still the one the
  // ticket was taken for (not deleted meanwhile). False when the function was deleted (or deleted
  // and deployed again) since the ticket was taken: its logs must not reach the new one.
  bool record_invocation(const SeriesTicket& ticket, const InvocationRecord& record);
  // A deleted function: its series goes (counters and log); the totals keep what it counted.
  void forget(u32 tenant, const char* name);
  usize series_count(u32 tenant) const;  // Series the tenant holds.
  u64 series_refused(u32 tenant) const;  // Times one of its functions got no series (over its bound).
  void count_response(u32 http_status);
  // Every series (tenant ALL_TENANTS: an operator's page), or only `tenant`'s per-function and
  // per-tenant series (no totals over all tenants, which would tell of the others' traffic).
  void render(Buffer& output, u32 tenant = ALL_TENANTS) const;
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
    bool used = false;  // Holds a deployed function's figures (a delete frees it at once).
    u64 generation = 0;  // Changes whenever the slot is freed or begins a new function.
    u32 tenant = 0;
    char name[manager::NAME_BYTES] = {};
    u64 invocations = 0;
    u64 errors = 0;                // Not STATUS_OK.
    u64 timeouts = 0;
    u64 unsupported_syscalls = 0;  // Linux calls its personality answered ENOSYS (the exit's detail).
    Histogram cold_start;
    Histogram duration;
    InvocationRecord log[LOG_ENTRIES];
    usize log_count = 0;  // Entries ever logged since the last forget (the ring holds the last ones).
  };
  struct TenantSeries {
    u32 tenant = 0;
    bool used = false;
    usize count = 0;    // Series it holds.
    u64 refused = 0;    // Times it had no room for a series.
  };
  struct ResponseCount {
    u32 status = 0;
    u64 count = 0;
  };

  Series* find(u32 tenant, const char* name);
  const Series* find(u32 tenant, const char* name) const;
  TenantSeries* tenant_entry(u32 tenant);  // Made on first use; nullptr beyond MAX_TENANTS tenants.
  const TenantSeries* tenant_entry(u32 tenant) const;
  // A new series for the tenant's function, or nullptr (counted as refused) without room.
  Series* create(u32 tenant, const char* name);
  // Starts `series` over for `name`: zero counters, empty log, a new generation.
  static void reset(Series& series, u32 tenant, const char* name);
  // Frees `series` (its tenant's count drops) under a new generation, so no ticket matches it.
  void release(Series& series);

  Series series_[MAX_SERIES];
  TenantSeries tenants_[MAX_TENANTS];
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
// The "# HELP" and "# TYPE" lines of one Prometheus metric family.
void family(Buffer& output, const char* metric, const char* type, const char* help);

}  // namespace gateway
