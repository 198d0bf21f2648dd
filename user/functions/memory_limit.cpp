// Adversarial: creates 1 MiB Memory objects from its own factory until the kernel answers
// QuotaExceeded, then releases them and exits 0. Output "objects=<n>"; exit code 2 when another
// error stopped it, 3 when it ran out of capability slots first.
#include "function/function.hpp"
#include "sys/sys.hpp"

int function_main(const FunctionInput&, FunctionOutput& output) {
  sys::Factory factory(manager::FUNCTION_FACTORY);
  u64 slots[manager::FUNCTION_CAPABILITY_SLOTS];
  usize count = 0;
  sys::Error stopped = sys::Error::None;
  while (true) {
    u64 slot = function_allocate_slot();
    if (slot == 0) break;
    auto memory = factory.create_memory(slot, 256);
    if (!memory.ok()) {
      stopped = memory.error();
      function_free_slot(slot);
      break;
    }
    slots[count++] = slot;
  }
  output.print("objects=%zu error=%s", count, sys::error_name(stopped));
  for (usize index = 0; index < count; ++index) (void)sys::Capability(slots[index]).remove();
  if (stopped == sys::Error::None) return 3;
  return stopped == sys::Error::QuotaExceeded ? 0 : 2;
}
