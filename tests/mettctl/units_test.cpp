// mettctl's units: sizes, durations and counts are parsed exactly or rejected with a message.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "units.hpp"

namespace mettctl {
namespace {

std::uint64_t size_of(std::string const& text) {
  auto result = parse_size(text);
  EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.failure().message);
  return result.ok() ? result.value() : 0;
}

std::uint64_t duration_of(std::string const& text) {
  auto result = parse_duration_ms(text);
  EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.failure().message);
  return result.ok() ? result.value() : 0;
}

std::string size_error(std::string const& text) {
  auto result = parse_size(text);
  EXPECT_FALSE(result.ok()) << "'" << text << "' was accepted";
  if (result.ok()) return "";
  EXPECT_EQ(result.failure().exit_code, ExitCode::Usage);
  return result.failure().message;
}

std::string duration_error(std::string const& text) {
  auto result = parse_duration_ms(text);
  EXPECT_FALSE(result.ok()) << "'" << text << "' was accepted";
  if (result.ok()) return "";
  EXPECT_EQ(result.failure().exit_code, ExitCode::Usage);
  return result.failure().message;
}

TEST(MettctlSize, PlainBytes) {
  EXPECT_EQ(size_of("0"), 0u);
  EXPECT_EQ(size_of("1"), 1u);
  EXPECT_EQ(size_of("16777216"), 16777216u);
  EXPECT_EQ(size_of("007"), 7u);
}

TEST(MettctlSize, BinaryUnits) {
  EXPECT_EQ(size_of("1K"), 1024u);
  EXPECT_EQ(size_of("1k"), 1024u);
  EXPECT_EQ(size_of("4KiB"), 4096u);
  EXPECT_EQ(size_of("16M"), 16u << 20);
  EXPECT_EQ(size_of("16m"), 16u << 20);
  EXPECT_EQ(size_of("16MiB"), 16u << 20);
  EXPECT_EQ(size_of("2G"), 2ULL << 30);
  EXPECT_EQ(size_of("2GiB"), 2ULL << 30);
  EXPECT_EQ(size_of("18446744073709551615"), UINT64_MAX);
}

TEST(MettctlSize, RejectsMalformedText) {
  for (char const* text : {"", "M", "K16", "-1", "+1", " 1", "1 ", "16 M", "1.5M", "1,024", "0x10", "16MB", "16Mi",
                           "16X", "1e6", "16MM", "1T"}) {
    std::string message = size_error(text);
    EXPECT_NE(message.find("'" + std::string(text) + "'"), std::string::npos) << message;
  }
}

TEST(MettctlSize, UnknownUnitIsNamed) {
  EXPECT_NE(size_error("16X").find("unknown unit 'X'"), std::string::npos);
  EXPECT_NE(size_error("abc").find("is not a size"), std::string::npos);
}

TEST(MettctlSize, RejectsOverflow) {
  EXPECT_NE(size_error("18446744073709551616").find("too large"), std::string::npos);
  EXPECT_NE(size_error("17179869184G").find("too large"), std::string::npos);
  EXPECT_NE(size_error("99999999999999999999999999").find("too large"), std::string::npos);
}

TEST(MettctlDuration, WholeUnits) {
  EXPECT_EQ(duration_of("500ms"), 500u);
  EXPECT_EQ(duration_of("0ms"), 0u);
  EXPECT_EQ(duration_of("5s"), 5000u);
  EXPECT_EQ(duration_of("2m"), 120000u);
  EXPECT_EQ(duration_of("1h"), 3600000u);
}

TEST(MettctlDuration, ExactFractions) {
  EXPECT_EQ(duration_of("1.5s"), 1500u);
  EXPECT_EQ(duration_of("0.001s"), 1u);
  EXPECT_EQ(duration_of("0.25m"), 15000u);
  EXPECT_EQ(duration_of("1.000000000s"), 1000u);
}

