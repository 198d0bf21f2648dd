// Adversarial: logs its input first (forged lines: kernel- or manager-looking text, terminal
// escape sequences), then sends many full-size log messages; the manager must stay up, print none
// of it raw (docs/CONTAINERS.md, GRANT_CONSOLE), and the invocation ends normally (exit 0, output
// "logs=<n>", n counting the full-size messages).
#include "function/function.hpp"

int function_main(const FunctionInput& input, FunctionOutput& output) {
  constexpr usize MESSAGES = 1000;
  if (input.size() > 0) function::log(input.text(), input.size());
  static char line[manager::LOG_BYTES];
  memset(line, 'L', sizeof line);
  for (usize index = 0; index < MESSAGES; ++index) function::log(line, sizeof line);
  output.print("logs=%zu", MESSAGES);
  return 0;
}
