// In-guest test framework for QEMU scenarios: runs named cases and prints the scenario format of
// docs/TESTING.md ("ok N - name", "not ok N - name: reason (file:line)", "P passed, F failed"),
// then ends the machine with isa-debug-exit code 0x10 (all passed) or 0x11.
// Invariant: every case prints exactly one result line, and the summary counts exactly those.
#pragma once

#include "print.hpp"
#include "sys/sys.hpp"

namespace test {

using sys::Error;
using sys::u32;
using sys::u64;
using sys::usize;

// A running case: records the first failure (later ones only count), so the line says what went
// wrong first, which usually explains the rest.
class Case {
 public:
  [[gnu::format(printf, 4, 5)]] void fail(const char* file, int line, const char* format, ...);
  bool failed() const { return failures_ > 0; }
  const char* reason() const { return reason_; }

 private:
  usize failures_ = 0;
  char reason_[192] = {};
};

struct TestEntry {
  const char* name;
  void (*body)(Case& test);
};

// The value of a successful Result, or nothing for Result<void>; lets REQUIRE_OK serve both.
template <typename T>
T& value_of(sys::Result<T>& result) { return result.value(); }
inline void value_of(sys::Result<void>&) {}

// Runs every case in order, prints the summary and exits the machine; returns only when the
// console cannot exit (then the caller should end its thread).
void run_all(sys::Console console, const TestEntry* tests, usize count);

// A slot of the program's capability space (from the allocator `slots()` returns) that is empty
// for the duration of a case; freed, and emptied if still filled, at scope end.
template <sys::SlotAllocator& (*slots)()>
class ScopedSlotOf {
 public:
  explicit ScopedSlotOf(Case& test) {
    auto slot = slots().allocate();
    if (!slot.ok()) {
      test.fail(__FILE__, __LINE__, "no free capability slot: %s", sys::error_name(slot.error()));
      return;
    }
    selector_ = slot.value();
  }
  ~ScopedSlotOf() {
    if (selector_ == sys::abi::NULL_SELECTOR) return;
    (void)sys::Capability(selector_).remove();  // The slot may be empty already: that fails harmlessly.
    slots().free(selector_);
  }
  ScopedSlotOf(const ScopedSlotOf&) = delete;
  ScopedSlotOf& operator=(const ScopedSlotOf&) = delete;
  u64 selector() const { return selector_; }
  bool valid() const { return selector_ != sys::abi::NULL_SELECTOR; }

 private:
  u64 selector_ = sys::abi::NULL_SELECTOR;
};

}  // namespace test

// The checks below expect the current case to be named `test`.
#define EXPECT(condition)                                                          \
  do {                                                                             \
    if (!(condition)) test.fail(__FILE__, __LINE__, "expected %s", #condition);    \
  } while (0)

#define EXPECT_EQ(actual, expected)                                                                       \
  do {                                                                                                    \
    auto expect_actual_ = static_cast<::test::u64>(actual);                                               \
    auto expect_expected_ = static_cast<::test::u64>(expected);                                           \
    if (expect_actual_ != expect_expected_)                                                               \
      test.fail(__FILE__, __LINE__, "%s is %#lx, expected %#lx", #actual, expect_actual_, expect_expected_); \
  } while (0)

// expression yields a Result; the case fails unless it succeeded.
#define EXPECT_OK(expression)                                                                         \
  do {                                                                                                \
    auto expect_result_ = (expression);                                                               \
    if (!expect_result_.ok())                                                                         \
      test.fail(__FILE__, __LINE__, "%s failed with %s", #expression, ::sys::error_name(expect_result_.error())); \
  } while (0)

// expression yields a Result; the case fails unless it failed with exactly `expected`.
#define EXPECT_ERROR(expression, expected)                                                            \
  do {                                                                                                \
    auto expect_result_ = (expression);                                                               \
    if (expect_result_.error() != (expected))                                                         \
      test.fail(__FILE__, __LINE__, "%s gave %s, expected %s", #expression,                          \
                ::sys::error_name(expect_result_.error()), ::sys::error_name(expected));              \
  } while (0)

// Like EXPECT_OK, but ends the case on failure; yields the value (a GNU statement expression).
#define REQUIRE_OK(expression)                                                                        \
  ({                                                                                                  \
    auto require_result_ = (expression);                                                              \
    if (!require_result_.ok()) {                                                                      \
      test.fail(__FILE__, __LINE__, "%s failed with %s", #expression, ::sys::error_name(require_result_.error())); \
      return;                                                                                         \
    }                                                                                                 \
    ::test::value_of(require_result_);                                                                \
  })

#define REQUIRE(condition)                                                         \
  do {                                                                             \
    if (!(condition)) {                                                            \
      test.fail(__FILE__, __LINE__, "expected %s", #condition);                    \
      return;                                                                      \
    }                                                                              \
  } while (0)
