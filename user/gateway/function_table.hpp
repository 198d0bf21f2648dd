// FunctionTable: the gateway's per-function state (metrics series, OpenFaaS catalog entries) for
// as many functions as tenants deploy, in memory taken as it is needed. Pure, host-tested.
// Invariant: entries lie back to back in one span (TableMemory), backed CHUNK_ENTRIES at a time
// and never more than bound() of them; a hash index (linear probing, deletion by backward shift)
// holds exactly the used entries, so find is O(1) expected whatever the count; a freed entry goes
// on a free list, and is reused (by any tenant) before the span grows. Each tenant holds at most
// limit(tenant) entries: its function quota (its key's `functions=`, else the manager's), or,
// when the quotas of all tenants add up to more than bound(), its max-min fair share of bound()
// (a quota below an equal share is kept whole, the others divide the rest equally), so the limits
// never add up to more than bound() and no tenant can take the room another's share needs. An
// entry's generation changes whenever it is freed or begins a new function. Callers hold their
// own lock around every call (Metrics, Catalog).
#pragma once

#include "manager/protocol.hpp"
#include "tenants.hpp"
#include "text.hpp"

namespace gateway {

// The manager's default function quota of a tenant (user/manager/registry.hpp, Quotas::functions;
// docs/CONTAINERS.md "The pool and tenant quotas").
constexpr u64 MANAGER_FUNCTION_QUOTA = 10000;
// The most functions a gateway's tables may ever hold, over all tenants (RecordIndex::CAPACITY,
// which keeps the current record of each, is as large).
constexpr usize MAX_FUNCTION_ENTRIES = 16384;
// The part of the gateway's factory its per-function tables may take (a quarter; the rest is for
// connections, bodies and windows).
constexpr u64 FUNCTION_TABLE_SHARE_DIVISOR = 4;

// How many functions the gateway holds state for, from its factory's size and what one function's
// entries take in all its tables: a quarter of the factory, at most MAX_FUNCTION_ENTRIES.
usize function_bound(u64 factory_bytes, usize bytes_per_function);

// Where one table's entries live: a span of address space of which the first bytes are backed.
class TableMemory {
 public:
  // The span's start, with its first `bytes` bytes backed (readable, writable, zero when first
  // backed); nullptr when that much cannot be backed (nothing changes then).
  virtual void* back(usize bytes) = 0;

 protected:
  ~TableMemory() = default;
};

// Why an entry could not be made.
enum class TableRefusal {
  None,
  Tenant,   // The tenant holds limit(tenant) entries.
  Gateway,  // The gateway holds bound() entries.
  Memory,   // Its factory could not back another chunk.
};

// What the table knows of one tenant: its quota, its share of the bound, how many entries it holds.
struct TableTenant {
  bool used = false;
  u32 tenant = 0;
  u64 quota = MANAGER_FUNCTION_QUOTA;
  usize count = 0;
  u64 share = 0;  // limit(): kept while no tenant is added and no quota or bound changes.
  u64 refused = 0;  // count_refusal(): times the tenant found no room (Metrics' series_refused).
};

// The parts of FunctionTable that do not depend on the value kept (function_table.cpp).
class TableAccounts {
 public:
  // The tenant's function quota (0: the manager's). Tenants not set get the manager's quota when
  // they first hold an entry (the gateway sets every key's tenant at boot).
  void set_quota(u32 tenant, u64 quota);
  usize bound() const { return bound_; }
  usize total() const { return total_; }
  usize count(u32 tenant) const;
  usize limit(u32 tenant) const;
  // A refusal for the tenant (its account made if it has none), and how many it has had.
  void count_refusal(u32 tenant);
  u64 refused(u32 tenant) const;
  // The tenants held, by the order each was first seen: tenant_at(0 .. tenants_held() - 1).
  usize tenants_held() const { return tenant_count_; }
  const TableTenant* tenant_at(usize index) const { return &tenants_[index]; }
  // Makes the tenant's account now (so it is listed from the start); false when it cannot be held.
  bool hold(u32 tenant) { return account(tenant) != nullptr; }

 protected:
  // Made on first use; nullptr for a tenant above MAX_SUB_TENANT or beyond MAX_TENANT_SLOTS tenants.
  TableTenant* account(u32 tenant);
  const TableTenant* account(u32 tenant) const;
  usize tenant_count() const { return tenant_count_; }
  void set_bound(usize bound);
  static u64 hash(u32 tenant, const char* name);

  usize bound_ = 0;
  usize total_ = 0;

 private:
  // Every tenant's share of the bound (TableTenant::share), or only what `extra` (a tenant not
  // yet held) would get if it were added: O(n log n) in the tenants held.
  u64 fill_shares(const TableTenant* extra) const;

  mutable TableTenant tenants_[MAX_TENANT_SLOTS];
  usize tenant_count_ = 0;
  u16 by_tenant_[MAX_SUB_TENANT + 1] = {};  // Index in tenants_ + 1; 0: none.
  mutable u16 order_[MAX_TENANT_SLOTS + 1] = {};  // fill_shares' sort.
  mutable bool shares_stale_ = true;
};

template <typename Value>
class FunctionTable : public TableAccounts {
 public:
  static constexpr usize CHUNK_ENTRIES = 64;
  static constexpr usize INDEX_SLOTS = 2 * MAX_FUNCTION_ENTRIES;  // Never over half full.
  static constexpr u32 NO_ENTRY = 0xffffffff;

  struct Entry {
    bool used;
    u32 tenant;
    u64 generation;  // Changes when the entry is freed or begins a new function.
    u32 next_free;   // The free list, while unused.
    char name[manager::NAME_BYTES];
    Value value;
  };

