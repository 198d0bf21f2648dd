// The catalog: what the gateway keeps of each OpenFaaS deployment that the manager does not hold
// (the image as named, envProcess, labels, annotations, replicas asked for), served back in
// FunctionStatus. Pure, host-tested. Invariant: one entry per function in a FunctionTable
// (function_table.hpp) that grows with the functions deployed, bounded per tenant by its function
// quota (or its share of the gateway's bound) and in all by bound(); an OpenFaaS deploy reserves
// its entry before it is made (reserve), so a deployed function never lacks its metadata for want
// of an entry; an entry holds metadata (CatalogEntry::used) only once record() filled it. At most
// ENV_PROCESS_POOL_BYTES of envProcess text per tenant, in the tenant's own slice of the pools'
// span (TenantSlices), backed page by page as its texts grow and charged to the tenant's window
// budget, so no tenant can take another's room (env_process_fits refuses the deploy first); a
// tenant's pool starts with the bytes it uses (u64), then its envProcess texts back to back, each
// NUL-terminated, named by exactly one entry; every public method holds the lock, and none backs
// pages (a system call) under it.
#pragma once

#include "function_table.hpp"
#include "openfaas.hpp"
#include "sys/spin_lock.hpp"

namespace gateway {

struct CatalogEntry {
  bool used = false;  // Holds a deployment's metadata (a reserved entry does not yet).
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
  // envProcess text a tenant's functions keep together: any one up to MAX_ENV_PROCESS_BYTES.
  static constexpr usize ENV_PROCESS_POOL_BYTES = 256 * 1024;
  static_assert(ENV_PROCESS_POOL_BYTES >= MAX_ENV_PROCESS_BYTES + 1);

  // Where the entries live and how many functions they may be kept for in all (at boot).
  void configure(TableMemory* memory, usize bound);
  // Where the tenants' envProcess pools live (at boot; until then no envProcess fits).
  void configure_pools(SliceMemory* memory, const TenantSlots* slots);
  // What one tenant's pool takes of the span.
  static constexpr usize POOL_SLICE_BYTES = sizeof(u64) + ENV_PROCESS_POOL_BYTES;
  // The tenant's function quota (its key's functions=; 0: the manager's).
  void set_quota(u32 tenant, u64 quota);
  usize bound() const;
  usize limit(u32 tenant) const;
  usize count(u32 tenant) const;  // Entries (reserved or recorded) the tenant holds.
  // Before an OpenFaaS deploy: makes the function's entry if it has none (`made` then), without
  // metadata until record(); TableRefusal::None when it has one now.
  TableRefusal reserve(u32 tenant, const char* name, bool& made);
  // What one function's entry takes (for the gateway's bound, function_bound()).
  static constexpr usize ENTRY_BYTES = sizeof(FunctionTable<CatalogEntry>::Entry);

  // Whether the tenant's pool has room for the deployment's envProcess (counting what the entry
  // of the same name frees), so that a deploy can be refused before it is made: Full when the
  // pool's bytes do not allow it, NoMemory when the pages for it cannot be backed now (they are
  // backed here, outside the lock, and kept).
  enum class Room { Fits, Full, NoMemory };
  Room env_process_fits(u32 tenant, const FunctionDeployment& deployment);
  // Stores (or replaces) the deployment's metadata, its envProcess decoded from the body (in the
  // entry reserve() made, or a new one); false when there is no room (nothing changes then).
  bool record(u32 tenant, const FunctionDeployment& deployment);
  // A copy of the function's entry; false when there is none (e.g. deployed natively).
  bool find(u32 tenant, const char* name, CatalogEntry& entry) const;
  // Appends the function's envProcess as a JSON string ("" when it has none or no entry).
  void append_env_process(u32 tenant, const char* name, Buffer& output) const;
  // Sets the replicas asked for; false when the function has no entry.
  bool scale(u32 tenant, const char* name, u64 replicas);
  // A deleted function (or a refused deploy's reservation): its entry goes.
  void forget(u32 tenant, const char* name);
  // Whether a thread holds the lock now (tests: no pool page is backed under it).
  bool locked() const { return lock_.held(); }

 private:
  CatalogEntry* slot(u32 tenant, const char* name);
  const CatalogEntry* slot(u32 tenant, const char* name) const;
  // The tenant's pool (its used bytes first, then the texts) when room for `bytes` of text is
  // backed, else nullptr (never takes memory). pool_text(): the pool as it is, nullptr when never
  // backed.
  u8* pool_of(u32 tenant, u64 bytes);
  const u8* pool_text(u32 tenant) const;
  // The bytes of text the tenant's pool holds once the deployment's envProcess replaces the old
  // one of its name (lock held).
  u64 pool_bytes_after(u32 tenant, const FunctionDeployment& deployment) const;
  static u64& pool_used(u8* pool) { return *reinterpret_cast<u64*>(pool); }
  // Frees the entry's envProcess: the texts after it move down (their entries' offsets with them).
  void drop_env_process(CatalogEntry& entry);
  FunctionTable<CatalogEntry> table_;
  TenantSlices pools_;
  mutable sys::SpinLock lock_;
};

}  // namespace gateway
