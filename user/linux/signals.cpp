// Signals: dispositions (rt_sigaction), the blocked mask (rt_sigprocmask, per thread), signals to
// a process (kill, rt_sigqueueinfo, SIGPIPE, SIGCHLD, timers) or to one thread (tkill, tgkill), and
// their delivery as Linux does it: asynchronously. A sender marks the signal pending, then
// interrupts the thread that is to take it (ThreadInterrupt): a thread blocked in a wait wakes (the
// call answers EINTR, or starts again after the handler when it returned ERESTARTSYS and the
// handler has SA_RESTART), a thread running program code enters personality_handle_interrupt at
// once, and a thread in a system call takes it at the call's end. A default action (terminate;
// SIGCHLD, SIGURG, SIGWINCH, SIGCONT and the stop signals are ignored) or a handler entered with
// Linux's frame (ucontext, siginfo, the FXSAVE state) that rt_sigreturn takes back.
// Signals between processes of one invocation: the sender holds no capability to the target's
// threads and gets none. It marks the signal in the target's shared entry, wakes the target's
// process waits (pipes, wait4, poll, pause) and signals the target's watcher notification
// (SharedState::signal_slots); the target's own signal watcher, a thread of the target's task
// outside the thread table, then interrupts the target's thread that is to take it with the
// target's own Thread capability, exactly as a signal from inside the process would. So a running
// or sleeping target (nanosleep, futex, epoll) takes it at once, as on Linux.
// Invariants: a process holds Thread capabilities only of its own threads (no right grows for
// signals: the one thing another process can do is Signal a notification, which only makes the
// target look at its own pending word); a watcher acts only under state_lock() and only while its
// process is Running (it ends itself when the process became a zombie).
// Invariants: process-directed signals live in the process's shared entry (before the first fork
// or pipe, in `local_pending`), thread-directed ones in the thread's entry; both are only set with
// atomic or and taken with atomic and, always before the target is interrupted, so a wait that
// ends Interrupted finds them; a frame is only built on memory writable() accepts, and
// rt_sigreturn only restores a frame carrying FRAME_MAGIC.
#include <cstdint>

#include "process.hpp"

extern "C" [[gnu::visibility("hidden")]] void personality_watcher_entry();

