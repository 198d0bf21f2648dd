// ChildTask: a separate task running a copy of this program's image, so its threads can run any
// function of the program (with the globals as they were when the copy was made).
// Invariant: the child's address space holds exactly the image copy (at the program's own link
// address), one stack region and its threads' UTCBs; everything is charged to the factory given
// to create(), and destroy() deletes every capability this object holds.
#pragma once

#include "environment.hpp"

namespace support {

// A child thread's entry point: it must end with exit_thread(), never return, because nothing
// sits above its first stack frame.
using ChildEntry = void (*)(u64 argument);

class ChildTask {
 public:
  static constexpr u64 MAX_THREADS = 8;
  static constexpr u64 STACK_PAGES_PER_THREAD = 4;
  // Where the child's stacks and UTCBs live, inside the child.
  static constexpr u64 STACK_BASE = 0x0000000060000000;
  static constexpr u64 UTCB_BASE = 0x0000000061000000;

  ChildTask() = default;
  ~ChildTask() { destroy(); }
  ChildTask(const ChildTask&) = delete;
  ChildTask& operator=(const ChildTask&) = delete;

  // Creates the task with `capability_slots` slots from `factory` and copies the image into it.
  [[nodiscard]] Result<void> create(Factory factory, u64 capability_slots = 64);
  // Creates thread `index` (0 .. MAX_THREADS - 1) in the child, configured with the own priority,
  // `cpu` and `exception_endpoint` (a selector in the test's space, 0 for none), and starts it at
  // entry(argument) unless `start` is false.
  [[nodiscard]] Result<Thread> add_thread(u64 index, ChildEntry entry, u64 argument, u64 cpu = 0,
                                          u64 exception_endpoint = abi::NULL_SELECTOR, bool start = true);
  // Starts a thread made with add_thread(..., start = false).
  [[nodiscard]] Result<void> start_thread(u64 index, ChildEntry entry, u64 argument);
  // Copies an own capability into the child's slot `destination`.
  [[nodiscard]] Result<void> give(Capability own, u64 destination, u32 rights_mask = abi::ALL_RIGHTS) const;

  Task task() const { return Task(task_slot_); }
  Thread thread(u64 index) const { return Thread(thread_slots_[index]); }
  u64 stack_top(u64 index) const { return STACK_BASE + (index + 1) * STACK_PAGES_PER_THREAD * PAGE_SIZE; }
  // Deletes the capabilities to the threads, the task and the memory; with the last ones, the objects go.
  void destroy();
  // Forgets the capabilities without deleting them (the slots are freed from the allocator only
  // when they are empty); for cases where destroying a factory removed them already.
  void release_slots();

 private:
  u64 factory_ = abi::NULL_SELECTOR;
  u64 task_slot_ = abi::NULL_SELECTOR;
  u64 image_slot_ = abi::NULL_SELECTOR;
  u64 stack_slot_ = abi::NULL_SELECTOR;
  u64 thread_slots_[MAX_THREADS] = {};
};

}  // namespace support
