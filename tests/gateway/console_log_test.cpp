// Host tests of the manager's ConsoleLog (user/manager/include/manager/console_log.hpp): what a
// function granted the console may put there (issue 10, finding 6: forged kernel and manager
// lines, terminal escape sequences, 5.5 MB in 15 s).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "manager/console_log.hpp"

namespace manager {
namespace {

struct Captured {
  std::vector<std::string> lines;
  std::string all() const {
    std::string text;
    for (const auto& line : lines) text += line;
    return text;
  }
};

void write(ConsoleLog& log, Captured& captured, const std::string& text) {
  log.write(reinterpret_cast<const u8*>(text.data()), text.size(),
            [&](const char* line, u64 length) { captured.lines.emplace_back(line, length); });
}

TEST(ConsoleLog, EveryLineCarriesTheFunctionAndTenant) {
  ConsoleLog log((u64{3} << 16) | 1, "forger");
  Captured captured;
  write(log, captured, "hello\n*** KERNEL PANIC: forged\nmanager: worker 0 failed\n\nno newline");
  ASSERT_EQ(captured.lines.size(), 5u);
  EXPECT_EQ(captured.lines[0], "[fn 3.1/forger] hello\n");
  EXPECT_EQ(captured.lines[1], "[fn 3.1/forger] *** KERNEL PANIC: forged\n");
  EXPECT_EQ(captured.lines[2], "[fn 3.1/forger] manager: worker 0 failed\n");
  EXPECT_EQ(captured.lines[3], "[fn 3.1/forger] \n");
  EXPECT_EQ(captured.lines[4], "[fn 3.1/forger] no newline\n");  // Ended with its message.
  write(log, captured, "next");
  EXPECT_EQ(captured.lines.back(), "[fn 3.1/forger] next\n");
}

TEST(ConsoleLog, ControlBytesAndEscapeSequencesAreShownNotSent) {
  ConsoleLog log(2 << 16, "esc");
  Captured captured;
  static const char TEXT[] = "\x1b[2J\x1b[31mred\rback\ttab\x7f\xff\0z";
  write(log, captured, std::string(TEXT, sizeof TEXT - 1));
  ASSERT_EQ(captured.lines.size(), 1u);
  EXPECT_EQ(captured.lines[0], "[fn 2.0/esc] \\x1b[2J\\x1b[31mred\\x0dback\\x09tab\\x7f\\xff\\x00z\n");
  for (char c : captured.all()) {
    auto byte = static_cast<unsigned char>(c);
    EXPECT_TRUE(c == '\n' || (byte >= 0x20 && byte < 0x7f)) << static_cast<int>(byte);
  }
}

TEST(ConsoleLog, LongLinesContinuePrefixed) {
  ConsoleLog log(1 << 16, "long");
  Captured captured;
  write(log, captured, std::string(600, 'L'));
  const std::string prefix = "[fn 1.0/long] ";
  ASSERT_EQ(captured.lines.size(), 3u);
  std::size_t letters = 0;
  for (const auto& line : captured.lines) {
    EXPECT_LE(line.size(), ConsoleLog::LINE_BYTES);
    EXPECT_EQ(line.rfind(prefix, 0), 0u) << line;
    EXPECT_EQ(line.back(), '\n');
    letters += line.size() - prefix.size() - 1;
  }
  EXPECT_EQ(letters, 600u);
}

// The flood of finding 6 (log_flood sends 1000 messages of 504 bytes): 4 KiB reach the console,
// then one note, then nothing more of this invocation.
TEST(ConsoleLog, OneInvocationWritesAtMostTheBudget) {
  ConsoleLog log((u64{3} << 16) | 9, "log_flood");
  Captured captured;
  const std::string message(LOG_BYTES, 'L');
  for (int index = 0; index < 1000; ++index) write(log, captured, message);
  EXPECT_TRUE(log.exhausted());
  std::string all = captured.all();
  EXPECT_LE(all.size(), ConsoleLog::BUDGET_BYTES + ConsoleLog::LINE_BYTES);
  EXPECT_EQ(log.used(), all.size() - captured.lines.back().size());
  EXPECT_LE(log.used(), ConsoleLog::BUDGET_BYTES);
  EXPECT_EQ(captured.lines.back(),
            "[fn 3.9/log_flood] log limit of 4096 bytes for this invocation reached; the rest is dropped\n");
  std::size_t notes = 0;
  for (const auto& line : captured.lines) notes += line.find("log limit") != std::string::npos;
  EXPECT_EQ(notes, 1u);
  // A fresh invocation has its own budget.
  ConsoleLog next((u64{3} << 16) | 9, "log_flood");
  Captured again;
  write(next, again, "after\n");
  EXPECT_EQ(again.all(), "[fn 3.9/log_flood] after\n");
}

}  // namespace
}  // namespace manager
