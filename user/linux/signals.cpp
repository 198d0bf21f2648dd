// Signals, as far as processes and pipes need them: dispositions (rt_sigaction), the blocked mask
// (rt_sigprocmask, per thread), kill/tkill/tgkill between the processes of an invocation, SIGPIPE
// from a write to a closed pipe, SIGCHLD from a child's end, rt_sigsuspend/pause, and delivery at
// the end of a system call: a default action (terminate; SIGCHLD, SIGURG, SIGWINCH, SIGCONT and
// the stop signals are ignored), or a handler entered with a frame that rt_sigreturn takes back.
// No delivery is asynchronous: a signal waits for its target's next system call (blocking calls
// return EINTR when one comes), so a program spinning without system calls never sees it. Frames
// are Linux's (ucontext, siginfo), on the thread's sigaltstack for SA_ONSTACK handlers.
// Invariants: pending signals live in the process's shared entry (before the first fork or pipe,
// in `local_pending`) and are only set with atomic or and taken with atomic and; a frame is only
// built on memory writable() accepts, and rt_sigreturn only restores a frame carrying FRAME_MAGIC.
#include <cstdint>

#include "process.hpp"

namespace personality {
namespace {

constexpr u64 SIG_DFL = 0, SIG_IGN = 1;
constexpr u64 SA_SIGINFO = 4, SA_RESTORER = 0x04000000, SA_NODEFER = 0x40000000, SA_RESETHAND = 0x80000000;
constexpr u64 SIGKILL = 9, SIGSTOP = 19;
constexpr u64 UNBLOCKABLE = (u64{1} << (SIGKILL - 1)) | (u64{1} << (SIGSTOP - 1));
constexpr u64 FRAME_MAGIC = 0x656d6172466c6753ull;  // "SglFrame"

struct SignalAction {
  u64 handler, flags, restorer, mask;
};
static_assert(sizeof(SignalAction) == 32);  // The kernel's struct sigaction with an 8-byte mask.

// The frame a handler starts on, laid out as Linux's x86-64 rt_sigframe: the restorer's address
// (the handler's `ret` goes there), a ucontext whose mcontext holds the interrupted registers (a
// handler may change them: rt_sigreturn resumes from them, which is how Go's preemption moves a
// goroutine), then the siginfo. No floating-point state is saved (fpstate is null): signals are
// taken at the end of a system call, where the SysV ABI keeps no vector register live.
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

SignalAction actions[64];
u64 local_pending = 0;

u64 bit(u64 signal) { return u64{1} << (signal - 1); }

u64* pending_word() { return shared() != nullptr ? &shared()->processes[own_process_index].pending : &local_pending; }

bool ignored_by_default(u64 signal) {
  return signal == 17 || signal == 18 || signal == 23 || signal == 28 || (signal >= 19 && signal <= 22);
}

bool ignored(u64 signal) {
  u64 handler = actions[signal - 1].handler;
  return handler == SIG_IGN || (handler == SIG_DFL && ignored_by_default(signal));
}

// Enters the handler of `signal` with a frame below the program's stack (past its red zone); false
// when it has no restorer or the stack cannot take the frame.
bool enter_handler(u64 signal, const SignalAction& action) {
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
  u64 frame_address = ((stack - sizeof(SignalFrame)) & ~u64{15}) - 8;
  if (stack < 4096 + sizeof(SignalFrame) || !writable(frame_address, sizeof(SignalFrame))) return false;
  auto* frame = reinterpret_cast<SignalFrame*>(frame_address);
  memset(frame, 0, sizeof *frame);
  frame->return_address = action.restorer;
  frame->context.stack = alternate;
  save_registers(registers, frame->context.machine);
  frame->context.machine.reserved[FRAME_MAGIC_WORD] = FRAME_MAGIC;
  u64& blocked = thread.signal_mask;
  frame->context.mask = thread.suspend_mask_pending ? thread.suspend_mask : blocked;
  frame->context.machine.old_mask = frame->context.mask;
  thread.suspend_mask_pending = false;
  frame->info[0] = static_cast<std::int32_t>(signal);
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
  u64 pending = __atomic_load_n(pending_word(), __ATOMIC_ACQUIRE) & ~current_thread().signal_mask;
  for (u64 signal = 1; pending != 0; ++signal, pending >>= 1)
    if ((pending & 1) != 0 && !ignored(signal)) return true;
  return false;
}

// SIGURG is accepted and dropped: Go sends it to preempt a goroutine (tgkill), but a signal here is
// taken at the end of a system call, where the runtime is never at an asynchronous safe point, so
// its handler would run for nothing; goroutines are preempted cooperatively (docs/LINUX.md, Gaps).
// Its default action is to ignore it anyway.
constexpr u64 SIGURG = 23;

void raise_signal(u64 signal) {
  if (signal != SIGURG) __atomic_or_fetch(pending_word(), bit(signal), __ATOMIC_ACQ_REL);
}

void deliver_signals() {
  u64* word = pending_word();
  ThreadEntry& thread = current_thread();
  if (__atomic_load_n(word, __ATOMIC_ACQUIRE) == 0 && !thread.suspend_mask_pending) return;
  state_lock().lock();
  u64 pending = __atomic_load_n(word, __ATOMIC_ACQUIRE) & ~thread.signal_mask;
  for (u64 signal = 1; signal <= 64; ++signal) {
    if ((pending & bit(signal)) == 0) continue;
    __atomic_and_fetch(word, ~bit(signal), __ATOMIC_ACQ_REL);
    if (ignored(signal)) continue;
    const SignalAction action = actions[signal - 1];
    if (action.handler != SIG_DFL && enter_handler(signal, action)) break;
    // The default action (or a handler that cannot be entered): the process ends by the signal.
    state_lock().unlock();
    end_process(signal);
  }
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

// Waits (without the lock) until a signal that is neither blocked nor ignored is pending.
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

i64 linux_kill(u64 pid, u64 signal) {
  if (signal > 64) return -EINVAL;
  auto target = static_cast<std::int32_t>(pid);
  if (shared() == nullptr) {
    if (target != 0 && target != -1 && static_cast<u64>(target) != own_pid) return -ESRCH;
    if (signal != 0) raise_signal(signal);
    return 0;
  }
  usize found = 0;
  u64 woken = 0;
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
      if (signal == 0 || signal == SIGURG || entry.use != ProcessUse::Running) continue;
      entry.pending |= bit(signal);
      woken |= u64{1} << i;
    }
  }
  for (usize i = 0; i < MAX_PROCESSES; ++i)
    if ((woken >> i & 1) != 0 && i != own_process_index) process_wake(i);
  return found == 0 ? -ESRCH : 0;
}

i64 linux_tgkill(u64 group, u64 tid, u64 signal) {
  if (signal > 64) return -EINVAL;
  if (group != own_pid || !thread_alive(tid)) return -ESRCH;
  if (signal != 0) raise_signal(signal);  // Any thread of the process takes it.
  return 0;
}

void signals_reset_for_exec() {
  current_thread().signal_stack = current_thread().signal_stack_bytes = 0;  // As Linux's execve.
  for (SignalAction& action : actions)
    if (action.handler != SIG_IGN) action = SignalAction{};
}

}  // namespace personality
