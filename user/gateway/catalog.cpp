// The catalog of OpenFaaS metadata, per tenant and function.
#include "catalog.hpp"

namespace gateway {
namespace {

void copy_text(char* target, usize capacity, const char* source) {
  usize i = 0;
  for (; i + 1 < capacity && source[i] != '\0'; ++i) target[i] = source[i];
  target[i] = '\0';
}

// What a deployment's envProcess takes of its tenant's pool (with its NUL; 0 when none).
u64 pool_bytes_of(const FunctionDeployment& deployment) {
  return deployment.env_process_bytes == 0 ? 0 : deployment.env_process_bytes + 1;
}

}  // namespace

// The function's metadata, when record() filled its entry.
const CatalogEntry* Catalog::slot(u32 tenant, const char* name) const {
  const auto* entry = table_.find(tenant, name);
  return entry != nullptr && entry->value.used ? &entry->value : nullptr;
}

void Catalog::configure(TableMemory* memory, usize bound) {
  sys::LockGuard guard(lock_);
  table_.configure(memory, bound);
}

void Catalog::set_quota(u32 tenant, u64 quota) {
  sys::LockGuard guard(lock_);
  table_.set_quota(tenant, quota);
}

usize Catalog::bound() const {
  sys::LockGuard guard(lock_);
  return table_.bound();
}

usize Catalog::limit(u32 tenant) const {
  sys::LockGuard guard(lock_);
  return table_.limit(tenant);
}

usize Catalog::count(u32 tenant) const {
  sys::LockGuard guard(lock_);
  return table_.count(tenant);
}

TableRefusal Catalog::reserve(u32 tenant, const char* name, bool& made) {
  sys::LockGuard guard(lock_);
  made = false;
  if (table_.find(tenant, name) != nullptr) return TableRefusal::None;
  TableRefusal why = TableRefusal::None;
  made = table_.insert(tenant, name, why) != nullptr;
  return why;
}

void Catalog::configure_pools(SliceMemory* memory, const TenantSlots* slots) {
  sys::LockGuard guard(lock_);
  pools_.configure(memory, slots, POOL_SLICE_BYTES);
}

u8* Catalog::pool_of(u32 tenant, u64 bytes) { return pools_.reach(tenant, sizeof(u64) + bytes); }

const u8* Catalog::pool_text(u32 tenant) const { return pools_.find(tenant, sizeof(u64)); }

// The same lookups for changing what they find (the catalog's own, non-const).
CatalogEntry* Catalog::slot(u32 tenant, const char* name) {
  return const_cast<CatalogEntry*>(static_cast<const Catalog*>(this)->slot(tenant, name));
}

void Catalog::drop_env_process(CatalogEntry& entry) {
  u8* pool = entry.env_process_bytes == 0 ? nullptr : pools_.reach(entry.tenant, sizeof(u64));
  if (pool == nullptr) return;  // A text is always in its tenant's pool, which stays backed.
  u64& used = pool_used(pool);
  char* text = reinterpret_cast<char*>(pool + sizeof(u64));
  u64 start = entry.env_process_offset;
  u64 length = entry.env_process_bytes + 1;
  __builtin_memmove(text + start, text + start + length, used - start - length);
  used -= length;
  table_.for_each([&](FunctionTable<CatalogEntry>::Entry& held) {
    CatalogEntry& other = held.value;
    if (other.used && other.tenant == entry.tenant && other.env_process_bytes > 0 && other.env_process_offset > start)
      other.env_process_offset -= length;
  });
  entry.env_process_offset = 0;
  entry.env_process_bytes = 0;
}

Catalog::Room Catalog::env_process_fits(u32 tenant, const FunctionDeployment& deployment) {
  sys::LockGuard guard(lock_);
  const CatalogEntry* entry = slot(tenant, deployment.service);
  u64 needed = pool_bytes_of(deployment);
  if (needed == 0) return Room::Fits;
  const u8* pool = pool_text(tenant);
  u64 used = pool == nullptr ? 0 : *reinterpret_cast<const u64*>(pool);
  u64 freed = entry != nullptr && entry->env_process_bytes > 0 ? entry->env_process_bytes + 1 : 0;
  if (used - freed + needed > ENV_PROCESS_POOL_BYTES) return Room::Full;
  // The pages for the text are backed now (and kept), so record() finds them.
  return pool_of(tenant, used - freed + needed) == nullptr ? Room::NoMemory : Room::Fits;
}

bool Catalog::record(u32 tenant, const FunctionDeployment& deployment) {
  sys::LockGuard guard(lock_);
  auto* held = table_.find(tenant, deployment.service);
  bool made = false;
  if (held == nullptr) {
    TableRefusal why = TableRefusal::None;
    held = table_.insert(tenant, deployment.service, why);
    if (held == nullptr) return false;
    made = true;
  }
  CatalogEntry* entry = &held->value;
  // A refusal below changes nothing: an entry made here goes again.
  auto refuse = [&] {
    if (made) table_.erase(*held);
    return false;
  };
  // The envProcess's room first, so that a refusal changes nothing: the tenant's pool (one is
  // taken for a tenant that has none), less what the entry's old text frees.
  u64 needed = pool_bytes_of(deployment);
  const u8* before = pool_text(tenant);
  u64 used = before == nullptr ? 0 : *reinterpret_cast<const u64*>(before);
  u64 freed = entry->used && entry->env_process_bytes > 0 ? entry->env_process_bytes + 1 : 0;
  if (needed > 0 && used - freed + needed > ENV_PROCESS_POOL_BYTES) return refuse();
  u8* pool = needed > 0 ? pool_of(tenant, used - freed + needed) : nullptr;
  if (needed > 0 && pool == nullptr) return refuse();
  if (entry->used) drop_env_process(*entry);
  *entry = CatalogEntry{};
  entry->used = true;
  entry->tenant = tenant;
  copy_text(entry->name, sizeof entry->name, deployment.service);
  copy_text(entry->image, sizeof entry->image, deployment.image);
  copy_text(entry->labels, sizeof entry->labels, deployment.labels);
  copy_text(entry->annotations, sizeof entry->annotations, deployment.annotations);
  if (needed > 0) {
    u64& pool_bytes = pool_used(pool);
    // env_process_text decodes exactly env_process_bytes (parse_function_deployment measured them).
    (void)env_process_text(deployment, reinterpret_cast<char*>(pool + sizeof(u64)) + pool_bytes, needed);
    entry->env_process_offset = pool_bytes;
    entry->env_process_bytes = deployment.env_process_bytes;
    pool_bytes += needed;
  }
  return true;
}

bool Catalog::find(u32 tenant, const char* name, CatalogEntry& entry) const {
  sys::LockGuard guard(lock_);
  const CatalogEntry* found = slot(tenant, name);
  if (found == nullptr) return false;
  entry = *found;
  return true;
}

void Catalog::append_env_process(u32 tenant, const char* name, Buffer& output) const {
  sys::LockGuard guard(lock_);
  const CatalogEntry* entry = slot(tenant, name);
  const u8* pool = pool_text(tenant);
  if (entry == nullptr || entry->env_process_bytes == 0 || pool == nullptr) output.append_json_string("");
  else output.append_json_string(reinterpret_cast<const char*>(pool + sizeof(u64)) + entry->env_process_offset,
                                 entry->env_process_bytes);
}

bool Catalog::scale(u32 tenant, const char* name, u64 replicas) {
  sys::LockGuard guard(lock_);
  CatalogEntry* entry = slot(tenant, name);
  if (entry == nullptr) return false;
  entry->replicas = replicas;
  return true;
}

void Catalog::forget(u32 tenant, const char* name) {
  sys::LockGuard guard(lock_);
  if (auto* held = table_.find(tenant, name)) {
    if (held->value.used) drop_env_process(held->value);
    table_.erase(*held);
  }
}

}  // namespace gateway
