// The container manager: deploys functions and runs every invocation in a fresh, isolated task.
// Started by the root task with `task thread factory=... slots=65536 endpoint=manager:receive`;
// clients hold badged Send capabilities to the same endpoint (the badge is the tenant).
// Invariant: a failing invocation (crash, timeout, quota, bad request) ends with a status for its
// caller; nothing a function does can stop the workers from serving the next request.
#include <new>

#include "print.hpp"
#include "configuration.hpp"
#include "service.hpp"
#include "sys/wall_clock.hpp"

namespace manager {
namespace {

using namespace sys;

constexpr u64 WORKER_STACK_PAGES = 16;
constexpr u64 WORKER_STACK_AREA = 0x0000700000000000;
constexpr u64 WORKER_UTCB_AREA = 0x0000700100000000;

Worker workers[MAX_WORKERS];
alignas(8) u8 worker_slot_storage[MAX_WORKERS][sizeof(SlotAllocator)];
alignas(8) u8 global_slot_storage[sizeof(SlotAllocator)];
// The global range spans nearly the whole space (one slot per deployed executable): 8 KiB of bits.
u64 global_slot_bitmap[SlotAllocator::bitmap_words(MANAGER_SLOTS)];
// The registry's arena: a window of address space that its records grow into (arena.hpp).
constexpr u64 REGISTRY_ADDRESS = 0x0000600000000000;
constexpr u64 REGISTRY_SPAN = 1ull << 36;
// The Linux personality's image, prepared at the first Linux deploy from the memory kept.
constexpr u64 PERSONALITY_BOUND_BYTES = 4ull << 20;

void serve(u64 argument) {
  Worker& worker = workers[argument];
  Manager& state = manager_state();
  set_receive_slots(worker.receive_slots[0], worker.receive_slots[1]);
  Message request;
  Message answer;
  for (;;) {
    if (!state.service.receive(request).ok()) continue;
    // Keep the client's reply aside: the function's own calls arrive at this thread meanwhile.
    bool saved = save_reply(worker.replies[0]).ok();
    // The tenant: the capability's badge, refined by the sub-tenant the client chose (a front door
    // serving several API keys). No client can name a tenant outside its own badge.
    request.badge = tenant_of(request.badge, request.label());
    switch (request_kind(request.label())) {
      case DEPLOY: handle_deploy(worker, request, answer); break;
      case INVOKE: handle_invoke(worker, request, answer); break;
      case REMOVE: handle_remove(worker, request, answer); break;
      case LIST: handle_list(worker, request, answer); break;
      case DESCRIBE: handle_describe(worker, request, answer); break;
      case STATS: handle_stats(worker, request, answer); break;
      case CONFIGURE: handle_configure(worker, request, answer); break;
      case DEPLOY_IMAGE: handle_deploy_image(worker, request, answer); break;
      case SET_TENANT_QUOTA: handle_set_tenant_quota(worker, request, answer); break;
      default: answer = Message::make(STATUS_BAD_REQUEST); break;
    }
    // Capabilities that came with the request are the client's: drop our copies.
    for (u64 slot : worker.receive_slots) (void)Capability(slot).remove();
    close_queued_store_handles(worker);  // Trees of functions removed by this request (or others).
    if (!saved) continue;  // A plain send: nobody waits for an answer.
    (void)reply_with(worker.replies[0], answer);
  }
}

// Creates a worker's objects: its slots, Reply objects, stack, UTCB and thread, pinned to cpu.
Result<void> start_worker(usize index, u64 cpu, u64 first_slot) {
  Manager& state = manager_state();
  Worker& worker = workers[index];
  worker.index = index;
  worker.cpu = cpu;
  worker.slots = new (worker_slot_storage[index]) SlotAllocator(first_slot, first_slot + WORKER_SLOTS);
  worker.scratch_base = SCRATCH_WINDOW + index * SCRATCH_PER_WORKER;
  for (u64& reply_object : worker.replies) {
    reply_object = TRY(worker.slots->allocate());
    TRY(state.factory.create(ObjectType::Reply, reply_object));
  }
  for (u64& slot : worker.receive_slots) slot = TRY(worker.slots->allocate());
  if (index == 0) return {};  // Worker 0 is the initial thread itself.
  u64 stack_slot = TRY(allocate_global_slot());
  u64 thread_slot = TRY(allocate_global_slot());
  Memory stack = TRY(state.factory.create_memory(stack_slot, WORKER_STACK_PAGES));
  u64 stack_bottom = WORKER_STACK_AREA + index * (WORKER_STACK_PAGES + 16) * 4096;
  TRY_VOID(state.self.map(stack, 0, stack_bottom, WORKER_STACK_PAGES,
                          abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write)));
  Thread thread = TRY(state.factory.create_thread(thread_slot, state.self, WORKER_UTCB_AREA + index * 4096));
  TRY_VOID(thread.configure(WORKER_PRIORITY, cpu, abi::NULL_SELECTOR));
  return start_thread(thread, stack_bottom + WORKER_STACK_PAGES * 4096, serve, index);
}

// The wall clock once, from the CMOS clock's ports when the boot line gave them (`rtc`): the
// nanoseconds since 1970 at TSC 0 (FunctionContext::realtime_offset), 0 without a clock. The
// RTC counts whole seconds, so the offset is good to a second; every invocation shares it.
u64 read_wall_clock(u64 tsc_hertz) {
  auto identity = Capability(sys::RTC_PORTS).identify();
  if (!identity.ok() || identity.value().type != abi::ObjectType::IoPorts || tsc_hertz == 0) return 0;
  u64 seconds = sys::read_rtc_epoch_seconds(IoPorts(sys::RTC_PORTS));
  u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  u64 ticks = (u64{high} << 32) | low;
  u64 since_boot = ticks / tsc_hertz * 1'000'000'000 + ticks % tsc_hertz * 1'000'000'000 / tsc_hertz;
  u64 now = seconds * 1'000'000'000;
  return seconds == 0 || now <= since_boot ? 0 : now - since_boot;
}

}  // namespace
}  // namespace manager

