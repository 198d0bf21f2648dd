// Processes of one invocation (process.cpp, pipes.cpp, signals.cpp, exec.cpp): the state every
// process shares, in one Memory mapped at SHARED_ADDRESS in each of them, and the per-process calls.
// Invariants: the shared state changes only under its own lock (SharedState::lock), which is taken
// after state_lock() and never held while a thread blocks; every process finds its own entry at
// process_index() and the notification it blocks on at the same capability slot in every task;
// before the first fork or pipe nothing is shared (shared() is null) and a program that never
// forks pays nothing for any of it.
#pragma once

#include <cstdint>

#include "personality.hpp"

namespace personality {

constexpr u64 SHARED_ADDRESS = 0x00007e8000000000;
constexpr usize MAX_PROCESSES = 16;  // Live and zombie processes of one invocation, pid 1 included.

enum class ProcessUse : u32 { Free, Running, Zombie };
struct ProcessEntry {
  ProcessUse use;
  u32 pid, parent, group, session;
  u32 status;       // Linux wait status, once a zombie.
  u64 pending;      // Signals sent to it (bit n - 1 for signal n), taken at its next system call.
  u64 crash_signal; // Set by the supervisor when a thread of it faulted (SIGSEGV, SIGILL, ...).
};

struct SharedState {
  SpinLock lock;
  u32 next_pid;
  u64 output_size;       // stdout of every process (the manager's area gets it when pid 1 exits).
  u64 input_position;    // The offset of the input description, shared as Linux shares it.
  u64 unsupported_calls; // ENOSYS answers of processes that have exited.
  u64 notification_slots[MAX_PROCESSES];  // Process i blocks on this slot (the same in every task).
  // Process i's signal watcher waits here (signals.cpp); made by the first fork (0 before).
  u64 signal_slots[MAX_PROCESSES];
  u64 exception_slot;    // The supervisor's endpoint (pid 1: all rights; children: Send, unbadged).
  ProcessEntry processes[MAX_PROCESSES];
};
constexpr u64 SHARED_HEADER_BYTES = page_up(sizeof(SharedState));
constexpr u64 OUTPUT_OFFSET = SHARED_HEADER_BYTES;  // Pipes live in the file store (file_store.hpp).

// Pages every process maps alike (the shared state, read-only images, context, input): the same
// Memory at the same slot and address in each; fork maps them into the child.
struct SharedMapping {
  u64 address, pages, slot;
  u32 rights;
};
constexpr usize MAX_SHARED_MAPPINGS = 16;
extern SharedMapping shared_mappings[MAX_SHARED_MAPPINGS];
extern usize shared_mapping_count;
// Who the calling process is: its entry in SharedState::processes and its pid (1 before any fork).
extern usize own_process_index;
extern u64 own_pid;
// The exception endpoint of this process's threads: the manager's for pid 1 (a fault ends the
// invocation), the supervisor's with this process's badge for every other (a fault ends it alone).
extern u64 own_exception_slot;

// Null until the first fork or pipe.
SharedState* shared();
u8* shared_output();
// Creates the shared state (first fork or pipe); false when the memory limit refuses it. Locked.
bool shared_init();
// shared_init, then what forks need besides (first fork); false when refused. Locked.
bool processes_init();
usize process_index();
u64 process_pid();

class SharedGuard {
 public:
  SharedGuard() { shared()->lock.lock(); }
  ~SharedGuard() { shared()->lock.unlock(); }
  SharedGuard(const SharedGuard&) = delete;
  SharedGuard& operator=(const SharedGuard&) = delete;
};

// Blocking across processes: waits on the own process's notification (at most `nanoseconds`, and
// never longer than a slice, so a wake-up lost between threads of one process costs a slice, not
// a hang); wakes process `index`. Without any lock.
void process_block(u64 nanoseconds);
void process_wake(usize index);

// process.cpp
i64 process_fork(u64 flags, u64 stack, u64 parent_tid, u64 child_tid, u64 tls);
i64 linux_wait4(u64 pid, u64 status, u64 options, u64 usage);
i64 linux_waitid(u64 type, u64 id, u64 info, u64 options);
i64 linux_getppid();
i64 linux_setpgid(u64 pid, u64 group);
i64 linux_getpgid(u64 pid);
i64 linux_setsid();
i64 linux_getsid(u64 pid);
i64 linux_getpriority(u64 which, u64 who);
// prctl's options programs set at start (busybox, zsh): recorded per process or thread; any other
// option is NOT_SUPPORTED, which the dispatcher answers ENOSYS and counts.
constexpr i64 NOT_SUPPORTED = -(i64{1} << 41);
i64 linux_prctl(u64 option, u64 argument2, u64 argument3, u64 argument4, u64 argument5);
i64 linux_setpriority(u64 which, u64 who, u64 value);
// Ends the calling process with a Linux wait status: pid 1 ends the invocation (EVENT_EXIT), any
// other becomes a zombie for its parent. Takes state_lock() for good and ends the process's other
// threads (threads_end_others), so none runs while it is a zombie; the caller must not hold the
// lock. A second end of the same process ends only its caller (the first status stands).
[[noreturn]] void end_process(u64 wait_status);
// A new thread's tid: from the invocation's pid counter once processes exist.
u64 allocate_tid(u64& next_tid);
// The tid the next thread would get before the shared state exists: the pid counter starts there,
// so a child's pid never equals a tid the program's threads already have (threads.cpp).
u64 next_thread_id();

// signals.cpp
// A blocking call a signal interrupted answers -ERESTARTSYS: deliver_signals makes it -EINTR, or
// starts it again when the handler has SA_RESTART or no handler ran. The program never sees it.
constexpr i64 ERESTARTSYS = 512;
constexpr u64 NO_SYSCALL = ~u64{0};  // deliver_signals for an interrupt: no call to finish.
// The capability (Interrupt) of the thread in entry 0 of the thread table: FUNCTION_THREAD in pid 1,
// the one fork gives a child.
extern u64 main_thread_slot;
i64 linux_rt_sigaction(u64 signal, u64 action, u64 old_action, u64 size);
i64 linux_rt_sigprocmask(u64 how, u64 set, u64 old_set, u64 size);
i64 linux_rt_sigsuspend(u64 mask, u64 size);
i64 linux_pause();
i64 linux_rt_sigreturn();
i64 linux_sigaltstack(u64 new_stack, u64 old_stack);
i64 linux_kill(u64 pid, u64 signal);
i64 linux_tgkill(u64 group, u64 tid, u64 signal);
i64 linux_rt_sigtimedwait(u64 set, u64 info, u64 timeout, u64 size);
i64 linux_rt_sigqueueinfo(u64 pid, u64 signal, u64 info);
// Marks `signal` pending for the calling process (SIGPIPE from a write to a closed pipe). Locked.
void raise_signal(u64 signal);
// A signal to the own process with its siginfo (si_code, sigqueue's or a timer's value, the timer's
// id), then the thread that takes it is interrupted; `from_program_thread`: the caller is one of the
// program's threads (false for the timer thread). Locked.
void send_process_signal(u64 signal, std::int32_t code, u64 value, u32 timer, bool from_program_thread);
// True when a signal the calling thread neither blocks nor ignores is pending (blocking calls then
// return EINTR or ERESTARTSYS).
bool signal_pending();
// Acts on pending signals after system call `number` (NO_SYSCALL: after an interrupt): default
// action, or a handler's frame; an ERESTARTSYS result becomes EINTR or a restart. Unlocked.
void deliver_signals(u64 number);
// exec: handlers go back to SIG_DFL, ignored signals stay ignored.
void signals_reset_for_exec();
// The calling process's signal watcher: a thread outside the thread table that waits on
// SharedState::signal_slots[process_index()] and interrupts the thread that is to take a signal
// another process sent (kill, SIGCHLD). Started by the first fork in pid 1 and by every child at
// its start; false when the memory limit or the slots refuse it (then such signals are taken at
// the target's next system call or wait, as before). Locked.
bool signal_watcher_start();
// Wakes process `index`'s signal watcher after a signal was marked pending in its entry.
void signal_watcher_wake(usize index);

// timers.cpp (locked)
i64 linux_alarm(u64 seconds);
i64 linux_getitimer(u64 which, u64 value);
i64 linux_setitimer(u64 which, u64 new_value, u64 old_value);
i64 linux_timer_create(u64 clock, u64 event, u64 id);
i64 linux_timer_settime(u64 id, u64 flags, u64 new_value, u64 old_value);
i64 linux_timer_gettime(u64 id, u64 value);
i64 linux_timer_getoverrun(u64 id);
i64 linux_timer_delete(u64 id);
bool timers_armed();      // Some timer will fire (the futex deadlock check must not end the program).
void timers_after_fork(); // A child starts without timers or timer thread.
// A signal to thread-table entry `index` only (tgkill, SIGEV_THREAD_ID), which is interrupted. Locked.
void send_thread_signal(usize index, u64 signal);

// pipes.cpp (under state_lock() and the file store's lock; the read and write wait without them).
// A pipe's `readers`/`writers` count the open file descriptions of each end, which fork and dup
// share, so only pipe2 and the last close change them.
i64 pipe_create(u32& pipe);
i64 pipe_read(u32 pipe, u64 buffer, u64 length, bool nonblocking);
i64 pipe_write(u32 pipe, u64 buffer, u64 length, bool nonblocking);
void pipe_release(u32 pipe, bool write_end);
// poll and epoll: bit 0 ready (readable, or PIPE_BUF bytes free to write), bit 1 the other end is
// gone (end of file, or broken); `record_waiter`: a state of 0 records the process as waiting, so
// the next change wakes it (poll blocks on that; epoll looks again every millisecond).
u32 pipe_state(u32 pipe, bool write_end, bool record_waiter);

// exec.cpp
i64 linux_execve(u64 path, u64 argv, u64 envp);
i64 linux_execveat(u64 directory, u64 path, u64 argv, u64 envp, u64 flags);
// The Linux initial stack (System V ABI, x86-64 supplement 3.4.1) for `arguments` and
// `environment` (personality memory), the first program's (start.cpp) and exec's; AT_BASE is
// `loader_base` (a dynamically linked program's PT_INTERP loader, program_loader.cpp; 0: none).
// Its rsp, which points at argc and is 16-byte aligned.
u64 build_initial_stack(const char* const* arguments, usize argument_count, const char* const* environment,
                        usize environment_count, u64 loader_base);

}  // namespace personality
