// LocalThread: a further thread of the test's own task, with its own stack and UTCB, removed
// (thread deleted, stack unmapped and deleted) when the object goes out of scope.
// Invariant: at most MAX_LOCAL_THREADS exist at once; each owns a distinct stack and UTCB address.
#pragma once

#include "environment.hpp"

namespace support {

class LocalThread {
 public:
  static constexpr u64 MAX_LOCAL_THREADS = 16;
  static constexpr u64 STACK_PAGES = 4;

  LocalThread() = default;
  ~LocalThread();
  LocalThread(const LocalThread&) = delete;
  LocalThread& operator=(const LocalThread&) = delete;

  // Creates the thread (not started) with the own priority on `cpu` and the exception endpoint
  // `exception_endpoint` (0 for none).
  [[nodiscard]] Result<void> create(u64 cpu = 0, u64 exception_endpoint = abi::NULL_SELECTOR);
  [[nodiscard]] Result<void> start(void (*function)(u64), u64 argument);
  Thread thread() const { return Thread(thread_slot_); }
  // Maps and unmaps a page at every stack and UTCB address once, so the page tables they need
  // exist from the start and later quota checks see no growth of the own task's tables.
  static void warm_up_page_tables();
  // Deletes the thread now (it must not be running on another CPU; see the report).
  void destroy();

 private:
  u64 index_ = MAX_LOCAL_THREADS;
  u64 thread_slot_ = abi::NULL_SELECTOR;
  u64 stack_slot_ = abi::NULL_SELECTOR;
};

}  // namespace support
