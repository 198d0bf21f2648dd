// Hooks through which the architecture's trap dispatcher hands events to generic kernel code.
#pragma once

#include "arch/x86_64/platform.hpp"

namespace kernel {

void on_timer_tick(arch::TrapFrame& frame);
// A kernel-mode exception: returns true if handled and execution may resume at frame.rip.
bool on_exception(arch::TrapFrame& frame);
// A user-mode exception of the current thread.
void on_user_exception(arch::TrapFrame& frame);
// Everything that must happen before any return to user mode (reaping, rescheduling).
void on_return_to_user();

}  // namespace kernel
