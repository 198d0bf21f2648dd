// The function registry, the shared executables, the tenants' accounts and the pool; see
// registry.hpp.
#include "registry.hpp"

#include <new>

#include "service.hpp"

namespace manager {
namespace {

bool same_name(const char* a, const char* b) {
  for (usize i = 0; i < NAME_BYTES; ++i) {
    if (a[i] != b[i]) return false;
    if (a[i] == '\0') return true;
  }
  return true;
}

// FNV-1a over the tenant and the name (up to its NUL).
u64 hash_of(u64 tenant, const char* name) {
  u64 hash = 0xcbf29ce484222325ull;
  for (usize i = 0; i < 8; ++i) hash = (hash ^ ((tenant >> (8 * i)) & 0xff)) * 0x100000001b3ull;
  for (usize i = 0; i < NAME_BYTES && name != nullptr && name[i] != '\0'; ++i)
    hash = (hash ^ static_cast<u8>(name[i])) * 0x100000001b3ull;
  return hash;
}

// What a function's record costs its tenant's storage (and the pool): what the arena takes for it.
static_assert(sizeof(Function) <= FUNCTION_RECORD_BYTES, "a function's record fits what it is charged");
u64 record_cost() { return FUNCTION_RECORD_BYTES; }

}  // namespace

void Registry::configure(u64 arena_base, u64 arena_span, const ShareLimits& limits, u64 pool_bytes) {
  arena_.configure(arena_base, arena_span);
  limits_ = limits;
  pool_ = pool_bytes;
}

Function* Registry::find(u64 tenant, const char* name) {
  return functions_index_.find(hash_of(tenant, name), [&](const Function& function) {
    return function.tenant == tenant && same_name(function.name, name);
  });
}

u64 Registry::function_quota(const TenantAccount& account) const {
  u64 quota = limits_.functions;
  return account.quota_functions != 0 && account.quota_functions < quota ? account.quota_functions : quota;
}

u64 Registry::storage_quota(const TenantAccount& account) const {
  u64 quota = limits_.storage_bytes;
  return account.quota_storage != 0 && account.quota_storage < quota ? account.quota_storage : quota;
}

Status Registry::charge_storage(TenantAccount& account, u64 bytes, u64& detail) {
  u64 quota = storage_quota(account);
  if (account.storage_in_use > quota || bytes > quota - account.storage_in_use) {
    detail = quota;
    return STATUS_STORAGE_EXCEEDED;
  }
  if (reserved_ + stored_ > pool_ || bytes > pool_ - reserved_ - stored_) {
    detail = pool_;
    return STATUS_NO_CAPACITY;
  }
  account.storage_in_use += bytes;
  stored_ += bytes;
  return STATUS_OK;
}

void Registry::refund_storage(u64 tenant, u64 bytes) {
  stored_ -= bytes;
  if (TenantAccount* owner = account(tenant)) owner->storage_in_use -= bytes;
}

Status Registry::create(TenantAccount& account, const char* name, u64 executable_cost, u64 strings_cost,
                        Function*& created, u64& detail) {
  if (account.functions >= function_quota(account)) {
    detail = function_quota(account);
    return STATUS_TENANT_FUNCTION_LIMIT;
  }
  Status charged = charge_storage(account, record_cost() + executable_cost + strings_cost, detail);
  if (charged != STATUS_OK) return charged;
  void* memory = arena_.allocate(sizeof(Function));
  void* executable_memory = executable_cost == 0 ? nullptr : arena_.allocate(sizeof(Executable));
  if (memory == nullptr || (executable_cost != 0 && executable_memory == nullptr)) {
    arena_.free(memory, sizeof(Function));
    arena_.free(executable_memory, sizeof(Executable));
    refund_storage(account.tenant, record_cost() + executable_cost + strings_cost);
    detail = 0;
    return STATUS_NO_CAPACITY;
  }
  auto* function = new (memory) Function();
  function->tenant = account.tenant;
  for (usize i = 0; i < NAME_BYTES; ++i) function->name[i] = name[i];
  function->hash = hash_of(account.tenant, name);
  function->strings_cost = strings_cost;
  if (executable_memory != nullptr) {
    auto* executable = new (executable_memory) Executable();
    executable->references = 1;
    executable->cost = executable_cost;
    executable->tenant = account.tenant;
    function->executable = executable;
  }
  count_function(account, true);
  created = function;
  return STATUS_OK;
}

void Registry::share_executable(Function& function, Function& source) {
  function.executable = source.executable;
  function.image = source.image;
  ++source.executable->references;
}

bool Registry::publish(Function& function) {
  if (!functions_index_.insert(arena_, function)) return false;
  TenantAccount* owner = account(function.tenant);  // Open: the function counts in it.
  function.previous_of_tenant = owner->last_function;
  function.next_of_tenant = nullptr;
  if (owner->last_function != nullptr) owner->last_function->next_of_tenant = &function;
  else owner->first_function = &function;
  owner->last_function = &function;
  ++owner->live_functions;
  function.live = true;
  return true;
}

void Registry::withdraw(Function& function) {
  if (!function.live) return;
  functions_index_.remove(function);
  TenantAccount* owner = account(function.tenant);
  if (function.previous_of_tenant != nullptr) function.previous_of_tenant->next_of_tenant = function.next_of_tenant;
  else if (owner != nullptr) owner->first_function = function.next_of_tenant;
  if (function.next_of_tenant != nullptr) function.next_of_tenant->previous_of_tenant = function.previous_of_tenant;
  else if (owner != nullptr) owner->last_function = function.previous_of_tenant;
  function.previous_of_tenant = function.next_of_tenant = nullptr;
  if (owner != nullptr) --owner->live_functions;
  function.live = false;
}

void Registry::retire(Function& function) {
  withdraw(function);
  if (TenantAccount* owner = account(function.tenant)) count_function(*owner, false);
  if (function.users > 0) function.removed = true;  // The last invocation frees it.
  else release(function);
}

bool Registry::replace(Function& old, Function& replacement) {
  // The counts go on across versions (OpenFaaS's invocationCount is the function's, not a version's).
  replacement.invocations = old.invocations;
  replacement.failures = old.failures;
  retire(old);
  return publish(replacement);
}

void Registry::release(Function& function) {
  Executable* executable = function.executable;
  u64 tenant = function.tenant;
  if (executable != nullptr && --executable->references == 0) {
    if (executable->memory != 0) {
      // A tree the store shares is its own slot too: removing it ends our copy of the capability.
      (void)sys::Capability(executable->memory).remove();
      free_global_slot(executable->memory);
    }
    if (executable->store_handle != 0) queue_store_close(executable->store_handle);
    u64 cost = executable->cost;
    arena_.free(executable, sizeof(Executable));
    refund_storage(tenant, cost);
  }
  if (function.strings != 0) {
    (void)sys::Capability(function.strings).remove();
    free_global_slot(function.strings);
  }
  u64 strings_cost = function.strings_cost;
  function.~Function();
  arena_.free(&function, sizeof(Function));
  refund_storage(tenant, record_cost() + strings_cost);
  if (TenantAccount* owner = account(tenant)) close_if_idle(*owner);
}

Function* Registry::first_function(u64 tenant) {
  TenantAccount* owner = account(tenant);
  return owner == nullptr ? nullptr : owner->first_function;
}

TenantAccount* Registry::account(u64 tenant) {
  return accounts_.find(hash_of(tenant, nullptr), [&](const TenantAccount& account) { return account.tenant == tenant; });
}

TenantAccount* Registry::open_account(u64 tenant) {
  if (TenantAccount* existing = account(tenant)) return existing;
  if (accounts_.count() >= limits_.tenants) return nullptr;
  void* memory = arena_.allocate(sizeof(TenantAccount));
  if (memory == nullptr) return nullptr;
  auto* account = new (memory) TenantAccount();
  account->tenant = tenant;
  account->hash = hash_of(tenant, nullptr);
  if (!accounts_.insert(arena_, *account)) {
    arena_.free(account, sizeof(TenantAccount));
    return nullptr;
  }
  return account;
}

void Registry::close_if_idle(TenantAccount& account) {
  if (!account.idle()) return;
  accounts_.remove(account);
  arena_.free(&account, sizeof(TenantAccount));
}

Status Registry::begin_invocation(u64 tenant, u64 memory_bytes, bool top_level) {
  TenantAccount* owner = account(tenant);
  // A tenant with a function found has an account; none means the function was just removed.
  if (owner == nullptr) return STATUS_NOT_FOUND;
  u64 cost = memory_bytes + INVOCATION_OVERHEAD_BYTES;
  // The tenant's own quota first: over it, only this tenant waits for its own invocations.
  if (cost > memory_quota() - owner->memory_in_use) return STATUS_TENANT_BUSY;
  if (top_level && owner->invocations >= limits_.invocations) return STATUS_TENANT_BUSY;
  // Then the pool: what every tenant's running invocations and stored functions hold.
  if (reserved_ + stored_ > pool_ || cost > pool_ - reserved_ - stored_) return STATUS_NO_CAPACITY;
  reserved_ += cost;
  owner->memory_in_use += cost;
  if (top_level) ++owner->invocations;
  ++owner->running;
  ++running_;
  return STATUS_OK;
}

void Registry::end_invocation(u64 tenant, u64 memory_bytes, bool top_level) {
  TenantAccount* owner = account(tenant);
  if (owner == nullptr) return;  // Cannot happen: a running invocation keeps its account open.
  u64 cost = memory_bytes + INVOCATION_OVERHEAD_BYTES;
  reserved_ -= cost;
  owner->memory_in_use -= cost;
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
