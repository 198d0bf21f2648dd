// Host test of the user program build: every program links to an image the root task's loader
// accepts (klib::parse_elf), at 0x400000, with separate R-X, R and RW segments and no W+X.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "lib/elf.hpp"

namespace {

std::vector<klib::u8> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::vector<klib::u8>(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

class ProgramImage : public testing::TestWithParam<const char*> {};

TEST_P(ProgramImage, IsAValidSeparatedImage) {
  std::string path = std::string(USER_PROGRAM_DIRECTORY) + "/" + GetParam() + ".elf";
  std::vector<klib::u8> bytes = read_file(path);
  ASSERT_FALSE(bytes.empty()) << path;
  klib::ElfImage image{};
  ASSERT_EQ(klib::parse_elf(bytes.data(), bytes.size(), 0x0000700000000000, image), klib::ElfStatus::Ok);
  EXPECT_FALSE(image.position_independent);
  ASSERT_EQ(image.segment_count, 3u);
  EXPECT_EQ(image.segments[0].virtual_address, 0x400000u);
  EXPECT_TRUE(image.segments[0].readable && image.segments[0].executable && !image.segments[0].writable);
  EXPECT_TRUE(image.segments[1].readable && !image.segments[1].executable && !image.segments[1].writable);
  EXPECT_TRUE(image.segments[2].readable && !image.segments[2].executable && image.segments[2].writable);
  for (klib::usize index = 0; index < image.segment_count; ++index)
    EXPECT_EQ(image.segments[index].virtual_address % 4096, 0u);
  EXPECT_EQ(image.entry, image.segments[0].virtual_address);
}

INSTANTIATE_TEST_SUITE_P(UserPrograms, ProgramImage, testing::Values("root", "kernel_basics"));

}  // namespace
