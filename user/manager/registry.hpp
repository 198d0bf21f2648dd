// The deployed functions of every tenant: name, configuration and the prepared executable image.
// Invariants: (tenant, name) is unique among live entries; an entry's image Memory capabilities
// stay valid while `users` > 0 even after REMOVE (the last user frees them); every access goes
// through the registry lock, which is never held across IPC.
#pragma once

#include "manager/protocol.hpp"
#include "sys/spin_lock.hpp"
#include "sys/sys.hpp"

namespace manager {

using sys::LockGuard;
using sys::SpinLock;

using sys::u64;
using sys::usize;

struct Segment {
  u64 address;        // Page-aligned start in the function's address space.
  u64 pages;
  bool writable;
  bool executable;
  u64 memory;         // Selector of the manager's Memory holding the segment's initial bytes.
};

struct Function {
  bool live = false;       // Visible to its tenant.
  bool removed = false;    // Removed while in use: freed when users drops to 0.
  u64 tenant = 0;
  char name[NAME_BYTES] = {};
  FunctionConfig config = DEFAULT_CONFIG;
  u64 executable_size = 0;
  u64 entry = 0;
  usize segment_count = 0;
  Segment segments[8] = {};
  bool linux_abi = false;  // FUNCTION_FLAG_LINUX: runs under the Linux personality.
  LinuxStart linux_start = {};  // What the personality learns about the program (Linux only).
  u64 executable_memory = 0;    // Linux only: the file itself (a manager slot; 0 = none).
  u64 users = 0;           // Invocations running now.
  u64 invocations = 0;
  u64 failures = 0;
};

constexpr usize MAX_FUNCTIONS = 64;

// The Linux personality's image (user/linux/), embedded in manager.elf and prepared once, at the
// first deploy of a Linux executable; shared by every Linux invocation like a function's image.
struct PersonalityImage {
  bool ready = false;
  u64 entry = 0;
  usize segment_count = 0;
  Segment segments[4] = {};
};

class Registry {
 public:
  SpinLock& lock() { return lock_; }
  // All below require the lock.
  Function* find(u64 tenant, const char* name);
  // A free entry (not live, no users), or null.
  Function* reserve();
  usize index_of(const Function& function) const { return static_cast<usize>(&function - functions_); }
  Function& at(usize index) { return functions_[index]; }
  PersonalityImage& personality() { return personality_; }

 private:
  SpinLock lock_;
  Function functions_[MAX_FUNCTIONS];
  PersonalityImage personality_;
};

}  // namespace manager
