// Adversarial: sends many full-size log messages; the manager must stay up and the invocation
// ends normally (exit 0, output "logs=<n>").
#include "function/function.hpp"

int function_main(const FunctionInput&, FunctionOutput& output) {
  constexpr usize MESSAGES = 1000;
  static char line[manager::LOG_BYTES];
  memset(line, 'L', sizeof line);
  for (usize index = 0; index < MESSAGES; ++index) function::log(line, sizeof line);
  output.print("logs=%zu", MESSAGES);
  return 0;
}
