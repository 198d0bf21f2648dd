// Access to user memory: the only way kernel code reads or writes an address a user supplied.
// Invariant: a user range is checked to lie below USER_SPACE_END without wrapping, and the copy
// itself goes through checked_copy, so an unmapped page yields an error, never a kernel fault.
#pragma once

#include "abi/syscall.hpp"
#include "arch/x86_64/platform.hpp"

namespace kernel {
using namespace klib;

inline bool user_range_valid(u64 address, u64 length) {
  return address < metteagle::abi::USER_SPACE_END && length <= metteagle::abi::USER_SPACE_END - address;
}

[[nodiscard]] inline bool copy_from_user(void* destination, u64 user_address, u64 length) {
  if (!user_range_valid(user_address, length)) return false;
  return checked_copy(destination, reinterpret_cast<const void*>(user_address), length) == 0;
}

[[nodiscard]] inline bool copy_to_user(u64 user_address, const void* source, u64 length) {
  if (!user_range_valid(user_address, length)) return false;
  return checked_copy(reinterpret_cast<void*>(user_address), source, length) == 0;
}

}  // namespace kernel
