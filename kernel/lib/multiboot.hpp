// Multiboot1 information reader: memory map, boot modules and command lines, copied into a
// BootInfo the kernel owns.
// Invariant: a BootInfo never points into loader memory; strings are copied and truncated to
// their buffers, counts never exceed the arrays, and reserved_end covers every byte the loader
// handed over (kernel image, modules, the information structures themselves).
#pragma once

#include "lib/types.hpp"

namespace klib {

constexpr u32 MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;

struct MemoryRegion {
  u64 start;
  u64 end;
  bool usable;
};

struct BootModule {
  u64 start;
  u64 end;
  char command_line[256];  // As the loader gave it, full path included (the root task's copy drops the directories).
};

struct BootInfo {
  static constexpr usize MAX_REGIONS = 32;
  static constexpr usize MAX_MODULES = 16;
  char command_line[256];
  MemoryRegion regions[MAX_REGIONS];
  usize region_count;
  BootModule modules[MAX_MODULES];
  usize module_count;
  u64 reserved_end;  // First byte above everything the loader handed over.
  u64 usable_end;    // First byte above the highest usable RAM.
  u64 usable_bytes;
};

// Reads size bytes of physical memory at address; returns nullptr when the range is not readable.
using PhysicalReader = const u8* (*)(u64 address, usize size);

enum class MultibootStatus : u8 { Ok, BadMagic, NoMemoryMap, Unreadable };

MultibootStatus parse_multiboot(u32 magic, u64 info_address, PhysicalReader read, BootInfo& info);

// Value of key=value in a command line (words separated by spaces), copied into out; false if absent.
bool command_line_value(const char* command_line, const char* key, char* out, usize out_size);

}  // namespace klib
