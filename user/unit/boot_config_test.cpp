// Host tests of the root task's boot configuration parser: every word, its limits and its errors.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "boot_config.hpp"

namespace {

using root::ConfigError;
using root::ProgramConfig;

ProgramConfig parse_ok(const char* line) {
  ProgramConfig config;
  ConfigError error{};
  EXPECT_TRUE(root::parse_boot_config(line, config, error)) << line << ": " << (error.reason ? error.reason : "");
  return config;
}

ConfigError parse_error(const char* line) {
  ProgramConfig config;
  ConfigError error{};
  EXPECT_FALSE(root::parse_boot_config(line, config, error)) << line;
  return error;
}

TEST(BootConfig, PathAloneGivesNothingAndADefaultName) {
  ProgramConfig config = parse_ok("/work/build/user/echo_server.elf");
  EXPECT_STREQ(config.path, "/work/build/user/echo_server.elf");
  EXPECT_STREQ(config.name, "echo_server");
  EXPECT_EQ(config.capability_slots, root::DEFAULT_CAPABILITY_SLOTS);
  EXPECT_FALSE(config.give_task);
  EXPECT_FALSE(config.give_thread);
  EXPECT_FALSE(config.give_console);
  EXPECT_FALSE(config.give_platform);
  EXPECT_EQ(config.factory_quota, 0u);
  EXPECT_EQ(config.endpoint_count, 0u);
}

TEST(BootConfig, PlatformIsGivenOnlyWhenNamedAndOnlyOnce) {
  EXPECT_TRUE(parse_ok("net.elf platform console").give_platform);
  EXPECT_TRUE(parse_ok("manager.elf task rtc").give_rtc);
  EXPECT_FALSE(parse_ok("manager.elf task").give_rtc);
  EXPECT_EQ(parse_error("manager.elf rtc rtc").column, 16u);
  EXPECT_EQ(parse_error("manager.elf rtc=on").column, 12u);
  EXPECT_FALSE(parse_ok("net.elf console").give_platform);
  EXPECT_EQ(parse_error("net.elf platform platform").column, 17u);
  EXPECT_EQ(parse_error("net.elf platform=all").column, 8u);
}

TEST(BootConfig, LongDefaultNamesAreCut) {
  EXPECT_STREQ(parse_ok("a/very_long_program_name_here.elf").name, "very_long_progr");
}

TEST(BootConfig, EveryWord) {
  ProgramConfig config = parse_ok(
      "prog.elf name=server slots=512 task thread console=write+exit factory=1M endpoint=svc:send+receive "
      "endpoint=log");
  EXPECT_STREQ(config.name, "server");
  EXPECT_EQ(config.capability_slots, 512u);
  EXPECT_TRUE(config.give_task);
  EXPECT_TRUE(config.give_thread);
  EXPECT_TRUE(config.give_console);
  EXPECT_EQ(config.console_rights, 3u);
  EXPECT_EQ(config.factory_quota, 1u << 20);
  ASSERT_EQ(config.endpoint_count, 2u);
  EXPECT_STREQ(config.endpoints[0].name, "svc");
  EXPECT_EQ(config.endpoints[0].rights, 3u);
  EXPECT_STREQ(config.endpoints[1].name, "log");
  EXPECT_EQ(config.endpoints[1].rights, 1u);
}

TEST(BootConfig, SlotsSpanTheKernelsWholeRange) {
  EXPECT_EQ(parse_ok("p slots=128").capability_slots, 128u);
  EXPECT_EQ(parse_ok("p slots=65536").capability_slots, 65536u);
}

TEST(BootConfig, ConsoleDefaultsToWriteOnly) {
  EXPECT_EQ(parse_ok("p console").console_rights, 1u);
  EXPECT_EQ(parse_ok("p console=exit").console_rights, 2u);
}

TEST(BootConfig, Sizes) {
  EXPECT_EQ(parse_ok("p factory=4096").factory_quota, 4096u);
  EXPECT_FALSE(parse_ok("p factory=4096").factory_observe);
  EXPECT_TRUE(parse_ok("p observe factory=4096").factory_observe);
  EXPECT_EQ(parse_ok("p factory=64K").factory_quota, 65536u);
  EXPECT_EQ(parse_ok("p factory=2G").factory_quota, 2ull << 30);
}

// factory=<n>%: a share of the memory free at start (the manager's pool follows the guest's memory).
TEST(BootConfig, FactoryPercentages) {
  ProgramConfig config = parse_ok("p observe factory=33%");
  EXPECT_EQ(config.factory_percent, 33u);
  EXPECT_EQ(config.factory_quota, 0u);
  EXPECT_TRUE(config.factory_observe);
  EXPECT_EQ(parse_ok("p factory=1%").factory_percent, 1u);
  EXPECT_EQ(parse_ok("p factory=90%").factory_percent, 90u);
  for (const char* bad : {"p factory=0%", "p factory=91%", "p factory=%", "p factory=5%%", "p factory=10% factory=1M",
                          "p factory=1M factory=10%"}) {
    ConfigError error = parse_error(bad);
    EXPECT_NE(error.reason, nullptr) << bad;
  }
}

TEST(BootConfig, ExtraSpacesAreIgnored) {
  ProgramConfig config = parse_ok("  p   task\tthread  ");
  EXPECT_STREQ(config.path, "p");
  EXPECT_TRUE(config.give_task && config.give_thread);
}

TEST(BootConfig, ErrorsNameTheWord) {
  const char* line = "p task bogus";
  ConfigError error = parse_error(line);
  EXPECT_EQ(error.column, 7u);
  EXPECT_NE(std::string(error.reason).find("unknown"), std::string::npos);
}

TEST(BootConfig, InvalidWordsAreRejected) {
  const char* bad[] = {
      "",
      "   ",
      "p task task",
      "p thread thread",
      "p console console",
      "p console=",
      "p console=read",
      "p console=write+write",
      "p name=",
      "p name=this_name_is_too_long",
      "p name=bad/name",
      "p name=a name=b",
      "p slots=",
      "p slots=12",
      "p slots=100000",
      "p slots=65537",
      "p slots=127",
      "p slots=12x",
      "p slots=99999999999999999999999",
      "p factory=",
      "p factory=0",
      "p factory=1T",
      "p factory=M",
      "p factory=2000G",
      "p factory=99999999999999999999G",
      "p factory=1M factory=2M",
      "p observe",
      "p observe observe factory=1M",
      "p endpoint=",
      "p endpoint=:send",
      "p endpoint=svc:",
      "p endpoint=svc:send+",
      "p endpoint=svc:write",
      "p endpoint=svc:send+send",
      "p endpoint=svc endpoint=svc:receive",
      "p endpoint=a endpoint=b endpoint=c endpoint=d endpoint=e endpoint=f endpoint=g endpoint=h endpoint=i",
      "p caps=console",
      "p data data",
      "p file=",
      "p file=bad/name",
      "p file=a file=b",
      "keys.txt data console",
      "keys.txt task data",
  };
  for (const char* line : bad) parse_error(line);
}

TEST(BootConfig, DataModulesAndFiles) {
  ProgramConfig data = parse_ok("gateway.keys data name=keys");
  EXPECT_TRUE(data.is_data);
  EXPECT_STREQ(data.name, "keys");
  EXPECT_FALSE(parse_ok("gateway.elf console").is_data);
  ProgramConfig program = parse_ok("gateway.elf console file=keys");
  EXPECT_TRUE(program.give_file);
  EXPECT_STREQ(program.file, "keys");
  EXPECT_FALSE(program.is_data);
  // A capability word on a data module is reported at that word.
  EXPECT_EQ(parse_error("k data name=k console").column, 14u);
  EXPECT_EQ(parse_error("k factory=1M data").column, 2u);
}

TEST(BootConfig, LongPathIsRejected) {
  std::string line(root::MAX_PATH_LENGTH + 1, 'x');
  parse_error(line.c_str());
}

}  // namespace
