// SHA-256 (FIPS 180-4) for the sha256 function and its host tests: plain code, no allocation.
// Invariant: the same source builds freestanding (guest) and hosted (GoogleTest); it reads exactly
// the bytes given and writes exactly 32 (digest) or 65 (hex with NUL) bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hashing {

class Sha256 {
 public:
  static constexpr std::size_t DIGEST_BYTES = 32;
  static constexpr std::size_t HEX_BYTES = 2 * DIGEST_BYTES + 1;  // With the terminating NUL.

  Sha256();
  void update(const void* bytes, std::size_t length);
  // Finishes the hash; the object must not be updated afterwards.
  void finish(std::uint8_t (&digest)[DIGEST_BYTES]);

 private:
  void compress(const std::uint8_t* block);

  std::uint32_t state_[8];
  std::uint8_t buffer_[64];
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// Lower-case hexadecimal digest of `length` bytes, NUL-terminated.
void sha256_hex(const void* bytes, std::size_t length, char (&hex)[Sha256::HEX_BYTES]);

}  // namespace hashing
