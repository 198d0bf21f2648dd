// SpinLock: a test-and-test-and-set lock that also disables interrupts while held.
// Invariant: while a CPU holds a lock, interrupts on that CPU are off, so an interrupt handler
// can never spin on a lock its own CPU holds.
#pragma once

#include <atomic>

#include "arch/x86_64/cpu.hpp"

namespace kernel {

class SpinLock {
 public:
  // Returns whether interrupts were enabled, to be passed back to unlock.
  bool lock() {
    bool interrupts_were_enabled = arch::interrupts_enabled();
    arch::disable_interrupts();
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return interrupts_were_enabled;
      while (locked_.load(std::memory_order_relaxed)) arch::pause();
    }
  }
  void unlock(bool interrupts_were_enabled) {
    locked_.store(false, std::memory_order_release);
    if (interrupts_were_enabled) arch::enable_interrupts();
  }

 private:
  std::atomic<bool> locked_{false};
};

class SpinLockGuard {
 public:
  explicit SpinLockGuard(SpinLock& lock) : lock_(lock), interrupts_were_enabled_(lock.lock()) {}
  ~SpinLockGuard() { lock_.unlock(interrupts_were_enabled_); }
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;

 private:
  SpinLock& lock_;
  bool interrupts_were_enabled_;
};

}  // namespace kernel
