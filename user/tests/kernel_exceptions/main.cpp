// kernel_exceptions: user faults delivered as IPC to a thread's exception endpoint, and what the
// handler's reply does. Runs as the root task; the faulting threads live in child tasks.
#include "fixture.hpp"

namespace kernel_exceptions {
extern const test::TestEntry FAULT_KIND_TESTS[];
extern const usize FAULT_KIND_TEST_COUNT;
extern const test::TestEntry HANDLER_REPLY_TESTS[];
extern const usize HANDLER_REPLY_TEST_COUNT;
}  // namespace kernel_exceptions

extern "C" void metteagle_main(sys::u64 argument) {
  using namespace kernel_exceptions;
  run_program("kernel_exceptions", argument,
              {{FAULT_KIND_TESTS, FAULT_KIND_TEST_COUNT}, {HANDLER_REPLY_TESTS, HANDLER_REPLY_TEST_COUNT}});
}
