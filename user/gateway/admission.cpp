// TenantAdmission: per-tenant running limits and queues in front of the invocation threads; see
// admission.hpp.
#include "admission.hpp"

namespace gateway {

void TenantAdmission::configure(const ApiKey* keys, usize key_count, usize capacity) {
  LockGuard guard(lock_);
  count_ = 0;
  capacity_ = static_cast<u32>(capacity);
  running_total_ = 0;
  turn_ = 0;
  for (usize index = 0; index < key_count && count_ < MAX_TENANTS; ++index) {
    Entry& entry = entries_[count_++];
    entry = Entry{};
    entry.tenant = keys[index].sub_tenant;
    entry.running_limit = keys[index].concurrency_limit < capacity_ ? keys[index].concurrency_limit : capacity_;
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

bool TenantAdmission::may_start(const Entry& entry) const {
  if (entry.running >= entry.running_limit || running_total_ >= capacity_) return false;
  // A tenant's first invocation may take any free slot: the one kept for it.
  if (entry.running == 0) return true;
  // More only while a free slot stays for every other tenant with nothing running, up to half
  // the capacity: with many keys, keeping one for each would hold every tenant to one or two.
  u32 idle = 0;
  for (usize index = 0; index < count_; ++index)
    if (&entries_[index] != &entry && entries_[index].running == 0) ++idle;
  u32 kept = idle < capacity_ / 2 ? idle : capacity_ / 2;
  return capacity_ - running_total_ > kept;
}

TenantAdmission::Decision TenantAdmission::arrive(u32 tenant, u32 connection, u64 now) {
  LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry == nullptr) return Decision::Rejected;
  // Behind its own queue: a tenant's invocations start in arrival order.
  if (entry->queue_count == 0 && may_start(*entry)) {
    ++entry->running;
    ++running_total_;
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

void TenantAdmission::finish(u32 tenant) {
  LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry == nullptr || entry->running == 0) return;
  --entry->running;
  --running_total_;
}

bool TenantAdmission::next(u32& connection) {
  LockGuard guard(lock_);
  // The tenant with the fewest running goes first; among equals, the next in turn.
  Entry* chosen = nullptr;
  usize chosen_index = 0;
  for (usize step = 0; step < count_; ++step) {
    usize index = (turn_ + step) % count_;
    Entry& entry = entries_[index];
    if (entry.queue_count == 0 || !may_start(entry)) continue;
    if (chosen != nullptr && entry.running >= chosen->running) continue;
    chosen = &entry;
    chosen_index = index;
  }
  if (chosen == nullptr) return false;
  connection = chosen->queue[chosen->queue_head];
  chosen->queue_head = (chosen->queue_head + 1) % MAX_QUEUE;
  --chosen->queue_count;
  ++chosen->running;
  ++running_total_;
  turn_ = (chosen_index + 1) % count_;
  return true;
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

template <typename Field>
u64 TenantAdmission::read(u32 tenant, Field field) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : field(*entry);
}

// Limits and counts below 2^32 (configure() and the queues bound them) come back as u32.
u32 TenantAdmission::running_limit(u32 tenant) const {
  return static_cast<u32>(read(tenant, [](const Entry& entry) { return entry.running_limit; }));
}
u32 TenantAdmission::queue_limit(u32 tenant) const {
  return static_cast<u32>(read(tenant, [](const Entry& entry) { return entry.queue_limit; }));
}
u32 TenantAdmission::running(u32 tenant) const {
  return static_cast<u32>(read(tenant, [](const Entry& entry) { return entry.running; }));
}
u32 TenantAdmission::queued(u32 tenant) const {
  return static_cast<u32>(read(tenant, [](const Entry& entry) { return entry.queue_count; }));
}
u64 TenantAdmission::rejected(u32 tenant) const {
  return read(tenant, [](const Entry& entry) { return entry.rejected; });
}
u64 TenantAdmission::queued_total(u32 tenant) const {
  return read(tenant, [](const Entry& entry) { return entry.queued_total; });
}
u64 TenantAdmission::dropped(u32 tenant) const {
  return read(tenant, [](const Entry& entry) { return entry.dropped; });
}

u32 TenantAdmission::running_total() const {
  LockGuard guard(lock_);
  return running_total_;
}

void TenantAdmission::render(Buffer& output, u32 tenant) const {
  LockGuard guard(lock_);
  struct Family {
    const char* name;
    const char* help;
    const char* type;
  } const families[] = {
      {"metteagle_invocations_in_flight", "Invocations running now, by tenant.", "gauge"},
      {"metteagle_concurrency_limit",
       "Invocations a tenant may run at once (its key's limit=, at most the gateway's invocation threads).", "gauge"},
      {"metteagle_rejected_total",
       "Invocations refused with 429: the tenant had its limit running and its queue (key's queue=) full.",
       "counter"},
      {"metteagle_admission_queued", "Invocations waiting in their tenant's queue now.", "gauge"},
      {"metteagle_admission_queued_total", "Invocations that waited in their tenant's queue (key's queue=).",
       "counter"},
      {"metteagle_admission_dropped_total", "Queued invocations dropped with 503: they waited past the deadline.",
       "counter"},
  };
  constexpr usize FAMILIES = sizeof families / sizeof families[0];
  for (usize family = 0; family < FAMILIES; ++family) {
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
      const u64 values[FAMILIES] = {entry.running,     entry.running_limit,  entry.rejected,
                                    entry.queue_count, entry.queued_total, entry.dropped};
      output.append(families[family].name);
      output.append("{tenant=\"");
      output.append_unsigned(entry.tenant);
      output.append("\"} ");
      output.append_unsigned(values[family]);
      output.append("\n");
    }
  }
}

}  // namespace gateway
