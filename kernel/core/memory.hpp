// Physical memory of the whole machine: one frame allocator over all usable RAM.
// Invariant: frames holding the kernel image, the boot modules and the loader's information
// structures are never handed out.
#pragma once

#include "lib/frame_allocator.hpp"
#include "lib/multiboot.hpp"

namespace kernel {
using namespace klib;

void memory_init(const BootInfo& boot_info);
FrameAllocator& frames();
// Allocates a frame and zeroes it; panics when memory is gone (boot-time use only).
u64 allocate_boot_frame();

}  // namespace kernel
