// IoPorts: a range of x86 I/O ports a user-level driver may read and write through the kernel.
// Invariant: [first, first + count) lies within 0..0xffff and excludes the kernel's own ports.
#pragma once

#include "object/kernel_object.hpp"

namespace kernel {

struct IoPorts {
  KernelObject header;
  u32 first = 0;
  u32 count = 0;
};

// Platform: the authority to create device objects; only the root task receives it.
struct Platform {
  KernelObject header;
};

}  // namespace kernel
