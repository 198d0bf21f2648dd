// The deployed functions of every tenant, the executables they share, each tenant's account
// and the manager's pool. Records live in a RecordArena (they never move), found through hash
// indexes that grow with them; a tenant's live functions are also kept in a list (for LIST).
// Invariants: (tenant, name) is unique among live functions, and exactly the live ones are
// indexed and listed; a function's executable stays valid while `users` > 0 even after REMOVE
// (the last user frees it); an executable lives while a function references it; what running
// invocations reserve plus what is stored never exceeds the pool, and a tenant's figures never
// exceed its quotas; every access goes through the registry lock, which is never held across IPC.
#pragma once

#include "manager/protocol.hpp"
#include "sys/spin_lock.hpp"
#include "sys/sys.hpp"
#include "arena.hpp"

namespace manager {

using sys::LockGuard;
using sys::SpinLock;

using sys::u64;
using sys::usize;

// A loadable segment of a deployed executable. Only the executable file itself is stored (one
// Memory, `Function::image`); what an invocation needs beyond it — writable copies and the
// zero-filled rest (.bss) — is made at invocation time from the invocation's own factory, so it
// counts against the function's memory limit and never against the manager's pool.
struct ImageSegment {
  u64 address;        // Page-aligned start in the function's address space.
  u64 pages;          // Pages the segment covers in memory (file bytes and zero-filled rest).
  u64 lead;           // Bytes of the first page before the segment's first byte.
  u64 file_offset;    // Where the segment's file bytes start in the image.
  u64 file_bytes;     // How many there are (the rest of the segment is zero).
  bool writable;
  bool executable;
  // Read-only, congruent with its file offset and without a zero-filled part: mapped straight
  // from the image (shared by every invocation), no copy.
  bool shared;
};

// A segment of the Linux personality's image (prepared once, owned by the manager).
struct Segment {
  u64 address;
  u64 pages;
  bool writable;
  bool executable;
  u64 memory;         // Selector of the manager's Memory holding the segment's initial bytes.
};

constexpr usize MAX_SEGMENTS = 8;

// An executable file deployed once and shared by every function made from it (DEPLOY makes one,
// CONFIGURE shares its source's): one Memory in a global slot, charged once to its tenant.
struct Executable {
  u64 references = 0;      // Functions (live, removed but running, or being deployed) using it.
  u64 memory = 0;          // Its Memory (a global slot; 0 until the deploy's copy is done).
  u64 store_handle = 0;    // DEPLOY_IMAGE: the image store's read handle of the tree (0: none).
  u64 cost = 0;            // Charged to the tenant's storage quota and the pool.
  u64 tenant = 0;
};

struct Function {
  bool live = false;       // Visible to its tenant (indexed and listed).
  bool removed = false;    // Removed while in use: freed when users drops to 0.
  u64 tenant = 0;
  char name[NAME_BYTES] = {};
  FunctionConfig config = DEFAULT_CONFIG;
  u64 executable_size = 0;
  u64 entry = 0;
  u64 image = 0;           // The executable file: `executable->memory` (0 = none yet).
  Executable* executable = nullptr;
  usize segment_count = 0;
  ImageSegment segments[MAX_SEGMENTS] = {};
  bool linux_abi = false;  // FUNCTION_FLAG_LINUX: runs under the Linux personality.
  bool image_tree = false; // FUNCTION_FLAG_IMAGE: `image` is a packed image tree, mapped read-only.
  LinuxStart linux_start = {};  // What the personality learns about the program (Linux only).
  // Its strings (FunctionContext: arguments, environment, secret files): one Memory in a global
  // slot (0: none), its own (never shared with another function), mapped read-only by every
  // invocation, charged to the tenant's storage (`strings_cost`) while the record lives.
  u64 strings = 0;
  u64 argument_bytes = 0;
  u64 environment_bytes = 0;
  u64 secret_bytes = 0;
  u64 strings_cost = 0;
  char source[NAME_BYTES] = {};  // The function whose executable it took (its own name after DEPLOY).
  u8 executable_digest[DIGEST_BYTES] = {};  // SHA-256 of the executable (or image tree).
  u8 digest[DIGEST_BYTES] = {};  // SHA-256 of that, the configuration, arguments and environment.
  u64 created_microseconds = 0;  // When this version was deployed (since boot).
  u64 users = 0;           // Invocations running now (and CONFIGUREs copying its executable).
  u64 invocations = 0;
  u64 failures = 0;
  // Bytes charged to an invocation's own factory when it ended (invoke.cpp): the last one's, and
  // the largest since this version was deployed (0: none ran yet).
  u64 private_bytes_last = 0;
  u64 private_bytes_max = 0;
  // The registry's links: its hash bucket and its tenant's list of live functions.
  u64 hash = 0;
  Function* next_in_bucket = nullptr;
  Function* previous_of_tenant = nullptr;
  Function* next_of_tenant = nullptr;
};

// The Linux personality's image (user/linux/), embedded in manager.elf and prepared once, at the
// first deploy of a Linux executable; shared by every Linux invocation like a function's image.
struct PersonalityImage {
  bool ready = false;
  u64 entry = 0;
  usize segment_count = 0;
  Segment segments[4] = {};
};

// What every tenant may use (the same for each, a client may lower its own: SET_TENANT_QUOTA);
// see docs/CONTAINERS.md, "The pool and tenant quotas".
struct ShareLimits {
  u64 memory_bytes = 0;             // Memory limits of running invocations (+ their factories); 0: half the pool.
  u64 storage_bytes = 64ull << 20;  // Deployed executables and function records.
  u64 invocations = 4;              // Concurrent top-level invocations.
  u64 functions = 10000;            // Functions.
  u64 nested_budget = 256;          // Nested invocations per top-level invocation, all depths.
  u64 tenants = 4096;               // Tenants the manager holds accounts for at once.
};

struct TenantAccount {
  u64 tenant = 0;
  u64 memory_in_use = 0;
  u64 storage_in_use = 0;
  u64 invocations = 0;      // Top-level invocations running.
  u64 running = 0;          // Invocations running, nested ones included.
  u64 functions = 0;        // Live or being deployed.
  u64 live_functions = 0;   // Live (listed).
  u64 quota_functions = 0;  // SET_TENANT_QUOTA's (0: the manager's).
  u64 quota_storage = 0;
  u64 hash = 0;
  TenantAccount* next_in_bucket = nullptr;
  Function* first_function = nullptr;  // Its live functions, in the order they went live.
  Function* last_function = nullptr;
  // Nothing of the tenant is left (a lowered quota goes with the account).
  bool idle() const { return memory_in_use == 0 && storage_in_use == 0 && running == 0 && functions == 0; }
};

// A chained hash index over records that carry `hash` and `next_in_bucket`; its bucket array
// comes from the arena and doubles when the records outnumber the buckets, so lookups stay short.
template <typename Record>
class HashIndex {
 public:
  template <typename Matches>
  Record* find(u64 hash, Matches matches) const {
    if (bucket_count_ == 0) return nullptr;
    for (Record* record = buckets_[hash & (bucket_count_ - 1)]; record != nullptr; record = record->next_in_bucket)
      if (record->hash == hash && matches(*record)) return record;
    return nullptr;
  }
  // False when the index had to grow and the arena had no room (nothing changed then).
  bool insert(RecordArena& arena, Record& record) {
    if (count_ + 1 > bucket_count_ && !grow(arena)) return false;
    Record*& head = buckets_[record.hash & (bucket_count_ - 1)];
    record.next_in_bucket = head;
    head = &record;
    ++count_;
    return true;
  }
  void remove(Record& record) {
    Record** link = &buckets_[record.hash & (bucket_count_ - 1)];
    while (*link != nullptr && *link != &record) link = &(*link)->next_in_bucket;
    if (*link == nullptr) return;
    *link = record.next_in_bucket;
    record.next_in_bucket = nullptr;
    --count_;
  }
  u64 count() const { return count_; }

