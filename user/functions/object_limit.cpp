// Adversarial: creates kernel objects (tasks with 4096 capability slots, threads, endpoints) from
// its own factory until the kernel answers QuotaExceeded, then releases them and exits 0.
// Output "objects=<n> error=<e>"; exit 2 for another error, 3 when capability slots ran out first.
#include "function/function.hpp"
#include "sys/sys.hpp"

int function_main(const FunctionInput&, FunctionOutput& output) {
  sys::Factory factory(manager::FUNCTION_FACTORY);
  u64 slots[manager::FUNCTION_CAPABILITY_SLOTS];
  usize count = 0;
  sys::Error stopped = sys::Error::None;
  u64 last_task = 0;
  while (true) {
    u64 slot = function_allocate_slot();
    if (slot == 0) break;
    sys::Error error = sys::Error::None;
    switch (count % 3) {
      case 0:
        error = factory.create_task(slot, 4096).error();
        if (error == sys::Error::None) last_task = slot;
        break;
      case 1:
        error = factory.create_thread(slot, sys::Task(last_task), 0x10000).error();
        break;
      default:
        error = factory.create_endpoint(slot).error();
        break;
    }
    if (error != sys::Error::None) {
      stopped = error;
      function_free_slot(slot);
      break;
    }
    slots[count++] = slot;
  }
  output.print("objects=%zu error=%s", count, sys::error_name(stopped));
  for (usize index = count; index > 0; --index) (void)sys::Capability(slots[index - 1]).remove();
  if (stopped == sys::Error::None) return 3;
  return stopped == sys::Error::QuotaExceeded ? 0 : 2;
}
