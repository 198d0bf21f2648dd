// Adversarial: invokes itself without bound. Each level outputs "d<depth>:" and then either the
// nested output or "status=<s>" for the nested invocation the manager refused, so the top-level
// output shows where STATUS_TOO_DEEP surfaced, e.g. "d0:d1:d2:d3:d4:status=12".
#include "function/function.hpp"

int function_main(const FunctionInput& input, FunctionOutput& output) {
  char nested_output[manager::INLINE_BYTES];
  auto nested = function::invoke(function_name(), input.data(), input.size(), nested_output, sizeof nested_output);
  output.print("d%lu:", function_depth());
  if (nested.status != manager::STATUS_OK) {
    output.print("status=%u", static_cast<unsigned>(nested.status));
    return 0;
  }
  usize size = nested.result.output_size < sizeof nested_output ? nested.result.output_size : sizeof nested_output;
  return output.write(nested_output, size) ? 0 : 1;
}
