// The deployed functions of every tenant and each tenant's share of the manager's pool.
// Invariants: (tenant, name) is unique among live entries; an entry's image Memory capability
// stays valid while `users` > 0 even after REMOVE (the last user frees it); a tenant has an
// account (a share taken from the pool) while it has a function, stored bytes or a running
// invocation, and its figures never exceed its share; every access goes through the registry
// lock, which is never held across IPC.
#pragma once

#include "manager/protocol.hpp"
#include "sys/spin_lock.hpp"
#include "sys/sys.hpp"

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

struct Function {
  bool live = false;       // Visible to its tenant.
  bool removed = false;    // Removed while in use: freed when users drops to 0.
  bool reserved = false;   // Taken by a deploy in progress (not live yet).
  u64 tenant = 0;
  char name[NAME_BYTES] = {};
  FunctionConfig config = DEFAULT_CONFIG;
  u64 executable_size = 0;
  u64 entry = 0;
  u64 image = 0;           // The executable file (a manager slot; 0 = none).
  u64 image_cost = 0;      // What it is charged to the tenant's storage quota.
  usize segment_count = 0;
  ImageSegment segments[MAX_SEGMENTS] = {};
  bool linux_abi = false;  // FUNCTION_FLAG_LINUX: runs under the Linux personality.
  bool image_tree = false; // FUNCTION_FLAG_IMAGE: `image` is a packed image tree, mapped read-only.
  u64 store_handle = 0;    // DEPLOY_IMAGE: the image store's read handle of the tree `image` is (0: none).
  LinuxStart linux_start = {};  // What the personality learns about the program (Linux only).
  // The environment CONFIGURE gave it ("KEY=value" strings, NUL-terminated), for every invocation.
  u64 environment_bytes = 0;
  char environment[CONFIGURE_TEXT_BYTES] = {};
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
};

// The Linux personality's image (user/linux/), embedded in manager.elf and prepared once, at the
// first deploy of a Linux executable; shared by every Linux invocation like a function's image.
struct PersonalityImage {
  bool ready = false;
  u64 entry = 0;
  usize segment_count = 0;
  Segment segments[4] = {};
};

// What every tenant may use (the same for each); see docs/CONTAINERS.md, "Tenant shares".
struct ShareLimits {
  u64 memory_bytes = 44ull << 20;   // Memory limits of running invocations (+ their factories).
  u64 storage_bytes = 12ull << 20;  // Deployed executables.
  u64 invocations = 4;              // Concurrent top-level invocations.
  u64 functions = 0;                // Functions (set at boot: the registry divided among shares).
  u64 nested_budget = 256;          // Nested invocations per top-level invocation, all depths.
  // What one share takes from the pool.
  u64 bytes() const { return memory_bytes + storage_bytes; }
};

struct TenantAccount {
  bool used = false;
  u64 tenant = 0;
  u64 memory_in_use = 0;
  u64 storage_in_use = 0;
  u64 invocations = 0;      // Top-level invocations running.
  u64 running = 0;          // Invocations running, nested ones included.
  u64 functions = 0;        // Live or being deployed.
  bool idle() const { return memory_in_use == 0 && storage_in_use == 0 && running == 0 && functions == 0; }
};

constexpr usize MAX_TENANT_ACCOUNTS = 64;

class Registry {
 public:
  // `table` holds `capacity` entries (memory of the manager's own, set up once at boot).
  void configure(Function* table, usize capacity, const ShareLimits& limits, u64 max_tenants);

  SpinLock& lock() { return lock_; }
  // All below require the lock.
  Function* find(u64 tenant, const char* name);
  // A free entry (not live, no users, not reserved), or null.
  Function* reserve();
  usize capacity() const { return capacity_; }
  Function& at(usize index) { return table_[index]; }
  PersonalityImage& personality() { return personality_; }
  const ShareLimits& limits() const { return limits_; }
  u64 max_tenants() const { return max_tenants_; }

  // The tenant's account, or null when it has none.
  TenantAccount* account(u64 tenant);
  // The tenant's account, taking a share from the pool for a new tenant; null when the pool has
  // no share left.
  TenantAccount* open_account(u64 tenant);
  // Gives the share back when nothing of the tenant is left.
  void close_if_idle(TenantAccount& account);
  u64 tenants() const { return tenants_; }
  u64 running() const { return running_; }
  u64 functions() const { return functions_; }

  // Admits one invocation of `tenant` with memory limit `memory_bytes` (top_level: counts against
  // the concurrency quota too); STATUS_OK or STATUS_TENANT_BUSY.
  Status begin_invocation(u64 tenant, u64 memory_bytes, bool top_level);
  void end_invocation(u64 tenant, u64 memory_bytes, bool top_level);
  void count_function(TenantAccount& account, bool added);

 private:
  SpinLock lock_;
  Function* table_ = nullptr;
  usize capacity_ = 0;
  ShareLimits limits_;
  u64 max_tenants_ = 0;
  TenantAccount accounts_[MAX_TENANT_ACCOUNTS];
  u64 tenants_ = 0;
  u64 running_ = 0;
  u64 functions_ = 0;
  PersonalityImage personality_;
};

}  // namespace manager
