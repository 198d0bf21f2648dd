// Hooks through which the architecture's trap dispatcher hands events to generic kernel code.
#pragma once

#include "arch/x86_64/platform.hpp"

namespace kernel {

void on_timer_tick(arch::TrapFrame& frame);
// Returns true if the exception was handled and execution may resume at frame.rip.
bool on_exception(arch::TrapFrame& frame);

}  // namespace kernel
