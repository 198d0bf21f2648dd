// Virtual memory layout of the kernel; shared by assembly and C++, so only #defines here.
// Invariant: the kernel image lives in the top 2 GiB (-mcmodel=kernel), all physical memory
// is mapped once at PHYSMAP_BASE, and user space never reaches above USER_SPACE_END.
#pragma once

#define KERNEL_VIRTUAL_BASE 0xffffffff80000000
#define PHYSMAP_BASE 0xffff800000000000
#define LAYOUT_USER_SPACE_END 0x0000800000000000
#define KERNEL_BOOT_STACK_SIZE 16384
#define KERNEL_LOAD_PHYSICAL 0x100000
