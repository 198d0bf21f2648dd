// DebugConsole: the serial console and the machine's exit port as a capability, so only tasks
// handed it (the root task, test programs) can print or end the machine.
#pragma once

#include "object/kernel_object.hpp"

namespace kernel {

struct DebugConsole {
  KernelObject header;
};

DebugConsole* create_debug_console();

}  // namespace kernel
