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

u8* Catalog::pool_of(u32 tenant, u64 bytes) { return pools_.find(tenant, sizeof(u64) + bytes); }

const u8* Catalog::pool_text(u32 tenant) const { return pools_.find(tenant, sizeof(u64)); }

// The same lookups for changing what they find (the catalog's own, non-const).
CatalogEntry* Catalog::slot(u32 tenant, const char* name) {
  return const_cast<CatalogEntry*>(static_cast<const Catalog*>(this)->slot(tenant, name));
}

void Catalog::drop_env_process(CatalogEntry& entry) {
  u8* pool = entry.env_process_bytes == 0 ? nullptr : pool_of(entry.tenant, 0);
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

u64 Catalog::pool_bytes_after(u32 tenant, const FunctionDeployment& deployment) const {
  const CatalogEntry* entry = slot(tenant, deployment.service);
  const u8* pool = pool_text(tenant);
  u64 used = pool == nullptr ? 0 : *reinterpret_cast<const u64*>(pool);
  u64 freed = entry != nullptr && entry->env_process_bytes > 0 ? entry->env_process_bytes + 1 : 0;
  return used - freed + pool_bytes_of(deployment);
}

Catalog::Room Catalog::env_process_fits(u32 tenant, const FunctionDeployment& deployment) {
  if (pool_bytes_of(deployment) == 0) return Room::Fits;
  // The room is judged under the lock and the pages backed outside it (a system call), then it is
  // judged again: another deploy of the tenant may have grown its pool meanwhile. Each round that
  // goes on has backed more of the slice, so this ends.
  for (;;) {
    u64 bytes = 0;
    {
      sys::LockGuard guard(lock_);
      bytes = pool_bytes_after(tenant, deployment);
      if (bytes > ENV_PROCESS_POOL_BYTES) return Room::Full;
      if (pool_of(tenant, bytes) != nullptr) return Room::Fits;
    }
    if (!pools_.prepare(tenant, sizeof(u64) + bytes)) return Room::NoMemory;
  }
}

bool Catalog::record(u32 tenant, const FunctionDeployment& deployment) {
  // The pages for the envProcess are backed first, outside the lock; the locked part only uses them.
  if (env_process_fits(tenant, deployment) != Room::Fits) return false;
  sys::LockGuard guard(lock_);
  // The envProcess's room first, so that a refusal changes nothing: the tenant's pool, less what
  // the entry's old text frees, backed far enough (a deploy of the tenant that grew its pool since
  // env_process_fits leaves it short: refused).
  u64 needed = pool_bytes_of(deployment);
  u64 bytes = pool_bytes_after(tenant, deployment);
  u8* pool = needed > 0 ? pool_of(tenant, bytes) : nullptr;
  if (needed > 0 && (bytes > ENV_PROCESS_POOL_BYTES || pool == nullptr)) return false;
  auto* held = table_.find(tenant, deployment.service);
  if (held == nullptr) {
    TableRefusal why = TableRefusal::None;
    held = table_.insert(tenant, deployment.service, why);
    if (held == nullptr) return false;
  }
  CatalogEntry* entry = &held->value;
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
