// Adversarial: writes to its own code (mapped read + execute); the manager must report
// STATUS_CRASHED, and the code must be unchanged for the next invocation.
#include "function/function.hpp"

int function_main(const FunctionInput&, FunctionOutput& output) {
  auto* code = reinterpret_cast<volatile u8*>(reinterpret_cast<u64>(&function_main));
  *code = 0xcc;
  output.write("the code page was writable");
  return 0;
}
