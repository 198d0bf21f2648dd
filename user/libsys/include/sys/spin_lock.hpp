// SpinLock for state shared by threads of one task that run on several CPUs at once (the
// manager's workers, the gateway's). Header-only and free of system calls, so host tests of code
// that uses it build too. Invariant: the holder never blocks in the kernel while holding it (no
// IPC, no waiting under the lock), so every critical section is short.
#pragma once

#include <atomic>

namespace sys {

class SpinLock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire))
      while (locked_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class LockGuard {
 public:
  explicit LockGuard(SpinLock& lock) : lock_(lock) { lock_.lock(); }
  ~LockGuard() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  SpinLock& lock_;
};

}  // namespace sys
