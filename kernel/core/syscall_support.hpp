// What every system-call handler shares: argument access, result delivery, and the handlers that
// live outside syscalls.cpp (one file per family).
// Invariant: a handler writes its result with finish() (or leaves it to the thread that wakes the
// caller) and validates everything before it changes anything.
#pragma once

#include "abi/syscall.hpp"
#include "arch/x86_64/platform.hpp"
#include "object/task.hpp"
#include "object/thread.hpp"

namespace kernel {

// Argument registers in ABI order: 1 rsi, 2 rdx, 3 r10, 4 r8, 5 r9.
inline u64 argument(const arch::TrapFrame& frame, int index) {
  switch (index) {
    case 1: return frame.rsi;
    case 2: return frame.rdx;
    case 3: return frame.r10;
    case 4: return frame.r8;
    default: return frame.r9;
  }
}

inline void finish(arch::TrapFrame& frame, metteagle::abi::Error error) { frame.rax = static_cast<u64>(error); }

// Makes the thread enter the same system call again, with its registers as they are now, when it
// returns to user mode: a long operation does one bounded step per kernel entry, and between two
// steps the kernel lock is free for other CPUs and the thread can be preempted. `syscall` is two
// bytes (0f 05) and left rip just past itself; every check is made again on the new entry.
inline void continue_in_next_entry(arch::TrapFrame& frame, metteagle::abi::Syscall operation) {
  frame.rip -= 2;
  frame.rax = static_cast<u64>(operation);
}

inline Task& own_task(Thread& self) { return *self.task; }

using SyscallHandler = void (*)(Thread& self, arch::TrapFrame& frame);

// Notifications, interrupts and device access (device_syscalls.cpp).
void notification_signal_handler(Thread& self, arch::TrapFrame& frame);
void notification_wait_handler(Thread& self, arch::TrapFrame& frame);
void platform_create_mmio(Thread& self, arch::TrapFrame& frame);
void platform_create_io_ports(Thread& self, arch::TrapFrame& frame);
void platform_create_irq(Thread& self, arch::TrapFrame& frame);
void irq_bind(Thread& self, arch::TrapFrame& frame);
void irq_acknowledge(Thread& self, arch::TrapFrame& frame);
void io_port_read(Thread& self, arch::TrapFrame& frame);
void io_port_write(Thread& self, arch::TrapFrame& frame);
void platform_create_dma_memory(Thread& self, arch::TrapFrame& frame);
void platform_memory_physical(Thread& self, arch::TrapFrame& frame);

// Copies into, out of and between memory objects (memory_syscalls.cpp).
void memory_write(Thread& self, arch::TrapFrame& frame);
void memory_read(Thread& self, arch::TrapFrame& frame);
void memory_copy(Thread& self, arch::TrapFrame& frame);
void memory_decommit(Thread& self, arch::TrapFrame& frame);
void memory_commit(Thread& self, arch::TrapFrame& frame);
void memory_copy_committed(Thread& self, arch::TrapFrame& frame);

// System-call personalities (personality.cpp).
void thread_set_syscall_handler(Thread& self, arch::TrapFrame& frame);
void personality_return(Thread& self, arch::TrapFrame& frame);
void thread_set_fs_base(Thread& self, arch::TrapFrame& frame);
// A `syscall` of a thread with a personality outside its handler: the registers go to the UTCB and
// the thread continues in the handler. Returns false for a native call.
bool redirect_to_personality(Thread& self, arch::TrapFrame& frame);

// A device interrupt arrived on line: mask it and signal the bound notification.
void on_device_interrupt(u32 line);

}  // namespace kernel
