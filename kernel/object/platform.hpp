// Platform: the authority to create device objects (device memory, I/O port ranges, interrupt
// lines, DMA memory); only the root task receives it.
// Invariant: one Platform object exists, made at boot; it is never destroyed.
#pragma once

#include "object/kernel_object.hpp"

namespace kernel {

struct Platform {
  KernelObject header;
};

Platform* create_platform();

}  // namespace kernel
