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

const Catalog::Pool* Catalog::pool_of(u32 tenant) const {
  for (const Pool& pool : pools_)
    if (pool.used && pool.tenant == tenant) return &pool;
  return nullptr;
}

// The same lookups for changing what they find (the catalog's own, non-const).
CatalogEntry* Catalog::slot(u32 tenant, const char* name) {
  return const_cast<CatalogEntry*>(static_cast<const Catalog*>(this)->slot(tenant, name));
}

Catalog::Pool* Catalog::pool_of(u32 tenant) {
  return const_cast<Pool*>(static_cast<const Catalog*>(this)->pool_of(tenant));
}

void Catalog::drop_env_process(CatalogEntry& entry) {
  Pool* pool = pool_of(entry.tenant);
  if (entry.env_process_bytes == 0 || pool == nullptr) return;  // A text is always in its tenant's pool.
  u64 start = entry.env_process_offset;
  u64 length = entry.env_process_bytes + 1;
  __builtin_memmove(pool->text + start, pool->text + start + length, pool->bytes - start - length);
  pool->bytes -= length;
  table_.for_each([&](FunctionTable<CatalogEntry>::Entry& held) {
    CatalogEntry& other = held.value;
    if (other.used && other.tenant == entry.tenant && other.env_process_bytes > 0 && other.env_process_offset > start)
      other.env_process_offset -= length;
  });
  entry.env_process_offset = 0;
  entry.env_process_bytes = 0;
  if (pool->bytes == 0) pool->used = false;  // Free for any tenant again.
}

bool Catalog::env_process_fits(u32 tenant, const FunctionDeployment& deployment) const {
  sys::LockGuard guard(lock_);
  const CatalogEntry* entry = slot(tenant, deployment.service);
  u64 needed = pool_bytes_of(deployment);
  if (needed == 0) return true;
  const Pool* pool = pool_of(tenant);
  u64 freed = entry != nullptr && entry->env_process_bytes > 0 ? entry->env_process_bytes + 1 : 0;
  if (pool != nullptr) return pool->bytes - freed + needed <= ENV_PROCESS_POOL_BYTES;
  for (const Pool& candidate : pools_)
    if (!candidate.used) return needed <= ENV_PROCESS_POOL_BYTES;
  return false;
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
  Pool* pool = pool_of(tenant);
  if (needed > 0 && pool == nullptr) {
    for (Pool& candidate : pools_)
      if (!candidate.used) {
        pool = &candidate;
        break;
      }
    if (pool == nullptr) return refuse();
  }
  u64 freed = entry->used && entry->env_process_bytes > 0 ? entry->env_process_bytes + 1 : 0;
  if (needed > 0 && pool->used && pool->bytes - freed + needed > ENV_PROCESS_POOL_BYTES) return refuse();
  if (needed > ENV_PROCESS_POOL_BYTES) return refuse();
  if (entry->used) drop_env_process(*entry);
  *entry = CatalogEntry{};
  entry->used = true;
  entry->tenant = tenant;
  copy_text(entry->name, sizeof entry->name, deployment.service);
  copy_text(entry->image, sizeof entry->image, deployment.image);
  copy_text(entry->labels, sizeof entry->labels, deployment.labels);
  copy_text(entry->annotations, sizeof entry->annotations, deployment.annotations);
  if (needed > 0) {
    if (!pool->used) {  // A fresh pool (or one drop_env_process just emptied): the tenant's now.
      pool->used = true;
      pool->tenant = tenant;
      pool->bytes = 0;
    }
    // env_process_text decodes exactly env_process_bytes (parse_function_deployment measured them).
    (void)env_process_text(deployment, pool->text + pool->bytes, needed);
    entry->env_process_offset = pool->bytes;
    entry->env_process_bytes = deployment.env_process_bytes;
    pool->bytes += needed;
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
  const Pool* pool = pool_of(tenant);
  if (entry == nullptr || entry->env_process_bytes == 0 || pool == nullptr) output.append_json_string("");
  else output.append_json_string(pool->text + entry->env_process_offset, entry->env_process_bytes);
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
