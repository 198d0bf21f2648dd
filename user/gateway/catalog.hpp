// The catalog: what the gateway keeps of each OpenFaaS deployment that the manager does not hold
// (the image as named, envProcess, labels, annotations, replicas asked for), served back in
// FunctionStatus. Pure, host-tested. Invariant: fixed memory, at most ENTRIES_PER_TENANT entries
// per tenant and MAX_TENANTS tenants, so no tenant can take another's room (one over its bound
// loses only its own entries, and its functions are then shown without that metadata); every
// public method holds the lock.
#pragma once

#include "openfaas.hpp"
#include "sys/spin_lock.hpp"

namespace gateway {

struct CatalogEntry {
  bool used = false;
  u32 tenant = 0;
  char name[manager::NAME_BYTES] = {};
  char image[IMAGE_BYTES] = {};
  char env_process[ENV_PROCESS_BYTES] = {};
  char labels[MAP_BYTES] = {};
  char annotations[MAP_BYTES] = {};
  u64 replicas = 1;
};

class Catalog {
 public:
  static constexpr usize MAX_TENANTS = 16;          // keys.hpp: MAX_KEYS, one tenant per key.
  static constexpr usize ENTRIES_PER_TENANT = 64;
  static constexpr usize MAX_ENTRIES = MAX_TENANTS * ENTRIES_PER_TENANT;

  // Stores (or replaces) the deployment's metadata; false when the tenant has no room left.
  bool record(u32 tenant, const FunctionDeployment& deployment);
  // A copy of the function's entry; false when there is none (e.g. deployed natively).
  bool find(u32 tenant, const char* name, CatalogEntry& entry) const;
  // Sets the replicas asked for; false when the function has no entry.
  bool scale(u32 tenant, const char* name, u64 replicas);
  void forget(u32 tenant, const char* name);

 private:
  CatalogEntry* slot(u32 tenant, const char* name);
  CatalogEntry entries_[MAX_ENTRIES];
  mutable sys::SpinLock lock_;
};

}  // namespace gateway
