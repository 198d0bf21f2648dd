// Thread: creation (kernel stack, UTCB), the start/configure/exit/yield/self/interrupt operations, and its
// end: stop_thread cuts every link, destruction frees the stack once no CPU runs on it.
// Invariant: see thread.hpp; a stopped thread is on no queue and linked to no caller or callee;
// a thread's memory is freed exactly once, by destroy_thread (free_dead_thread) or, when a CPU
// was on it then (`destroyed`), by that CPU after it switched away; a thread that ends on its own
// (ThreadExit, a fault) stays allocated, on its task, until destroy_thread.
#include "object/thread.hpp"

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/layout.hpp"
#include "core/memory.hpp"
#include "core/scheduler.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/lifetime.hpp"
#include "object/memory.hpp"

namespace kernel {

using abi::Error;
using abi::rights_of;
using abi::Syscall;

Result<Thread*> create_thread(Factory* factory, Task& task, u64 utcb_address) {
  if (utcb_address < metteagle::abi::USER_SPACE_START || utcb_address >= metteagle::abi::USER_SPACE_USABLE_END ||
      !is_aligned(utcb_address, PAGE_SIZE))
    return Error::InvalidArgument;
  u64 unused;
  if (arch::address_space_translate(task.page_table_root, utcb_address, unused)) return Error::Busy;
  Thread* thread = TRY(allocate_object<Thread>(factory, ObjectType::Thread));
  u64 stack_bytes = PAGE_SIZE * KERNEL_STACK_PAGES;
  if (!factory_charge(factory, stack_bytes + PAGE_SIZE).ok()) {
    abandon_object(thread);
    return Error::QuotaExceeded;
  }
  auto stack = frames().allocate_contiguous(KERNEL_STACK_PAGES, PAGE_SIZE);
  auto utcb = frames().allocate();
  if (!stack || !utcb) {
    if (stack)
      for (usize i = 0; i < KERNEL_STACK_PAGES; ++i) (void)frames().free(stack.value() + i * PAGE_SIZE);
    if (utcb) (void)frames().free(utcb.value());
    factory_refund(factory, stack_bytes + PAGE_SIZE);
    abandon_object(thread);
    return Error::OutOfMemory;
  }
  auto* utcb_words = reinterpret_cast<u64*>(arch::physical_to_virtual(utcb.value()));
  arch::zero_words(utcb_words, PAGE_SIZE);
  utcb_words[0] = utcb_address;  // Utcb::self, read through %gs:0.
  auto mapped =
      arch::address_space_map(task.page_table_root, utcb_address, utcb.value(), {true, false}, table_source(task));
  if (!mapped.ok()) {
    for (usize i = 0; i < KERNEL_STACK_PAGES; ++i) (void)frames().free(stack.value() + i * PAGE_SIZE);
    (void)frames().free(utcb.value());
    factory_refund(factory, stack_bytes + PAGE_SIZE);
    abandon_object(thread);
    return mapped.error();
  }
  thread->task = &task;
  thread->kernel_stack = reinterpret_cast<u64>(arch::physical_to_virtual(stack.value()));
  thread->utcb_frame = utcb.value();
  thread->utcb_address = utcb_address;
  thread->priority = DEFAULT_PRIORITY;
  thread->cpu = 0;
  u64 stack_top = thread->kernel_stack + stack_bytes;
  thread->frame = reinterpret_cast<arch::TrapFrame*>(stack_top - sizeof(arch::TrapFrame));
  arch::initialize_user_frame(*thread->frame);
  thread->saved_kernel_rsp = arch::prepare_user_entry_stack(stack_top);
  arch::initial_extended_state(thread->extended_state);
  task.threads.push_back(*thread);
  return thread;
}

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::ThreadStart>(
    Thread&, Target<Syscall::ThreadStart> target, SyscallArguments<Syscall::ThreadStart>& arguments) {
  Thread& thread = target.object;
  u64 instruction_pointer = arguments.instruction_pointer();
  u64 stack_pointer = arguments.stack_pointer();
  if (thread.state != ThreadState::Inactive) return Error::Busy;
  // Code can only run in mapped pages, below the usable end (abi/syscall.hpp).
  if (instruction_pointer >= abi::USER_SPACE_USABLE_END || stack_pointer >= abi::USER_SPACE_END)
    return Error::InvalidArgument;
  arch::set_user_entry(*thread.frame, instruction_pointer, stack_pointer, arguments.start_argument());
  make_ready(thread);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadStart);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::ThreadConfigure>(
    Thread& self, Target<Syscall::ThreadConfigure> target, SyscallArguments<Syscall::ThreadConfigure>& arguments) {
  Thread& thread = target.object;
  u64 priority = arguments.priority();
  u64 cpu = arguments.cpu();
  u64 handler_selector = arguments.exception_endpoint_selector();
  // Ceilings are the caller's own: no thread can raise another above its priority or let it run
  // on a CPU outside its own set. The new set (0: keep the target's) must lie within the caller's.
  u64 allowed = arguments.allowed_cpus() != 0 ? arguments.allowed_cpus() : thread.allowed_cpus;
  if (priority >= PRIORITY_LEVELS || priority > self.priority || cpu >= cpu_count() ||
      (allowed & ~self.allowed_cpus) != 0 || ((allowed >> cpu) & 1) == 0)
    return Error::InvalidArgument;
  Endpoint* handler = nullptr;
  u64 handler_badge = 0;
  if (handler_selector != abi::NULL_SELECTOR) {
    Capability* endpoint =
        TRY(lookup(own_task(self), handler_selector, ObjectType::Endpoint, rights_of(abi::EndpointRight::Send)));
    handler = object_of<Endpoint>(*endpoint);
    handler_badge = endpoint->badge;
  }
  thread.allowed_cpus = allowed;
  move_thread(thread, static_cast<u32>(cpu), static_cast<u8>(priority));
  if (thread.exception_endpoint != nullptr) decltype(thread.exception_endpoint->handled_threads)::remove(thread);
  thread.exception_endpoint = handler;
  thread.exception_badge = handler_badge;
  if (handler != nullptr) handler->handled_threads.push_back(thread);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadConfigure);

template <>
[[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::ThreadExit>(Thread& self, Target<Syscall::ThreadExit>,
                                                                          SyscallArguments<Syscall::ThreadExit>&) {
  stop_thread(self);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadExit);

namespace {
// ThreadYield calls since boot, machine-wide (ThreadSelf's o5). Under the kernel lock, as both
// operations run.
u64 yield_count = 0;
}  // namespace

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::ThreadYield>(
    Thread&, Target<Syscall::ThreadYield>, SyscallArguments<Syscall::ThreadYield>& arguments) {
  ++yield_count;
  // The result is written before the switch: this thread's frame is read when it runs again.
  arguments.set_error(Error::None);
  yield_current();
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(ThreadYield);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::ThreadSelf>(
    Thread& self, Target<Syscall::ThreadSelf>, SyscallArguments<Syscall::ThreadSelf>& arguments) {
  arguments.set_cpu(self.cpu);
  arguments.set_timestamp(arch::read_tsc());
  arguments.set_timestamp_hertz(arch::tsc_hertz());
  arguments.set_cpus_online(cpu_count());
  arguments.set_yields(yield_count);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadSelf);

// A caller whose reply can never come: its call fails, or, if it was reporting a fault, it ends
// (it cannot resume without its handler's answer).
void abandon_caller(Thread& caller) {
  if (caller.state != ThreadState::BlockedReply) return;
  if (caller.sending_exception) stop_thread(caller);
  else wake_with_error(caller, Error::Destroyed);
}

// Ends a thread's participation in everything: queues, calls, handler links, scheduling.
void stop_thread(Thread& thread) {
  cancel_timeout(thread);
  if (thread.state == ThreadState::Ready) remove_from_run_queue(thread);
  if (thread.state == ThreadState::BlockedSend || thread.state == ThreadState::BlockedReceive)
    ThreadQueue::remove(thread);  // Whichever endpoint queue it is on.
  if (thread.callee != nullptr) {
    thread.callee->caller = nullptr;
    thread.callee = nullptr;
  }
  if (thread.callee_reply != nullptr) {
    thread.callee_reply->caller = nullptr;
    thread.callee_reply = nullptr;
  }
  if (thread.caller != nullptr) {
    // Whoever called us will get no reply: its call fails.
    Thread* caller = thread.caller;
    caller->callee = nullptr;
    thread.caller = nullptr;
    abandon_caller(*caller);
  }
  if (thread.exception_endpoint != nullptr) {
    decltype(thread.exception_endpoint->handled_threads)::remove(thread);
    thread.exception_endpoint = nullptr;
  }
  thread.blocked_on = nullptr;
  thread.sending_exception = false;
  thread.state = ThreadState::Dead;
}

void destroy_thread(Thread& thread) {
  stop_thread(thread);
  abandon_memory_creation(thread);
  if (thread.task != nullptr) {
    // The UTCB frame goes back to the pool with the thread: no CPU may keep its translation. A
    // task being destroyed has moved every CPU off its tables already (one shootdown for all).
    if (!thread.task->address_space_left) {
      arch::address_space_unmap(thread.task->page_table_root, thread.utcb_address);
      arch::address_space_flush_remote(thread.task->page_table_root);
    }
    decltype(thread.task->threads)::remove(thread);
  }
  // A thread some CPU is running (this one, in this very call, or another one in user mode or
  // spinning for the kernel lock) keeps its stack until that CPU has switched away: the CPU
  // frees it then (exit_current). Its charges go back now, so its factory can be freed at once.
  u32 cpu = cpu_running(thread);
  if (cpu == NO_CPU) return free_dead_thread(thread);
  KernelObject& header = thread.header;
  if (header.factory != nullptr) decltype(header.factory->objects)::remove(header);
  factory_refund(header.factory, header.charged_bytes + PAGE_SIZE * (KERNEL_STACK_PAGES + 1));
  header.factory = nullptr;
  thread.task = nullptr;
  thread.destroyed = true;
  if (&thread != current_thread()) request_reschedule(cpu);
}

void free_dead_thread(Thread& thread) {
  u64 stack_physical = thread.kernel_stack - PHYSMAP_BASE;
  for (usize page = 0; page < KERNEL_STACK_PAGES; ++page) (void)frames().free(stack_physical + page * PAGE_SIZE);
  (void)frames().free(thread.utcb_frame);
  factory_refund(thread.header.factory, PAGE_SIZE * (KERNEL_STACK_PAGES + 1));
  free_object(&thread);
}

// Bounded: a queue removal, or a mark and at most one inter-processor interrupt per mark (a storm of
// interrupts at a running thread sends one until the thread takes it).
void interrupt_thread(Thread& thread) {
  if (thread.state == ThreadState::Dead) return;
  if (thread.state == ThreadState::BlockedReceive) {
    // NotificationWait or IpcReceive: it leaves the queue as a timeout would, with Interrupted.
    cancel_timeout(thread);
    ThreadQueue::remove(thread);
    arch::SyscallRegisters(*thread.frame).set_error(Error::Interrupted);
    thread.blocked_on = nullptr;
    make_ready(thread);
    return;
  }
  if (thread.interrupt_pending) return;
  thread.interrupt_pending = true;
  // A running thread takes the mark on its way back to user mode, which the scheduler's request
  // makes it look for (an IPI for another CPU); any other, when schedule() next picks it.
  if (thread.state == ThreadState::Running) {
    u32 cpu = cpu_running(thread);
    if (cpu != NO_CPU) request_reschedule(cpu);
  }
}

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::ThreadInterrupt>(
    Thread&, Target<Syscall::ThreadInterrupt> target, SyscallArguments<Syscall::ThreadInterrupt>&) {
  interrupt_thread(target.object);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadInterrupt);

void timeout_expired(Thread& thread) {
  ThreadQueue::remove(thread);
  arch::SyscallRegisters(*thread.frame).set_error(Error::Timeout);
  thread.blocked_on = nullptr;
  thread.sending_exception = false;
  make_ready(thread);
}

}  // namespace kernel
