// Formatted log lines for code running inside a function (the native runtime and the Linux
// personality): printf-style text cut into pieces of at most LOG_BYTES, each handed to `flush`
// (which sends one EVENT_LOG).
#pragma once

#include <cstdarg>

#include "lib/format.hpp"
#include "manager/protocol.hpp"

namespace manager {

using LogFlush = void (*)(const char* text, metteagle::abi::usize length);

inline void format_log(LogFlush flush, const char* format, va_list arguments) {
  struct Buffer {
    LogFlush flush;
    metteagle::abi::usize used = 0;
    char bytes[LOG_BYTES] = {};
  } buffer{flush};
  auto sink = [](void* opaque, const char* text, metteagle::abi::usize length) {
    auto* target = static_cast<Buffer*>(opaque);
    for (metteagle::abi::usize index = 0; index < length; ++index) {
      if (target->used == sizeof target->bytes) {
        target->flush(target->bytes, target->used);
        target->used = 0;
      }
      target->bytes[target->used++] = text[index];
    }
  };
  klib::format_to_sink(sink, &buffer, format, arguments);
  if (buffer.used > 0) flush(buffer.bytes, buffer.used);
}

}  // namespace manager
