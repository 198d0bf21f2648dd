// What the kernel hands the root task at boot: fixed capability selectors, the boot information
// page and where boot modules are mapped.
// Invariant: the root task starts with exactly the capabilities listed here and nothing else.
#pragma once

#include "abi/types.hpp"

namespace metteagle::abi {

// Capability selectors in the root task's space at its first instruction.
enum RootSelector : u64 {
  ROOT_TASK = 1,          // Its own task: all rights.
  ROOT_THREAD = 2,        // Its own thread: all rights.
  ROOT_FACTORY = 3,       // Factory whose quota is all memory left after boot.
  ROOT_CONSOLE = 4,       // Debug console: Write and Exit.
  ROOT_PLATFORM = 5,      // Platform: creates device objects (MMIO memory, I/O ports, IRQs).
  ROOT_FIRST_MODULE = 8,  // Memory capability (Read only) of RootBootInfo::modules[i] (boot module i + 1).
  ROOT_FIRST_FREE = 64,   // First empty slot; the root task's space has ROOT_CAPABILITY_SLOTS slots.
};
constexpr u64 ROOT_CAPABILITY_SLOTS = 1024;

// Fixed addresses in the root task.
constexpr u64 ROOT_BOOT_INFO_ADDRESS = 0x0000000010000000;  // One read-only page: RootBootInfo.
constexpr u64 ROOT_MODULES_ADDRESS = 0x0000000020000000;    // Modules mapped read-only, one after another.
constexpr u64 ROOT_STACK_TOP = 0x0000000030000000;          // 64 KiB of stack below this.
constexpr u64 ROOT_STACK_PAGES = 16;
constexpr u64 ROOT_UTCB_ADDRESS = 0x0000000030001000;       // The root thread's UTCB.

struct RootModule {
  u64 address;  // Where the module's bytes are mapped in the root task (page aligned).
  u64 size;     // Exact size in bytes.
  u64 selector; // Memory capability of the module's pages.
  // The module's string from the boot loader without the directories of its path, NUL-terminated
  // (truncated if longer). 168 bytes: a server with several endpoints (the manager with the image
  // store's) needs more than the 104 it was.
  char command_line[168];
};
static_assert(sizeof(RootModule) == 192);

struct RootBootInfo {
  static constexpr u64 MAX_MODULES = 20;  // The kernel passes at most 16 (kernel/lib/multiboot.hpp).
  u64 module_count;  // Modules other than the root task itself (module 0).
  u64 cpu_count;
  u64 tsc_hertz;
  char kernel_command_line[104];
  u8 reserved[128 - 8 * 3 - 104];
  RootModule modules[MAX_MODULES];
};
static_assert(sizeof(RootBootInfo) <= 4096);

}  // namespace metteagle::abi
