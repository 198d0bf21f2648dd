// In-kernel self-test suites, selected with test=<suite> on the kernel command line; they check
// what only a running kernel can show (traps, paging, timer) and report in the scenario format:
// one "ok N - name" / "not ok N - name: reason" line per case, then "N passed, M failed".
#pragma once

#include "arch/x86_64/platform.hpp"
#include "lib/types.hpp"

namespace selftest {
using namespace klib;

class Context {
 public:
  void expect(bool condition, const char* expression, const char* file, int line);
  bool failed() const { return failed_; }
  const char* reason() const { return reason_; }

 private:
  bool failed_ = false;
  char reason_[160] = {};
};

struct Case {
  const char* name;
  void (*run)(Context&);
};

struct Suite {
  const char* name;
  const Case* cases;
  usize case_count;
};

#define EXPECT(condition) context.expect((condition), #condition, __FILE__, __LINE__)

[[noreturn]] void run_suite(const char* name);
bool on_exception(arch::TrapFrame& frame);

}  // namespace selftest
