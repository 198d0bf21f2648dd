// parse_multiboot and command_line_value over a fake physical memory image.
#include "lib/multiboot.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using klib::BootInfo;
using klib::MultibootStatus;

namespace {

std::vector<klib::u8> memory(0x10000, 0);

const klib::u8* read_fake(klib::u64 address, klib::usize size) {
  if (address + size > memory.size() || address + size < address) return nullptr;
  return memory.data() + address;
}

void put32(klib::u64 at, klib::u32 value) { std::memcpy(&memory[at], &value, 4); }
void put64(klib::u64 at, klib::u64 value) { std::memcpy(&memory[at], &value, 8); }
void put_string(klib::u64 at, const char* text) { std::memcpy(&memory[at], text, std::strlen(text) + 1); }

// Information structure at 0x1000: command line, two modules, a three-entry memory map.
void build_info() {
  std::fill(memory.begin(), memory.end(), 0);
  put32(0x1000, (1 << 2) | (1 << 3) | (1 << 6));
  put32(0x1000 + 16, 0x2000);
  put_string(0x2000, "/path/kernel test=boot");
  put32(0x1000 + 20, 2);
  put32(0x1000 + 24, 0x3000);
  put32(0x3000, 0x8000);
  put32(0x3004, 0x8100);
  put32(0x3008, 0x3100);
  put_string(0x3100, "prog1 arg");
  put32(0x3010, 0x9000);
  put32(0x3014, 0x9050);
  put32(0x3018, 0x3200);
  put_string(0x3200, "prog2");
  put32(0x1000 + 44, 3 * 24);
  put32(0x1000 + 48, 0x4000);
  const klib::u64 regions[3][3] = {{0, 0x9fc00, 1}, {0xf0000, 0x10000, 2}, {0x100000, 0x1ff00000, 1}};
  for (int i = 0; i < 3; ++i) {
    klib::u64 at = 0x4000 + static_cast<klib::u64>(i) * 24;
    put32(at, 20);
    put64(at + 4, regions[i][0]);
    put64(at + 12, regions[i][1]);
    put32(at + 20, static_cast<klib::u32>(regions[i][2]));
  }
}

}  // namespace

TEST(Multiboot, ReadsCommandLineModulesAndMemoryMap) {
  build_info();
  BootInfo info;
  ASSERT_EQ(klib::parse_multiboot(klib::MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, read_fake, info), MultibootStatus::Ok);
  EXPECT_STREQ(info.command_line, "/path/kernel test=boot");
  ASSERT_EQ(info.module_count, 2u);
  EXPECT_EQ(info.modules[0].start, 0x8000u);
  EXPECT_EQ(info.modules[0].end, 0x8100u);
  EXPECT_STREQ(info.modules[0].command_line, "prog1 arg");
  EXPECT_STREQ(info.modules[1].command_line, "prog2");
  ASSERT_EQ(info.region_count, 3u);
  EXPECT_FALSE(info.regions[1].usable);
  EXPECT_EQ(info.usable_bytes, 0x9fc00u + 0x1ff00000u);
  EXPECT_EQ(info.usable_end, 0x100000u + 0x1ff00000u);
  EXPECT_EQ(info.reserved_end, 0x9050u);  // The second module ends highest.
}

TEST(Multiboot, RejectsBadMagicMissingMapAndUnreadableMemory) {
  build_info();
  BootInfo info;
  EXPECT_EQ(klib::parse_multiboot(0x1badb002, 0x1000, read_fake, info), MultibootStatus::BadMagic);
  EXPECT_EQ(klib::parse_multiboot(klib::MULTIBOOT_BOOTLOADER_MAGIC, 0xfff0, read_fake, info),
            MultibootStatus::Unreadable);
  put32(0x3008, 0xfffffff0);  // A module string pointer outside memory.
  EXPECT_EQ(klib::parse_multiboot(klib::MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, read_fake, info),
            MultibootStatus::Unreadable);
  build_info();
  put32(0x1000, (1 << 2));
  EXPECT_EQ(klib::parse_multiboot(klib::MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, read_fake, info),
            MultibootStatus::NoMemoryMap);
}

TEST(Multiboot, TruncatesLongStringsAndCapsCounts) {
  build_info();
  std::string long_line(400, 'x');
  put_string(0x2000, long_line.c_str());
  put32(0x1000 + 20, 40);  // More modules than BootInfo holds; the list entries read as zeros.
  BootInfo info;
  ASSERT_EQ(klib::parse_multiboot(klib::MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, read_fake, info), MultibootStatus::Ok);
  EXPECT_EQ(std::strlen(info.command_line), sizeof(info.command_line) - 1);
  EXPECT_EQ(info.module_count, BootInfo::MAX_MODULES);
}

// A map entry whose length reaches past 2^64 ends at the top of the address space; it used to
// wrap around to an end below its start (found by fuzz/multiboot_fuzzer.cpp's invariant).
TEST(Multiboot, ARegionPastTheTopOfTheAddressSpaceEndsThere) {
  build_info();
  put64(0x4000 + 2 * 24 + 4, 0xffffffff00000000);
  put64(0x4000 + 2 * 24 + 12, 0x200000000);
  BootInfo info;
  ASSERT_EQ(klib::parse_multiboot(klib::MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, read_fake, info), MultibootStatus::Ok);
  ASSERT_EQ(info.region_count, 3u);
  EXPECT_EQ(info.regions[2].start, 0xffffffff00000000u);
  EXPECT_EQ(info.regions[2].end, ~klib::u64{0});
  EXPECT_EQ(info.usable_bytes, 0x9fc00u + (~klib::u64{0} - 0xffffffff00000000u));
  EXPECT_EQ(info.usable_end, ~klib::u64{0});
}

// A module in a deep build directory keeps its arguments: the path alone may take 150 bytes.
TEST(Multiboot, KeepsArgumentsBehindALongModulePath) {
  build_info();
  std::string line = "/" + std::string(150, 'd') + "/prog1 console=write+exit task factory=64M endpoint=manager:send+grant";
  put32(0x3008, 0x5000);
  put_string(0x5000, line.c_str());
  BootInfo info;
  ASSERT_EQ(klib::parse_multiboot(klib::MULTIBOOT_BOOTLOADER_MAGIC, 0x1000, read_fake, info), MultibootStatus::Ok);
  EXPECT_EQ(std::string(info.modules[0].command_line), line);
}

TEST(CommandLine, FindsKeyValueWords) {
  char value[16];
  EXPECT_TRUE(klib::command_line_value("/kernel test=boot smp=2", "test", value, sizeof(value)));
  EXPECT_STREQ(value, "boot");
  EXPECT_TRUE(klib::command_line_value("/kernel test=boot smp=2", "smp", value, sizeof(value)));
  EXPECT_STREQ(value, "2");
  EXPECT_FALSE(klib::command_line_value("/kernel testing=boot", "test", value, sizeof(value)));
  EXPECT_FALSE(klib::command_line_value("/kernel test", "test", value, sizeof(value)));
  EXPECT_FALSE(klib::command_line_value("", "test", value, sizeof(value)));
  EXPECT_TRUE(klib::command_line_value("a=0123456789abcdefghij", "a", value, sizeof(value)));
  EXPECT_STREQ(value, "0123456789abcde");
  EXPECT_TRUE(klib::command_line_value("x test=", "test", value, sizeof(value)));
  EXPECT_STREQ(value, "");
}
