// caller: invokes `echo` (nested, same tenant) with its input; the output is "caller:" followed by
// echo's output, or "caller:status=<s>" and exit code 1 when the nested invocation failed.
#include "function/function.hpp"

int function_main(const FunctionInput& input, FunctionOutput& output) {
  char nested_output[manager::INLINE_BYTES];
  auto nested = function::invoke("echo", input.data(), input.size(), nested_output, sizeof nested_output);
  output.write("caller:");
  if (nested.status != manager::STATUS_OK) {
    output.print("status=%u", static_cast<unsigned>(nested.status));
    return 1;
  }
  usize size = nested.result.output_size < sizeof nested_output ? nested.result.output_size : sizeof nested_output;
  return output.write(nested_output, size) ? 0 : 1;
}
