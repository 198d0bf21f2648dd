// kernel_lifecycle: destruction while threads wait, IPC timeouts and factory quotas, checked
// from the root task with child factories and child tasks.
#include "blocking_code.hpp"

namespace kernel_lifecycle {
extern const test::TestEntry DESTRUCTION_TESTS[];
extern const usize DESTRUCTION_TEST_COUNT;
extern const test::TestEntry TIMEOUT_TESTS[];
extern const usize TIMEOUT_TEST_COUNT;
extern const test::TestEntry QUOTA_TESTS[];
extern const usize QUOTA_TEST_COUNT;
}  // namespace kernel_lifecycle

extern "C" void metteagle_main(sys::u64 argument) {
  using namespace kernel_lifecycle;
  // Destruction last: its final case stops threads running on the other CPU.
  run_program("kernel_lifecycle", argument,
              {{TIMEOUT_TESTS, TIMEOUT_TEST_COUNT}, {QUOTA_TESTS, QUOTA_TEST_COUNT},
               {DESTRUCTION_TESTS, DESTRUCTION_TEST_COUNT}});
}
