// Adversarial: tries to run outside its CPU set. It creates a thread in its own task (its factory
// and task capabilities allow that) and configures it onto every CPU in turn, then tries to widen
// the thread's set to every CPU. Output "cpus=<the CPUs the kernel allowed> widen=<error>"; the
// manager confines the function to its configured set, so only those CPUs may appear.
#include "function/function.hpp"
#include "sys/sys.hpp"

int function_main(const FunctionInput&, FunctionOutput& output) {
  constexpr u64 MAX_CPUS = 8;
  constexpr u64 UTCB_ADDRESS = manager::FUNCTION_UTCB_ADDRESS + 0x1000;  // Above the function's own UTCB.
  u64 slot = function_allocate_slot();
  if (slot == 0) return 2;
  auto thread = sys::Factory(manager::FUNCTION_FACTORY).create_thread(slot, sys::Task(manager::FUNCTION_TASK), UTCB_ADDRESS);
  if (!thread.ok()) {
    output.print("create=%s", sys::error_name(thread.error()));
    return 3;
  }
  output.print("cpus=");
  bool first = true;
  for (u64 cpu = 0; cpu < MAX_CPUS; ++cpu) {
    if (!thread.value().configure(manager::FUNCTION_PRIORITY, cpu, sys::abi::NULL_SELECTOR).ok()) continue;
    output.print(first ? "%lu" : ",%lu", cpu);
    first = false;
  }
  auto widened = thread.value().configure(manager::FUNCTION_PRIORITY, 0, sys::abi::NULL_SELECTOR, ~u64{0});
  output.print(" widen=%s", sys::error_name(widened.error()));
  (void)thread.value().remove();
  return 0;
}
