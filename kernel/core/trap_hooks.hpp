// Hooks through which the architecture's trap dispatcher hands events to generic kernel code.
#pragma once

#include "arch/x86_64/platform.hpp"

namespace kernel {

void on_timer_tick();
// A kernel-mode exception: returns true if handled and execution may resume where the frame says.
bool on_exception(arch::TrapFrame& frame);
// A page fault of the kernel on a user address inside checked_copy (kernel lock held): true when
// it was a first touch of a demand-zero page, now mapped, and the copy may retry.
bool on_user_memory_fault(u64 address, u64 error_code);
// A user-mode exception of the current thread.
void on_user_exception(arch::TrapFrame& frame);
// Everything that must happen before any return to user mode (reaping, rescheduling).
void on_return_to_user();

}  // namespace kernel
