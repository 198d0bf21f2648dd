// Adversarial: writes one byte more than its output capacity; the runtime reports the full size,
// so the manager must end it with STATUS_OUTPUT_TOO_LARGE.
#include "function/function.hpp"

int function_main(const FunctionInput&, FunctionOutput& output) {
  usize total = output.capacity() + 1;
  static const char block[256] = {};
  for (usize written = 0; written < total; written += sizeof block) {
    usize chunk = total - written < sizeof block ? total - written : sizeof block;
    (void)output.write(block, chunk);
  }
  return 0;
}
