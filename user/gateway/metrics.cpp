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

void copy_name(char (&target)[32], const char* source) {
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

void Metrics::Histogram::render(const char* metric, Buffer& output) const {
  output.append("# TYPE ");
  output.append(metric);
  output.append(" histogram\n");
  u64 cumulative = 0;
  for (usize bucket = 0; bucket <= BUCKETS; ++bucket) {
    cumulative += counts[bucket];
    output.append(metric);
    output.append("_bucket{le=\"");
    if (bucket == BUCKETS) output.append("+Inf");
    else output.append_seconds(BUCKET_BOUNDS_US[bucket]);
    output.append("\"} ");
    output.append_unsigned(cumulative);
    output.append("\n");
  }
  output.append(metric);
  output.append("_sum ");
  output.append_seconds(sum_us);
  output.append("\n");
  output.append(metric);
  output.append("_count ");
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

void Metrics::record_invocation(u32 tenant, const char* name, const InvocationRecord& record) {
  LockGuard guard(lock_);
  ++invocations_;
  if (record.status != manager::STATUS_OK) ++errors_;
  if (record.status == manager::STATUS_TIMEOUT) ++timeouts_;
  duration_.observe(record.duration_us);
  if (record.has_phases) cold_start_.observe(record.cold_start_us);
  Series* series = find(tenant, name);
  if (series == nullptr) {
    for (auto& candidate : series_) {
      if (!candidate.used) {
        series = &candidate;
        break;
      }
    }
  }
  if (series == nullptr) {
    for (auto& candidate : series_) {
      if (!candidate.live) {
        series = &candidate;
        break;
      }
    }
  }
  if (series == nullptr) {
    ++unlisted_invocations_;
    return;
  }
  if (!series->used || series->tenant != tenant || !same_name(series->name, name)) {
    *series = Series{};
    series->used = true;
    series->tenant = tenant;
    copy_name(series->name, name);
  }
  series->live = true;
  ++series->invocations;
  series->log[series->log_count % LOG_ENTRIES] = record;
  ++series->log_count;
}

void Metrics::forget(u32 tenant, const char* name) {
  LockGuard guard(lock_);
  Series* series = find(tenant, name);
  if (series == nullptr) return;
  series->live = false;
  series->log_count = 0;
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

void Metrics::render(Buffer& output) const {
  LockGuard guard(lock_);
  output.append("# HELP metteagle_invocations_total Invocations through the gateway, by function and tenant.\n");
  output.append("# TYPE metteagle_invocations_total counter\n");
  for (const auto& series : series_) {
    if (!series.used) continue;
    output.append("metteagle_invocations_total{function=\"");
    append_label(output, series.name);
    output.append("\",tenant=\"");
    output.append_unsigned(series.tenant);
    output.append("\"} ");
    output.append_unsigned(series.invocations);
    output.append("\n");
  }
  output.append("# HELP metteagle_invocations_all_total Invocations through the gateway, all functions.\n");
  output.append("# TYPE metteagle_invocations_all_total counter\nmetteagle_invocations_all_total ");
  output.append_unsigned(invocations_);
  output.append("\n# HELP metteagle_errors_total Invocations that did not end with status OK.\n");
  output.append("# TYPE metteagle_errors_total counter\nmetteagle_errors_total ");
  output.append_unsigned(errors_);
  output.append("\n# HELP metteagle_timeouts_total Invocations the manager ended at their timeout.\n");
  output.append("# TYPE metteagle_timeouts_total counter\nmetteagle_timeouts_total ");
  output.append_unsigned(timeouts_);
  output.append("\n# HELP metteagle_cold_start_seconds The manager's create and load phases of one invocation.\n");
  cold_start_.render("metteagle_cold_start_seconds", output);
  output.append("# HELP metteagle_duration_seconds One invocation as the gateway saw it (manager round trip).\n");
  duration_.render("metteagle_duration_seconds", output);
  output.append("# HELP metteagle_http_responses_total HTTP responses of the gateway, by status code.\n");
  output.append("# TYPE metteagle_http_responses_total counter\n");
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
  if (series == nullptr || !series->live) return;
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
