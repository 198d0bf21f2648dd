// pause: waits for the number of milliseconds its input names (decimal, at most 60000), blocked in
// the kernel (a wait with a timeout on a Notification of its own that nobody signals), then
// outputs "paused <n> ms". A slow function that takes no CPU time: tests use it to keep
// invocations in flight (the gateway's concurrency and its 429 limit).
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
  u64 slot = function_allocate_slot();
  if (slot == 0 || !sys::Factory(manager::FUNCTION_FACTORY).create(sys::ObjectType::Notification, slot).ok()) {
    output.write("cannot create a notification to wait on");
    return 3;
  }
  auto waited = sys::Notification(slot).wait(milliseconds * 1'000'000);
  if (waited.ok() || waited.error() != sys::Error::Timeout) {
    output.write("the wait ended early");
    return 4;
  }
  output.print("paused %lu ms", milliseconds);
  return 0;
}