namespace personality {
namespace {

constexpr u64 SIG_DFL = 0, SIG_IGN = 1;
constexpr u64 SA_SIGINFO = 4, SA_RESTORER = 0x04000000, SA_NODEFER = 0x40000000, SA_RESETHAND = 0x80000000;
constexpr u64 SA_RESTART = 0x10000000;
constexpr u64 SIGKILL = 9, SIGSTOP = 19, SIGCHLD = 17;
constexpr u64 UNBLOCKABLE = (u64{1} << (SIGKILL - 1)) | (u64{1} << (SIGSTOP - 1));
constexpr u64 FRAME_MAGIC = 0x656d6172466c6753ull;  // "SglFrame"

struct SignalAction {
  u64 handler, flags, restorer, mask;
};
static_assert(sizeof(SignalAction) == 32);  // The kernel's struct sigaction with an 8-byte mask.

// The frame a handler starts on, laid out as Linux's x86-64 rt_sigframe: the restorer's address
// (the handler's `ret` goes there), a ucontext whose mcontext holds the interrupted registers (a
// handler may change them: rt_sigreturn resumes from them, which is how Go's preemption moves a
// goroutine), then the siginfo; above it the x87/SSE state (FXSAVE, 512 bytes, mcontext.fpstate
// points at it), which a handler may clobber: the program may have been anywhere.
struct MachineContext {  // struct sigcontext
  u64 r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  std::uint16_t cs, gs, fs, ss;
  u64 error, trap_number, old_mask, cr2, fpstate;
  u64 reserved[8];
};
static_assert(sizeof(MachineContext) == 256);
struct SignalStack {  // stack_t
  u64 base;
  std::int32_t flags;
  std::int32_t padding;
  u64 bytes;
};
static_assert(sizeof(SignalStack) == 24);
struct UserContext {  // struct ucontext with the kernel's 8-byte sigset
  u64 flags, link;
  SignalStack stack;
  MachineContext machine;
  u64 mask;
};
static_assert(sizeof(UserContext) == 304);
struct SignalFrame {
  u64 return_address;  // sa_restorer: its rt_sigreturn brings the program back.
  UserContext context;
  std::int32_t info[32];  // siginfo_t: signo, errno, code, pad, pid, uid.
};
static_assert(sizeof(SignalFrame) == 440);
constexpr usize FRAME_MAGIC_WORD = 7;  // context.machine.reserved[7] holds FRAME_MAGIC.
constexpr u64 SA_ONSTACK = 0x08000000;
constexpr std::int32_t SS_ONSTACK = 1, SS_DISABLE = 2;
constexpr u64 SS_AUTODISARM = u64{1} << 31;
constexpr u64 MINIMUM_SIGNAL_STACK = 2048;  // MINSIGSTKSZ
constexpr u64 FLOATING_STATE_BYTES = 512;   // FXSAVE's image, Linux's struct _fpstate.

// siginfo's si_code values.
constexpr std::int32_t SI_USER = 0, SI_KERNEL = 0x80, SI_QUEUE = -1, SI_TIMER = -2, SI_TKILL = -6, CLD_EXITED = 1;

// What a signal sent to the process carries into the handler's siginfo, when sent from this
// process (another process's kill, and a child's SIGCHLD, are SI_USER and CLD_EXITED without it).
struct SignalRecord {
  std::int32_t code;
  u32 pid;
  u64 value;  // sigqueue's value, a timer's sigev_value.
  u32 timer;  // A timer's id.
};

// MXCSR bits fxrstor accepts (FXSAVE's MXCSR_MASK; 0 there means 0xffbf): a frame's value is
// masked with it, so a changed frame cannot make rt_sigreturn fault.
u32 mxcsr_mask() {
  static u32 mask = 0;
  if (mask == 0) {
    alignas(16) u8 image[FLOATING_STATE_BYTES];
    asm volatile("fxsave64 %0" : "=m"(image));
    memcpy(&mask, image + 28, 4);
    if (mask == 0) mask = 0xffbf;
  }
  return mask;
}

void save_registers(const abi::PersonalityRegisters& from, MachineContext& to) {
  to = MachineContext{from.r8, from.r9, from.r10, from.r11, from.r12, from.r13, from.r14, from.r15, from.rdi,
                      from.rsi, from.rbp, from.rbx, from.rdx, from.rax, from.rcx, from.rsp, from.rip, from.rflags,
                      0x33, 0, 0, 0x2b, 0, 0, 0, 0, 0, {}};
}

void load_registers(const MachineContext& from, abi::PersonalityRegisters& to) {
  to.r8 = from.r8; to.r9 = from.r9; to.r10 = from.r10; to.r11 = from.r11; to.r12 = from.r12; to.r13 = from.r13;
  to.r14 = from.r14; to.r15 = from.r15; to.rdi = from.rdi; to.rsi = from.rsi; to.rbp = from.rbp; to.rbx = from.rbx;
  to.rdx = from.rdx; to.rax = from.rax; to.rcx = from.rcx; to.rsp = from.rsp; to.rip = from.rip;
  to.rflags = from.eflags;
}

bool on_signal_stack(const ThreadEntry& thread, u64 stack_pointer) {
  return thread.signal_stack_bytes != 0 && stack_pointer > thread.signal_stack &&
         stack_pointer <= thread.signal_stack + thread.signal_stack_bytes;
}

}  // namespace

u64 main_thread_slot = manager::FUNCTION_THREAD;

namespace {

SignalAction actions[64];
u64 local_pending = 0;
SignalRecord records[64];  // Valid where record_valid has the signal's bit.
u64 record_valid = 0;

u64 bit(u64 signal) { return u64{1} << (signal - 1); }

u64* pending_word() { return shared() != nullptr ? &shared()->processes[own_process_index].pending : &local_pending; }

bool ignored_by_default(u64 signal) {
  return signal == 17 || signal == 18 || signal == 23 || signal == 28 || (signal >= 19 && signal <= 22);
}

bool ignored(u64 signal) {
  u64 handler = actions[signal - 1].handler;
  return handler == SIG_IGN || (handler == SIG_DFL && ignored_by_default(signal));
}

void fill_info(std::int32_t (&info)[32], u64 signal, bool to_thread) {
  info[0] = static_cast<std::int32_t>(signal);
  if (to_thread) {
    info[2] = SI_TKILL;
    info[4] = static_cast<std::int32_t>(own_pid);
    info[5] = static_cast<std::int32_t>(linux_uid());
    return;
  }
  u64 mask = bit(signal);
  if ((record_valid & mask) == 0) {
    info[2] = signal == SIGCHLD ? CLD_EXITED : SI_USER;
    return;
  }
  const SignalRecord& record = records[signal - 1];
  info[2] = record.code;
  if (record.code == SI_TIMER) {
    info[4] = static_cast<std::int32_t>(record.timer);
  } else {
    info[4] = static_cast<std::int32_t>(record.pid);
    info[5] = static_cast<std::int32_t>(linux_uid());
  }
  memcpy(&info[6], &record.value, 8);
}

// Enters the handler of `signal` with a frame below the program's stack (past its red zone); false
// when it has no restorer or the stack cannot take the frame.
bool enter_handler(u64 signal, const SignalAction& action, bool to_thread) {
  abi::PersonalityRegisters& registers = sys::utcb()->personality_registers;
  if ((action.flags & SA_RESTORER) == 0 || action.restorer == 0) return false;
  ThreadEntry& thread = current_thread();
  // SA_ONSTACK: the top of the thread's alternate stack, unless it runs there already.
  u64 stack = registers.rsp - 128;  // Past the red zone.
  SignalStack alternate{thread.signal_stack, thread.signal_stack_bytes == 0 ? SS_DISABLE : 0, 0,
                        thread.signal_stack_bytes};
  if (on_signal_stack(thread, registers.rsp)) alternate.flags = SS_ONSTACK;
  else if ((action.flags & SA_ONSTACK) != 0 && thread.signal_stack_bytes != 0)
    stack = thread.signal_stack + thread.signal_stack_bytes;
  if (stack < 4096 + FLOATING_STATE_BYTES + 64 + sizeof(SignalFrame)) return false;
  u64 floating_address = (stack - FLOATING_STATE_BYTES) & ~u64{63};
  u64 frame_address = ((floating_address - sizeof(SignalFrame)) & ~u64{15}) - 8;
  if (!writable(frame_address, stack - frame_address)) return false;
  auto* frame = reinterpret_cast<SignalFrame*>(frame_address);
  memset(frame, 0, sizeof *frame);
  // The program's x87/SSE registers: the personality itself never touches them (general registers
  // only), so they are the program's as it was interrupted.
  auto* floating = reinterpret_cast<u8*>(floating_address);
  asm volatile("fxsave64 %0" : "=m"(*reinterpret_cast<u8(*)[FLOATING_STATE_BYTES]>(floating)));
  memset(floating + 464, 0, FLOATING_STATE_BYTES - 464);  // sw_reserved: no extended state follows.
  frame->return_address = action.restorer;
  frame->context.stack = alternate;
  save_registers(registers, frame->context.machine);
  frame->context.machine.fpstate = floating_address;
  frame->context.machine.reserved[FRAME_MAGIC_WORD] = FRAME_MAGIC;
  u64& blocked = thread.signal_mask;
  frame->context.mask = thread.suspend_mask_pending ? thread.suspend_mask : blocked;
  frame->context.machine.old_mask = frame->context.mask;
  thread.suspend_mask_pending = false;
  fill_info(frame->info, signal, to_thread);
  blocked |= action.mask | ((action.flags & SA_NODEFER) == 0 ? bit(signal) : 0);
  blocked &= ~UNBLOCKABLE;
  if ((action.flags & SA_RESETHAND) != 0) actions[signal - 1].handler = SIG_DFL;
  registers.rip = action.handler;
  registers.rsp = frame_address;
  registers.rdi = signal;
  registers.rsi = reinterpret_cast<u64>(frame->info);
  registers.rdx = reinterpret_cast<u64>(&frame->context);
  registers.rax = 0;
  return true;
}

// The Thread capability of a thread-table entry: entry 0's is main_thread_slot.
u64 thread_capability(usize index) { return index == 0 ? main_thread_slot : thread_table()[index].thread_slot; }

void interrupt_entry(usize index) {
  u64 slot = thread_capability(index);
  if (slot != 0) (void)native(abi::Syscall::ThreadInterrupt, slot);
}

// Signals this thread may take now: its own and the process's, less those it blocks.
u64 deliverable(const ThreadEntry& thread) {
  return (__atomic_load_n(pending_word(), __ATOMIC_ACQUIRE) | __atomic_load_n(&thread.pending_signals, __ATOMIC_ACQUIRE)) &
         ~thread.signal_mask;
}

// The program's registers go back to the `syscall` instruction, to make the call again.
void restart_call(abi::PersonalityRegisters& registers, u64 number) {
  registers.rip -= 2;  // `syscall` is two bytes (0f 05).
  registers.rax = number;
}

}  // namespace

i64 linux_rt_sigaction(u64 signal, u64 action, u64 old_action, u64 size) {
  if (size != 8 || signal < 1 || signal > 64) return -EINVAL;
  if (action != 0 && (signal == SIGKILL || signal == SIGSTOP)) return -EINVAL;
  if (action != 0 && !readable(action, sizeof(SignalAction))) return -EFAULT;
  if (old_action != 0 && !writable(old_action, sizeof(SignalAction))) return -EFAULT;
  SignalAction previous = actions[signal - 1];
  if (action != 0) memcpy(&actions[signal - 1], reinterpret_cast<const void*>(action), sizeof(SignalAction));
  if (old_action != 0) memcpy(reinterpret_cast<void*>(old_action), &previous, sizeof previous);
  return 0;
}

i64 linux_rt_sigprocmask(u64 how, u64 set, u64 old_set, u64 size) {
  constexpr u64 SIG_BLOCK = 0, SIG_UNBLOCK = 1, SIG_SETMASK = 2;
  if (size != 8) return -EINVAL;
  if (set != 0 && !readable(set, 8)) return -EFAULT;
  if (old_set != 0 && !writable(old_set, 8)) return -EFAULT;
  u64& blocked = current_thread().signal_mask;
  u64 previous = blocked;
  if (set != 0) {
    u64 value;
    memcpy(&value, reinterpret_cast<const void*>(set), 8);
    switch (how) {
      case SIG_BLOCK: blocked |= value; break;
      case SIG_UNBLOCK: blocked &= ~value; break;
      case SIG_SETMASK: blocked = value; break;
      default: return -EINVAL;
    }
    blocked &= ~UNBLOCKABLE;
  }
  if (old_set != 0) memcpy(reinterpret_cast<void*>(old_set), &previous, 8);
  return 0;
}

bool signal_pending() {
  u64 pending = deliverable(current_thread());
  for (u64 signal = 1; pending != 0; ++signal, pending >>= 1)
    if ((pending & 1) != 0 && !ignored(signal)) return true;
  return false;
}

void wake_for_process_signal(u64 signal, bool from_program_thread) {
  if (ignored(signal)) return;
  // The sending thread takes it at the end of its call, unless it blocks it: then the first thread
  // that does not (Linux also lets any thread dequeue a process's signal).
  if (from_program_thread && (current_thread().signal_mask & bit(signal)) == 0) return;
  ThreadEntry* table = thread_table();
  for (usize i = 0; i < MAX_THREADS; ++i) {
    if (table[i].use != ThreadUse::Running || (table[i].signal_mask & bit(signal)) != 0) continue;
    if (from_program_thread && &table[i] == &current_thread()) continue;
    interrupt_entry(i);
    return;
  }
}

void send_process_signal(u64 signal, std::int32_t code, u64 value, u32 timer, bool from_program_thread) {
  if (signal == 0 || signal > 64) return;
  records[signal - 1] = SignalRecord{code, static_cast<u32>(own_pid), value, timer};
  record_valid |= bit(signal);
  __atomic_or_fetch(pending_word(), bit(signal), __ATOMIC_ACQ_REL);
  wake_for_process_signal(signal, from_program_thread);
}

void raise_signal(u64 signal) { send_process_signal(signal, SI_USER, 0, 0, true); }

void send_thread_signal(usize index, u64 signal) {
  ThreadEntry& target = thread_table()[index];
  __atomic_or_fetch(&target.pending_signals, bit(signal), __ATOMIC_ACQ_REL);
  if (&target != &current_thread() && !ignored(signal) && (target.signal_mask & bit(signal)) == 0) interrupt_entry(index);
}

void deliver_signals(u64 number) {
  abi::PersonalityRegisters& registers = sys::utcb()->personality_registers;
  // rt_sigreturn's "result" is the program's rax as it was interrupted: never a call to restart.
  constexpr u64 RT_SIGRETURN = 15;
  bool restart = number != NO_SYSCALL && number != RT_SIGRETURN && static_cast<i64>(registers.rax) == -ERESTARTSYS;
  ThreadEntry& thread = current_thread();
  u64* word = pending_word();
  if (!restart && __atomic_load_n(word, __ATOMIC_ACQUIRE) == 0 &&
      __atomic_load_n(&thread.pending_signals, __ATOMIC_ACQUIRE) == 0 && !thread.suspend_mask_pending)
    return;
  state_lock().lock();
  u64 pending = deliverable(thread);
  for (u64 signal = 1; signal <= 64; ++signal) {
    if ((pending & bit(signal)) == 0) continue;
    // A thread's own signal first (tgkill), else the process's.
    bool to_thread = (__atomic_load_n(&thread.pending_signals, __ATOMIC_ACQUIRE) & bit(signal)) != 0;
    if (to_thread) __atomic_and_fetch(&thread.pending_signals, ~bit(signal), __ATOMIC_ACQ_REL);
    else __atomic_and_fetch(word, ~bit(signal), __ATOMIC_ACQ_REL);
    if (ignored(signal)) continue;
    const SignalAction action = actions[signal - 1];
    if (action.handler != SIG_DFL) {
      // An interrupted call: with SA_RESTART it starts again once the handler returns (the frame
      // holds the `syscall` instruction's address), else it answers EINTR.
      if (restart) {
        if ((action.flags & SA_RESTART) != 0) restart_call(registers, number);
        else registers.rax = static_cast<u64>(-EINTR);
        restart = false;
      }
      bool entered = enter_handler(signal, action, to_thread);  // It reads the signal's record.
      if (!to_thread) record_valid &= ~bit(signal);
      if (entered) break;
    }
    // The default action (or a handler that cannot be entered): the process ends by the signal.
    state_lock().unlock();
    end_process(signal);
  }
  // No handler ran (another thread took the signal, or it was ignored): the call starts again.
  if (restart) restart_call(registers, number);
  if (thread.suspend_mask_pending) {
    thread.signal_mask = thread.suspend_mask;
    thread.suspend_mask_pending = false;
  }
  state_lock().unlock();
}

i64 linux_rt_sigreturn() {
  abi::PersonalityRegisters& registers = sys::utcb()->personality_registers;
  u64 frame_address = registers.rsp - 8;  // The handler's `ret` took the return address.
  if (!readable(frame_address, sizeof(SignalFrame)) ||
      reinterpret_cast<const SignalFrame*>(frame_address)->context.machine.reserved[FRAME_MAGIC_WORD] != FRAME_MAGIC) {
    raise_signal(11);  // SIGSEGV, as Linux answers a bad frame.
    return -EFAULT;
  }
  // The registers as the frame holds them now (a handler may have changed them).
  const auto* frame = reinterpret_cast<const SignalFrame*>(frame_address);
  u64 floating_address = frame->context.machine.fpstate;
  if (floating_address != 0) {
    if ((floating_address & 15) != 0 || !readable(floating_address, FLOATING_STATE_BYTES)) {
      raise_signal(11);
      return -EFAULT;
    }
    alignas(16) u8 image[FLOATING_STATE_BYTES];
    memcpy(image, reinterpret_cast<const void*>(floating_address), FLOATING_STATE_BYTES);
    u32 mxcsr;
    memcpy(&mxcsr, image + 24, 4);
    mxcsr &= mxcsr_mask();
    memcpy(image + 24, &mxcsr, 4);
    asm volatile("fxrstor64 %0" : : "m"(image));
  }
  current_thread().signal_mask = frame->context.mask & ~UNBLOCKABLE;
  load_registers(frame->context.machine, registers);
  return static_cast<i64>(registers.rax);  // The dispatcher writes it back into rax.
}

// sigaltstack: the calling thread's alternate signal stack (handlers with SA_ONSTACK run there).
i64 linux_sigaltstack(u64 new_stack, u64 old_stack) {
  ThreadEntry& thread = current_thread();
  bool running_there = on_signal_stack(thread, sys::utcb()->personality_registers.rsp);
  if (new_stack != 0 && !readable(new_stack, sizeof(SignalStack))) return -EFAULT;
  if (old_stack != 0 && !writable(old_stack, sizeof(SignalStack))) return -EFAULT;
  SignalStack previous{thread.signal_stack,
                       running_there ? SS_ONSTACK : (thread.signal_stack_bytes == 0 ? SS_DISABLE : 0), 0,
                       thread.signal_stack_bytes};
  if (new_stack != 0) {
    SignalStack wanted;
    memcpy(&wanted, reinterpret_cast<const void*>(new_stack), sizeof wanted);
    u64 flags = static_cast<u32>(wanted.flags) & ~SS_AUTODISARM;
    if (flags != 0 && flags != static_cast<u64>(SS_DISABLE) && flags != static_cast<u64>(SS_ONSTACK)) return -EINVAL;
    if (running_there) return -EPERM;
    if (flags == static_cast<u64>(SS_DISABLE)) {
      thread.signal_stack = thread.signal_stack_bytes = 0;
    } else {
      if (wanted.bytes < MINIMUM_SIGNAL_STACK) return -ENOMEM;
      if (wanted.base + wanted.bytes < wanted.base) return -EINVAL;
      thread.signal_stack = wanted.base;
      thread.signal_stack_bytes = wanted.bytes;
    }
  }
  if (old_stack != 0) memcpy(reinterpret_cast<void*>(old_stack), &previous, sizeof previous);
  return 0;
}

// Waits (without the lock) until a signal that is neither blocked nor ignored is pending; a
// sender interrupts the wait (ThreadInterrupt), another process's wakes the process.
i64 linux_rt_sigsuspend(u64 mask, u64 size) {
  if (size != 8) return -EINVAL;
  if (!readable(mask, 8)) return -EFAULT;
  u64 value;
  memcpy(&value, reinterpret_cast<const void*>(mask), 8);
  ThreadEntry& thread = current_thread();
  thread.suspend_mask = thread.signal_mask;
  thread.suspend_mask_pending = true;
  thread.signal_mask = value & ~UNBLOCKABLE;
  while (!signal_pending()) {
    state_lock().unlock();
    process_block(~u64{0});
    state_lock().lock();
  }
  return -EINTR;
}

i64 linux_pause() {
  while (!signal_pending()) {
    state_lock().unlock();
    process_block(~u64{0});
    state_lock().lock();
  }
  return -EINTR;
}

// rt_sigtimedwait: takes a signal of `set` (the thread's own first) without running its handler.
// While it waits the set counts as unblocked, as on Linux, so a sender picks this thread.
i64 linux_rt_sigtimedwait(u64 set_address, u64 info_address, u64 timeout_address, u64 size) {
  if (size != 8) return -EINVAL;
  if (!readable(set_address, 8) || (info_address != 0 && !writable(info_address, 128))) return -EFAULT;
  u64 set;
  memcpy(&set, reinterpret_cast<const void*>(set_address), 8);
  set &= ~UNBLOCKABLE;
  u64 deadline = ~u64{0};
  if (timeout_address != 0) {
    if (!readable(timeout_address, 16)) return -EFAULT;
    i64 spec[2];
    memcpy(spec, reinterpret_cast<const void*>(timeout_address), 16);
    if (spec[0] < 0 || spec[1] < 0 || spec[1] >= 1'000'000'000) return -EINVAL;
    u64 seconds = static_cast<u64>(spec[0]) > 1'000'000'000 ? 1'000'000'000 : static_cast<u64>(spec[0]);
    deadline = monotonic_nanoseconds() + seconds * 1'000'000'000 + static_cast<u64>(spec[1]);
  }
  ThreadEntry& thread = current_thread();
  u64 real_mask = thread.signal_mask;
  thread.signal_mask &= ~set;
  i64 result = -EAGAIN;
  for (;;) {
    u64* word = pending_word();
    u64 own = __atomic_load_n(&thread.pending_signals, __ATOMIC_ACQUIRE) & set;
    u64 shared_pending = __atomic_load_n(word, __ATOMIC_ACQUIRE) & set;
    if ((own | shared_pending) != 0) {
      bool to_thread = own != 0;
      u64 signal = static_cast<u64>(__builtin_ctzll(to_thread ? own : shared_pending)) + 1;
      __atomic_and_fetch(to_thread ? &thread.pending_signals : word, ~bit(signal), __ATOMIC_ACQ_REL);
      if (info_address != 0) {
        std::int32_t info[32] = {};
        fill_info(info, signal, to_thread);
        memcpy(reinterpret_cast<void*>(info_address), info, sizeof info);
      }
      if (!to_thread) record_valid &= ~bit(signal);
      result = static_cast<i64>(signal);
      break;
    }
    thread.signal_mask = real_mask;
    bool other = signal_pending();
    thread.signal_mask = real_mask & ~set;
    if (other) {
      result = -EINTR;  // Another signal's handler runs first.
      break;
    }
    u64 now = monotonic_nanoseconds();
    if (now >= deadline) break;
    state_lock().unlock();
    process_block(deadline - now);
    state_lock().lock();
  }
  thread.signal_mask = real_mask;
  return result;
}

i64 linux_kill(u64 pid, u64 signal) {
  if (signal > 64) return -EINVAL;
  auto target = static_cast<std::int32_t>(pid);
  if (shared() == nullptr) {
    if (target != 0 && target != -1 && static_cast<u64>(target) != own_pid) return -ESRCH;
    if (signal != 0) send_process_signal(signal, SI_USER, 0, 0, true);
    return 0;
  }
  usize found = 0;
  u64 woken = 0;
  bool own = false;
  {
    SharedGuard guard;
    u32 own_group = shared()->processes[own_process_index].group;
    for (usize i = 0; i < MAX_PROCESSES; ++i) {
      ProcessEntry& entry = shared()->processes[i];
      if (entry.use == ProcessUse::Free) continue;
      bool chosen = target > 0    ? entry.pid == static_cast<u32>(target)
                    : target == 0 ? entry.group == own_group
                    : target == -1 ? entry.pid != LINUX_PID || i == own_process_index
                                   : entry.group == static_cast<u32>(-target);
      if (!chosen) continue;
      ++found;
      if (signal == 0 || entry.use != ProcessUse::Running) continue;
      if (i == own_process_index) {
        own = true;
        continue;
      }
      entry.pending |= bit(signal);
      woken |= u64{1} << i;
    }
  }
  if (own) send_process_signal(signal, SI_USER, 0, 0, true);
  for (usize i = 0; i < MAX_PROCESSES; ++i)
    if ((woken >> i & 1) != 0) {
      process_wake(i);
      signal_watcher_wake(i);
    }
  return found == 0 ? -ESRCH : 0;
}

// rt_sigqueueinfo: to a process with the caller's siginfo (its si_code must be negative, as Linux
// asks of anyone but the kernel); its value reaches the handler.
i64 linux_rt_sigqueueinfo(u64 pid, u64 signal, u64 info_address) {
  if (signal == 0 || signal > 64) return -EINVAL;
  if (!readable(info_address, 128)) return -EFAULT;
  std::int32_t info[32];
  memcpy(info, reinterpret_cast<const void*>(info_address), sizeof info);
  if (info[2] >= 0 || info[2] == SI_TKILL) return -EPERM;
  if (pid != own_pid) return linux_kill(pid, signal);
  u64 value;
  memcpy(&value, &info[6], 8);
  send_process_signal(signal, info[2], value, 0, true);
  return 0;
}

i64 linux_tgkill(u64 group, u64 tid, u64 signal) {
  if (signal > 64) return -EINVAL;
  // Another process's threads are not visible here: its main thread (tid = pid) takes the signal
  // as its process's, which that process's watcher delivers (any other tid of it: ESRCH).
  if (group != own_pid) {
    if (tid != group || static_cast<std::int32_t>(group) <= 0) return -ESRCH;
    return linux_kill(group, signal);
  }
  ThreadEntry* table = thread_table();
  for (usize i = 0; i < MAX_THREADS; ++i) {
    if (table[i].use != ThreadUse::Running || table[i].tid != tid) continue;
    if (signal != 0) send_thread_signal(i, signal);
    return 0;
  }
  return -ESRCH;
}

namespace {

// The watcher's stack comes from the mmap area, kept on exec; a child has its own copy at the same
// address (fork copies the area), so every process's watcher starts on its own.
constexpr u64 WATCHER_UTCB = manager::FUNCTION_UTCB_ADDRESS + (MAX_THREADS + 2) * PAGE;
constexpr u64 WATCHER_STACK_BYTES = 8192;
u64 watcher_stack = 0;

bool own_process_running() {
  const ProcessEntry& entry = shared()->processes[own_process_index];
  return __atomic_load_n(&entry.use, __ATOMIC_ACQUIRE) == ProcessUse::Running;
}

}  // namespace

bool signal_watcher_start() {
  if (shared() == nullptr || shared()->signal_slots[own_process_index] == 0) return false;
  if (watcher_stack == 0) {
    u64 stack = allocate_anonymous(WATCHER_STACK_BYTES);
    if (stack == 0) return false;
    memory_keep_on_exec(stack, WATCHER_STACK_BYTES);
    watcher_stack = stack;
  }
  u64 thread = allocate_slot();
  if (thread == 0) return false;
  // The capability stays in this slot for the process's life: deleting it would end the watcher.
  if (native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Thread), thread,
             0, manager::FUNCTION_TASK, WATCHER_UTCB) != sys::Error::None) {
    free_slot(thread);
    return false;
  }
  return native(abi::Syscall::ThreadConfigure, thread, manager::FUNCTION_PRIORITY, cpu_for(own_pid),
                own_exception_slot) == sys::Error::None &&
         native(abi::Syscall::ThreadStart, thread, reinterpret_cast<u64>(&personality_watcher_entry),
                watcher_stack + WATCHER_STACK_BYTES, 0) == sys::Error::None;
}

