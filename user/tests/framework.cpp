// The in-guest test runner; see framework.hpp for the output format and exit codes.
#include "framework.hpp"

#include "lib/format.hpp"

namespace test {
namespace {
constexpr u64 EXIT_SUCCESS_CODE = 0x10;
constexpr u64 EXIT_FAILURE_CODE = 0x11;

// File names in reasons are shortened to their last component: the line must stay readable.
const char* base_name(const char* path) {
  const char* name = path;
  for (const char* cursor = path; *cursor != '\0'; ++cursor)
    if (*cursor == '/') name = cursor + 1;
  return name;
}
}  // namespace

void Case::fail(const char* file, int line, const char* format, ...) {
  if (failures_++ > 0) return;
  va_list arguments;
  va_start(arguments, format);
  usize length = klib::vformat_to_buffer(reason_, sizeof reason_, format, arguments);
  va_end(arguments);
  if (length >= sizeof reason_) length = sizeof reason_ - 1;
  klib::format_to_buffer(reason_ + length, sizeof reason_ - length, " (%s:%d)", base_name(file), line);
}

void run_all(sys::Console console, const TestEntry* tests, usize count) {
  usize passed = 0;
  usize failed = 0;
  for (usize index = 0; index < count; ++index) {
    Case current;
    tests[index].body(current);
    if (current.failed()) {
      ++failed;
      sys::printf(console, "not ok %zu - %s: %s\n", index + 1, tests[index].name, current.reason());
    } else {
      ++passed;
      sys::printf(console, "ok %zu - %s\n", index + 1, tests[index].name);
    }
  }
  sys::printf(console, "%zu passed, %zu failed\n", passed, failed);
  auto exited = console.exit(failed == 0 ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
  sys::printf(console, "# DebugExit failed: %s\n", sys::error_name(exited.error()));
}

}  // namespace test
