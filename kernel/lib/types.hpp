// Brings the ABI's integer names into the kernel library's namespace.
#pragma once

#include "abi/types.hpp"

namespace klib {
using metteagle::abi::i32;
using metteagle::abi::i64;
using metteagle::abi::u16;
using metteagle::abi::u32;
using metteagle::abi::u64;
using metteagle::abi::u8;
using metteagle::abi::uptr;
using metteagle::abi::usize;

constexpr usize PAGE_SIZE = 4096;
constexpr u64 align_down(u64 value, u64 alignment) { return value & ~(alignment - 1); }
constexpr u64 align_up(u64 value, u64 alignment) { return (value + alignment - 1) & ~(alignment - 1); }
constexpr bool is_aligned(u64 value, u64 alignment) { return (value & (alignment - 1)) == 0; }
}  // namespace klib
