// The catalog of OpenFaaS metadata, per tenant and function.
#include "catalog.hpp"

namespace gateway {
namespace {

bool same_name(const char* left, const char* right) {
  for (usize i = 0; i < manager::NAME_BYTES; ++i) {
    if (left[i] != right[i]) return false;
    if (left[i] == '\0') return true;
  }
  return true;
}

void copy_text(char* target, usize capacity, const char* source) {
  usize i = 0;
  for (; i + 1 < capacity && source[i] != '\0'; ++i) target[i] = source[i];
  target[i] = '\0';
}

}  // namespace

CatalogEntry* Catalog::slot(u32 tenant, const char* name) {
  for (CatalogEntry& entry : entries_)
    if (entry.used && entry.tenant == tenant && same_name(entry.name, name)) return &entry;
  return nullptr;
}

bool Catalog::record(u32 tenant, const FunctionDeployment& deployment) {
  sys::LockGuard guard(lock_);
  CatalogEntry* entry = slot(tenant, deployment.service);
  if (entry == nullptr) {
    usize held = 0;
    for (const CatalogEntry& other : entries_) held += other.used && other.tenant == tenant ? 1 : 0;
    if (held >= ENTRIES_PER_TENANT) return false;
    // The tenant is under its bound, and the table holds every tenant's bound: a free entry exists
    // unless more than MAX_TENANTS tenants use it.
    for (CatalogEntry& candidate : entries_)
      if (!candidate.used) {
        entry = &candidate;
        break;
      }
    if (entry == nullptr) return false;
  }
  *entry = CatalogEntry{};
  entry->used = true;
  entry->tenant = tenant;
  copy_text(entry->name, sizeof entry->name, deployment.service);
  copy_text(entry->image, sizeof entry->image, deployment.image);
  copy_text(entry->env_process, sizeof entry->env_process, deployment.env_process);
  copy_text(entry->labels, sizeof entry->labels, deployment.labels);
  copy_text(entry->annotations, sizeof entry->annotations, deployment.annotations);
  return true;
}

bool Catalog::find(u32 tenant, const char* name, CatalogEntry& entry) const {
  sys::LockGuard guard(lock_);
  for (const CatalogEntry& candidate : entries_)
    if (candidate.used && candidate.tenant == tenant && same_name(candidate.name, name)) {
      entry = candidate;
      return true;
    }
  return false;
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
  if (CatalogEntry* entry = slot(tenant, name)) *entry = CatalogEntry{};
}

}  // namespace gateway