extern "C" void metteagle_main(sys::u64) {
  using namespace manager;
  Manager& state = manager_state();
  ThreadSelfInfo self = thread_self();
  state.cpu_count = self.cpu_count == 0 ? 1 : self.cpu_count;
  state.tsc_hertz = self.tsc_hertz;
  state.realtime_offset = read_wall_clock(state.tsc_hertz);

  // The pool: the factory's quota (the root task sizes it from the guest's memory, docs/BOOT.md)
  // but what the manager keeps for itself. Running invocations reserve their memory limits from
  // it and deployed functions their storage; each tenant's quotas bound its part. There are enough
  // workers for several tenants' concurrent invocations; the registry grows as functions come.
  ManagerConfiguration configuration = read_configuration(state.console);
  auto quota = state.factory.info();
  u64 quota_bytes = quota ? quota.value().quota_bytes : 0;
  state.pool_bytes = quota_bytes > configuration.reserve_bytes ? quota_bytes - configuration.reserve_bytes : 0;
  ShareLimits limits = configuration.share;
  usize worker_count = MAX_WORKERS;
  u64 first_worker_slot = MANAGER_SLOTS - worker_count * WORKER_SLOTS;
  state.global_slots = new (global_slot_storage)
      SlotAllocator(GLOBAL_FIRST_SLOT, first_worker_slot, global_slot_bitmap, SlotAllocator::bitmap_words(MANAGER_SLOTS));
  state.registry.configure(REGISTRY_ADDRESS, REGISTRY_SPAN, limits, state.pool_bytes);

  for (usize index = worker_count; index-- > 0;) {
    auto started = start_worker(index, index % state.cpu_count, first_worker_slot + index * WORKER_SLOTS);
    if (!started) {
      printf(state.console, "manager: worker %zu failed to start: %s\n", index, error_name(started.error()));
      if (index == 0) exit_thread();
    }
  }
  auto after = state.factory.info();
  u64 own_bytes = after ? after.value().used_bytes : 0;
  printf(state.console,
         "manager: serving with %zu workers on %lu CPUs; a pool of %lu MiB; per tenant %lu MiB memory, %lu MiB "
         "storage, %lu invocations, %lu functions; own use %lu KiB of %lu MiB kept\n",
         worker_count, state.cpu_count, state.pool_bytes >> 20, state.registry.memory_quota() >> 20,
         limits.storage_bytes >> 20, limits.invocations, limits.functions, own_bytes >> 10,
         configuration.reserve_bytes >> 20);
  if (own_bytes + PERSONALITY_BOUND_BYTES > configuration.reserve_bytes)
    printf(state.console, "manager: warning: its own use exceeds what it keeps; reservations may not be honoured\n");
  (void)Thread(MANAGER_THREAD).configure(WORKER_PRIORITY, 0, abi::NULL_SELECTOR);
  serve(0);
}