void signal_watcher_wake(usize index) {
  if (shared() != nullptr && index < MAX_PROCESSES && shared()->signal_slots[index] != 0)
    (void)native(abi::Syscall::NotificationSignal, shared()->signal_slots[index], 1);
}

namespace {

// One round of the watcher: under state_lock(), each pending signal that is neither ignored nor
// blocked by every thread interrupts the thread that takes it. False once the process is ending
// (end_process and exit_program keep the lock for good; pid 1's exit_program then blocks in
// EVENT_EXIT until the manager destroys the task): the watcher then ends rather than yield in a
// loop for a lock that never comes back, which kept its CPU busy until then (docs/BENCHMARKS.md,
// pipe_roundtrip).
bool watcher_round() {
  u32* word = state_lock().word();
  while (__atomic_exchange_n(word, 1u, __ATOMIC_ACQUIRE) != 0) {
    if (!own_process_running() || process_ending()) return false;
    sys::yield_thread();
  }
  u64 pending = __atomic_load_n(pending_word(), __ATOMIC_ACQUIRE);
  for (u64 signal = 1; pending != 0; ++signal, pending >>= 1)
    if ((pending & 1) != 0) wake_for_process_signal(signal, false);
  state_lock().unlock();
  return own_process_running();
}

}  // namespace

void signals_reset_for_exec() {
  current_thread().signal_stack = current_thread().signal_stack_bytes = 0;  // As Linux's execve.
  for (SignalAction& action : actions)
    if (action.handler != SIG_IGN) action = SignalAction{};
}

}  // namespace personality

using namespace personality;

// The signal watcher (signal_watcher_start): native system calls only (it has no syscall
// handler and never enters the program); it sleeps on its process's watcher notification.
extern "C" [[noreturn]] void personality_watcher_start() {
  for (;;) {
    sys::SyscallRegisters registers{0, 0, 0, 0, 0, abi::TIMEOUT_INFINITE};
    u64 notification = shared()->signal_slots[own_process_index];
    sys::Error error = sys::invoke(abi::Syscall::NotificationWait, notification, registers);
    if ((error != sys::Error::None && error != sys::Error::Interrupted) || !watcher_round())
      (void)native(abi::Syscall::ThreadExit, abi::NULL_SELECTOR);
  }
}
