// Fixed-width integer names used across the ABI, the kernel and user code.
#pragma once

#include <cstddef>
#include <cstdint>

namespace metteagle::abi {
using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using i32 = std::int32_t;
using i64 = std::int64_t;
using usize = std::size_t;
using uptr = std::uintptr_t;
}  // namespace metteagle::abi
