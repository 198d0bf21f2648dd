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
}

usize TableAccounts::count(u32 tenant) const {
  const TableTenant* entry = account(tenant);
  return entry == nullptr ? 0 : entry->count;
}

usize TableAccounts::limit(u32 tenant) const {
  const TableTenant* entry = account(tenant);
  if (entry != nullptr) return limit_of(*entry);
  TableTenant fresh;  // What a tenant not seen yet would get.
  fresh.used = true;
  fresh.tenant = tenant;
  return limit_of(fresh);
}

// Its quota, or, when the quotas of all tenants (this one counted) add up to more than the bound,
// its share of the bound by water-filling: in order of quota (then tenant), each tenant gets the
// smaller of its quota and an equal part of what the tenants before it left, so a tenant whose
// quota is below an equal share keeps all of it and the others divide the rest equally (the
// rounding's remainder to the last); the shares never add up to more than the bound.
usize TableAccounts::limit_of(const TableTenant& entry) const {
  u64 quotas[MAX_TENANTS + 1];
  u32 owners[MAX_TENANTS + 1];
  usize count = 0;
  u64 sum = 0;
  bool counted = false;
  for (const auto& other : tenants_) {
    if (!other.used) continue;
    quotas[count] = other.quota;
    owners[count++] = other.tenant;
    sum += other.quota;
    counted = counted || other.tenant == entry.tenant;
  }
  if (!counted) {
    quotas[count] = entry.quota;
    owners[count++] = entry.tenant;
    sum += entry.quota;
  }
  if (sum <= bound_) return static_cast<usize>(entry.quota);
  // Insertion sort by (quota, tenant): at most 17 of them.
  for (usize i = 1; i < count; ++i) {
    for (usize j = i; j > 0 && (quotas[j] < quotas[j - 1] || (quotas[j] == quotas[j - 1] && owners[j] < owners[j - 1]));
         --j) {
      u64 quota = quotas[j];
      quotas[j] = quotas[j - 1];
      quotas[j - 1] = quota;
      u32 owner = owners[j];
      owners[j] = owners[j - 1];
      owners[j - 1] = owner;
    }
  }
  u64 left = bound_;
  for (usize i = 0; i < count; ++i) {
    u64 part = i + 1 == count ? left : left / (count - i);
    u64 given = quotas[i] < part ? quotas[i] : part;
    if (owners[i] == entry.tenant) return static_cast<usize>(given);
    left -= given;
  }
  return 0;
}

TableTenant* TableAccounts::account(u32 tenant) {
  for (auto& entry : tenants_)
    if (entry.used && entry.tenant == tenant) return &entry;
  for (auto& entry : tenants_) {
    if (entry.used) continue;
    entry = TableTenant{};
    entry.used = true;
    entry.tenant = tenant;
    return &entry;
  }
  return nullptr;
}

const TableTenant* TableAccounts::account(u32 tenant) const {
  for (const auto& entry : tenants_)
    if (entry.used && entry.tenant == tenant) return &entry;
  return nullptr;
}

// FNV-1a over the tenant's four bytes and the name.
u64 TableAccounts::hash(u32 tenant, const char* name) {
  u64 value = 0xcbf29ce484222325ull;
  for (usize shift = 0; shift < 32; shift += 8) value = (value ^ ((tenant >> shift) & 0xff)) * 0x100000001b3ull;
  for (usize index = 0; name[index] != '\0'; ++index) value = (value ^ static_cast<u8>(name[index])) * 0x100000001b3ull;
  return value ^ (value >> 32);
}

}  // namespace gateway