TEST(MettctlDuration, RejectsMalformedText) {
  for (char const* text : {"", "5", "s", "ms", "-1s", "+1s", " 5s", "5s ", "5 s", "5S", "5sec", "5us", "1m30s", ".5s",
                           "5.s", "5..0s", "1e3ms", "0x5s"}) {
    duration_error(text);
  }
  EXPECT_NE(duration_error("5").find("no unit"), std::string::npos);
  EXPECT_NE(duration_error("5sec").find("unknown unit 'sec'"), std::string::npos);
}

TEST(MettctlDuration, RejectsSubMillisecondPrecision) {
  EXPECT_NE(duration_error("1.5ms").find("finer than a millisecond"), std::string::npos);
  EXPECT_NE(duration_error("0.0001s").find("finer than a millisecond"), std::string::npos);
  EXPECT_NE(duration_error("1.0000000001s").find("too many decimal places"), std::string::npos);
}

TEST(MettctlDuration, RejectsOverflow) {
  EXPECT_NE(duration_error("18446744073709551616ms").find("too long"), std::string::npos);
  EXPECT_NE(duration_error("18446744073709551615s").find("too long"), std::string::npos);
  EXPECT_NE(duration_error("18446744073709551615.5ms").find("finer"), std::string::npos);
  EXPECT_NE(duration_error("18446744073709551.615999s").find("finer"), std::string::npos);
  EXPECT_EQ(duration_of("18446744073709551.615s"), UINT64_MAX);
  EXPECT_NE(duration_error("18446744073709551.616s").find("too long"), std::string::npos);
}

TEST(MettctlCount, DigitsOnlyWithinMaximum) {
  auto four = parse_count("4", 10);
  ASSERT_TRUE(four.ok());
  EXPECT_EQ(four.value(), 4u);
  EXPECT_TRUE(parse_count("10", 10).ok());
  EXPECT_FALSE(parse_count("11", 10).ok());
  for (char const* text : {"", "-1", "+1", "1.0", "4 ", "four", "99999999999999999999999"}) {
    EXPECT_FALSE(parse_count(text, UINT64_MAX).ok()) << text;
  }
}

TEST(MettctlFormatSize, ExactMultiplesOnly) {
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_size(1024), "1K");
  EXPECT_EQ(format_size(16u << 20), "16M");
  EXPECT_EQ(format_size((1u << 20) + 1024), "1025K");
  EXPECT_EQ(format_size(3ULL << 30), "3G");
}

TEST(MettctlCpuList, ListsAndRangesBecomeMasks) {
  auto mask = [](std::string const& text) {
    auto result = parse_cpu_list(text);
    EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.failure().message);
    return result.ok() ? result.value() : ~std::uint64_t{0};
  };
  EXPECT_EQ(mask("0,2-3"), 13u);
  EXPECT_EQ(mask("0"), 1u);
  EXPECT_EQ(mask("1"), 2u);
  EXPECT_EQ(mask("0-7"), 255u);
  EXPECT_EQ(mask("63"), std::uint64_t{1} << 63);
  EXPECT_EQ(mask("0-63"), ~std::uint64_t{0});
  EXPECT_EQ(mask("5,1"), 34u);
}

TEST(MettctlCpuList, RefusesWhatIsNotAList) {
  for (std::string text : {"", ",", "0,", ",1", "1,,2", "3-1", "64", "0-64", "1,1", "0-2,2", "a", "1 ,2", "-1", "1-",
                           "+1", "0x1", "1-2-3"}) {
    auto result = parse_cpu_list(text);
    EXPECT_FALSE(result.ok()) << "'" << text << "' was accepted";
    if (!result.ok()) {
      EXPECT_EQ(result.failure().exit_code, ExitCode::Usage);
      EXPECT_NE(result.failure().message.find("is not a CPU list"), std::string::npos) << result.failure().message;
    }
  }
}

}  // namespace
}  // namespace mettctl
