// ConcurrencyLimits: the per-tenant in-flight counts behind 429 Too Many Requests.
#include "limits.hpp"

namespace gateway {

void ConcurrencyLimits::configure(const ApiKey* keys, usize key_count) {
  LockGuard guard(lock_);
  count_ = 0;
  for (usize index = 0; index < key_count && count_ < MAX_TENANTS; ++index)
    entries_[count_++] = Entry{keys[index].sub_tenant, keys[index].concurrency_limit, 0, 0};
}

const ConcurrencyLimits::Entry* ConcurrencyLimits::find(u32 tenant) const {
  for (usize index = 0; index < count_; ++index)
    if (entries_[index].tenant == tenant) return &entries_[index];
  return nullptr;
}

ConcurrencyLimits::Entry* ConcurrencyLimits::find(u32 tenant) {
  for (usize index = 0; index < count_; ++index)
    if (entries_[index].tenant == tenant) return &entries_[index];
  return nullptr;
}

bool ConcurrencyLimits::try_enter(u32 tenant) {
  LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry == nullptr) return true;
  if (entry->in_flight >= entry->limit) {
    ++entry->rejected;
    return false;
  }
  ++entry->in_flight;
  return true;
}

void ConcurrencyLimits::leave(u32 tenant) {
  LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry != nullptr && entry->in_flight > 0) --entry->in_flight;
}

void ConcurrencyLimits::count_rejection(u32 tenant) {
  LockGuard guard(lock_);
  Entry* entry = find(tenant);
  if (entry != nullptr) ++entry->rejected;
}

u32 ConcurrencyLimits::limit(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->limit;
}

u32 ConcurrencyLimits::in_flight(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->in_flight;
}

u64 ConcurrencyLimits::rejected(u32 tenant) const {
  LockGuard guard(lock_);
  const Entry* entry = find(tenant);
  return entry == nullptr ? 0 : entry->rejected;
}

void ConcurrencyLimits::render(Buffer& output, u32 tenant) const {
  LockGuard guard(lock_);
  struct Family {
    const char* name;
    const char* help;
    const char* type;
  } const families[] = {
      {"metteagle_invocations_in_flight", "Invocations running now, by tenant.", "gauge"},
      {"metteagle_concurrency_limit", "Invocations a tenant may have in flight at once (its key's limit=).", "gauge"},
      {"metteagle_rejected_total", "Invocations refused with 429: the tenant was at its concurrency limit.",
       "counter"},
  };
  for (usize family = 0; family < 3; ++family) {
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
      output.append_unsigned(family == 0 ? entry.in_flight : family == 1 ? entry.limit : entry.rejected);
      output.append("\n");
    }
  }
}

}  // namespace gateway
