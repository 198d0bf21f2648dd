// Kernel console: formatted output to the serial port, serialized across CPUs.
#pragma once

#include <cstdarg>

#include "lib/types.hpp"

namespace kernel {
using namespace klib;

[[gnu::format(printf, 1, 2)]] void log(const char* format, ...);
void vlog(const char* format, va_list arguments);

}  // namespace kernel
