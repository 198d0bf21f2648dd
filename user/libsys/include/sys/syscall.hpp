// The raw system call: one inline `syscall` instruction with the register convention of
// abi/syscall.hpp. Invariant: this is the only place in user code that executes `syscall`
// (besides ThreadExit in crt0.S); every wrapper goes through invoke().
#pragma once

#include "sys/types.hpp"

namespace sys {

// The five argument/output registers and r12. On entry they hold arguments 1-5 (for IPC: tag and
// words 0-3) and the timeout; on return, outputs 1-5 (IPC: tag and words) and, after a receive,
// the badge.
struct SyscallRegisters {
  u64 argument1 = 0;  // rsi
  u64 argument2 = 0;  // rdx
  u64 argument3 = 0;  // r10
  u64 argument4 = 0;  // r8
  u64 argument5 = 0;  // r9
  u64 timeout_or_badge = 0;  // r12
};

// Every register the kernel may write is an output of the asm statement, so the compiler never
// assumes an argument register survives; rcx and r11 are clobbered by the instruction itself.
inline Error invoke(abi::Syscall operation, u64 selector, SyscallRegisters& registers) {
  u64 rax = static_cast<u64>(operation);
  register u64 r10 asm("r10") = registers.argument3;
  register u64 r8 asm("r8") = registers.argument4;
  register u64 r9 asm("r9") = registers.argument5;
  register u64 r12 asm("r12") = registers.timeout_or_badge;
  asm volatile("syscall"
               : "+a"(rax), "+S"(registers.argument1), "+d"(registers.argument2), "+r"(r10), "+r"(r8),
                 "+r"(r9), "+r"(r12)
               : "D"(selector)
               : "rcx", "r11", "memory");
  registers.argument3 = r10;
  registers.argument4 = r8;
  registers.argument5 = r9;
  registers.timeout_or_badge = r12;
  return static_cast<Error>(rax);
}

// Convenience for operations with plain arguments and no outputs.
inline Error invoke(abi::Syscall operation, u64 selector, u64 argument1 = 0, u64 argument2 = 0,
                    u64 argument3 = 0, u64 argument4 = 0, u64 argument5 = 0) {
  SyscallRegisters registers{argument1, argument2, argument3, argument4, argument5, 0};
  return invoke(operation, selector, registers);
}

inline Result<void> as_result(Error error) { return Result<void>(error); }

}  // namespace sys
