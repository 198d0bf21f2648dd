// TenantAdmission: per-tenant running limits and queues in front of the invocation threads and
// the control workers; see admission.hpp.
#include "admission.hpp"
#include "metrics.hpp"

namespace gateway {

namespace {

u32 at_most(u32 value, u32 limit) { return value < limit ? value : limit; }

}  // namespace

void TenantAdmission::configure(const TenantSlots& slots, const ApiKey* keys, usize key_count, usize capacity) {
  LockGuard guard(lock_);
  slots_ = &slots;
  count_ = slots.count();
  for (usize slot = 0; slot < count_; ++slot) entries_[slot] = Entry{};
  for (u32& slot : waiting_slot_) slot = 0;
  oldest_ = NONE;
  newest_ = NONE;
  capacity_ = static_cast<u32>(capacity);
  running_total_ = 0;
  idle_ = 0;
  turn_ = 0;
  work_ = Work::Invocations;
  for (usize index = 0; index < key_count; ++index) {
    u32 slot = slots.slot_of(keys[index].sub_tenant);
    // A key whose tenant has no slot gets no entry; of two keys naming one tenant, the first counts.
    if (slot >= count_ || entries_[slot].configured) continue;
    Entry& entry = entries_[slot];
    entry.configured = true;
    entry.tenant = keys[index].sub_tenant;
    entry.running_limit = at_most(keys[index].concurrency_limit, capacity_);
    entry.queue_limit = at_most(keys[index].queue_limit, static_cast<u32>(MAX_QUEUE));
    ++idle_;
  }
}

void TenantAdmission::configure_control(const TenantSlots& slots, const ApiKey* keys, usize key_count, usize capacity,
                                        u32 queue_limit) {
  configure(slots, keys, key_count, capacity);
  LockGuard guard(lock_);
  work_ = Work::Control;
  for (usize slot = 0; slot < count_; ++slot) {
    if (!entries_[slot].configured) continue;
    entries_[slot].running_limit = capacity_;
    entries_[slot].queue_limit = at_most(queue_limit, static_cast<u32>(MAX_QUEUE));
  }
}

TenantAdmission::Entry* TenantAdmission::find(u32 tenant) {
  u32 slot = slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant);
  // A slot given after configure() (or none at all) has no entry.
  if (slot >= count_) return nullptr;
  Entry& entry = entries_[slot];
  return entry.configured && entry.tenant == tenant ? &entry : nullptr;
}

const TenantAdmission::Entry* TenantAdmission::find(u32 tenant) const {
  return const_cast<TenantAdmission*>(this)->find(tenant);
}

void TenantAdmission::start(Entry& entry) {
  if (entry.running == 0) --idle_;
  ++entry.running;
  ++entry.admitted;
  ++running_total_;
}

bool TenantAdmission::may_start(const Entry& entry) const {
  if (entry.running >= entry.running_limit || running_total_ >= capacity_) return false;
  // A tenant's first request may take any free slot: the one kept for it.
  if (entry.running == 0) return true;
  // More only while a free slot stays for every other tenant with nothing running (idle_: this one
  // has something running), up to half the capacity: with many keys, keeping one for each would
  // hold every tenant to one or two.
  u32 kept = idle_ < capacity_ / 2 ? idle_ : capacity_ / 2;
  return capacity_ - running_total_ > kept;
}

u32 TenantAdmission::take_head(Entry& entry) {
  u32 connection = entry.queue_head;
  entry.queue_head = next_[connection];
  if (entry.queue_head == NONE) entry.queue_tail = NONE;
  --entry.queue_count;
  u32 older = older_[connection];
  u32 newer = newer_[connection];
  if (older == NONE) oldest_ = newer;
  else newer_[older] = newer;
  if (newer == NONE) newest_ = older;
  else older_[newer] = older;
  waiting_slot_[connection] = 0;
  return connection;
}

TenantAdmission::Decision TenantAdmission::arrive(u32 tenant, u32 connection, u64 now) {
  LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry == nullptr) return Decision::Rejected;
  // The queues link connections: one outside the table, or already waiting (main.cpp never sends
  // one), would break them.
  if (connection >= MAX_CONNECTION_LIMIT || waiting_slot_[connection] != 0) {
    ++entry->rejected;
    return Decision::Rejected;
  }
  // Behind its own queue: a tenant's requests start in arrival order.
  if (entry->queue_count == 0 && may_start(*entry)) {
    start(*entry);
    return Decision::Run;
  }
  if (entry->queue_count < entry->queue_limit) {
    next_[connection] = NONE;
    if (entry->queue_tail == NONE) entry->queue_head = connection;
    else next_[entry->queue_tail] = connection;
    entry->queue_tail = connection;
    older_[connection] = newest_;
    newer_[connection] = NONE;
    if (newest_ == NONE) oldest_ = connection;
    else newer_[newest_] = connection;
    newest_ = connection;
    waiting_slot_[connection] = static_cast<u32>(entry - entries_) + 1;
    since_[connection] = now;
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
  if (entry->running == 0) ++idle_;
}

bool TenantAdmission::next(u32& connection) {
  LockGuard guard(lock_);
  // Nothing waits, or every thread is taken: no tenant may start one (may_start() would say so for
  // each), so the slots need no look.
  if (oldest_ == NONE || running_total_ >= capacity_) return false;
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
    // Nobody has fewer than none running, and later ones in turn would need fewer to win.
    if (entry.running == 0) break;
  }
  if (chosen == nullptr) return false;
  connection = take_head(*chosen);
  start(*chosen);
  turn_ = (chosen_index + 1) % count_;
  return true;
}

bool TenantAdmission::expired(u64 deadline, u32& connection, u32& tenant) {
  LockGuard guard(lock_);
  // Requests arrive in time order, so only the oldest of all can be the first past the deadline.
  if (oldest_ == NONE || since_[oldest_] > deadline) return false;
  // The oldest of all is the oldest of its tenant: the head of its tenant's queue.
  Entry& entry = entries_[waiting_slot_[oldest_] - 1];
  connection = take_head(entry);
  tenant = entry.tenant;
  ++entry.dropped;
  return true;
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

bool TenantAdmission::render(Buffer& output, u32 tenant, RowCursor& rows, usize budget) const {
  LockGuard guard(lock_);
  bool control = work_ == Work::Control;
  const Family* families = control ? CONTROL_FAMILIES : INVOCATION_FAMILIES;
  usize family_count = control ? sizeof CONTROL_FAMILIES / sizeof CONTROL_FAMILIES[0]
                                : sizeof INVOCATION_FAMILIES / sizeof INVOCATION_FAMILIES[0];
  bool all = tenant == 0xffffffff;
  auto head = [&](usize family) { gateway::family(output, families[family].name, families[family].type, families[family].help); };
  // A tenant's own page: its one entry; the operator's: every entry in slot order (the key file's).
  auto row = [&](usize family, usize slot) {
    const Entry* entry = all ? &entries_[slot] : find(tenant);
    if (entry != nullptr && entry->configured)
      tenant_sample(output, families[family].name, entry->tenant, figure(*entry, families[family].figure));
  };
  return rows.render(output, budget, family_count, all ? count_ : 1, head, row);
}

}  // namespace gateway
