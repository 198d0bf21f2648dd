// Metrics: the gateway's own counters, histograms and per-function record of recent invocation
// results (served as /metrics in Prometheus text format and as /system/logs). Pure, host-tested.
// Invariant: one series per function a tenant deploys, in a FunctionTable (function_table.hpp)
// whose memory grows with the functions deployed, bounded per tenant by its function quota (or its
// share of the gateway's bound) and in all by bound(); a deploy reserves its function's series
// before it is made (reserve), so a deployed function never lacks one for want of room (only one
// the manager held before the gateway started can, counted in series_refused). A deleted
// function's series goes at once (its room back to every tenant), and an invocation records into a
// series only through the ticket it took when it began, so an invocation that outlives a delete
// (or a delete and a new deploy of the same name) never brings the old series back.
// Every public method holds the lock, so the gateway's worker threads may share one Metrics.
// The page is rendered in pieces (render_piece, through a PageCursor), the lock held for one piece
// only: each series (a function's counter line, or every line of one of its histograms) is read
// at one moment; a function's families are read piece by piece (docs/API.md, The /metrics page).
#pragma once

#include "function_table.hpp"
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

// Where a /metrics page rendered in pieces has got to (Metrics::render_piece, then the gateway's
// own parts, Gateway::metrics_piece): the part of the page next and, within a per-function
// family, the table slot of its next series. Small and trivially copyable: a connection keeps it
// between pieces, so no buffer depends on how many functions there are.
struct PageCursor {
  static constexpr usize HEADER = ~usize{0};  // The family's HELP and TYPE lines come next.
  u32 tenant = ALL_TENANTS;  // Whose page: a tenant's own, or an operator's (every series).
  u32 part = 0;              // Metrics's parts first (Metrics::PARTS), then the gateway's.
  usize slot = HEADER;       // In a per-function family: the first table slot not yet looked at.
  RowCursor rows;            // In a per-tenant part.
  u64 opened_before = 0;     // Only series opened before the page began are on it (begin_page).
  bool has_manager_stats = false;  // The manager's figures, asked for when the page began.
  manager::ManagerStats manager_stats{};
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
  static constexpr usize LOG_ENTRIES = 16;
  static constexpr usize BUCKETS = 14;
  static constexpr u64 BUCKET_BOUNDS_US[BUCKETS] = {500,     1000,    2500,    5000,      10000,     25000,     50000,
                                                    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

  // Where the series live and how many functions they may be kept for in all (at boot).
  void configure(TableMemory* memory, usize bound);
  // The tenant's function quota (its key's functions=; 0: the manager's).
  void set_quota(u32 tenant, u64 quota);
  usize bound() const;               // Series the gateway may hold in all.
  usize limit(u32 tenant) const;     // Series the tenant may hold.
  // Before a deploy: makes the function's series if it has none (`made` then), so the deploy can
  // be refused before it is made when there is no room; TableRefusal::None when it has one now.
  TableRefusal reserve(u32 tenant, const char* name, bool& made);
  // A function was deployed: it starts with a fresh series (zero counters, empty log), made here
  // if reserve() did not (counted in series_refused without room).
  void open(u32 tenant, const char* name);
  // An invocation of an existing function begins: the ticket to record its result with. Makes the
  // function's series if it has none (e.g. deployed before the gateway started), if there is room.
  SeriesTicket begin(u32 tenant, const char* name);
  // Counts the result in the totals, and in the ticket's series if that is still the one the
  // ticket was taken for (not deleted meanwhile). False when the function was deleted (or deleted
  // and deployed again) since the ticket was taken: its logs must not reach the new one.
  bool record_invocation(const SeriesTicket& ticket, const InvocationRecord& record);
  // A deleted function (or a refused deploy's reservation): its series goes (counters and log);
  // the totals keep what it counted.
  void forget(u32 tenant, const char* name);
  usize series_count(u32 tenant) const;  // Series the tenant holds.
  usize series_total() const;            // Series all tenants hold.
  u64 series_refused(u32 tenant) const;  // Times one of its functions got no series (no room).
  void count_response(u32 http_status);
  // Every series (tenant ALL_TENANTS: an operator's page), or only `tenant`'s per-function and
  // per-tenant series (no totals over all tenants, which would tell of the others' traffic), in
  // one go: begin_page and render_piece without a budget until it is done.
  void render(Buffer& output, u32 tenant = ALL_TENANTS) const;
  // The same in pieces. begin_page starts `cursor` on `tenant`'s page (series opened later are
  // left out); each render_piece appends whole series until `output` holds `budget` bytes or
  // more, or it has looked at SLOTS_PER_PIECE table slots (a tenant's page skips the others'
  // series), holding the lock for that piece only. True when Metrics's parts are done
  // (cursor.part is PARTS). A piece may end past `budget` by one series, or short of it (even
  // empty) after its slots.
  void begin_page(PageCursor& cursor, u32 tenant) const;
  bool render_piece(PageCursor& cursor, Buffer& output, usize budget) const;
  static constexpr usize SLOTS_PER_PIECE = 1024;
  // Metrics's parts of a page: the per-function families, the refusals, the totals.
  static constexpr u32 FUNCTION_FAMILIES = 6;
  static constexpr u32 PARTS = FUNCTION_FAMILIES + 2;
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
    u64 invocations = 0;
    u64 errors = 0;                // Not STATUS_OK.
    u64 timeouts = 0;
    u64 unsupported_syscalls = 0;  // Linux calls its personality answered ENOSYS (the exit's detail).
    Histogram cold_start;
    Histogram duration;
    InvocationRecord log[LOG_ENTRIES];
    usize log_count = 0;  // Entries ever logged (the ring holds the last ones).
    u64 opened = 0;       // Its place in the order series were made (Metrics::opened_).
  };
  using Table = FunctionTable<Series>;
 public:
  // What one function's series takes (for the gateway's bound, function_bound()).
  static constexpr usize ENTRY_BYTES = sizeof(Table::Entry);

 private:
  Table::Entry* create(u32 tenant, const char* name);  // Counted as refused without room.
  Table::Entry* insert(u32 tenant, const char* name, TableRefusal& why);  // Stamped with opened_.
  // One unit of a per-function family `part`: its HELP and TYPE lines (entry nullptr), or the
  // entry's series.
  void render_function_part(u32 part, const Table::Entry* entry, Buffer& output) const;
  // False when `budget` was reached first (the cursor's rows say where it goes on).
  bool render_refusals(u32 tenant, RowCursor& rows, Buffer& output, usize budget) const;
  void render_totals(Buffer& output) const;

  Table table_;
  u64 opened_ = 0;  // Series made so far (each gets the next number).
  u64 invocations_ = 0;
  u64 errors_ = 0;
  u64 timeouts_ = 0;
  u64 unlisted_invocations_ = 0;
  Histogram cold_start_;
  Histogram duration_;
  struct ResponseCount {
    u32 status = 0;
    u64 count = 0;
  };
  ResponseCount responses_[16];
  mutable SpinLock lock_;
};

// The manager status's name ("OK", "CRASHED", ...).
const char* status_name(u32 status);
// The "# HELP" and "# TYPE" lines of one Prometheus metric family.
void family(Buffer& output, const char* metric, const char* type, const char* help);
// One sample of a per-tenant series: `metric{tenant="T"} value`.
void tenant_sample(Buffer& output, const char* metric, u32 tenant, u64 value);
// A family of one unlabelled gauge: its HELP and TYPE lines and its sample.
void gauge(Buffer& output, const char* metric, const char* help, u64 value);

}  // namespace gateway
