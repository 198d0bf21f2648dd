// format_to_buffer: the conversions the kernel uses, padding, truncation and edge values.
#include "lib/format.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <string>

// The helper below forwards its pattern, so the compiler cannot check it at the call site;
// every pattern in this file is a literal written to match its arguments.
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"

namespace {
std::string format(const char* pattern, auto... arguments) {
  char buffer[128];
  klib::usize length = klib::format_to_buffer(buffer, sizeof(buffer), pattern, arguments...);
  EXPECT_EQ(length, std::string(buffer).size());
  return buffer;
}
}  // namespace

TEST(Format, Integers) {
  EXPECT_EQ(format("%d %i %u", -5, 17, 42u), "-5 17 42");
  EXPECT_EQ(format("%ld", static_cast<long>(INT64_MIN)), "-9223372036854775808");
  EXPECT_EQ(format("%lu", static_cast<unsigned long>(UINT64_MAX)), "18446744073709551615");
  EXPECT_EQ(format("%x %X %lx", 0xabcu, 0xabcu, 0xfedcba9876543210ul), "abc ABC fedcba9876543210");
  EXPECT_EQ(format("%zu", static_cast<size_t>(123)), "123");
  EXPECT_EQ(format("%d", 0), "0");
}

TEST(Format, WidthAndFlags) {
  EXPECT_EQ(format("[%5d]", 42), "[   42]");
  EXPECT_EQ(format("[%-5d]", 42), "[42   ]");
  EXPECT_EQ(format("[%05d]", -42), "[-0042]");
  EXPECT_EQ(format("[%016lx]", 0x1ful), "[000000000000001f]");
  EXPECT_EQ(format("[%3s]", "abcdef"), "[abcdef]");
  EXPECT_EQ(format("%#lx %#X %#x", 0x100000ul, 0xabu, 0u), "0x100000 0XAB 0x0");
}

TEST(Format, StringsCharactersPointers) {
  EXPECT_EQ(format("%s|%c|%%", "text", 'x'), "text|x|%");
  EXPECT_EQ(format("%s", static_cast<const char*>(nullptr)), "(null)");
  EXPECT_EQ(format("%p", reinterpret_cast<void*>(0x1234)), "0x1234");
}

TEST(Format, UnknownConversionIsEchoed) {
  char buffer[16];
  // Built at run time so the compiler's format checker does not reject the deliberate mistake.
  std::string pattern = "a%qb";
  klib::format_to_buffer(buffer, sizeof(buffer), pattern.c_str());
  EXPECT_STREQ(buffer, "a%qb");
}

TEST(Format, TruncatesButReportsFullLength) {
  char buffer[6];
  EXPECT_EQ(klib::format_to_buffer(buffer, sizeof(buffer), "%s", "0123456789"), 10u);
  EXPECT_STREQ(buffer, "01234");
  char guard[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(klib::format_to_buffer(guard, 1, "%d", 12345), 5u);
  EXPECT_EQ(guard[0], '\0');
  EXPECT_EQ(guard[1], 'x');
}
