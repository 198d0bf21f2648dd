// printf-style formatting into a sink or a buffer; freestanding, no allocation.
// Supports %% %c %s %d %i %u %x %X %p with flags '-', '0', '#', a width, and the l/ll/z length modifiers.
// Invariant: format_to_buffer always NUL-terminates when size > 0 and never writes past size.
#pragma once

#include <cstdarg>

#include "lib/types.hpp"

namespace klib {

// A sink receives the formatted characters in pieces; context is passed back unchanged.
using FormatSink = void (*)(void* context, const char* text, usize length);

usize format_to_sink(FormatSink sink, void* context, const char* format, va_list arguments);

// Returns the length the full output would have (like snprintf), so truncation is detectable.
[[gnu::format(printf, 3, 4)]] usize format_to_buffer(char* buffer, usize size, const char* format, ...);
usize vformat_to_buffer(char* buffer, usize size, const char* format, va_list arguments);

}  // namespace klib
