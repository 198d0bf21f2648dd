// The integer names and byte helpers the image importer uses; freestanding (no C library), so the
// same sources build for the guest's image store and for host tools and tests.
// Invariant: nothing here allocates or depends on a hosted environment.
#pragma once

#include "abi/types.hpp"

namespace imagefs {

using metteagle::abi::i32;
using metteagle::abi::i64;
using metteagle::abi::u16;
using metteagle::abi::u32;
using metteagle::abi::u64;
using metteagle::abi::u8;
using metteagle::abi::usize;

inline void copy_bytes(void* destination, const void* source, u64 length) {
  __builtin_memcpy(destination, source, length);
}

inline bool bytes_equal(const void* left, const void* right, u64 length) {
  return __builtin_memcmp(left, right, length) == 0;
}

inline u64 string_length(const char* text) {
  u64 length = 0;
  while (text[length] != '\0') ++length;
  return length;
}

// True when text[0, length) equals the NUL-terminated literal.
inline bool equals(const char* text, u64 length, const char* literal) {
  u64 literal_length = string_length(literal);
  return length == literal_length && bytes_equal(text, literal, length);
}

inline bool starts_with(const char* text, u64 length, const char* prefix) {
  u64 prefix_length = string_length(prefix);
  return length >= prefix_length && bytes_equal(text, prefix, prefix_length);
}

}  // namespace imagefs
