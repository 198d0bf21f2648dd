// ConsoleLog: one invocation's log text made fit for the shared operator console, for functions
// granted GRANT_CONSOLE (the gateway grants it only to operator keys). Pure and host-tested
// (tests/gateway/console_log_test.cpp).
// Invariant: every call of the sink carries one whole line that starts with the function's prefix
// "[fn <badge>.<sub-tenant>/<name>] " and ends with '\n', and holds only printable ASCII besides
// (any other byte appears as the four characters \xNN), so a function can neither start a line of
// the kernel's or the manager's nor send terminal escape sequences; one invocation hands over at
// most BUDGET_BYTES of lines, then a single line saying that the rest is dropped, then nothing.
#pragma once

#include "manager/protocol.hpp"

namespace manager {

class ConsoleLog {
 public:
  static constexpr u64 BUDGET_BYTES = 4096;  // Console bytes per invocation, prefixes included.
  static constexpr u64 LINE_BYTES = 256;     // A longer line continues on the next, prefixed again.

  ConsoleLog(u64 tenant, const char* name) {
    append("[fn ");
    append_decimal(tenant >> 16);
    append(".");
    append_decimal(tenant & 0xffff);
    append("/");
    for (u64 index = 0; index + 1 < NAME_BYTES && name[index] != '\0'; ++index) {
      char c = name[index];
      bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      prefix_[prefix_length_++] = plain ? c : '?';
    }
    append("] ");
  }

  // One EVENT_LOG message: `sink(const char* line, u64 length)` is called once per whole line. A
  // line the message leaves open is ended with it (the next message starts a new line), so a
  // later message cannot continue a line another writer has started meanwhile.
  template <typename Sink>
  void write(const u8* text, u64 length, Sink&& sink) {
    char line[LINE_BYTES];
    u64 fill = 0;
    auto start = [&] {
      for (u64 index = 0; index < prefix_length_; ++index) line[index] = prefix_[index];
      fill = prefix_length_;
    };
    // False once the budget is spent (then the note has been written instead of the line).
    auto finish = [&]() -> bool {
      line[fill++] = '\n';
      if (used_ + fill > BUDGET_BYTES) {
        exhaust(sink);
        return false;
      }
      used_ += fill;
      sink(static_cast<const char*>(line), fill);
      fill = 0;
      return true;
    };
    for (u64 index = 0; index < length && !exhausted_; ++index) {
      u8 c = text[index];
      if (fill == 0) start();
      if (c == '\n') {
        if (!finish()) return;
        continue;
      }
      char piece[4];
      u64 size = escape(c, piece);
      if (fill + size + 1 > LINE_BYTES) {
        if (!finish()) return;
        start();
      }
      for (u64 at = 0; at < size; ++at) line[fill++] = piece[at];
    }
    if (fill > 0 && !exhausted_) (void)finish();
  }

  bool exhausted() const { return exhausted_; }
  u64 used() const { return used_; }

 private:
  static u64 escape(u8 c, char (&piece)[4]) {
    if (c >= 0x20 && c < 0x7f) {
      piece[0] = static_cast<char>(c);
      return 1;
    }
    constexpr char HEX[] = "0123456789abcdef";
    piece[0] = '\\';
    piece[1] = 'x';
    piece[2] = HEX[c >> 4];
    piece[3] = HEX[c & 0xf];
    return 4;
  }

  template <typename Sink>
  void exhaust(Sink& sink) {
    exhausted_ = true;
    char note[LINE_BYTES];
    u64 fill = 0;
    for (u64 index = 0; index < prefix_length_; ++index) note[fill++] = prefix_[index];
    constexpr char TEXT[] = "log limit of 4096 bytes for this invocation reached; the rest is dropped\n";
    for (u64 index = 0; index + 1 < sizeof TEXT; ++index) note[fill++] = TEXT[index];
    sink(static_cast<const char*>(note), fill);
  }

  void append(const char* text) {
    for (u64 index = 0; text[index] != '\0'; ++index) prefix_[prefix_length_++] = text[index];
  }
  void append_decimal(u64 value) {
    char digits[20];
    u64 count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (count > 0) prefix_[prefix_length_++] = digits[--count];
  }

  // "[fn " + 15 digits + "." + 5 digits + "/" + 63 name bytes + "] " = 91 at most.
  char prefix_[4 + 15 + 1 + 5 + 1 + (NAME_BYTES - 1) + 2] = {};
  u64 prefix_length_ = 0;
  u64 used_ = 0;
  bool exhausted_ = false;
};

static_assert(ConsoleLog::LINE_BYTES > 4 + 15 + 1 + 5 + 1 + (NAME_BYTES - 1) + 2 + 8, "a line holds the prefix and some text");

}  // namespace manager
