// Slice and Buffer: the gateway's byte handling, with every bound checked.
#include "text.hpp"

namespace gateway {
namespace {
char lower(char character) {
  return character >= 'A' && character <= 'Z' ? static_cast<char>(character - 'A' + 'a') : character;
}
}  // namespace

usize text_length(const char* text) {
  usize length = 0;
  while (text[length] != '\0') ++length;
  return length;
}

Slice Slice::of(const char* text) { return Slice{text, text_length(text)}; }

bool Slice::equals(const char* text) const {
  usize index = 0;
  for (; index < size; ++index)
    if (text[index] == '\0' || text[index] != data[index]) return false;
  return text[index] == '\0';
}

bool Slice::equals_ignoring_case(const char* text) const {
  usize index = 0;
  for (; index < size; ++index)
    if (text[index] == '\0' || lower(text[index]) != lower(data[index])) return false;
  return text[index] == '\0';
}

bool Slice::starts_with(const char* prefix) const {
  for (usize index = 0; prefix[index] != '\0'; ++index)
    if (index >= size || data[index] != prefix[index]) return false;
  return true;
}

Slice Slice::trimmed() const {
  usize first = 0;
  usize last = size;
  while (first < last && (data[first] == ' ' || data[first] == '\t')) ++first;
  while (last > first && (data[last - 1] == ' ' || data[last - 1] == '\t')) --last;
  return Slice{data + first, last - first};
}

usize Slice::find(char character) const {
  for (usize index = 0; index < size; ++index)
    if (data[index] == character) return index;
  return size;
}

bool Slice::copy_to(char* target, usize capacity) const {
  if (capacity == 0 || size >= capacity) return false;
  for (usize index = 0; index < size; ++index) target[index] = data[index];
  target[size] = '\0';
  return true;
}

bool parse_decimal(Slice text, u64& value) {
  if (text.size == 0 || text.size > 19) return false;  // 19 digits always fit in a u64.
  u64 result = 0;
  for (usize index = 0; index < text.size; ++index) {
    char digit = text.data[index];
    if (digit < '0' || digit > '9') return false;
    result = result * 10 + static_cast<u64>(digit - '0');
  }
  value = result;
  return true;
}

void Buffer::append(const char* bytes, usize length) {
  if (overflowed_ || length > capacity_ - size_) {
    overflowed_ = true;
    return;
  }
  for (usize index = 0; index < length; ++index) data_[size_ + index] = bytes[index];
  size_ += length;
}

void Buffer::append(const char* text) { append(text, text_length(text)); }

void Buffer::append_unsigned(u64 value) {
  char digits[20];
  usize count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  char text[20];
  for (usize index = 0; index < count; ++index) text[index] = digits[count - 1 - index];
  append(text, count);
}

void Buffer::append_seconds(u64 microseconds) {
  append_unsigned(microseconds / 1'000'000);
  u64 fraction = microseconds % 1'000'000;
  char text[7] = {'.', '0', '0', '0', '0', '0', '0'};
  for (usize index = 6; index >= 1; --index) {
    text[index] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  append(text, 7);
}

void Buffer::append_json_string(const char* bytes, usize length) {
  static const char HEX[] = "0123456789abcdef";
  append("\"", 1);
  for (usize index = 0; index < length; ++index) {
    auto byte = static_cast<u8>(bytes[index]);
    if (byte == '"') {
      append("\\\"", 2);
    } else if (byte == '\\') {
      append("\\\\", 2);
    } else if (byte == '\n') {
      append("\\n", 2);
    } else if (byte < 0x20 || byte >= 0x7f) {
      // Bytes beyond ASCII are escaped one by one: the output stays valid JSON whatever the input.
      char escape[6] = {'\\', 'u', '0', '0', HEX[byte >> 4], HEX[byte & 0xf]};
      append(escape, 6);
    } else {
      char character = static_cast<char>(byte);
      append(&character, 1);
    }
  }
  append("\"", 1);
}

void Buffer::append_json_string(const char* text) { append_json_string(text, text_length(text)); }

}  // namespace gateway
