// x86-64 page-table entry bits and table access, shared by the kernel's own tables (paging.cpp)
// and user address spaces (address_space.cpp).
#pragma once

#include "arch/x86_64/platform.hpp"

namespace arch::page_table {

constexpr u64 PRESENT = 1ull << 0;
constexpr u64 WRITABLE = 1ull << 1;
constexpr u64 USER = 1ull << 2;
constexpr u64 WRITE_THROUGH = 1ull << 3;
constexpr u64 CACHE_DISABLE = 1ull << 4;
constexpr u64 LARGE = 1ull << 7;
constexpr u64 GLOBAL = 1ull << 8;
constexpr u64 NO_EXECUTE = 1ull << 63;
constexpr u64 ADDRESS_MASK = 0x000ffffffffff000ull;

inline u64* table_at(u64 physical) { return reinterpret_cast<u64*>(physical_to_virtual(physical)); }
// Index of address in the table of level (3 = PML4 ... 0 = page table).
inline unsigned index_at(u64 address, unsigned level) {
  return static_cast<unsigned>((address >> (12 + 9 * level)) & 0x1ff);
}

}  // namespace arch::page_table
