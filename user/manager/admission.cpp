// SET_TENANT_QUOTA: a client lowers its own tenant's quotas (a front door gives each API key its
// own function and storage quota). Invariant: a quota is only ever lowered below the manager's
// configuration, never raised above it, and only the caller's own tenant (its badge and
// sub-tenant) is touched.
#include "service.hpp"

namespace manager {

void handle_set_tenant_quota(Worker&, sys::Message& request, sys::Message& answer) {
  if (request.word_count() < 2) {
    answer = sys::Message::make(STATUS_BAD_REQUEST);
    return;
  }
  u64 functions = request.words[0];
  u64 storage = request.words[1];
  LockGuard guard(manager_state().registry.lock());
  Registry& registry = manager_state().registry;
  TenantAccount* account = registry.account(request.badge);
  // Nothing to remember for a tenant without an account that asks for the manager's own values.
  if (account == nullptr && functions == 0 && storage == 0) {
    answer = sys::Message::make(STATUS_OK);
    return;
  }
  if (account == nullptr) account = registry.open_account(request.badge);
  if (account == nullptr) {
    answer = sys::Message::make(STATUS_NO_TENANT_SHARE, {registry.limits().tenants});
    return;
  }
  // Stored as asked; function_quota() and storage_quota() take the lower of it and the manager's.
  account->quota_functions = functions;
  account->quota_storage = storage;
  registry.close_if_idle(*account);
  answer = sys::Message::make(STATUS_OK);
}

}  // namespace manager
