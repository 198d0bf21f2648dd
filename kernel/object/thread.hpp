// Thread: user registers, kernel stack, UTCB, scheduling parameters and IPC state.
// Invariants: `frame` (user registers) sits at the top of the thread's own kernel stack;
// queue_node is on at most one queue (a run queue or one endpoint queue) and that queue matches
// `state`; caller/callee links are symmetric (a->caller == b exactly when b->callee == a);
// `cpu` is in `allowed_cpus`, and a thread's allowed_cpus lies within those of the thread that
// created or last configured it (so a contained task can never reach CPUs outside its set).
#pragma once

#include "lib/result.hpp"

#include "arch/x86_64/platform.hpp"
#include "object/kernel_object.hpp"

namespace kernel {

struct Task;
struct Memory;
struct Endpoint;
struct Reply;

enum class ThreadState : u8 {
  Inactive,        // Created, never started.
  Ready,           // On a run queue.
  Running,         // Current on its CPU.
  BlockedSend,     // On an endpoint's sender queue (send, call or exception).
  BlockedReceive,  // On an endpoint's receiver queue.
  BlockedReply,    // Waiting for the answer to a call (or to an exception message).
  Dead,            // Ended; never runs again.
};

struct Thread {
  KernelObject header;
  Task* task = nullptr;  // Null only for idle threads.
  ThreadState state = ThreadState::Inactive;
  u8 priority = 0;
  u32 cpu = 0;
  u64 allowed_cpus = ~u64{0};  // Bit i: the thread may run on CPU i (ThreadConfigure); all at boot.
  u64 kernel_stack = 0;        // Lowest address of the kernel stack.
  u64 saved_kernel_rsp = 0;    // While switched out.
  arch::TrapFrame* frame = nullptr;
  u64 utcb_frame = 0;    // Physical page of the UTCB.
  u64 utcb_address = 0;  // Where the UTCB is mapped in the task.
  u64 time_slice_left = 0;

  Endpoint* exception_endpoint = nullptr;
  u64 exception_badge = 0;
  ListNode handler_node;  // On exception_endpoint->handled_threads.

  ListNode task_node;     // On task->threads.
  ListNode queue_node;    // On a run queue or an endpoint queue.
  ListNode timeout_node;  // On the timeout list while blocked with a deadline.
  u64 deadline = 0;       // TSC value.

  Endpoint* blocked_on = nullptr;
  Thread* caller = nullptr;       // Waits for this thread's reply.
  Thread* callee = nullptr;       // This thread waits for its reply.
  Reply* callee_reply = nullptr;  // ... or for the reply saved in this object.
  u64 send_badge = 0;
  bool send_is_call = false;
  bool send_may_grant = false;
  bool sending_exception = false;  // The pending message is exception_words, not the registers.
  // A user-level system-call personality (ThreadSetSyscallHandler); 0 = native calls only.
  u64 syscall_handler_entry = 0;
  u64 syscall_handler_stack = 0;
  u64 fs_base = 0;  // The user FS segment base (thread-local storage), loaded on every switch.
  // ThreadInterrupt came and was not yet taken: the next wait that would block ends Interrupted,
  // the next return to user mode outside the personality handler enters it (take_interrupt).
  bool interrupt_pending = false;
  // The Memory this thread's FactoryCreate is filling across kernel entries (memory.cpp).
  Memory* building_memory = nullptr;
  // destroy_thread ran while a CPU was on this thread: that CPU frees it once off its stack
  // (exit_current). Only this says so: `header.dying` is set as soon as the thread is queued for
  // destruction (its factory or task going), long before destroy_thread, and a queued thread that
  // ends on its own must stay for its destroyer, which still holds it on its task and the queue.
  bool destroyed = false;
  u64 exception_words[5] = {};
  // x87/SSE registers while switched out (FXSAVE image); user threads only.
  alignas(16) u8 extended_state[512] = {};
};

using ThreadQueue = IntrusiveList<Thread, &Thread::queue_node>;

constexpr usize KERNEL_STACK_PAGES = 2;

struct Factory;
[[nodiscard]] Result<Thread*> create_thread(Factory* factory, Task& task, u64 utcb_address);
// Ends a thread: off every queue, its caller's call fails, state Dead. The object stays until
// its last capability goes.
void stop_thread(Thread& thread);
// A caller whose reply will never come: its call returns Destroyed (or it ends, if it faulted).
void abandon_caller(Thread& caller);
void destroy_thread(Thread& thread);
// Frees what a dead thread held once no CPU runs on its stack.
void free_dead_thread(Thread& thread);
// A blocked thread's deadline passed: it leaves its queue and its call returns Timeout.
void timeout_expired(Thread& thread);
// ThreadInterrupt: ends an interruptible wait (Interrupted) or marks the thread (thread.cpp).
void interrupt_thread(Thread& thread);
// Takes a marked thread into its personality handler at a return to user mode (personality.cpp).
void take_interrupt(Thread& self);
// A wait that is about to block: true (and the mark taken) when an interrupt is pending.
inline bool take_pending_interrupt(Thread& self) {
  if (!self.interrupt_pending) return false;
  self.interrupt_pending = false;
  return true;
}

}  // namespace kernel
