// Thread: starting and configuring threads, and start_thread for threads of the caller's own task.
// Invariant: a thread started with start_thread runs function(argument) on a 16-byte aligned stack
// and ends with ThreadExit when the function returns.
#pragma once

#include "sys/capability.hpp"

namespace sys {

class Endpoint;

class Thread : public TypedCapability<ObjectType::Thread> {
 public:
  using TypedCapability::TypedCapability;

  // Starts a never-started thread with rip, rsp and rdi.
  [[nodiscard]] Result<void> start(u64 instruction_pointer, u64 stack_pointer, u64 argument) const {
    return as_result(invoke(abi::Syscall::ThreadStart, selector(), instruction_pointer, stack_pointer, argument));
  }
  // exception_endpoint: the selector of an endpoint in the caller's space, 0 for none.
  // allowed_cpus: the CPUs the thread may ever run on (bit i = CPU i), within the caller's own;
  // 0 keeps its set.
  [[nodiscard]] Result<void> configure(u64 priority, u64 cpu, u64 exception_endpoint, u64 allowed_cpus = 0) const {
    return as_result(invoke(abi::Syscall::ThreadConfigure, selector(), priority, cpu, exception_endpoint, allowed_cpus));
  }
  // Ends the thread's wait in NotificationWait or IpcReceive with Interrupted, or marks it so that
  // its next such wait that would block ends so at once (needs the Interrupt right).
  [[nodiscard]] Result<void> interrupt() const { return as_result(invoke(abi::Syscall::ThreadInterrupt, selector())); }
};

// Starts `thread` (created in the caller's own task) at function(argument) with its stack ending
// at stack_top. The launch block is written just below stack_top, so the stack must be mapped
// writable in the caller's task.
[[nodiscard]] Result<void> start_thread(Thread thread, u64 stack_top, void (*function)(u64), u64 argument);

[[noreturn]] inline void exit_thread() {
  invoke(abi::Syscall::ThreadExit, abi::NULL_SELECTOR);
  __builtin_trap();  // ThreadExit does not return.
}

inline void yield_thread() { invoke(abi::Syscall::ThreadYield, abi::NULL_SELECTOR); }

struct ThreadSelfInfo {
  u64 cpu;
  u64 timestamp;
  u64 tsc_hertz;
  u64 cpu_count;
  u64 yields;  // ThreadYield calls since boot, machine-wide.
};
inline ThreadSelfInfo thread_self() {
  SyscallRegisters registers;
  invoke(abi::Syscall::ThreadSelf, abi::NULL_SELECTOR, registers);
  return ThreadSelfInfo{registers.argument1, registers.argument2, registers.argument3, registers.argument4,
                        registers.argument5};
}

}  // namespace sys
