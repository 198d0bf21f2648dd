// The catalog: what the gateway keeps of each OpenFaaS deployment that the manager does not hold
// (the image as named, envProcess, labels, annotations, replicas asked for), served back in
// FunctionStatus. Pure, host-tested. Invariant: fixed memory, at most ENTRIES_PER_TENANT entries
// and ENV_PROCESS_POOL_BYTES of envProcess text per tenant, for at most MAX_TENANTS tenants, so no
// tenant can take another's room (one over its bound loses only its own entries, and its
// functions are then shown without that metadata); a tenant's envProcess texts lie back to back
// at the start of its pool, each NUL-terminated, named by exactly one entry; every public method
// holds the lock.
#pragma once

#include "openfaas.hpp"
#include "sys/spin_lock.hpp"

namespace gateway {

struct CatalogEntry {
  bool used = false;
  u32 tenant = 0;
  char name[manager::NAME_BYTES] = {};
  char image[IMAGE_BYTES] = {};
  u64 env_process_offset = 0;  // Its envProcess in its tenant's pool (append_env_process).
  u64 env_process_bytes = 0;   // Without the NUL; 0: none.
  char labels[MAP_BYTES] = {};
  char annotations[MAP_BYTES] = {};
  u64 replicas = 1;
};

class Catalog {
 public:
  static constexpr usize MAX_TENANTS = 16;          // keys.hpp: MAX_KEYS, one tenant per key.
  static constexpr usize ENTRIES_PER_TENANT = 64;
  static constexpr usize MAX_ENTRIES = MAX_TENANTS * ENTRIES_PER_TENANT;
  // envProcess text a tenant's functions keep together: any one up to MAX_ENV_PROCESS_BYTES, four
  // KiB each on average over ENTRIES_PER_TENANT functions.
  static constexpr usize ENV_PROCESS_POOL_BYTES = 256 * 1024;
  static_assert(ENV_PROCESS_POOL_BYTES >= MAX_ENV_PROCESS_BYTES + 1);

  // True when the tenant's pool has room for the deployment's envProcess (counting what the entry
  // of the same name frees), so that a deploy can be refused before it is made.
  bool env_process_fits(u32 tenant, const FunctionDeployment& deployment) const;
  // Stores (or replaces) the deployment's metadata, its envProcess decoded from the body; false
  // when the tenant has no room left (nothing changes then).
  bool record(u32 tenant, const FunctionDeployment& deployment);
  // A copy of the function's entry; false when there is none (e.g. deployed natively).
  bool find(u32 tenant, const char* name, CatalogEntry& entry) const;
  // Appends the function's envProcess as a JSON string ("" when it has none or no entry).
  void append_env_process(u32 tenant, const char* name, Buffer& output) const;
  // Sets the replicas asked for; false when the function has no entry.
  bool scale(u32 tenant, const char* name, u64 replicas);
  void forget(u32 tenant, const char* name);

 private:
  struct Pool {
    bool used = false;
    u32 tenant = 0;
    u64 bytes = 0;  // In use, from the start.
    char text[ENV_PROCESS_POOL_BYTES];
  };
  CatalogEntry* slot(u32 tenant, const char* name);
  const CatalogEntry* slot(u32 tenant, const char* name) const;
  Pool* pool_of(u32 tenant);
  const Pool* pool_of(u32 tenant) const;
  // Frees the entry's envProcess: the texts after it move down (their entries' offsets with them).
  void drop_env_process(CatalogEntry& entry);
  CatalogEntry entries_[MAX_ENTRIES];
  Pool pools_[MAX_TENANTS];
  mutable sys::SpinLock lock_;
};

}  // namespace gateway
