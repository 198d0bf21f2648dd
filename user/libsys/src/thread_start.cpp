// start_thread: launch a thread of the caller's task at a C++ function through crt0's
// metteagle_thread_entry. Invariant: the launch block lives on the new thread's own stack, so
// nothing the creator owns must outlive the call.
#include "sys/thread.hpp"

extern "C" void metteagle_thread_entry();

namespace {
struct ThreadLaunch {
  void (*function)(sys::u64);
  sys::u64 argument;
};
}  // namespace

// Called by metteagle_thread_entry on the new thread with rdi = the launch block.
extern "C" void metteagle_thread_main(const ThreadLaunch* launch) { launch->function(launch->argument); }

namespace sys {

Result<void> start_thread(Thread thread, u64 stack_top, void (*function)(u64), u64 argument) {
  if (stack_top % 16 != 0 || stack_top < 64) return Error::InvalidArgument;
  u64 block_address = stack_top - 16;
  auto* launch = reinterpret_cast<ThreadLaunch*>(block_address);
  *launch = ThreadLaunch{function, argument};
  // The stack starts below the block; crt0 aligns it again before the first call.
  return thread.start(reinterpret_cast<u64>(&metteagle_thread_entry), block_address - 16, block_address);
}

}  // namespace sys
