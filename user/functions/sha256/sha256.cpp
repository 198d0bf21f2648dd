// SHA-256 per FIPS 180-4, section 6.2: 64-byte blocks, big-endian words, 64 rounds.
#include "sha256.hpp"

namespace hashing {
namespace {

constexpr std::uint32_t ROUND_CONSTANTS[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

constexpr std::uint32_t rotate_right(std::uint32_t value, unsigned count) {
  return (value >> count) | (value << (32 - count));
}

}  // namespace

Sha256::Sha256()
    : state_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19},
      buffer_{} {}

void Sha256::compress(const std::uint8_t* block) {
  std::uint32_t schedule[64];
  for (unsigned index = 0; index < 16; ++index) {
    schedule[index] = static_cast<std::uint32_t>(block[4 * index]) << 24 |
                      static_cast<std::uint32_t>(block[4 * index + 1]) << 16 |
                      static_cast<std::uint32_t>(block[4 * index + 2]) << 8 | block[4 * index + 3];
  }
  for (unsigned index = 16; index < 64; ++index) {
    std::uint32_t low = schedule[index - 15];
    std::uint32_t high = schedule[index - 2];
    std::uint32_t sigma0 = rotate_right(low, 7) ^ rotate_right(low, 18) ^ (low >> 3);
    std::uint32_t sigma1 = rotate_right(high, 17) ^ rotate_right(high, 19) ^ (high >> 10);
    schedule[index] = schedule[index - 16] + sigma0 + schedule[index - 7] + sigma1;
  }
  std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  std::uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
  for (unsigned index = 0; index < 64; ++index) {
    std::uint32_t sum1 = rotate_right(e, 6) ^ rotate_right(e, 11) ^ rotate_right(e, 25);
    std::uint32_t choose = (e & f) ^ (~e & g);
    std::uint32_t first = h + sum1 + choose + ROUND_CONSTANTS[index] + schedule[index];
    std::uint32_t sum0 = rotate_right(a, 2) ^ rotate_right(a, 13) ^ rotate_right(a, 22);
    std::uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
    std::uint32_t second = sum0 + majority;
    h = g;
    g = f;
    f = e;
    e = d + first;
    d = c;
    c = b;
    b = a;
    a = first + second;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
  state_[5] += f;
  state_[6] += g;
  state_[7] += h;
}

void Sha256::update(const void* bytes, std::size_t length) {
  const auto* cursor = static_cast<const std::uint8_t*>(bytes);
  total_bytes_ += length;
  while (length > 0) {
    if (buffered_ == 0 && length >= 64) {
      compress(cursor);
      cursor += 64;
      length -= 64;
      continue;
    }
    std::size_t take = 64 - buffered_ < length ? 64 - buffered_ : length;
    for (std::size_t index = 0; index < take; ++index) buffer_[buffered_ + index] = cursor[index];
    buffered_ += take;
    cursor += take;
    length -= take;
    if (buffered_ == 64) {
      compress(buffer_);
      buffered_ = 0;
    }
  }
}

void Sha256::finish(std::uint8_t (&digest)[DIGEST_BYTES]) {
  std::uint64_t total_bits = total_bytes_ * 8;
  // Padding: 0x80, zeros up to 56 bytes mod 64, then the message length in bits, big-endian.
  std::uint8_t padding[72] = {0x80};
  std::size_t padding_length = (buffered_ < 56 ? 56 - buffered_ : 120 - buffered_);
  for (unsigned index = 0; index < 8; ++index)
    padding[padding_length + index] = static_cast<std::uint8_t>(total_bits >> (56 - 8 * index));
  std::uint64_t saved_total = total_bytes_;
  update(padding, padding_length + 8);
  total_bytes_ = saved_total;
  for (unsigned index = 0; index < 8; ++index) {
    digest[4 * index] = static_cast<std::uint8_t>(state_[index] >> 24);
    digest[4 * index + 1] = static_cast<std::uint8_t>(state_[index] >> 16);
    digest[4 * index + 2] = static_cast<std::uint8_t>(state_[index] >> 8);
    digest[4 * index + 3] = static_cast<std::uint8_t>(state_[index]);
  }
}

void sha256_hex(const void* bytes, std::size_t length, char (&hex)[Sha256::HEX_BYTES]) {
  constexpr char DIGITS[] = "0123456789abcdef";
  Sha256 hash;
  hash.update(bytes, length);
  std::uint8_t digest[Sha256::DIGEST_BYTES];
  hash.finish(digest);
  for (std::size_t index = 0; index < Sha256::DIGEST_BYTES; ++index) {
    hex[2 * index] = DIGITS[digest[index] >> 4];
    hex[2 * index + 1] = DIGITS[digest[index] & 0xf];
  }
  hex[2 * Sha256::DIGEST_BYTES] = '\0';
}

}  // namespace hashing
