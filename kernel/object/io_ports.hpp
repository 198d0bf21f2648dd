// IoPorts: a range of x86 I/O ports a user-level driver may read and write through the kernel.
// Invariant: [first, first + count) lies within 0..0xffff and excludes the kernel's own ports.
#pragma once

#include "lib/result.hpp"

#include "object/kernel_object.hpp"

namespace kernel {

struct IoPorts {
  KernelObject header;
  u32 first = 0;
  u32 count = 0;
};

struct Factory;
// A port range the caller (a Platform holder) validated.
[[nodiscard]] Result<IoPorts*> create_io_ports(Factory* factory, u32 first, u32 count);
void destroy_io_ports(IoPorts& ports);

}  // namespace kernel