 private:
  bool grow(RecordArena& arena) {
    u64 count = bucket_count_ == 0 ? 64 : bucket_count_ * 2;
    if (count * sizeof(Record*) > RecordArena::MAX_RECORD_BYTES) return bucket_count_ != 0;  // Chains grow instead.
    auto** buckets = static_cast<Record**>(arena.allocate(count * sizeof(Record*)));
    if (buckets == nullptr) return bucket_count_ != 0;
    for (u64 index = 0; index < bucket_count_; ++index) {
      for (Record* record = buckets_[index]; record != nullptr;) {
        Record* next = record->next_in_bucket;
        Record*& head = buckets[record->hash & (count - 1)];
        record->next_in_bucket = head;
        head = record;
        record = next;
      }
    }
    if (buckets_ != nullptr) arena.free(buckets_, bucket_count_ * sizeof(Record*));
    buckets_ = buckets;
    bucket_count_ = count;
    return true;
  }

  Record** buckets_ = nullptr;
  u64 bucket_count_ = 0;  // A power of two (or 0).
  u64 count_ = 0;
};

class Registry {
 public:
  // The arena's window, the tenants' quotas, and the pool invocations and storage reserve from.
  void configure(u64 arena_base, u64 arena_span, const ShareLimits& limits, u64 pool_bytes);

