// print/printf: format into a stack buffer and flush it to the console whenever it fills.
// Invariant: the buffer never overflows; each flush writes exactly the bytes collected.
#include "print.hpp"

#include "lib/format.hpp"

#include "sys/string.hpp"

namespace sys {
namespace {

struct ConsoleBuffer {
  static constexpr usize CAPACITY = 256;
  Console console;
  usize used = 0;
  char bytes[CAPACITY] = {};

  void flush() {
    if (used > 0) (void)console.write(bytes, used);
    used = 0;
  }
};

void buffer_sink(void* context, const char* text, usize length) {
  auto* buffer = static_cast<ConsoleBuffer*>(context);
  for (usize index = 0; index < length; ++index) {
    if (buffer->used == ConsoleBuffer::CAPACITY) buffer->flush();
    buffer->bytes[buffer->used++] = text[index];
  }
}

}  // namespace

void print(Console console, const char* text) { (void)console.write(text, strlen(text)); }

usize vprintf(Console console, const char* format, va_list arguments) {
  ConsoleBuffer buffer{console, 0, {}};
  usize length = klib::format_to_sink(buffer_sink, &buffer, format, arguments);
  buffer.flush();
  return length;
}

usize printf(Console console, const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  usize length = vprintf(console, format, arguments);
  va_end(arguments);
  return length;
}

}  // namespace sys
