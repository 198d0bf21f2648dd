// The C library functions lwIP needs beyond user/runtime's mem* and strlen: strncmp, strtol, atoi.
// Invariant: each has the exact C semantics for the inputs lwIP gives (bases 0, 8, 10 and 16).
#include <stddef.h>

extern "C" {

int strncmp(const char* left, const char* right, size_t length) {
  for (size_t index = 0; index < length; ++index) {
    auto a = static_cast<unsigned char>(left[index]);
    auto b = static_cast<unsigned char>(right[index]);
    if (a != b) return a < b ? -1 : 1;
    if (a == '\0') return 0;
  }
  return 0;
}

long strtol(const char* text, char** end, int base) {
  const char* cursor = text;
  while (*cursor == ' ' || (*cursor >= '\t' && *cursor <= '\r')) ++cursor;
  bool negative = false;
  if (*cursor == '+' || *cursor == '-') negative = *cursor++ == '-';
  if ((base == 0 || base == 16) && cursor[0] == '0' && (cursor[1] == 'x' || cursor[1] == 'X')) {
    cursor += 2;
    base = 16;
  } else if (base == 0) {
    base = cursor[0] == '0' ? 8 : 10;
  }
  unsigned long value = 0;
  const char* digits_start = cursor;
  for (;; ++cursor) {
    int digit;
    if (*cursor >= '0' && *cursor <= '9') digit = *cursor - '0';
    else if (*cursor >= 'a' && *cursor <= 'z') digit = *cursor - 'a' + 10;
    else if (*cursor >= 'A' && *cursor <= 'Z') digit = *cursor - 'A' + 10;
    else break;
    if (digit >= base) break;
    value = value * static_cast<unsigned long>(base) + static_cast<unsigned long>(digit);
  }
  if (end != nullptr) *end = const_cast<char*>(cursor == digits_start ? text : cursor);
  long result = static_cast<long>(value);
  return negative ? -result : result;
}

int atoi(const char* text) { return static_cast<int>(strtol(text, nullptr, 10)); }

}  // extern "C"
