// Scheduler: run queues, switching, time slices and timeouts; see scheduler.hpp.
#include "core/scheduler.hpp"

#include "arch/x86_64/address_space.hpp"
#include "arch/x86_64/cpu.hpp"
#include "core/heap.hpp"
#include "core/kernel_lock.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "object/endpoint.hpp"
#include "object/lifetime.hpp"
#include "object/task.hpp"

extern "C" char kernel_boot_stack_top[];

namespace kernel {
namespace {

Cpu cpus[MAX_CPUS];
IntrusiveList<Thread, &Thread::timeout_node> timeouts;
Thread idle_threads[MAX_CPUS];

u64 stack_top_of(const Thread& thread) { return thread.kernel_stack + PAGE_SIZE * KERNEL_STACK_PAGES; }

Thread* pick_next(Cpu& cpu) {
  Thread* next = cpu.ready.pop_highest();
  return next != nullptr ? next : cpu.idle;
}

void enqueue(Cpu& cpu, Thread& thread) { cpu.ready.push_back(thread, thread.priority); }

}  // namespace

void scheduler_init_cpu(u32 index, u64 idle_stack_base) {
  static_assert(__builtin_offsetof(Cpu, local) == 0, "the per-CPU block starts the Cpu record");
  Cpu& cpu = cpus[index];
  arch::cpu_local_init(cpu.local, index);
  Thread& idle = idle_threads[index];
  idle.header.type = ObjectType::Thread;
  idle.kernel_stack = idle_stack_base;
  idle.state = ThreadState::Running;
  idle.priority = 0;
  idle.cpu = index;
  cpu.idle = &idle;
  cpu.local.current_thread = &idle;
  arch::set_thread_context(stack_top_of(idle), 0, 0);
}

void scheduler_init_boot_cpu() {
  // kernel_main becomes the boot CPU's idle thread and keeps the boot stack.
  scheduler_init_cpu(0, reinterpret_cast<u64>(kernel_boot_stack_top) - PAGE_SIZE * KERNEL_STACK_PAGES);
}

void idle_loop() {
  for (;;) {
    // Interrupts are on only while halted here; whoever makes a thread ready for this CPU sets
    // need_reschedule (and sends an IPI when it runs elsewhere).
    if (this_cpu().need_reschedule) {
      kernel_lock_acquire();
      schedule();
      kernel_lock_release();
    }
    arch::wait_for_interrupt();
  }
}

void make_ready(Thread& thread) {
  thread.state = ThreadState::Ready;
  Cpu& cpu = cpus[thread.cpu];
  enqueue(cpu, thread);
  Thread* running = static_cast<Thread*>(cpu.local.current_thread);
  if (running == cpu.idle || thread.priority > running->priority) {
    cpu.need_reschedule = true;
    if (&cpu != &this_cpu()) arch::send_reschedule(thread.cpu);
  }
}

u32 cpu_running(const Thread& thread) {
  for (u32 index = 0; index < cpu_count(); ++index)
    if (cpus[index].local.current_thread == &thread) return index;
  return NO_CPU;
}

void request_reschedule(u32 cpu) {
  cpus[cpu].need_reschedule = true;
  if (&cpus[cpu] != &this_cpu()) arch::send_reschedule(cpu);
}

void remove_from_run_queue(Thread& thread) { cpus[thread.cpu].ready.remove(thread, thread.priority); }

void move_thread(Thread& thread, u32 cpu, u8 priority) {
  if (thread.state == ThreadState::Ready) {
    remove_from_run_queue(thread);
    thread.priority = priority;
    thread.cpu = cpu;
    make_ready(thread);
    return;
  }
  thread.priority = priority;
  thread.cpu = cpu;
  // A running thread (on this CPU or another) leaves through the scheduler, which queues it on
  // its new CPU; the request reaches the other CPU by IPI, this one on its way back to user mode.
  u32 running_on = thread.state == ThreadState::Running ? cpu_running(thread) : NO_CPU;
  if (running_on != NO_CPU && running_on != cpu) request_reschedule(running_on);
}

void schedule() {
  Cpu& cpu = this_cpu();
  cpu.need_reschedule = false;
  Thread* previous = current_thread();
  if (previous->state == ThreadState::Running && previous != cpu.idle) {
    // Still runnable: with slice left it keeps its place at the head of its priority, otherwise
    // it goes behind its peers (round robin). A thread moved to another CPU (ThreadConfigure)
    // goes to that CPU's queue instead, so it continues there.
    previous->state = ThreadState::Ready;
    if (previous->cpu != cpu.local.index) {
      make_ready(*previous);
    } else if (previous->time_slice_left > 0) {
      cpu.ready.push_front(*previous, previous->priority);
    } else {
      enqueue(cpu, *previous);
    }
  }
  Thread* next = pick_next(cpu);
  if (next != cpu.idle) next->state = ThreadState::Running;
  // A marked thread (ThreadInterrupt) looks at its mark on its way back to user mode.
  if (next->interrupt_pending) cpu.need_reschedule = true;
  if (next == previous) return;
  if (next->time_slice_left == 0) next->time_slice_left = TIME_SLICE_TICKS;
  cpu.local.current_thread = next;
  arch::set_thread_context(stack_top_of(*next), next->utcb_address, next->fs_base);
  // An idle CPU leaves the last task's tables, so shootdowns for them need not wake it.
  arch::address_space_activate(next->task != nullptr ? next->task->page_table_root : arch::kernel_page_table_root());
  // User threads keep their own x87/SSE registers (eagerly switched: two instructions).
  if (previous->task != nullptr) arch::save_extended_state(previous->extended_state);
  if (next->task != nullptr) arch::load_extended_state(next->extended_state);
  arch::switch_context(&previous->saved_kernel_rsp, next->saved_kernel_rsp);
  // Running again as `previous`, possibly much later; free a thread that died on its own stack.
  Cpu& now = this_cpu();
  if (now.zombie != nullptr && now.zombie != current_thread()) {
    Thread* zombie = now.zombie;
    now.zombie = nullptr;
    free_dead_thread(*zombie);
  }
}

void block_current(ThreadState state) {
  Thread* thread = current_thread();
  thread->state = state;
  schedule();
}

void yield_current() {
  Thread* thread = current_thread();
  thread->time_slice_left = 0;  // Goes behind the others of its priority.
  schedule();
}

void add_timeout(Thread& thread, u64 deadline) {
  thread.deadline = deadline;
  timeouts.insert_sorted(thread, [](const Thread& a, const Thread& b) { return a.deadline < b.deadline; });
}

void cancel_timeout(Thread& thread) { decltype(timeouts)::remove(thread); }

u64 nanoseconds_to_tsc(u64 nanoseconds) {
  // Whole seconds and the remainder apart: nanoseconds * hertz would overflow 64 bits after a
  // few seconds, and the remainder product stays below 1e9 * hertz (fine up to 18 GHz).
  constexpr u64 NANOSECONDS_PER_SECOND = 1'000'000'000;
  u64 hertz = arch::tsc_hertz();
  u64 seconds = nanoseconds / NANOSECONDS_PER_SECOND;
  if (seconds > ~u64{0} / hertz) return ~u64{0};  // Effectively forever.
  return seconds * hertz + (nanoseconds % NANOSECONDS_PER_SECOND) * hertz / NANOSECONDS_PER_SECOND;
}

void scheduler_tick() {
  u64 now = arch::read_tsc();
  while (Thread* thread = timeouts.front()) {
    if (thread->deadline > now) break;
    timeouts.pop_front();
    timeout_expired(*thread);
  }
  Thread* running = current_thread();
  Cpu& cpu = this_cpu();
  // A slice that ran out while no peer was ready stays spent: the thread gives way at the first tick
  // that finds one (else a thread spinning without system calls would keep its CPU from a peer that
  // woke later, e.g. the sleeping thread that is to interrupt it).
  if (running != cpu.idle) {
    if (running->time_slice_left > 0) --running->time_slice_left;
    if (running->time_slice_left == 0 && cpu.ready.has_at_least(running->priority)) cpu.need_reschedule = true;
  }
}

void exit_current() {
  Thread* thread = current_thread();
  KERNEL_ASSERT(thread->state == ThreadState::Dead);
  Cpu& cpu = this_cpu();
  // A destroyed thread's memory can go only once we are off its stack: after the switch. A thread
  // merely queued for destruction (dying) is not ours to free: its destroyer does it.
  if (thread->destroyed) {
    if (cpu.zombie != nullptr) free_dead_thread(*cpu.zombie);  // Not our stack: safe now.
    cpu.zombie = thread;
  }
  schedule();
  panic("a dead thread was scheduled");
}

}  // namespace kernel
