// SpinLock: the one lock for state shared by threads of one task (or by tasks sharing memory)
// that run on several CPUs at once: the manager's workers, the gateway's, the Linux personality's
// threads and processes. A waiter that has spun SPINS_BEFORE_YIELD times gives its CPU away: a
// holder preempted on the waiter's own CPU runs again only then. Header-only; host builds of the
// same code (unit tests) yield to the host's scheduler instead.
// Invariant: the holder never blocks in the kernel while holding it (no IPC, no waiting under the
// lock), so every critical section is short; the lock is one u32 word (0 free, 1 held), so it can
// live in memory shared between tasks and be released from assembly.
#pragma once

#if __STDC_HOSTED__
#include <sched.h>
#else
#include "sys/thread.hpp"
#endif

namespace sys {

// Gives the CPU away for a moment: to a thread this one waits for (a preempted lock holder, or
// one backing memory another waits to use).
inline void give_way() {
#if __STDC_HOSTED__
  sched_yield();
#else
  yield_thread();
#endif
}

class SpinLock {
 public:
  static constexpr unsigned SPINS_BEFORE_YIELD = 64;

  void lock() {
    unsigned spins = 0;
    while (__atomic_exchange_n(&word_, 1u, __ATOMIC_ACQUIRE) != 0) {
      while (__atomic_load_n(&word_, __ATOMIC_RELAXED) != 0) {
        if (++spins < SPINS_BEFORE_YIELD) {
          __builtin_ia32_pause();
        } else {
          spins = 0;
          give_way();
        }
      }
    }
  }
  void unlock() { __atomic_store_n(&word_, 0u, __ATOMIC_RELEASE); }
  // Whether some thread holds it now (for assertions: the answer may be stale at once).
  bool held() const { return __atomic_load_n(&word_, __ATOMIC_RELAXED) != 0; }
  // The word itself, for the one release that cannot be a call (a thread's exit, in assembly).
  unsigned* word() { return &word_; }

 private:
  unsigned word_ = 0;
};
static_assert(sizeof(SpinLock) == 4);

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
