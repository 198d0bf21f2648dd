// SET_TENANT_QUOTA: a client lowers its own tenant's quotas (a front door gives each API key its
// own function and storage quota). Invariant: a quota is only ever lowered below the manager's
// configuration, never raised above it; only the caller's own tenant (its badge and sub-tenant)
// is touched, and only when it already has an account.
#include "service.hpp"

namespace manager {

void handle_set_tenant_quota(Worker&, sys::Message& request, sys::Message& answer) {
  if (!sys::carries<TenantQuotaRequest>(request)) {
    answer = sys::Message::make(STATUS_BAD_REQUEST);
    return;
  }
  TenantQuotaRequest quota;
  sys::get(request, quota);
  LockGuard guard(manager_state().registry.lock());
  // Only a tenant the manager holds an account for: a quota never makes one (so no client can fill
  // the accounts with quotas alone), and it goes with the account when nothing of the tenant is
  // left. A tenant's first function is made before its quota can be set, which every quota of at
  // least one function allows; its client sends the quota again before each later deploy.
  TenantAccount* account = manager_state().registry.account(request.badge);
  if (account != nullptr) {
    // Stored as asked; function_quota() and storage_quota() take the lower of it and the manager's.
    account->quota_functions = quota.functions;
    account->quota_storage = quota.storage_bytes;
  }
  answer = sys::Message::make(STATUS_OK);
}

}  // namespace manager
