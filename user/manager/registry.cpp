// The function registry and the tenants' accounts; see registry.hpp.
#include "registry.hpp"

namespace manager {
namespace {
bool same_name(const char* a, const char* b) {
  for (usize i = 0; i < NAME_BYTES; ++i) {
    if (a[i] != b[i]) return false;
    if (a[i] == '\0') return true;
  }
  return true;
}
}  // namespace

void Registry::configure(Function* table, usize capacity, const ShareLimits& limits, u64 max_tenants) {
  table_ = table;
  capacity_ = capacity;
  limits_ = limits;
  max_tenants_ = max_tenants < MAX_TENANT_ACCOUNTS ? max_tenants : MAX_TENANT_ACCOUNTS;
}

Function* Registry::find(u64 tenant, const char* name) {
  for (usize index = 0; index < capacity_; ++index) {
    Function& function = table_[index];
    if (function.live && function.tenant == tenant && same_name(function.name, name)) return &function;
  }
  return nullptr;
}

Function* Registry::reserve() {
  for (usize index = 0; index < capacity_; ++index) {
    Function& function = table_[index];
    if (!function.live && function.users == 0 && !function.removed && !function.reserved) return &function;
  }
  return nullptr;
}

TenantAccount* Registry::account(u64 tenant) {
  for (TenantAccount& account : accounts_)
    if (account.used && account.tenant == tenant) return &account;
  return nullptr;
}

TenantAccount* Registry::open_account(u64 tenant) {
  if (TenantAccount* existing = account(tenant)) return existing;
  if (tenants_ >= max_tenants_) return nullptr;
  for (TenantAccount& account : accounts_) {
    if (account.used) continue;
    account = TenantAccount{};
    account.used = true;
    account.tenant = tenant;
    ++tenants_;
    return &account;
  }
  return nullptr;
}

void Registry::close_if_idle(TenantAccount& account) {
  if (!account.used || !account.idle()) return;
  account.used = false;
  --tenants_;
}

Status Registry::begin_invocation(u64 tenant, u64 memory_bytes, bool top_level) {
  TenantAccount* owner = account(tenant);
  // A tenant with a function found has an account; none means the function was just removed.
  if (owner == nullptr) return STATUS_NOT_FOUND;
  u64 cost = memory_bytes + INVOCATION_OVERHEAD_BYTES;
  if (cost > limits_.memory_bytes - owner->memory_in_use) return STATUS_TENANT_BUSY;
  if (top_level && owner->invocations >= limits_.invocations) return STATUS_TENANT_BUSY;
  owner->memory_in_use += cost;
  if (top_level) ++owner->invocations;
  ++owner->running;
  ++running_;
  return STATUS_OK;
}

void Registry::end_invocation(u64 tenant, u64 memory_bytes, bool top_level) {
  TenantAccount* owner = account(tenant);
  if (owner == nullptr) return;  // Cannot happen: a running invocation keeps its account open.
  owner->memory_in_use -= memory_bytes + INVOCATION_OVERHEAD_BYTES;
  if (top_level) --owner->invocations;
  --owner->running;
  --running_;
  close_if_idle(*owner);
}

void Registry::count_function(TenantAccount& account, bool added) {
  if (added) {
    ++account.functions;
    ++functions_;
  } else {
    --account.functions;
    --functions_;
  }
}

}  // namespace manager