  // The span the entries live in, and how many the table may hold (at most MAX_FUNCTION_ENTRIES;
  // the span must have room for that many Entry). Once, before the first insert.
  void configure(TableMemory* memory, usize bound) {
    memory_ = memory;
    set_bound(bound < MAX_FUNCTION_ENTRIES ? bound : MAX_FUNCTION_ENTRIES);
  }

  Entry* find(u32 tenant, const char* name) {
    u32 slot = probe(tenant, name);
    return index_[slot] == 0 ? nullptr : &entries_[index_[slot] - 1];
  }
  const Entry* find(u32 tenant, const char* name) const {
    return const_cast<FunctionTable*>(this)->find(tenant, name);
  }

  // Whether insert(tenant, name) would make an entry now (the function has none yet).
  TableRefusal room(u32 tenant) const {
    const TableTenant* entry = account(tenant);
    if (entry == nullptr && (tenant > MAX_SUB_TENANT || tenant_count() >= MAX_TENANT_SLOTS)) return TableRefusal::Tenant;
    if ((entry == nullptr ? 0 : entry->count) >= limit(tenant)) return TableRefusal::Tenant;
    if (total_ >= bound_) return TableRefusal::Gateway;
    return TableRefusal::None;
  }

  // A fresh entry (Value{}, a new generation) for a function that has none; nullptr with `why`.
  Entry* insert(u32 tenant, const char* name, TableRefusal& why) {
    why = room(tenant);
    if (why != TableRefusal::None) return nullptr;
    u32 index = free_;
    if (index == NO_ENTRY) {
      if (made_ == backed_ && !grow()) {
        why = TableRefusal::Memory;
        return nullptr;
      }
      index = static_cast<u32>(made_++);
      entries_[index].generation = 0;
    } else {
      free_ = entries_[index].next_free;
    }
    Entry& entry = entries_[index];
    u64 generation = entry.generation + 1;
    entry.value = Value{};
    entry.used = true;
    entry.tenant = tenant;
    entry.generation = generation;
    entry.next_free = NO_ENTRY;
    copy_text(entry.name, name);
    index_[probe(tenant, name)] = index + 1;
    ++account(tenant)->count;
    ++total_;
    return &entry;
  }

  // Frees the entry (its room goes back to every tenant) under a new generation.
  void erase(Entry& entry) {
    if (!entry.used) return;
    u32 hole = probe(entry.tenant, entry.name);
    index_[hole] = 0;
    // Backward shift: later members of the run move into the hole when their home allows it.
    for (u32 next = (hole + 1) & MASK; index_[next] != 0; next = (next + 1) & MASK) {
      const Entry& moved = entries_[index_[next] - 1];
      u32 home = static_cast<u32>(hash(moved.tenant, moved.name)) & MASK;
      bool between = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
      if (between) continue;
      index_[hole] = index_[next];
      index_[next] = 0;
      hole = next;
    }
    TableTenant* owner = account(entry.tenant);
    if (owner != nullptr && owner->count > 0) --owner->count;
    --total_;
    entry.used = false;
    ++entry.generation;
    entry.next_free = free_;
    free_ = static_cast<u32>(&entry - entries_);
  }

  usize index_of(const Entry& entry) const { return static_cast<usize>(&entry - entries_); }
  // The entry at `index` (index_of), used or not; nullptr beyond those ever made.
  Entry* at(usize index) { return index < made_ ? &entries_[index] : nullptr; }
  const Entry* at(usize index) const { return index < made_ ? &entries_[index] : nullptr; }

  // Calls visit(entry) for every used entry.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (usize index = 0; index < made_; ++index)
      if (entries_[index].used) visit(static_cast<const Entry&>(entries_[index]));
  }
  template <typename Visit>
  void for_each(Visit&& visit) {
    for (usize index = 0; index < made_; ++index)
      if (entries_[index].used) visit(entries_[index]);
  }

 private:
  static constexpr u32 MASK = INDEX_SLOTS - 1;
  static_assert((INDEX_SLOTS & MASK) == 0, "the probe wraps with a mask");

  static void copy_text(char (&target)[manager::NAME_BYTES], const char* source) {
    usize index = 0;
    for (; index + 1 < sizeof target && source[index] != '\0'; ++index) target[index] = source[index];
    target[index] = '\0';
  }
  static bool same(const char* left, const char* right) {
    usize index = 0;
    for (; left[index] != '\0' && right[index] != '\0'; ++index)
      if (left[index] != right[index]) return false;
    return left[index] == right[index];
  }
  // The index slot holding (tenant, name), or the empty slot where it would go.
  u32 probe(u32 tenant, const char* name) const {
    u32 slot = static_cast<u32>(hash(tenant, name)) & MASK;
    while (index_[slot] != 0) {
      const Entry& entry = entries_[index_[slot] - 1];
      if (entry.tenant == tenant && same(entry.name, name)) return slot;
      slot = (slot + 1) & MASK;
    }
    return slot;
  }
  // Backs another chunk of entries (never beyond bound()).
  bool grow() {
    if (memory_ == nullptr) return false;
    usize want = backed_ + CHUNK_ENTRIES;
    if (want > MAX_FUNCTION_ENTRIES) want = MAX_FUNCTION_ENTRIES;
    void* span = memory_->back(want * sizeof(Entry));
    if (span == nullptr) return false;
    entries_ = static_cast<Entry*>(span);
    backed_ = want;
    return true;
  }

  TableMemory* memory_ = nullptr;
  Entry* entries_ = nullptr;
  usize backed_ = 0;  // Entries the span has backed.
  usize made_ = 0;    // Entries ever used (the rest of the backed ones were never touched).
  u32 free_ = NO_ENTRY;
  u32 index_[INDEX_SLOTS] = {};  // Entry index + 1; 0: empty.
};

}  // namespace gateway
