// CRC-32C by table (slicing by eight): the reflected polynomial 0x82f63b78, eight 256-entry tables
// built at compile time. Plain integer code, so it runs in the guest under -mgeneral-regs-only and
// on CPUs without SSE4.2 (QEMU's default TCG model has none).
#include "checksum.hpp"

namespace store {
namespace {

constexpr u32 POLYNOMIAL = 0x82f63b78u;

struct Tables {
  u32 entries[8][256];
};

constexpr Tables make_tables() {
  Tables tables{};
  for (u32 byte = 0; byte < 256; ++byte) {
    u32 crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) != 0 ? (crc >> 1) ^ POLYNOMIAL : crc >> 1;
    tables.entries[0][byte] = crc;
  }
  for (u32 byte = 0; byte < 256; ++byte)
    for (int slice = 1; slice < 8; ++slice) {
      u32 previous = tables.entries[slice - 1][byte];
      tables.entries[slice][byte] = (previous >> 8) ^ tables.entries[0][previous & 0xff];
    }
  return tables;
}

constexpr Tables TABLES = make_tables();

}  // namespace

u32 crc32c_update(u32 state, const void* data, u64 length) {
  const auto* bytes = static_cast<const u8*>(data);
  const auto& t = TABLES.entries;
  while (length >= 8) {
    u64 word;
    __builtin_memcpy(&word, bytes, 8);
    word ^= state;
    state = t[7][word & 0xff] ^ t[6][(word >> 8) & 0xff] ^ t[5][(word >> 16) & 0xff] ^ t[4][(word >> 24) & 0xff] ^
            t[3][(word >> 32) & 0xff] ^ t[2][(word >> 40) & 0xff] ^ t[1][(word >> 48) & 0xff] ^ t[0][word >> 56];
    bytes += 8;
    length -= 8;
  }
  while (length-- > 0) state = (state >> 8) ^ t[0][(state ^ *bytes++) & 0xff];
  return state;
}

}  // namespace store
