// What system-call handlers outside the dispatcher share: the caller's own task, the personality
// redirection, and the device-interrupt entry.
// Invariant: handlers reach registers only through the typed views of syscall_arguments.hpp.
#pragma once

#include "abi/syscall.hpp"
#include "arch/x86_64/platform.hpp"
#include "object/task.hpp"
#include "object/thread.hpp"

namespace kernel {

inline Task& own_task(Thread& self) { return *self.task; }

// A `syscall` of a thread with a personality outside its handler: the registers go to the UTCB and
// the thread continues in the handler. Returns false for a native call (personality.cpp).
bool redirect_to_personality(Thread& self, arch::TrapFrame& frame);

// A device interrupt arrived on line: mask it and signal the bound notification.
void on_device_interrupt(u32 line);

}  // namespace kernel
