// pause: waits for the number of milliseconds its input names (decimal, at most 60000), yielding
// the CPU while it waits, then outputs "paused <n> ms". A slow function that does not burn a CPU:
// tests use it to keep invocations in flight (the gateway's concurrency and its 429 limit).
#include "function/function.hpp"
#include "sys/sys.hpp"

int function_main(const FunctionInput& input, FunctionOutput& output) {
  u64 milliseconds = 0;
  if (input.size() == 0 || input.size() > 5) {
    output.write("input must be 1-5 decimal digits (milliseconds)");
    return 2;
  }
  for (usize index = 0; index < input.size(); ++index) {
    char digit = input.text()[index];
    if (digit < '0' || digit > '9') {
      output.write("input must be 1-5 decimal digits (milliseconds)");
      return 2;
    }
    milliseconds = milliseconds * 10 + static_cast<u64>(digit - '0');
  }
  if (milliseconds > 60000) {
    output.write("at most 60000 ms");
    return 2;
  }
  sys::ThreadSelfInfo self = sys::thread_self();
  u64 ticks = self.tsc_hertz / 1000 * milliseconds;
  u64 start = __builtin_ia32_rdtsc();
  while (__builtin_ia32_rdtsc() - start < ticks) sys::yield_thread();
  output.print("paused %lu ms", milliseconds);
  return 0;
}
