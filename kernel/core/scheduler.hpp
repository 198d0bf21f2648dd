// Scheduler: per-CPU run queues by priority with round robin inside a priority, timeouts, and the
// switch between threads.
// Invariants: a Ready thread is on exactly one run queue (its CPU's, at its priority); the
// current thread is on no run queue; a thread runs only on its `cpu` except between a move and
// the scheduler call that the move requested;
// the kernel runs with interrupts off except in the idle loop.
#pragma once

#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/smp.hpp"
#include "lib/run_queue.hpp"
#include "object/thread.hpp"

namespace kernel {

constexpr u32 PRIORITY_LEVELS = 64;
constexpr u32 DEFAULT_PRIORITY = 16;
constexpr u64 TIME_SLICE_TICKS = 10;
constexpr u32 MAX_CPUS = arch::MAX_CPUS;

struct Cpu {
  arch::CpuLocal local;
  Thread* idle = nullptr;
  RunQueue<Thread, &Thread::queue_node, PRIORITY_LEVELS> ready;
  volatile bool need_reschedule = false;  // Read by the idle loop without the kernel lock.
  Thread* zombie = nullptr;               // A dead thread whose stack we were on; freed after the switch.
};

void scheduler_init_boot_cpu();
// An application processor joins: its idle thread runs on the stack it started on.
void scheduler_init_cpu(u32 index, u64 idle_stack_base);
// The idle loop of every CPU; never returns.
[[noreturn]] void idle_loop();
// The per-CPU block starts the Cpu record, so %gs:0 leads to both.
inline Cpu& this_cpu() { return *reinterpret_cast<Cpu*>(&arch::this_cpu()); }
inline u32 cpu_count() { return arch::online_cpu_count(); }
inline Thread* current_thread() { return static_cast<Thread*>(arch::this_cpu().current_thread); }

// Puts a thread that is not running on its CPU's run queue.
void make_ready(Thread& thread);
constexpr u32 NO_CPU = ~0u;
// The CPU whose current thread this is, or NO_CPU.
u32 cpu_running(const Thread& thread);
// Makes a CPU enter the scheduler soon (it may be running a thread that just died).
void request_reschedule(u32 cpu);
// Takes a Ready thread off its run queue (it is being stopped).
void remove_from_run_queue(Thread& thread);
// Gives a thread a new CPU and priority and makes it run there: a Ready thread changes queues at
// once, a running one is made to switch away (reschedule IPI, or before this CPU returns to user
// mode) and lands on its new CPU; a blocked one goes there when it wakes.
void move_thread(Thread& thread, u32 cpu, u8 priority);
// Picks the best ready thread (or idle) and switches to it; returns when the caller runs again.
void schedule();
// The calling thread sleeps in state (not Ready); returns when another thread wakes it.
void block_current(ThreadState state);
// Hands the rest of the slice to another thread of the same priority, if any.
void yield_current();

// Deadline handling for blocked threads: `deadline` is a TSC value.
void add_timeout(Thread& thread, u64 deadline);
void cancel_timeout(Thread& thread);
u64 nanoseconds_to_tsc(u64 nanoseconds);

void scheduler_tick();
// Called on every exit to user mode: switches if a higher-priority thread became ready.
inline void preempt_if_needed() {
  if (this_cpu().need_reschedule) schedule();
}
// Never returns: the current thread is dead, run something else.
[[noreturn]] void exit_current();

}  // namespace kernel
