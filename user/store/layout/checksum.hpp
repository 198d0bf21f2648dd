// CRC-32C (Castagnoli), the store's checksum for superblocks, catalog records and blob bytes.
// Invariant: crc32c(data) == crc32c_finish(crc32c_update(crc32c_start(), data)), so a checksum
// can be computed over a stream in pieces of any size.
#pragma once

#include "memory.hpp"

namespace store {

constexpr u32 crc32c_start() { return 0xffffffffu; }
u32 crc32c_update(u32 state, const void* data, u64 length);
constexpr u32 crc32c_finish(u32 state) { return state ^ 0xffffffffu; }
inline u32 crc32c(const void* data, u64 length) { return crc32c_finish(crc32c_update(crc32c_start(), data, length)); }

}  // namespace store
