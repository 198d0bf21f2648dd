// Metrics: counting and the Prometheus text exposition format (version 0.0.4).
#include "metrics.hpp"

#include "manager/protocol.hpp"

namespace gateway {
namespace {

// A label value: backslash, quote and newline escaped as the exposition format requires.
void append_label(Buffer& output, const char* value) {
  for (usize index = 0; value[index] != '\0'; ++index) {
    char c = value[index];
    if (c == '\\') output.append("\\\\");
    else if (c == '"') output.append("\\\"");
    else if (c == '\n') output.append("\\n");
    else output.append(&c, 1);
  }
}

}  // namespace

const char* status_name(u32 status) {
  return manager::status_name(status);
}

void Metrics::Histogram::observe(u64 microseconds) {
  usize bucket = 0;
  while (bucket < BUCKETS && microseconds > BUCKET_BOUNDS_US[bucket]) ++bucket;
  ++counts[bucket];
  sum_us += microseconds;
  ++count;
}

void Metrics::Histogram::render(const char* metric, const char* labels, Buffer& output) const {
  auto open = [&](const char* suffix) {
    output.append(metric);
    output.append(suffix);
    if (labels[0] != '\0') {
      output.append("{");
      output.append(labels);
      output.append("}");
    }
    output.append(" ");
  };
  u64 cumulative = 0;
  for (usize bucket = 0; bucket <= BUCKETS; ++bucket) {
    cumulative += counts[bucket];
    output.append(metric);
    output.append("_bucket{");
    if (labels[0] != '\0') {
      output.append(labels);
      output.append(",");
    }
    output.append("le=\"");
    if (bucket == BUCKETS) output.append("+Inf");
    else output.append_seconds(BUCKET_BOUNDS_US[bucket]);
    output.append("\"} ");
    output.append_unsigned(cumulative);
    output.append("\n");
  }
  open("_sum");
  output.append_seconds(sum_us);
  output.append("\n");
  open("_count");
  output.append_unsigned(count);
  output.append("\n");
}

void Metrics::configure(TableMemory* memory, usize bound) {
  LockGuard guard(lock_);
  table_.configure(memory, bound);
}

void Metrics::set_quota(u32 tenant, u64 quota) {
  LockGuard guard(lock_);
  table_.set_quota(tenant, quota);
  (void)table_.hold(tenant);  // Its series_refused line shows from the start.
}

usize Metrics::bound() const {
  LockGuard guard(lock_);
  return table_.bound();
}

usize Metrics::limit(u32 tenant) const {
  LockGuard guard(lock_);
  return table_.limit(tenant);
}

Metrics::Table::Entry* Metrics::insert(u32 tenant, const char* name, TableRefusal& why) {
  Table::Entry* entry = table_.insert(tenant, name, why);
  if (entry != nullptr) entry->value.opened = ++opened_;
  return entry;
}

Metrics::Table::Entry* Metrics::create(u32 tenant, const char* name) {
  TableRefusal why = TableRefusal::None;
  Table::Entry* entry = insert(tenant, name, why);
  if (entry == nullptr) table_.count_refusal(tenant);
  return entry;
}

TableRefusal Metrics::reserve(u32 tenant, const char* name, bool& made) {
  LockGuard guard(lock_);
  made = false;
  if (table_.find(tenant, name) != nullptr) return TableRefusal::None;
  TableRefusal why = TableRefusal::None;
  made = insert(tenant, name, why) != nullptr;
  return why;
}

void Metrics::open(u32 tenant, const char* name) {
  LockGuard guard(lock_);
  Table::Entry* entry = table_.find(tenant, name);
  // A fresh series under a new generation, so no ticket of the old function matches it.
  if (entry != nullptr) table_.erase(*entry);
  (void)create(tenant, name);
}

SeriesTicket Metrics::begin(u32 tenant, const char* name) {
  LockGuard guard(lock_);
  Table::Entry* entry = table_.find(tenant, name);
  if (entry == nullptr) entry = create(tenant, name);
  if (entry == nullptr) return SeriesTicket{};
  return SeriesTicket{table_.index_of(*entry), entry->generation};
}

bool Metrics::record_invocation(const SeriesTicket& ticket, const InvocationRecord& record) {
  LockGuard guard(lock_);
  ++invocations_;
  if (record.status != manager::STATUS_OK) ++errors_;
  if (record.status == manager::STATUS_TIMEOUT) ++timeouts_;
  duration_.observe(record.duration_us);
  if (record.has_phases) cold_start_.observe(record.cold_start_us);
  Table::Entry* entry = ticket.slot == SeriesTicket::NONE ? nullptr : table_.at(ticket.slot);
  bool current = entry != nullptr && entry->used && entry->generation == ticket.generation;
  if (!current) {
    ++unlisted_invocations_;
    // No series from the start (no room): the function is unchanged as far as we know.
    return ticket.slot == SeriesTicket::NONE;
  }
  if (record.status == manager::STATUS_NOT_FOUND) {
    // The function went between DESCRIBE and INVOKE (deleted meanwhile): so does its series, even
    // one this invocation's begin() made after the delete had forgotten the old one.
    table_.erase(*entry);
    return false;
  }
  Series* series = &entry->value;
  ++series->invocations;
  if (record.status != manager::STATUS_OK) ++series->errors;
  if (record.status == manager::STATUS_TIMEOUT) ++series->timeouts;
  bool exited = record.status == manager::STATUS_OK || record.status == manager::STATUS_FAILED ||
                record.status == manager::STATUS_OUTPUT_TOO_LARGE;
  if (exited) series->unsupported_syscalls += record.detail;
  series->duration.observe(record.duration_us);
  if (record.has_phases) series->cold_start.observe(record.cold_start_us);
  series->log[series->log_count % LOG_ENTRIES] = record;
  ++series->log_count;
  return true;
}

void Metrics::forget(u32 tenant, const char* name) {
  LockGuard guard(lock_);
  Table::Entry* entry = table_.find(tenant, name);
  if (entry != nullptr) table_.erase(*entry);
}

usize Metrics::series_count(u32 tenant) const {
  LockGuard guard(lock_);
  return table_.count(tenant);
}

usize Metrics::series_total() const {
  LockGuard guard(lock_);
  return table_.total();
}

u64 Metrics::series_refused(u32 tenant) const {
  LockGuard guard(lock_);
  return table_.refused(tenant);
}

void Metrics::count_response(u32 http_status) {
  LockGuard guard(lock_);
  for (auto& response : responses_) {
    if (response.count != 0 && response.status == http_status) {
      ++response.count;
      return;
    }
  }
  for (auto& response : responses_) {
    if (response.count == 0) {
      response = ResponseCount{http_status, 1};
      return;
    }
  }
}

namespace {

// `function="<name>",tenant="<n>"` for a series' lines (at most 63 bytes of name, escaped).
void function_labels(char (&labels)[128], const char* name, u32 tenant) {
  char buffer_bytes[128];
  Buffer buffer(buffer_bytes, sizeof buffer_bytes);
  buffer.append("function=\"");
  append_label(buffer, name);
  buffer.append("\",tenant=\"");
  buffer.append_unsigned(tenant);
  buffer.append("\"");
  usize length = buffer.size() < sizeof labels - 1 ? buffer.size() : sizeof labels - 1;
  for (usize index = 0; index < length; ++index) labels[index] = buffer_bytes[index];
  labels[length] = '\0';
}


}  // namespace

void family(Buffer& output, const char* metric, const char* type, const char* help) {
  output.append("# HELP ");
  output.append(metric);
  output.append(" ");
  output.append(help);
  output.append("\n# TYPE ");
  output.append(metric);
  output.append(" ");
  output.append(type);
  output.append("\n");
}

void tenant_sample(Buffer& output, const char* metric, u32 tenant, u64 value) {
  output.append(metric);
  output.append("{tenant=\"");
  output.append_unsigned(tenant);
  output.append("\"} ");
  output.append_unsigned(value);
  output.append("\n");
}

void gauge(Buffer& output, const char* metric, const char* help, u64 value) {
  family(output, metric, "gauge", help);
  output.append(metric);
  output.append(" ");
  output.append_unsigned(value);
  output.append("\n");
}

void Metrics::render_function_part(u32 part, const Table::Entry* entry, Buffer& output) const {
  // One family per figure, one series per function (labels function and tenant).
  struct Counter {
    const char* metric;
    const char* help;
    u64 Series::*field;
  };
  static constexpr Counter COUNTERS[] = {
      {"metteagle_invocations_total", "Invocations through the gateway, by function and tenant.", &Series::invocations},
      {"metteagle_function_errors_total", "Invocations that did not end with status OK, by function.", &Series::errors},
      {"metteagle_function_timeouts_total", "Invocations the manager ended at their timeout, by function.",
       &Series::timeouts},
      {"metteagle_function_unsupported_syscalls_total",
       "System calls of a Linux function its personality lacks (answered ENOSYS), by function.",
       &Series::unsupported_syscalls},
  };
  struct PerFunctionHistogram {
    const char* metric;
    const char* help;
    Histogram Series::*field;
  };
  static constexpr PerFunctionHistogram HISTOGRAMS[] = {
      {"metteagle_function_cold_start_seconds", "The manager's create and load phases, by function.",
       &Series::cold_start},
      {"metteagle_function_duration_seconds", "Invocations as the gateway saw them (manager round trip), by function.",
       &Series::duration},
  };
  static constexpr u32 COUNTER_COUNT = sizeof COUNTERS / sizeof COUNTERS[0];
  static_assert(COUNTER_COUNT + sizeof HISTOGRAMS / sizeof HISTOGRAMS[0] == FUNCTION_FAMILIES);
  char labels[128];
  if (entry != nullptr) function_labels(labels, entry->name, entry->tenant);
  if (part < COUNTER_COUNT) {
    const Counter& counter = COUNTERS[part];
    if (entry == nullptr) return family(output, counter.metric, "counter", counter.help);
    output.append(counter.metric);
    output.append("{");
    output.append(labels);
    output.append("} ");
    output.append_unsigned(entry->value.*counter.field);
    output.append("\n");
    return;
  }
  const PerFunctionHistogram& histogram = HISTOGRAMS[part - COUNTER_COUNT];
  if (entry == nullptr) return family(output, histogram.metric, "histogram", histogram.help);
  (entry->value.*histogram.field).render(histogram.metric, labels, output);
}

bool Metrics::render_refusals(u32 tenant, RowCursor& rows, Buffer& output, usize budget) const {
  const char* name = "metteagle_series_refused_total";
  auto head = [&](usize) {
    family(output, name, "counter",
           "Times a function of this tenant got no per-function series (no room: its bound or the gateway's).");
  };
  auto row = [&](usize, usize index) {
    const TableTenant* entry = table_.tenant_at(index);
    if (tenant == ALL_TENANTS || entry->tenant == tenant) tenant_sample(output, name, entry->tenant, entry->refused);
  };
  return rows.render(output, budget, 1, table_.tenants_held(), head, row);
}

// Totals over every function (also those without a series): an operator's page only.
void Metrics::render_totals(Buffer& output) const {
  family(output, "metteagle_invocations_all_total", "counter", "Invocations through the gateway, all functions.");
  output.append("metteagle_invocations_all_total ");
  output.append_unsigned(invocations_);
  output.append("\n");
  family(output, "metteagle_errors_total", "counter", "Invocations that did not end with status OK.");
  output.append("metteagle_errors_total ");
  output.append_unsigned(errors_);
  output.append("\n");
  family(output, "metteagle_timeouts_total", "counter", "Invocations the manager ended at their timeout.");
  output.append("metteagle_timeouts_total ");
  output.append_unsigned(timeouts_);
  output.append("\n");
  family(output, "metteagle_cold_start_seconds", "histogram", "The manager's create and load phases of one invocation.");
  cold_start_.render("metteagle_cold_start_seconds", "", output);
  family(output, "metteagle_duration_seconds", "histogram", "One invocation as the gateway saw it (manager round trip).");
  duration_.render("metteagle_duration_seconds", "", output);
  family(output, "metteagle_http_responses_total", "counter", "HTTP responses of the gateway, by status code.");
  for (const auto& response : responses_) {
    if (response.count == 0) continue;
    output.append("metteagle_http_responses_total{code=\"");
    output.append_unsigned(response.status);
    output.append("\"} ");
    output.append_unsigned(response.count);
    output.append("\n");
  }
}

void Metrics::begin_page(PageCursor& cursor, u32 tenant) const {
  LockGuard guard(lock_);
  cursor = PageCursor{};
  cursor.tenant = tenant;
  cursor.opened_before = opened_;
}

bool Metrics::render_piece(PageCursor& cursor, Buffer& output, usize budget) const {
  bool all = cursor.tenant == ALL_TENANTS;
  usize looked_at = 0;  // Table slots this piece has looked at.
  LockGuard guard(lock_);
  while (cursor.part < PARTS && output.size() < budget && !output.overflowed() && looked_at < SLOTS_PER_PIECE) {
    if (cursor.part >= FUNCTION_FAMILIES) {
      if (cursor.part == FUNCTION_FAMILIES) {
        if (!render_refusals(cursor.tenant, cursor.rows, output, budget)) return false;
        cursor.rows = RowCursor{};
      } else if (all) {
        render_totals(output);
      }
      ++cursor.part;
      continue;
    }
    if (cursor.slot == PageCursor::HEADER) {
      render_function_part(cursor.part, nullptr, output);
      cursor.slot = 0;
      continue;
    }
    // The next series of the page: a function the page may show that existed when it began (a
    // slot freed and used again since holds a later one).
    const Table::Entry* entry = table_.at(cursor.slot);
    while (entry != nullptr && ++looked_at < SLOTS_PER_PIECE &&
           (!entry->used || (!all && entry->tenant != cursor.tenant) || entry->value.opened > cursor.opened_before))
      entry = table_.at(++cursor.slot);
    if (entry != nullptr && looked_at >= SLOTS_PER_PIECE) break;  // The piece ends here; the next looks on.
    if (entry == nullptr) {
      ++cursor.part;
      cursor.slot = PageCursor::HEADER;
      continue;
    }
    render_function_part(cursor.part, entry, output);
    ++cursor.slot;
  }
  return cursor.part >= PARTS;
}

void Metrics::render(Buffer& output, u32 tenant) const {
  PageCursor cursor;
  begin_page(cursor, tenant);
  while (!render_piece(cursor, output, ~usize{0}) && !output.overflowed()) {
  }
}

void Metrics::render_log(u32 tenant, const char* name, Buffer& output) const {
  LockGuard guard(lock_);
  const Table::Entry* entry = table_.find(tenant, name);
  if (entry == nullptr) return;
  const Series* series = &entry->value;
  usize count = series->log_count < LOG_ENTRIES ? series->log_count : LOG_ENTRIES;
  for (usize index = series->log_count - count; index < series->log_count; ++index) {
    const InvocationRecord& record = series->log[index % LOG_ENTRIES];
    output.append("call=");
    output.append_unsigned(record.call_id);
    output.append(" status=");
    output.append(status_name(record.status));
    output.append(" exit_code=");
    output.append_unsigned(record.exit_code);
    output.append(" output_bytes=");
    output.append_unsigned(record.output_size);
    output.append(" duration_seconds=");
    output.append_seconds(record.duration_us);
    output.append("\n");
  }
}

}  // namespace gateway
