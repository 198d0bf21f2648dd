// panic: the kernel's last words. Prints the reason, tells QEMU to exit with the panic status.
#pragma once

namespace kernel {

// Exit codes written to isa-debug-exit; QEMU's process status becomes (code << 1) | 1.
enum ExitCode : unsigned char { EXIT_SUCCESS_CODE = 0x10, EXIT_FAILURE_CODE = 0x11, EXIT_PANIC_CODE = 0x12 };

[[noreturn, gnu::format(printf, 1, 2)]] void panic(const char* format, ...);

}  // namespace kernel

// KERNEL_ASSERT: an invariant check that stays on in every build; a failure is a kernel bug.
#define KERNEL_ASSERT(condition)                                                                       \
  do {                                                                                                 \
    if (!(condition)) ::kernel::panic("assertion failed: %s (%s:%d)", #condition, __FILE__, __LINE__); \
  } while (0)
