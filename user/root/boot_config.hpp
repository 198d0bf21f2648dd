// The boot configuration of one program: what the root task reads from a boot module's command
// line (format in docs/BOOT.md). Plain logic with no system calls, so it is unit-tested on the host.
// Invariant: parse_boot_config either fills a configuration whose every field is within the
// limits below, or reports the first offending word and leaves the configuration unusable.
#pragma once

#include "abi/rights.hpp"
#include "abi/types.hpp"

namespace root {

using metteagle::abi::u32;
using metteagle::abi::u64;
using metteagle::abi::usize;

constexpr usize MAX_NAME_LENGTH = 15;
constexpr usize MAX_PATH_LENGTH = 103;
constexpr usize MAX_PROGRAM_ENDPOINTS = 8;
constexpr u64 DEFAULT_CAPABILITY_SLOTS = 256;
constexpr u64 MIN_CAPABILITY_SLOTS = 128;
constexpr u64 MAX_CAPABILITY_SLOTS = 65536;  // The kernel's MAX_TASK_SLOTS.
constexpr u64 MAX_FACTORY_QUOTA = u64{1} << 40;
constexpr u64 MAX_FACTORY_PERCENT = 90;

struct EndpointGrant {
  char name[MAX_NAME_LENGTH + 1];
  u32 rights;  // EndpointRight bits.
};

struct ProgramConfig {
  char path[MAX_PATH_LENGTH + 1];
  char name[MAX_NAME_LENGTH + 1];
  u64 capability_slots;
  bool give_task;
  bool give_thread;
  bool give_console;
  u32 console_rights;   // DebugConsoleRight bits, when give_console.
  bool give_platform;   // The Platform capability (right Devices): device memory, I/O ports, IRQs.
  bool give_rtc;        // `rtc`: the CMOS clock's ports 0x70-0x71 (IoPorts) at selector 7, to read the time.
  u64 factory_quota;    // Bytes; 0 = no factory (unless factory_percent).
  u64 factory_percent;  // `factory=<n>%`: n% of the memory free when the program starts; 0 = none.
  bool factory_observe; // `observe`: the factory also has Observe (the machine's free memory).
  usize endpoint_count;
  EndpointGrant endpoints[MAX_PROGRAM_ENDPOINTS];
  bool is_data;         // `data`: the module is a text file kept for programs, not a program.
  bool give_file;       // `file=<name>`: the data module `file` as Read-only Memory at selector 6.
  char file[MAX_NAME_LENGTH + 1];
};

struct ConfigError {
  const char* reason;  // A sentence fragment, e.g. "unknown word".
  usize column;        // 0-based offset of the offending word in the line.
};

bool parse_boot_config(const char* line, ProgramConfig& config, ConfigError& error);

}  // namespace root
