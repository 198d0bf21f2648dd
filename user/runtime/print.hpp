// Formatted output for user programs through the DebugWrite system call, using the kernel
// library's formatter (lib/format.cpp) compiled for user mode.
// Invariant: output is buffered per call and written in as few DebugWrite calls as possible;
// a failed write is dropped silently, because there is nowhere left to report it.
#pragma once

#include <cstdarg>

#include "sys/console.hpp"

namespace sys {

void print(Console console, const char* text);
[[gnu::format(printf, 2, 3)]] usize printf(Console console, const char* format, ...);
usize vprintf(Console console, const char* format, va_list arguments);

}  // namespace sys
