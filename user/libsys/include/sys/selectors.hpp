// The standard capability layout of a program: which selector holds which capability when the
// program starts, the same for the root task and for every program the root task starts.
// Invariant: these equal the ROOT_* selectors of abi/boot.hpp, so a program can run either way.
#pragma once

#include "sys/types.hpp"

namespace sys {

constexpr u64 SELF_TASK = 1;       // The program's own task (Map + Capabilities for children).
constexpr u64 SELF_THREAD = 2;     // The program's first thread (Control).
constexpr u64 OWN_FACTORY = 3;     // A factory with the program's quota, if it was given one.
constexpr u64 CONSOLE = 4;         // The debug console, if it was given one.
constexpr u64 BOOT_FILE = 6;       // A data module (`file=`): Read-only Memory, text ending with a zero byte.
constexpr u64 RTC_PORTS = 7;       // The CMOS clock's I/O ports 0x70-0x71 (`rtc`): the wall clock.
constexpr u64 FIRST_ENDPOINT = 8;  // Named endpoints, in the order of the boot configuration.
constexpr u64 FIRST_FREE = 64;     // First slot the program itself manages.
static_assert(SELF_TASK == u64{abi::ROOT_TASK} && SELF_THREAD == u64{abi::ROOT_THREAD});
static_assert(OWN_FACTORY == u64{abi::ROOT_FACTORY} && CONSOLE == u64{abi::ROOT_CONSOLE});
static_assert(FIRST_FREE == u64{abi::ROOT_FIRST_FREE});
constexpr u64 MAX_CHILD_ENDPOINTS = FIRST_FREE - FIRST_ENDPOINT;

}  // namespace sys
