// Adversarial: creates kernel objects (tasks with 65,536 capability slots, each filled in 32 chunks
// of its space, threads, endpoints) from its own factory until the kernel answers QuotaExceeded,
// then releases them and exits 0. A large space costs only the chunks of 51 slots it fills (a
// page each), so the tasks are filled: without that its 128 slots ran out before the quota.
// Output "objects=<n> error=<e>"; exit 2 for another error, 3 when capability slots ran out first.
#include "function/function.hpp"
#include "sys/sys.hpp"

constexpr u64 TASK_SLOTS = 65536;
constexpr u64 FILLED_CHUNKS = 32;
constexpr u64 CHUNK_STRIDE = TASK_SLOTS / (FILLED_CHUNKS + 1);  // Far more than a chunk's 51 slots.

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
        error = factory.create_task(slot, TASK_SLOTS).error();
        if (error != sys::Error::None) break;
        last_task = slot;
        // One slot in each of FILLED_CHUNKS chunks, spread over the space: a page each.
        for (u64 chunk = 1; chunk <= FILLED_CHUNKS && error == sys::Error::None; ++chunk)
          error = sys::Task(slot).give(sys::Capability(manager::FUNCTION_MANAGER), chunk * CHUNK_STRIDE).error();
        if (error != sys::Error::None) (void)sys::Capability(slot).remove();  // Its slot is freed below.
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
