// FunctionTable's accounts: tenants' quotas, their shares of the gateway's bound, and the hash.
#include "function_table.hpp"

namespace gateway {

usize function_bound(u64 factory_bytes, usize bytes_per_function) {
  if (bytes_per_function == 0) return 0;
  u64 functions = factory_bytes / FUNCTION_TABLE_SHARE_DIVISOR / bytes_per_function;
  return functions < MAX_FUNCTION_ENTRIES ? static_cast<usize>(functions) : MAX_FUNCTION_ENTRIES;
}

void TableAccounts::set_quota(u32 tenant, u64 quota) {
  TableTenant* entry = account(tenant);
  if (entry != nullptr) entry->quota = quota == 0 ? MANAGER_FUNCTION_QUOTA : quota;
  shares_stale_ = true;
}

void TableAccounts::set_bound(usize bound) {
  bound_ = bound;
  shares_stale_ = true;
}

usize TableAccounts::count(u32 tenant) const {
  const TableTenant* entry = account(tenant);
  return entry == nullptr ? 0 : entry->count;
}

void TableAccounts::count_refusal(u32 tenant) {
  TableTenant* entry = account(tenant);
  if (entry != nullptr) ++entry->refused;
}

u64 TableAccounts::refused(u32 tenant) const {
  const TableTenant* entry = account(tenant);
  return entry == nullptr ? 0 : entry->refused;
}

usize TableAccounts::limit(u32 tenant) const {
  const TableTenant* entry = account(tenant);
  if (entry == nullptr) {
    TableTenant fresh;  // What a tenant not held yet would get.
    fresh.used = true;
    fresh.tenant = tenant;
    return static_cast<usize>(fill_shares(&fresh));
  }
  if (shares_stale_) {
    fill_shares(nullptr);
    shares_stale_ = false;
  }
  return static_cast<usize>(entry->share);
}

// Each tenant's quota, or, when the quotas of all tenants add up to more than the bound, its
// share of the bound by water-filling: in order of quota (then tenant), each tenant gets the
// smaller of its quota and an equal part of what the tenants before it left, so a tenant whose
// quota is below an equal share keeps all of it and the others divide the rest equally (the
// rounding's remainder to the last); the shares never add up to more than the bound. `extra`
// (not held) is placed among them at index tenant_count_ and only its share is returned.
u64 TableAccounts::fill_shares(const TableTenant* extra) const {
  usize count = tenant_count_ + (extra != nullptr ? 1 : 0);
  auto at = [&](usize index) -> const TableTenant& { return index == tenant_count_ ? *extra : tenants_[index]; };
  u64 sum = 0;
  for (usize index = 0; index < count; ++index) sum += at(index).quota;
  if (sum <= bound_) {
    for (usize index = 0; index < tenant_count_; ++index) tenants_[index].share = tenants_[index].quota;
    return extra != nullptr ? extra->quota : 0;
  }
  auto before = [&](u16 left, u16 right) {
    const TableTenant& a = at(left);
    const TableTenant& b = at(right);
    return a.quota < b.quota || (a.quota == b.quota && a.tenant < b.tenant);
  };
  // Heapsort of the indexes by (quota, tenant).
  for (usize index = 0; index < count; ++index) order_[index] = static_cast<u16>(index);
  auto sift = [&](usize root, usize end) {
    while (2 * root + 1 < end) {
      usize child = 2 * root + 1;
      if (child + 1 < end && before(order_[child], order_[child + 1])) ++child;
      if (!before(order_[root], order_[child])) return;
      u16 swap = order_[root];
      order_[root] = order_[child];
      order_[child] = swap;
      root = child;
    }
  };
  for (usize root = count / 2; root-- > 0;) sift(root, count);
  for (usize end = count; end > 1; --end) {
    u16 swap = order_[0];
    order_[0] = order_[end - 1];
    order_[end - 1] = swap;
    sift(0, end - 1);
  }
  u64 left = bound_;
  u64 extra_share = 0;
  for (usize rank = 0; rank < count; ++rank) {
    u64 part = rank + 1 == count ? left : left / (count - rank);
    const TableTenant& entry = at(order_[rank]);
    u64 given = entry.quota < part ? entry.quota : part;
    if (order_[rank] == tenant_count_) extra_share = given;
    else if (extra == nullptr) tenants_[order_[rank]].share = given;
    left -= given;
  }
  return extra_share;
}

TableTenant* TableAccounts::account(u32 tenant) {
  if (tenant > MAX_SUB_TENANT) return nullptr;
  if (by_tenant_[tenant] != 0) return &tenants_[by_tenant_[tenant] - 1];
  if (tenant_count_ == MAX_TENANT_SLOTS) return nullptr;
  TableTenant& entry = tenants_[tenant_count_];
  entry = TableTenant{};
  entry.used = true;
  entry.tenant = tenant;
  by_tenant_[tenant] = static_cast<u16>(++tenant_count_);
  shares_stale_ = true;
  return &entry;
}

const TableTenant* TableAccounts::account(u32 tenant) const {
  if (tenant > MAX_SUB_TENANT || by_tenant_[tenant] == 0) return nullptr;
  return &tenants_[by_tenant_[tenant] - 1];
}

// FNV-1a over the tenant's four bytes and the name.
u64 TableAccounts::hash(u32 tenant, const char* name) {
  u64 value = 0xcbf29ce484222325ull;
  for (usize shift = 0; shift < 32; shift += 8) value = (value ^ ((tenant >> shift) & 0xff)) * 0x100000001b3ull;
  for (usize index = 0; name[index] != '\0'; ++index) value = (value ^ static_cast<u8>(name[index])) * 0x100000001b3ull;
  return value ^ (value >> 32);
}

}  // namespace gateway
