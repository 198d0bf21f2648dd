// Host tests of hashing::Sha256 against the FIPS 180-4 / NIST example vectors and a streaming split.
#include "sha256.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string hex_of(const std::string& text) {
  char hex[hashing::Sha256::HEX_BYTES];
  hashing::sha256_hex(text.data(), text.size(), hex);
  return hex;
}

TEST(Sha256, EmptyInput) {
  EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, Abc) {
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, TwoBlockMessage) {
  EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, FourBlockMessage) {
  EXPECT_EQ(hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, OneMillionA) {
  EXPECT_EQ(hex_of(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundaries) {
  // 55 bytes fit the length in the same block, 56 need another one, 64 is exactly one block.
  EXPECT_EQ(hex_of(std::string(55, 'a')), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(hex_of(std::string(56, 'a')), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(hex_of(std::string(64, 'a')), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Sha256, StreamingEqualsOneShot) {
  std::string text(1000, '\0');
  for (std::size_t index = 0; index < text.size(); ++index) text[index] = static_cast<char>(index * 7 + 3);
  for (std::size_t split : {0u, 1u, 55u, 63u, 64u, 65u, 999u}) {
    hashing::Sha256 hash;
    hash.update(text.data(), split);
    hash.update(text.data() + split, text.size() - split);
    std::uint8_t digest[hashing::Sha256::DIGEST_BYTES];
    hash.finish(digest);
    char hex[hashing::Sha256::HEX_BYTES];
    for (std::size_t index = 0; index < sizeof digest; ++index)
      snprintf(hex + 2 * index, 3, "%02x", digest[index]);
    EXPECT_EQ(std::string(hex), hex_of(text)) << "split at " << split;
  }
}

}  // namespace
