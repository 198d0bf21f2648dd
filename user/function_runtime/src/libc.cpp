// The C library subset a function may use besides mem*/strlen (kernel/lib/memory_functions.cpp) and the
// heap (heap.cpp): strings, character classes, number parsing, snprintf, abort.
// Invariant: each function has its C standard semantics for the inputs C defines.
#include "function/function.hpp"
#include "lib/format.hpp"

extern "C" {

void* memchr(const void* bytes, int value, size_t length) {
  const auto* cursor = static_cast<const unsigned char*>(bytes);
  for (size_t index = 0; index < length; ++index)
    if (cursor[index] == static_cast<unsigned char>(value)) return const_cast<unsigned char*>(cursor + index);
  return nullptr;
}

size_t strnlen(const char* text, size_t limit) {
  size_t length = 0;
  while (length < limit && text[length] != '\0') ++length;
  return length;
}

int strcmp(const char* left, const char* right) {
  while (*left != '\0' && *left == *right) {
    ++left;
    ++right;
  }
  return static_cast<unsigned char>(*left) - static_cast<unsigned char>(*right);
}

int strncmp(const char* left, const char* right, size_t limit) {
  for (size_t index = 0; index < limit; ++index) {
    if (left[index] != right[index] || left[index] == '\0')
      return static_cast<unsigned char>(left[index]) - static_cast<unsigned char>(right[index]);
  }
  return 0;
}

char* strcpy(char* destination, const char* source) {
  size_t index = 0;
  do {
    destination[index] = source[index];
  } while (source[index++] != '\0');
  return destination;
}

char* strncpy(char* destination, const char* source, size_t limit) {
  size_t index = 0;
  for (; index < limit && source[index] != '\0'; ++index) destination[index] = source[index];
  for (; index < limit; ++index) destination[index] = '\0';
  return destination;
}

char* strcat(char* destination, const char* source) {
  strcpy(destination + strlen(destination), source);
  return destination;
}

char* strchr(const char* text, int character) {
  for (;; ++text) {
    if (*text == static_cast<char>(character)) return const_cast<char*>(text);
    if (*text == '\0') return nullptr;
  }
}

char* strrchr(const char* text, int character) {
  const char* found = nullptr;
  for (;; ++text) {
    if (*text == static_cast<char>(character)) found = text;
    if (*text == '\0') return const_cast<char*>(found);
  }
}

char* strstr(const char* haystack, const char* needle) {
  size_t length = strlen(needle);
  for (; *haystack != '\0' || length == 0; ++haystack) {
    if (strncmp(haystack, needle, length) == 0) return const_cast<char*>(haystack);
    if (*haystack == '\0') break;
  }
  return nullptr;
}

char* strdup(const char* text) {
  size_t length = strlen(text) + 1;
  auto* copy = static_cast<char*>(malloc(length));
  if (copy != nullptr) memcpy(copy, text, length);
  return copy;
}

int isdigit(int character) { return character >= '0' && character <= '9'; }
int isspace(int character) { return character == ' ' || (character >= '\t' && character <= '\r'); }
int isalpha(int character) { return (character | 0x20) >= 'a' && (character | 0x20) <= 'z'; }
int toupper(int character) { return character >= 'a' && character <= 'z' ? character - 0x20 : character; }
int tolower(int character) { return character >= 'A' && character <= 'Z' ? character + 0x20 : character; }

unsigned long strtoul(const char* text, char** end, int base) {
  const char* cursor = text;
  while (isspace(*cursor)) ++cursor;
  bool negative = false;
  if (*cursor == '+' || *cursor == '-') negative = *cursor++ == '-';
  if ((base == 0 || base == 16) && cursor[0] == '0' && (cursor[1] | 0x20) == 'x') {
    cursor += 2;
    base = 16;
  } else if (base == 0) {
    base = cursor[0] == '0' ? 8 : 10;
  }
  unsigned long value = 0;
  const char* first_digit = cursor;
  for (;; ++cursor) {
    int digit = isdigit(*cursor) ? *cursor - '0' : isalpha(*cursor) ? (*cursor | 0x20) - 'a' + 10 : 99;
    if (digit >= base) break;
    value = value * static_cast<unsigned long>(base) + static_cast<unsigned long>(digit);
  }
  if (end != nullptr) *end = const_cast<char*>(cursor == first_digit ? text : cursor);
  return negative ? 0 - value : value;
}

long strtol(const char* text, char** end, int base) { return static_cast<long>(strtoul(text, end, base)); }
int atoi(const char* text) { return static_cast<int>(strtol(text, nullptr, 10)); }

int vsnprintf(char* buffer, size_t size, const char* format, va_list arguments) {
  return static_cast<int>(klib::vformat_to_buffer(buffer, size, format, arguments));
}

int snprintf(char* buffer, size_t size, const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  int length = vsnprintf(buffer, size, format, arguments);
  va_end(arguments);
  return length;
}

// An abnormal end: the invocation fails with exit code 134 (as a shell reports SIGABRT).
void abort(void) {
  function_log("abort", 5);
  function_exit(134);
}

}  // extern "C"
