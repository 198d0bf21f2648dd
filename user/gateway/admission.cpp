// TenantAdmission: per-tenant running limits and queues in front of the workers; see admission.hpp.
#include "admission.hpp"

namespace gateway {

using sys::LockGuard;

void TenantAdmission::configure(const ApiKey* keys, usize key_count, usize workers) {
  LockGuard guard(lock_);
  count_ = 0;
  u32 most = workers > 1 ? static_cast<u32>(workers - 1) : 1;
  for (usize index = 0; index < key_count && count_ < MAX_TENANTS; ++index) {
    Entry& entry = entries_[count_++];
    entry = Entry{};
    entry.tenant = keys[index].sub_tenant;
    entry.running_limit = keys[index].concurrency_limit < most ? keys[index].concurrency_limit : most;
    entry.queue_limit = keys[index].queue_limit < MAX_QUEUE ? keys[index].queue_limit : static_cast<u32>(MAX_QUEUE);
  }
}

const TenantAdmission::Entry* TenantAdmission::find(u32 tenant) const {
  for (usize index = 0; index < count_; ++index)
    if (entries_[index].tenant == tenant) return &entries_[index];
  return nullptr;
}

TenantAdmission::Entry* TenantAdmission::find(u32 tenant) {
  for (usize index = 0; index < count_; ++index)
    if (entries_[index].tenant == tenant) return &entries_[index];
  return nullptr;
}

TenantAdmission::Decision TenantAdmission::arrive(u32 tenant, u32 connection, u64 now) {
  LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry == nullptr) return Decision::Run;
  if (entry->running < entry->running_limit) {
    ++entry->running;
    return Decision::Run;
  }
  if (entry->queue_count < entry->queue_limit) {
    u32 at = (entry->queue_head + entry->queue_count) % MAX_QUEUE;
    entry->queue[at] = connection;
    entry->since[at] = now;
    ++entry->queue_count;
    ++entry->queued_total;
    return Decision::Queued;
  }
  ++entry->rejected;
  return Decision::Rejected;
}

bool TenantAdmission::finish(u32 tenant, u32& connection) {
  LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry == nullptr) return false;
  if (entry->queue_count > 0) {
    // The slot passes straight to the next in line: the running count stays.
    connection = entry->queue[entry->queue_head];
    entry->queue_head = (entry->queue_head + 1) % MAX_QUEUE;
    --entry->queue_count;
    return true;
  }
  if (entry->running > 0) --entry->running;
  return false;
}

bool TenantAdmission::expired(u64 deadline, u32& connection, u32& tenant) {
  LockGuard guard(lock_);
  for (usize index = 0; index < count_; ++index) {
    Entry& entry = entries_[index];
    // The oldest waits at the head: only it can be the first past the deadline.
    if (entry.queue_count == 0 || entry.since[entry.queue_head] > deadline) continue;
    connection = entry.queue[entry.queue_head];
    tenant = entry.tenant;
    entry.queue_head = (entry.queue_head + 1) % MAX_QUEUE;
    --entry.queue_count;
    ++entry.dropped;
    return true;
  }
  return false;
}

u32 TenantAdmission::running_limit(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->running_limit;
}

u32 TenantAdmission::queue_limit(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->queue_limit;
}

u32 TenantAdmission::running(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->running;
}

u32 TenantAdmission::queued(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->queue_count;
}

u64 TenantAdmission::rejected(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->rejected;
}

u64 TenantAdmission::queued_total(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->queued_total;
}

u64 TenantAdmission::dropped(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->dropped;
}

void TenantAdmission::render(Buffer& output, u32 tenant) const {
  LockGuard guard(lock_);
  struct Family {
    const char* name;
    const char* help;
    const char* type;
  } const families[] = {
      {"metteagle_admission_queued", "Invocations waiting in their tenant's queue now.", "gauge"},
      {"metteagle_admission_queued_total", "Invocations that waited in their tenant's queue (key's queue=).",
       "counter"},
      {"metteagle_admission_rejected_total",
       "Invocations refused with 429: the tenant had its limit running and its queue full.", "counter"},
      {"metteagle_admission_dropped_total", "Queued invocations dropped with 503: they waited past the deadline.",
       "counter"},
  };
  for (usize family = 0; family < 4; ++family) {
    output.append("# HELP ");
    output.append(families[family].name);
    output.append(" ");
    output.append(families[family].help);
    output.append("\n# TYPE ");
    output.append(families[family].name);
    output.append(" ");
    output.append(families[family].type);
    output.append("\n");
    for (usize index = 0; index < count_; ++index) {
      const Entry& entry = entries_[index];
      if (tenant != 0xffffffff && entry.tenant != tenant) continue;
      output.append(families[family].name);
      output.append("{tenant=\"");
      output.append_unsigned(entry.tenant);
      output.append("\"} ");
      u64 value = family == 0 ? entry.queue_count : family == 1 ? entry.queued_total : family == 2 ? entry.rejected : entry.dropped;
      output.append_unsigned(value);
      output.append("\n");
    }
  }
}

}  // namespace gateway
