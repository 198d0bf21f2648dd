// TenantAdmission: per-tenant running limits and queues in front of the invocation threads and
// the control workers; see admission.hpp.
#include "admission.hpp"
#include "metrics.hpp"

namespace gateway {

namespace {

u32 at_most(u32 value, u32 limit) { return value < limit ? value : limit; }

}  // namespace

void TenantAdmission::configure(const ApiKey* keys, usize key_count, usize capacity) {
  LockGuard guard(lock_);
  count_ = 0;
  capacity_ = static_cast<u32>(capacity);
  running_total_ = 0;
  turn_ = 0;
  work_ = Work::Invocations;
  for (usize index = 0; index < key_count && count_ < MAX_TENANTS; ++index) {
    Entry& entry = entries_[count_++];
    entry = Entry{};
    entry.tenant = keys[index].sub_tenant;
    entry.running_limit = at_most(keys[index].concurrency_limit, capacity_);
    entry.queue_limit = at_most(keys[index].queue_limit, static_cast<u32>(MAX_QUEUE));
  }
}

void TenantAdmission::configure_control(const ApiKey* keys, usize key_count, usize capacity, u32 queue_limit) {
  configure(keys, key_count, capacity);
  LockGuard guard(lock_);
  work_ = Work::Control;
  for (usize index = 0; index < count_; ++index) {
    entries_[index].running_limit = capacity_;
    entries_[index].queue_limit = at_most(queue_limit, static_cast<u32>(MAX_QUEUE));
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

void TenantAdmission::start(Entry& entry) {
  ++entry.running;
  ++entry.admitted;
  ++running_total_;
}

bool TenantAdmission::may_start(const Entry& entry) const {
  if (entry.running >= entry.running_limit || running_total_ >= capacity_) return false;
  // A tenant's first request may take any free slot: the one kept for it.
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
  // Behind its own queue: a tenant's requests start in arrival order.
  if (entry->queue_count == 0 && may_start(*entry)) {
    start(*entry);
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
  start(*chosen);
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

u32 TenantAdmission::running_total() const {
  LockGuard guard(lock_);
  return running_total_;
}

namespace {

using Figure = TenantAdmission::Figure;

// One per-tenant series of /metrics: its name, help, type, and the figure it shows.
struct Family {
  const char* name;
  const char* help;
  const char* type;
  Figure figure;
};

// Invocations: the names /metrics has always had (metteagle_rejected_total is the one 429 counter
// of invocations, whatever refused them).
constexpr Family INVOCATION_FAMILIES[] = {
    {"metteagle_invocations_in_flight", "Invocations running now, by tenant.", "gauge", Figure::Running},
    {"metteagle_concurrency_limit",
     "Invocations a tenant may run at once (its key's limit=, at most the gateway's invocation threads).", "gauge",
     Figure::RunningLimit},
    {"metteagle_rejected_total",
     "Invocations refused with 429: the tenant had its limit running and its queue (key's queue=) full.", "counter",
     Figure::Rejected},
    {"metteagle_admission_queued", "Invocations waiting in their tenant's queue now.", "gauge", Figure::Waiting},
    {"metteagle_admission_queued_total", "Invocations that waited in their tenant's queue (key's queue=).", "counter",
     Figure::QueuedTotal},
    {"metteagle_admission_dropped_total", "Queued invocations dropped with 503: they waited past the deadline.",
     "counter", Figure::Dropped},
};

// Control requests: everything the 4 workers answer (deploys, listings, describes, image pushes,
// secrets, logs, /metrics).
constexpr Family CONTROL_FAMILIES[] = {
    {"metteagle_control_running", "Control requests (all but invocations and /healthz) on a worker now, by tenant.",
     "gauge", Figure::Running},
    {"metteagle_control_waiting", "Control requests waiting in their tenant's queue for a worker now.", "gauge",
     Figure::Waiting},
    {"metteagle_control_admitted_total", "Control requests handed to a worker, at once or from the queue.", "counter",
     Figure::Admitted},
    {"metteagle_control_queued_total", "Control requests that waited in their tenant's queue.", "counter",
     Figure::QueuedTotal},
    {"metteagle_control_rejected_total", "Control requests refused with 429: the tenant's queue was full.", "counter",
     Figure::Rejected},
    {"metteagle_control_timed_out_total", "Queued control requests dropped with 503: they waited past the deadline.",
     "counter", Figure::Dropped},
};

}  // namespace

u64 TenantAdmission::figure(const Entry& entry, Figure which) {
  switch (which) {
    case Figure::Running: return entry.running;
    case Figure::RunningLimit: return entry.running_limit;
    case Figure::QueueLimit: return entry.queue_limit;
    case Figure::Rejected: return entry.rejected;
    case Figure::Waiting: return entry.queue_count;
    case Figure::QueuedTotal: return entry.queued_total;
    case Figure::Dropped: return entry.dropped;
    case Figure::Admitted: return entry.admitted;
  }
  return 0;
}

u64 TenantAdmission::read(u32 tenant, Figure which) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : figure(*entry, which);
}

// Limits and counts below 2^32 (configure() and the queues bound them) come back as u32.
u32 TenantAdmission::running_limit(u32 tenant) const { return static_cast<u32>(read(tenant, Figure::RunningLimit)); }
u32 TenantAdmission::queue_limit(u32 tenant) const { return static_cast<u32>(read(tenant, Figure::QueueLimit)); }
u32 TenantAdmission::running(u32 tenant) const { return static_cast<u32>(read(tenant, Figure::Running)); }
u32 TenantAdmission::queued(u32 tenant) const { return static_cast<u32>(read(tenant, Figure::Waiting)); }
u64 TenantAdmission::rejected(u32 tenant) const { return read(tenant, Figure::Rejected); }
u64 TenantAdmission::queued_total(u32 tenant) const { return read(tenant, Figure::QueuedTotal); }
u64 TenantAdmission::dropped(u32 tenant) const { return read(tenant, Figure::Dropped); }
u64 TenantAdmission::admitted(u32 tenant) const { return read(tenant, Figure::Admitted); }

void TenantAdmission::render(Buffer& output, u32 tenant) const {
  LockGuard guard(lock_);
  bool control = work_ == Work::Control;
  const Family* families = control ? CONTROL_FAMILIES : INVOCATION_FAMILIES;
  usize family_count = control ? sizeof CONTROL_FAMILIES / sizeof CONTROL_FAMILIES[0]
                                : sizeof INVOCATION_FAMILIES / sizeof INVOCATION_FAMILIES[0];
  for (usize family = 0; family < family_count; ++family) {
    const Family& series = families[family];
    gateway::family(output, series.name, series.type, series.help);
    for (usize index = 0; index < count_; ++index) {
      const Entry& entry = entries_[index];
      if (tenant != 0xffffffff && entry.tenant != tenant) continue;
      tenant_sample(output, series.name, entry.tenant, figure(entry, series.figure));
    }
  }
}

}  // namespace gateway
