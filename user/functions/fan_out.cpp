// Adversarial: invokes itself 64 times (MAX_NESTED_CALLS) at every level, as deep as its
// configuration allows: without bounds that is 64^depth invocations. The manager bounds it by the
// top-level invocation's deadline (STATUS_TIMEOUT) and by its tenant's nested budget, counted
// across all depths (STATUS_TOO_MANY_CALLS). Input: empty, or decimal milliseconds each invocation
// waits (blocked) before it fans out, passed on to every level, so that a whole tree takes longer
// than any short deadline on any machine. Output: the number of nested invocations that ran below
// this one (each reports its own count), so the top-level output is exactly the budget.
#include "function/function.hpp"
#include "sys/sys.hpp"

int function_main(const FunctionInput& input, FunctionOutput& output) {
  u64 milliseconds = 0;
  for (usize index = 0; index < input.size() && index < 5; ++index)
    milliseconds = milliseconds * 10 + static_cast<u64>(input.text()[index] - '0');
  if (milliseconds > 0) {
    u64 slot = function_allocate_slot();
    if (slot == 0 || !sys::Factory(manager::FUNCTION_FACTORY).create(sys::ObjectType::Notification, slot).ok()) return 3;
    (void)sys::Notification(slot).wait(milliseconds * 1'000'000);
  }
  u64 total = 0;
  for (u64 call = 0; call < manager::MAX_NESTED_CALLS; ++call) {
    char nested_output[32];
    auto nested = function::invoke(function_name(), input.data(), input.size(), nested_output, sizeof nested_output - 1);
    if (nested.status != manager::STATUS_OK) break;  // Too deep, over the budget, or out of time.
    u64 below = 0;
    u64 size = nested.result.output_size < sizeof nested_output - 1 ? nested.result.output_size : 0;
    for (u64 index = 0; index < size; ++index) below = below * 10 + static_cast<u64>(nested_output[index] - '0');
    total += 1 + below;
  }
  output.print("%lu", total);
  return 0;
}