  SpinLock& lock() { return lock_; }
  // All below require the lock.
  Function* find(u64 tenant, const char* name);
  // A new record for a deploy of (tenant, name), not live yet, counted as the tenant's, its
  // storage (the record's size, plus `executable_cost` for a new executable, which it gets when
  // that is not 0, plus `strings_cost` for its strings) charged to the tenant: STATUS_OK with
  // `created`, or the status that refuses it (`detail`).
  Status create(TenantAccount& account, const char* name, u64 executable_cost, u64 strings_cost, Function*& created,
                u64& detail);
  // Makes a created function live: indexed and listed. False when the index could not grow.
  bool publish(Function& function);
  // Takes a live function out of the index and its tenant's list.
  void withdraw(Function& function);
  // The one retire path (REMOVE, and the old version of an update in place): the function leaves
  // the index and its tenant's list, stops counting as the tenant's, and is freed now, or by its
  // last running invocation (removed + users) when it is in use.
  void retire(Function& function);
  // An update in place (CONFIGURE_REPLACE, DEPLOY_IMAGE_REPLACE), atomic under the lock:
  // `replacement` (created, not live, of the same tenant and name) takes `old`'s invocation counts
  // and its place, and `old` is retired, so every invocation finds exactly one version. False when
  // the index could not take the replacement (it cannot, having just lost `old`): `old` is gone
  // then, and the caller frees `replacement`.
  bool replace(Function& old, Function& replacement);
  // Frees a function that is neither live nor in use: its reference to its executable (the last
  // one frees the executable and refunds its storage), its strings, its record and its storage.
  void release(Function& function);
  // `function` shares `source`'s executable (CONFIGURE).
  void share_executable(Function& function, Function& source);
  // The first of the tenant's live functions (then next_of_tenant), in the order they went live.
  Function* first_function(u64 tenant);
  PersonalityImage& personality() { return personality_; }
  const ShareLimits& limits() const { return limits_; }
  u64 function_quota(const TenantAccount& account) const;
  u64 storage_quota(const TenantAccount& account) const;
  // A tenant's memory quota: half the pool unless configured (then at most the pool), so that by
  // default no tenant can reserve what every other tenant needs.
  u64 memory_quota() const {
    if (limits_.memory_bytes == 0) return pool_ / 2;
    return limits_.memory_bytes > pool_ ? pool_ : limits_.memory_bytes;
  }
  // The largest memory limit an invocation can ever be admitted with.
  u64 largest_limit() const {
    u64 quota = memory_quota();
    return quota > INVOCATION_OVERHEAD_BYTES ? quota - INVOCATION_OVERHEAD_BYTES : 0;
  }

  // The tenant's account, or null when it has none.
  TenantAccount* account(u64 tenant);
  // The tenant's account, made for a new tenant; null when the manager holds as many as it may
  // (or has no memory for another).
  TenantAccount* open_account(u64 tenant);
  // Forgets the account when nothing of the tenant is left.
  void close_if_idle(TenantAccount& account);
  u64 tenants() const { return accounts_.count(); }
  u64 running() const { return running_; }
  u64 functions() const { return functions_; }
  u64 pool_bytes() const { return pool_; }
  u64 reserved_bytes() const { return reserved_ + stored_; }

  // Admits one invocation of `tenant` with memory limit `memory_bytes` (top_level: counts against
  // the concurrency quota too): STATUS_OK, STATUS_TENANT_BUSY (its own quota is in use) or
  // STATUS_NO_CAPACITY (the pool cannot reserve it now).
  Status begin_invocation(u64 tenant, u64 memory_bytes, bool top_level);
  void end_invocation(u64 tenant, u64 memory_bytes, bool top_level);
  void count_function(TenantAccount& account, bool added);

 private:
  // Storage of `bytes` for the tenant: STORAGE_EXCEEDED over its quota, NO_CAPACITY when the pool
  // cannot hold it now; charged on STATUS_OK.
  Status charge_storage(TenantAccount& account, u64 bytes, u64& detail);
  void refund_storage(u64 tenant, u64 bytes);

  SpinLock lock_;
  RecordArena arena_;
  HashIndex<Function> functions_index_;
  HashIndex<TenantAccount> accounts_;
  ShareLimits limits_;
  u64 pool_ = 0;
  u64 reserved_ = 0;  // Memory limits (+ overhead) of running invocations.
  u64 stored_ = 0;    // Storage charged to every tenant.
  u64 running_ = 0;
  u64 functions_ = 0;
  PersonalityImage personality_;
};

}  // namespace manager
