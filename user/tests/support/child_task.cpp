// ChildTask: a task running a copy of the program's image; see child_task.hpp.
#include "child_task.hpp"

extern "C" char __init_array_end[];
extern "C" char __program_end[];

namespace support {
namespace {

// user.ld links every program at 0x400000: text (R-X), then rodata and init_array (R), then a
// page-aligned data+bss segment (RW) up to __program_end.
constexpr u64 IMAGE_BASE = 0x400000;

u64 align_up(u64 value) { return (value + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1); }

void release(u64& slot) {
  if (slot == abi::NULL_SELECTOR) return;
  (void)Capability(slot).remove();
  environment().slots->free(slot);
  slot = abi::NULL_SELECTOR;
}

}  // namespace

Result<void> ChildTask::create(Factory factory, u64 capability_slots) {
  Environment& own = environment();
  factory_ = factory.selector();
  task_slot_ = TRY(own.slots->allocate());
  image_slot_ = TRY(own.slots->allocate());
  stack_slot_ = TRY(own.slots->allocate());
  Task child = TRY(factory.create_task(task_slot_, capability_slots));

  u64 data_start = align_up(reinterpret_cast<u64>(__init_array_end));
  u64 image_end = reinterpret_cast<u64>(__program_end);
  u64 image_pages = (image_end - IMAGE_BASE) / PAGE_SIZE;
  u64 code_pages = (data_start - IMAGE_BASE) / PAGE_SIZE;
  Memory image = TRY(factory.create_memory(image_slot_, image_pages));
  // Copy through a temporary mapping in the own task; the child's data starts as ours is now.
  TRY_VOID(own.self_task.map(image, 0, SCRATCH_MAPPING_ADDRESS, image_pages, READ_WRITE));
  const auto* source = reinterpret_cast<const u64*>(IMAGE_BASE);
  auto* target = reinterpret_cast<volatile u64*>(SCRATCH_MAPPING_ADDRESS);
  for (u64 index = 0; index < image_pages * PAGE_SIZE / 8; ++index) target[index] = source[index];
  TRY_VOID(own.self_task.unmap(SCRATCH_MAPPING_ADDRESS, image_pages));
  TRY_VOID(child.map(image, 0, IMAGE_BASE, code_pages, READ_EXECUTE));
  TRY_VOID(child.map(image, code_pages, data_start, image_pages - code_pages, READ_WRITE));

  Memory stacks = TRY(factory.create_memory(stack_slot_, MAX_THREADS * STACK_PAGES_PER_THREAD));
  TRY_VOID(child.map(stacks, 0, STACK_BASE, MAX_THREADS * STACK_PAGES_PER_THREAD, READ_WRITE));
  return {};
}

Result<Thread> ChildTask::add_thread(u64 index, ChildEntry entry, u64 argument, u64 cpu, u64 exception_endpoint,
                                     bool start) {
  if (index >= MAX_THREADS || thread_slots_[index] != abi::NULL_SELECTOR) return Error::InvalidArgument;
  Environment& own = environment();
  thread_slots_[index] = TRY(own.slots->allocate());
  Thread thread =
      TRY(Factory(factory_).create_thread(thread_slots_[index], task(), UTCB_BASE + index * PAGE_SIZE));
  TRY_VOID(thread.configure(own.own_priority, cpu, exception_endpoint));
  if (start) TRY_VOID(start_thread(index, entry, argument));
  return thread;
}

Result<void> ChildTask::start_thread(u64 index, ChildEntry entry, u64 argument) {
  // At a function's first instruction rsp + 8 is 16-byte aligned (a call pushed the return
  // address); the entry never returns, so the slot a return address would use stays unused.
  return thread(index).start(reinterpret_cast<u64>(entry), stack_top(index) - 8, argument);
}

Result<void> ChildTask::give(Capability own, u64 destination, u32 rights_mask) const {
  return task().give(own, destination, rights_mask);
}

void ChildTask::destroy() {
  for (u64& slot : thread_slots_) release(slot);
  release(task_slot_);
  release(image_slot_);
  release(stack_slot_);
}

void ChildTask::release_slots() {
  auto forget = [](u64& slot) {
    if (slot == abi::NULL_SELECTOR) return;
    if (slot_is_empty(slot)) environment().slots->free(slot);
    slot = abi::NULL_SELECTOR;
  };
  for (u64& slot : thread_slots_) forget(slot);
  forget(task_slot_);
  forget(image_slot_);
  forget(stack_slot_);
}

}  // namespace support
