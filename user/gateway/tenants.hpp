// TenantSlots and TenantSlices: how the gateway's per-tenant tables reach a tenant's state in O(1)
// for as many tenants as the key file names (up to MAX_KEYS), without fixed per-tenant tables.
// Pure, host-tested.
//
// TenantSlots gives every tenant the gateway serves a dense slot: 0 for tenant 0 (requests
// without a key), 1..n for the key file's tenants in file order. A table's small per-tenant
// records are an array indexed by slot. Invariant: slot_of(t) < count() exactly for the tenants
// configured, slots are distinct, and tenant_at(slot_of(t)) == t.
//
// TenantSlices gives each slot one fixed-size slice of a span of address space, for per-tenant
// state too large to keep for every possible tenant at once (log lines, queued async jobs,
// envProcess text). A slice's pages are backed (SliceMemory::back, which the gateway charges to the
// tenant's window budget and commits with a system call) only when the tenant first needs them, so
// memory follows the tenants that use it, not the key count. A table backs them with prepare()
// before it takes its own lock, and under the lock only finds what is backed (find()), so no
// system call is made under a table's lock. Invariant: a slot's backed pages only grow, never
// beyond the slice, and the first backed pages of the slot's slice are backed before find() can
// see them; one thread at a time backs a slot (its BACKING bit), so no page is backed or charged
// twice.
#pragma once

#include <atomic>

#include "keys.hpp"

namespace gateway {

constexpr usize MAX_TENANT_SLOTS = MAX_KEYS + 1;  // Every key's tenant and tenant 0.

class TenantSlots {
 public:
  static constexpr u32 NONE = 0xffffffff;

  // Tenant 0 and the keys' tenants (distinct, 1..MAX_SUB_TENANT, as parse_keys leaves them);
  // false, with only tenant 0 configured, when one is out of range or given twice.
  bool configure(const ApiKey* keys, usize key_count);
  // The same from bare tenant numbers (tests, tables made without keys).
  bool configure(const u32* tenants, usize tenant_count);
  u32 slot_of(u32 tenant) const {
    if (tenant > MAX_SUB_TENANT) return NONE;
    u16 stored = by_tenant_[tenant];
    return stored == 0 ? NONE : stored - 1u;
  }
  u32 tenant_at(u32 slot) const { return tenants_[slot]; }
  usize count() const { return count_; }

 private:
  bool add(u32 tenant);
  u16 by_tenant_[MAX_SUB_TENANT + 1] = {1};  // slot + 1; 0: not a tenant here. Tenant 0: slot 0.
  u32 tenants_[MAX_TENANT_SLOTS] = {};
  usize count_ = 1;
};

// The span behind a TenantSlices (main.cpp: a demand-zero Memory object of the gateway's factory,
// its pages committed and charged to the tenant's window budget; tests: the heap).
class SliceMemory {
 public:
  // The span's first byte (room for every slot's slice).
  virtual u8* base() = 0;
  // Backs pages [first_page, first_page + pages) of the span for `tenant` (zero when first
  // backed); false, and nothing backed, when that cannot be done now.
  virtual bool back(u32 tenant, usize first_page, usize pages) = 0;

 protected:
  ~SliceMemory() = default;
};

class TenantSlices {
 public:
  static constexpr usize PAGE_BYTES = 4096;

  // One slice of `slice_bytes` (rounded up to whole pages) per slot of `slots`; once, at boot,
  // before any other call. Until then (or with memory nullptr) nothing is backed or found.
  void configure(SliceMemory* memory, const TenantSlots* slots, usize slice_bytes);
  // Backs the tenant's first `bytes` (the pages not backed yet), without the caller's lock: true
  // when they are backed (now or before); false when the tenant has no slot, `bytes` is beyond
  // the slice, or the memory cannot be backed now (nothing changes then). Threads may prepare the
  // same slice at once: one backs it while the others wait, then find it backed.
  [[nodiscard]] bool prepare(u32 tenant, usize bytes);
  // The tenant's slice when its first `bytes` (at least one page) are backed, else nullptr; never
  // takes memory, so a table may call it under its lock.
  u8* find(u32 tenant, usize bytes);
  const u8* find(u32 tenant, usize bytes) const;
  usize slice_bytes() const { return slice_pages_ * PAGE_BYTES; }
  // Bytes of the tenant's slice backed so far.
  usize backed_bytes(u32 tenant) const;

 private:
  // A slot's state: its backed pages, and BACKING while a thread backs more of them.
  static constexpr u32 BACKING = 0x8000'0000;
  // The slot's backed pages (0 for NONE: a tenant without a slot).
  u32 backed_pages(u32 slot) const;

  SliceMemory* memory_ = nullptr;
  const TenantSlots* slots_ = nullptr;
  usize slice_pages_ = 0;
  std::atomic<u32> states_[MAX_TENANT_SLOTS] = {};
};

}  // namespace gateway
