// Metrics: counting and the Prometheus text exposition format (version 0.0.4).
#include "metrics.hpp"

#include "manager/protocol.hpp"

namespace gateway {
namespace {

bool same_name(const char* left, const char* right) {
  usize index = 0;
  for (; left[index] != '\0' && right[index] != '\0'; ++index)
    if (left[index] != right[index]) return false;
  return left[index] == right[index];
}

void copy_name(char (&target)[manager::NAME_BYTES], const char* source) {
  usize index = 0;
  for (; index + 1 < sizeof target && source[index] != '\0'; ++index) target[index] = source[index];
  target[index] = '\0';
}

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

Metrics::Series* Metrics::find(u32 tenant, const char* name) {
  for (auto& series : series_)
    if (series.used && series.tenant == tenant && same_name(series.name, name)) return &series;
  return nullptr;
}

const Metrics::Series* Metrics::find(u32 tenant, const char* name) const {
  for (const auto& series : series_)
    if (series.used && series.tenant == tenant && same_name(series.name, name)) return &series;
  return nullptr;
}

Metrics::TenantSeries* Metrics::tenant_entry(u32 tenant) {
  for (auto& entry : tenants_)
    if (entry.used && entry.tenant == tenant) return &entry;
  for (auto& entry : tenants_) {
    if (!entry.used) {
      entry = TenantSeries{tenant, true, 0, 0};
      return &entry;
    }
  }
  return nullptr;
}

const Metrics::TenantSeries* Metrics::tenant_entry(u32 tenant) const {
  for (const auto& entry : tenants_)
    if (entry.used && entry.tenant == tenant) return &entry;
  return nullptr;
}

void Metrics::reset(Series& series, u32 tenant, const char* name) {
  u64 generation = series.generation + 1;
  series = Series{};
  series.used = true;
  series.generation = generation;
  series.tenant = tenant;
  copy_name(series.name, name);
}

Metrics::Series* Metrics::create(u32 tenant, const char* name) {
  TenantSeries* entry = tenant_entry(tenant);
  if (entry == nullptr) return nullptr;  // More tenants than keys can name: cannot happen.
  if (entry->count >= SERIES_PER_TENANT) {
    ++entry->refused;
    return nullptr;
  }
  for (auto& series : series_) {
    if (series.used) continue;
    reset(series, tenant, name);
    ++entry->count;
    return &series;
  }
  // Unreachable while every tenant keeps to its bound (MAX_SERIES is all of them at their bound).
  ++entry->refused;
  return nullptr;
}

void Metrics::open(u32 tenant, const char* name) {
  LockGuard guard(lock_);
  Series* series = find(tenant, name);
  if (series != nullptr) reset(*series, tenant, name);
  else (void)create(tenant, name);
}

SeriesTicket Metrics::begin(u32 tenant, const char* name) {
  LockGuard guard(lock_);
  Series* series = find(tenant, name);
  if (series == nullptr) series = create(tenant, name);
  if (series == nullptr) return SeriesTicket{};
  return SeriesTicket{static_cast<usize>(series - series_), series->generation};
}

bool Metrics::record_invocation(const SeriesTicket& ticket, const InvocationRecord& record) {
  LockGuard guard(lock_);
  ++invocations_;
  if (record.status != manager::STATUS_OK) ++errors_;
  if (record.status == manager::STATUS_TIMEOUT) ++timeouts_;
  duration_.observe(record.duration_us);
  if (record.has_phases) cold_start_.observe(record.cold_start_us);
  bool current = ticket.slot < MAX_SERIES && series_[ticket.slot].used &&
                 series_[ticket.slot].generation == ticket.generation;
  if (!current) {
    ++unlisted_invocations_;
    // No series from the start (over the tenant's bound): the function is unchanged as far as we know.
    return ticket.slot == SeriesTicket::NONE;
  }
  Series* series = &series_[ticket.slot];
  if (record.status == manager::STATUS_NOT_FOUND) {
    // The function went between DESCRIBE and INVOKE (deleted meanwhile): so does its series, even
    // one this invocation's begin() made after the delete had forgotten the old one.
    release(*series);
    return false;
  }
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
  Series* series = find(tenant, name);
  if (series != nullptr) release(*series);
}

void Metrics::release(Series& series) {
  series.used = false;
  ++series.generation;
  TenantSeries* entry = tenant_entry(series.tenant);
  if (entry != nullptr && entry->count > 0) --entry->count;
}

usize Metrics::series_count(u32 tenant) const {
  LockGuard guard(lock_);
  const TenantSeries* entry = tenant_entry(tenant);
  return entry != nullptr ? entry->count : 0;
}

u64 Metrics::series_refused(u32 tenant) const {
  LockGuard guard(lock_);
  const TenantSeries* entry = tenant_entry(tenant);
  return entry != nullptr ? entry->refused : 0;
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

void Metrics::render(Buffer& output, u32 tenant) const {
  bool all = tenant == ALL_TENANTS;
  LockGuard guard(lock_);
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
  char labels[128];
  for (const Counter& counter : COUNTERS) {
    family(output, counter.metric, "counter", counter.help);
    for (const auto& series : series_) {
      if (!series.used || (!all && series.tenant != tenant)) continue;
      function_labels(labels, series.name, series.tenant);
      output.append(counter.metric);
      output.append("{");
      output.append(labels);
      output.append("} ");
      output.append_unsigned(series.*counter.field);
      output.append("\n");
    }
  }
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
  for (const PerFunctionHistogram& histogram : HISTOGRAMS) {
    family(output, histogram.metric, "histogram", histogram.help);
    for (const auto& series : series_) {
      if (!series.used || (!all && series.tenant != tenant)) continue;
      function_labels(labels, series.name, series.tenant);
      (series.*histogram.field).render(histogram.metric, labels, output);
    }
  }
  family(output, "metteagle_series_refused_total", "counter",
         "Times a function of this tenant got no per-function series (the tenant holds its bound of them).");
  for (const auto& entry : tenants_) {
    if (!entry.used || (!all && entry.tenant != tenant)) continue;
    output.append("metteagle_series_refused_total{tenant=\"");
    output.append_unsigned(entry.tenant);
    output.append("\"} ");
    output.append_unsigned(entry.refused);
    output.append("\n");
  }
  if (!all) return;
  // Totals over every function (also those without a series).
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

void Metrics::render_log(u32 tenant, const char* name, Buffer& output) const {
  LockGuard guard(lock_);
  const Series* series = find(tenant, name);
  if (series == nullptr) return;
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
