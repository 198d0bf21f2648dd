// The C memory and string functions the compiler may call, for the kernel and for user programs.
// Invariant: each has the exact C semantics (memcpy and memset return their destination argument).
// Not built for host tests: there the C library provides them.
#include "lib/types.hpp"

using klib::u64;
using klib::u8;
using klib::usize;

extern "C" {

// Eight bytes per iteration, then the last 0-7 one by one: QEMU TCG runs a rep string instruction
// one iteration at a time (and icount counts each), so `rep movsb` alone costs 8x the iterations.
void* memcpy(void* destination, const void* source, usize length) {
  void* start = destination;
  usize words = length / 8, rest = length % 8;
  asm volatile("rep movsq" : "+D"(destination), "+S"(source), "+c"(words)::"memory");
  asm volatile("rep movsb" : "+D"(destination), "+S"(source), "+c"(rest)::"memory");
  return start;
}

void* memset(void* destination, int value, usize length) {
  void* start = destination;
  usize words = length / 8, rest = length % 8;
  u64 pattern = u64{0x0101010101010101} * static_cast<u8>(value);
  asm volatile("rep stosq" : "+D"(destination), "+c"(words) : "a"(pattern) : "memory");
  asm volatile("rep stosb" : "+D"(destination), "+c"(rest) : "a"(pattern) : "memory");
  return start;
}

void* memmove(void* destination, const void* source, usize length) {
  auto* target = static_cast<u8*>(destination);
  const auto* origin = static_cast<const u8*>(source);
  if (target < origin || target >= origin + length) {
    for (usize i = 0; i < length; ++i) target[i] = origin[i];
  } else {
    for (usize i = length; i > 0; --i) target[i - 1] = origin[i - 1];
  }
  return destination;
}

int memcmp(const void* left, const void* right, usize length) {
  const auto* a = static_cast<const u8*>(left);
  const auto* b = static_cast<const u8*>(right);
  for (usize i = 0; i < length; ++i)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

usize strlen(const char* text) {
  usize length = 0;
  while (text[length] != '\0') ++length;
  return length;
}

}  // extern "C"
