// LocalThread: threads of the own task; see local_thread.hpp.
#include "local_thread.hpp"

namespace support {
namespace {
// Above the scratch mappings; each thread has a 1 MiB window for its stack and one UTCB page.
constexpr u64 STACK_REGION = 0x0000000060000000;
constexpr u64 STACK_STRIDE = 0x100000;
constexpr u64 UTCB_REGION = 0x0000000061000000;
bool index_used[LocalThread::MAX_LOCAL_THREADS] = {};
}  // namespace

Result<void> LocalThread::create(u64 cpu, u64 exception_endpoint) {
  Environment& own = environment();
  for (u64 index = 0; index < MAX_LOCAL_THREADS; ++index) {
    if (index_used[index]) continue;
    index_used[index] = true;
    index_ = index;
    break;
  }
  if (index_ == MAX_LOCAL_THREADS) return Error::NotFound;
  thread_slot_ = TRY(own.slots->allocate());
  stack_slot_ = TRY(own.slots->allocate());
  Memory stack = TRY(own.factory.create_memory(stack_slot_, STACK_PAGES));
  TRY_VOID(own.self_task.map(stack, 0, STACK_REGION + index_ * STACK_STRIDE, STACK_PAGES, READ_WRITE));
  Thread created = TRY(own.factory.create_thread(thread_slot_, own.self_task, UTCB_REGION + index_ * PAGE_SIZE));
  return created.configure(own.own_priority, cpu, exception_endpoint);
}

Result<void> LocalThread::start(void (*function)(u64), u64 argument) {
  u64 stack_top = STACK_REGION + index_ * STACK_STRIDE + STACK_PAGES * PAGE_SIZE;
  return start_thread(thread(), stack_top, function, argument);
}

void LocalThread::destroy() {
  Environment& own = environment();
  if (thread_slot_ != abi::NULL_SELECTOR) {
    (void)Capability(thread_slot_).remove();
    own.slots->free(thread_slot_);
    thread_slot_ = abi::NULL_SELECTOR;
  }
  if (stack_slot_ != abi::NULL_SELECTOR) {
    // Deleting the memory's last capability removes its mapping too.
    (void)Capability(stack_slot_).remove();
    own.slots->free(stack_slot_);
    stack_slot_ = abi::NULL_SELECTOR;
  }
  if (index_ < MAX_LOCAL_THREADS) index_used[index_] = false;
  index_ = MAX_LOCAL_THREADS;
}

LocalThread::~LocalThread() { destroy(); }

void LocalThread::warm_up_page_tables() {
  Environment& own = environment();
  auto slot = own.slots->allocate();
  if (!slot.ok()) return;
  if (own.factory.create_memory(slot.value(), 1).ok()) {
    Memory page(slot.value());
    auto touch = [&](u64 address) {
      if (own.self_task.map(page, 0, address, 1, MEMORY_READ).ok()) (void)own.self_task.unmap(address, 1);
    };
    for (u64 index = 0; index < MAX_LOCAL_THREADS; ++index) {
      touch(STACK_REGION + index * STACK_STRIDE);
      touch(UTCB_REGION + index * PAGE_SIZE);
    }
    for (u64 address = SCRATCH_MAPPING_ADDRESS; address < SCRATCH_MAPPING_LIMIT; address += 0x200000) touch(address);
  }
  (void)Capability(slot.value()).remove();
  own.slots->free(slot.value());
}

}  // namespace support
