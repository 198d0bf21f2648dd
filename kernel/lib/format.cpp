// printf-style formatting; see format.hpp for the supported conversions.
#include "lib/format.hpp"

namespace klib {
namespace {

struct Spec {
  bool left_justify = false;
  bool zero_pad = false;
  bool alternate = false;  // '#': 0x prefix for hexadecimal.
  usize width = 0;
  int long_count = 0;  // 0 = int, 1 = long, 2 = long long; 'z' counts as long (size_t is 64 bits).
};

struct Writer {
  FormatSink sink;
  void* context;
  usize written = 0;

  void put(const char* text, usize length) {
    if (length == 0) return;
    sink(context, text, length);
    written += length;
  }
  void pad(char character, usize count) {
    for (usize i = 0; i < count; ++i) put(&character, 1);
  }
  // Writes text padded to the spec's width; zero padding goes after a leading sign.
  void field(const Spec& spec, const char* text, usize length, bool numeric) {
    usize padding = spec.width > length ? spec.width - length : 0;
    if (spec.left_justify) {
      put(text, length);
      pad(' ', padding);
      return;
    }
    if (spec.zero_pad && numeric) {
      if (length > 0 && text[0] == '-') {
        put(text, 1);
        ++text;
        --length;
      }
      pad('0', padding);
    } else {
      pad(' ', padding);
    }
    put(text, length);
  }
};

usize string_length(const char* text) {
  usize length = 0;
  while (text[length] != '\0') ++length;
  return length;
}

// Renders value into the end of buffer (at least 24 bytes) and returns the first character.
char* render_unsigned(char* buffer_end, u64 value, unsigned base, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char* cursor = buffer_end;
  do {
    *--cursor = digits[value % base];
    value /= base;
  } while (value != 0);
  return cursor;
}

}  // namespace

usize format_to_sink(FormatSink sink, void* context, const char* format, va_list arguments) {
  Writer writer{sink, context};
  const char* cursor = format;
  while (*cursor != '\0') {
    const char* literal_start = cursor;
    while (*cursor != '\0' && *cursor != '%') ++cursor;
    writer.put(literal_start, static_cast<usize>(cursor - literal_start));
    if (*cursor == '\0') break;
    ++cursor;  // Skip '%'.

    Spec spec;
    for (;; ++cursor) {
      if (*cursor == '-') {
        spec.left_justify = true;
      } else if (*cursor == '0') {
        spec.zero_pad = true;
      } else if (*cursor == '#') {
        spec.alternate = true;
      } else {
        break;
      }
    }
    while (*cursor >= '0' && *cursor <= '9') spec.width = spec.width * 10 + static_cast<usize>(*cursor++ - '0');
    while (*cursor == 'l' || *cursor == 'z') {
      ++spec.long_count;
      ++cursor;
    }

    char number[24];
    char* number_end = number + sizeof(number);
    char conversion = *cursor;
    if (conversion == '\0') break;  // A lone '%' at the end prints nothing.
    ++cursor;
    switch (conversion) {
      case '%': writer.put("%", 1); break;
      case 'c': {
        char character = static_cast<char>(va_arg(arguments, int));
        writer.field(spec, &character, 1, false);
        break;
      }
      case 's': {
        const char* text = va_arg(arguments, const char*);
        if (text == nullptr) text = "(null)";
        writer.field(spec, text, string_length(text), false);
        break;
      }
      case 'd':
      case 'i': {
        i64 value = spec.long_count > 0 ? va_arg(arguments, i64) : va_arg(arguments, int);
        // Negate in unsigned arithmetic so INT64_MIN does not overflow.
        u64 magnitude = value < 0 ? 0 - static_cast<u64>(value) : static_cast<u64>(value);
        char* text = render_unsigned(number_end, magnitude, 10, false);
        if (value < 0) *--text = '-';
        writer.field(spec, text, static_cast<usize>(number_end - text), true);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        u64 value = spec.long_count > 0 ? va_arg(arguments, u64) : va_arg(arguments, unsigned);
        char* text = render_unsigned(number_end, value, conversion == 'u' ? 10 : 16, conversion == 'X');
        if (spec.alternate && conversion != 'u') {
          *--text = conversion;
          *--text = '0';
        }
        writer.field(spec, text, static_cast<usize>(number_end - text), !spec.alternate);
        break;
      }
      case 'p': {
        u64 value = reinterpret_cast<uptr>(va_arg(arguments, void*));
        char* text = render_unsigned(number_end, value, 16, false);
        *--text = 'x';
        *--text = '0';
        writer.field(spec, text, static_cast<usize>(number_end - text), false);
        break;
      }
      default:
        // Unknown conversions are echoed so a bad format string is visible, not silent.
        writer.put("%", 1);
        writer.put(&conversion, 1);
        break;
    }
  }
  return writer.written;
}

namespace {
struct BufferContext {
  char* buffer;
  usize size;
  usize used;
};

void buffer_sink(void* context, const char* text, usize length) {
  auto* target = static_cast<BufferContext*>(context);
  for (usize i = 0; i < length; ++i) {
    if (target->used + 1 < target->size) target->buffer[target->used] = text[i];
    ++target->used;
  }
}
}  // namespace

usize vformat_to_buffer(char* buffer, usize size, const char* format, va_list arguments) {
  BufferContext context{buffer, size, 0};
  usize length = format_to_sink(buffer_sink, &context, format, arguments);
  if (size > 0) buffer[length < size ? length : size - 1] = '\0';
  return length;
}

usize format_to_buffer(char* buffer, usize size, const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  usize length = vformat_to_buffer(buffer, size, format, arguments);
  va_end(arguments);
  return length;
}

}  // namespace klib
