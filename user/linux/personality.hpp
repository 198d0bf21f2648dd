// The Linux personality's shared state and services: Linux ABI constants, the program's memory
// map as the personality knows it, output and log, time, randomness, termination.
// Invariant: every pointer that comes from the Linux program passes readable()/writable() before
// the personality touches it; everything here runs on the calling thread's own personality stack,
// inside the function's task, with the function's capabilities only (FUNCTION_* selectors); shared
// state (State, the memory map, the thread table) is touched only under state_lock().
#pragma once

#include <stdarg.h>

#include "manager/protocol.hpp"
#include "sys/syscall.hpp"
#include "sys/utcb.hpp"

#include "sys/spin_lock.hpp"
#include "sys/string.hpp"

namespace personality {

using sys::i64;
using sys::u32;
using sys::u64;
using sys::u8;
using sys::usize;
namespace abi = sys::abi;

// Linux errno values (asm-generic/errno-base.h, errno.h); system calls return them negated.
enum Errno : i64 {
  EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EBADF = 9, EAGAIN = 11, ENOMEM = 12, EACCES = 13,
  EFAULT = 14, EEXIST = 17, EINVAL = 22, ENOTTY = 25, ESPIPE = 29, EPIPE = 32, ERANGE = 34, ENOSYS = 38,
  ENODEV = 19, EXDEV = 18, ETIMEDOUT = 110,
  EBUSY = 16, ENOTDIR = 20, EISDIR = 21, ENFILE = 23, EMFILE = 24, EFBIG = 27, ENOSPC = 28,
  EROFS = 30, ENAMETOOLONG = 36, ENOTEMPTY = 39, ELOOP = 40, EOPNOTSUPP = 95, EIO = 5,
  E2BIG = 7, ENOEXEC = 8, ECHILD = 10,
};

constexpr u64 PAGE = 4096;
constexpr u64 page_down(u64 address) { return address & ~(PAGE - 1); }
constexpr u64 page_up(u64 address) { return (address + PAGE - 1) & ~(PAGE - 1); }

// Identity a Linux program sees: pid 1 (before any fork), and its user and group: an image's User
// (LinuxStart::uid and gid with LINUX_START_IDENTITY, resolved at deploy), else 1000 and 1000.
constexpr u64 LINUX_PID = 1;
constexpr u64 DEFAULT_UID = 1000;
constexpr u64 DEFAULT_GID = 1000;
u64 linux_uid();
u64 linux_gid();

// The Linux stack: the manager's 64 KiB at FUNCTION_STACK_TOP, extended downwards at start.
constexpr u64 STACK_EXTRA_PAGES = 2048 - manager::FUNCTION_STACK_PAGES;  // 8 MiB in all, lazy: paid as touched.
constexpr u64 STACK_TOTAL_BYTES = (manager::FUNCTION_STACK_PAGES + STACK_EXTRA_PAGES) * PAGE;
constexpr u64 STACK_LOW = manager::FUNCTION_STACK_TOP - STACK_TOTAL_BYTES;

// A set of capability slots: bit i % 64 of word i / 64 is slot i.
struct SlotSet {
  static constexpr usize WORDS = manager::FUNCTION_CAPABILITY_SLOTS / 64;
  u64 words[WORDS];
  void add(u64 slot) { words[slot / 64] |= u64{1} << (slot % 64); }
};
static_assert(manager::FUNCTION_CAPABILITY_SLOTS % 64 == 0);

struct State {
  const manager::FunctionContext* context = nullptr;
  manager::LinuxStart start{};
  u64 stack_low = manager::FUNCTION_STACK_TOP - manager::FUNCTION_STACK_PAGES * PAGE;
  u64 stack_slot = 0;  // The lazy Memory of the stack below the manager's pages (0: none); fork copies it.
  u64 input_position = 0;     // Offset of the input description (fd 0 and its duplicates).
  u64 output_size = 0;        // Every byte written to stdout, including those past the capacity.
  u64 unsupported_calls = 0;  // Calls answered ENOSYS because the personality lacks them.
  u64 unsupported_numbers[8] = {};
  usize unsupported_distinct = 0;
  SlotSet slots_used{};        // Capability slots taken (atomic: allocate_slot needs no lock).
  u64 random_state = 0;
  bool have_rdrand = false;
};
State& state();

// The lock over all shared state of the personality: libsys's SpinLock (which yields to a holder
// preempted on the waiter's CPU), except that a thread whose process is ending never waits for it:
// exit_program and end_process take it for good, so such a thread ends itself (ThreadExit) instead
// of yielding in a loop until the task is destroyed, which for a zombie whose parent is slow to
// wait (or never waits) would keep a CPU busy. Never held while a thread blocks in the kernel,
// except for the final EVENT_EXIT, which the task does not survive.
using sys::SpinLock;

// Why threads of this process are to end: bits set under state_lock() (never cleared, except by a
// forked child's start) and read without it at every entry into the personality and every take
// of the lock, so the common case costs one load.
constexpr u32 ENDING_PROCESS = 1;       // exit_program or end_process keeps the lock for good.
constexpr u32 ENDING_FIRST_THREAD = 2;  // pid 1's first thread is to go (threads_end_others).
extern u32 ending_reasons;
// True when the calling thread is to end at once, wherever it enters the personality: its
// process is ending (another thread holds state_lock() for good), or it is pid 1's first thread
// and another thread's execve or exit told it to go (threads_end_others). A thread that only
// waits on a personality object never sees this: it is destroyed, or blocks for good.
inline bool thread_must_end() {
  u32 reasons = __atomic_load_n(&ending_reasons, __ATOMIC_ACQUIRE);
  if (reasons == 0) [[likely]]
    return false;
  return (reasons & ENDING_PROCESS) != 0 || sys::utcb()->self == manager::FUNCTION_UTCB_ADDRESS;
}
// Ends the calling thread without touching any lock (it holds none).
[[noreturn]] void end_calling_thread();

class StateLock {
 public:
  // Takes the lock; never returns to a thread that is to end (thread_must_end), whose lock
  // attempt ends it instead (it holds no lock then: the shared and store locks are taken only
  // inside this one). Looked at once the lock is taken too: exec may have told pid 1's first
  // thread to go and then released the lock.
  void lock() {
    if (__atomic_exchange_n(lock_.word(), 1u, __ATOMIC_ACQUIRE) != 0) wait();
    if (thread_must_end()) [[unlikely]]
      give_up();
  }
  void unlock() { lock_.unlock(); }
  // The word itself, for the one release that cannot be a call (a thread's exit, in assembly).
  u32* word() { return lock_.word(); }

 private:
  void wait();  // Until the lock is the caller's; ends the caller instead once it must end.
  [[noreturn]] void give_up();
  SpinLock lock_;
};
StateLock& state_lock();

class LockGuard {
 public:
  LockGuard() { state_lock().lock(); }
  ~LockGuard() { state_lock().unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
};

// Threads (threads.cpp). Entry 0 is the thread the manager started; entry i > 0 has its UTCB at
// FUNCTION_UTCB_ADDRESS + i pages, so a thread finds its own entry from %gs:0.
constexpr usize MAX_THREADS = 32;
constexpr u64 HANDLER_STACK_BYTES = 16384;
enum class ThreadUse : u8 { Free, Running, Exited };
struct ThreadEntry {
  ThreadUse use = ThreadUse::Free;
  u64 tid = 0;
  u64 thread_slot = 0;      // Its Thread capability (0 for entry 0: the manager holds that one).
  u64 notification = 0;     // Its Notification (futex and sleep wait on it); 0: none yet.
  u64 handler_stack = 0;    // Lowest address of its personality stack (0 for entry 0: personality_stack).
  u64 clear_tid = 0;        // CLONE_CHILD_CLEARTID / set_tid_address: zeroed and woken at exit.
  u64 fs_base = 0;
  u64 futex_address = 0;    // The futex it waits on (0: none).
  u32 futex_bitset = 0;
  bool futex_untimed = false;  // Its wait has no timeout (deadlock detection).
  bool woken = false;       // Set (under the lock) by the FUTEX_WAKE that chose it.
  u32 lock_wait_owner = 0;  // Blocked in F_SETLKW/F_OFD_SETLKW: the request's owner + 1 (locks.cpp).
  bool lock_wait_on_classic = false;  // ... behind a classic lock (Linux's deadlock check).
  u64 robust_list = 0;      // set_robust_list's head: walked at the thread's exit.
  // CPU accounting in TSC ticks (getrusage, times; docs/LINUX.md): when it started, how long it
  // waited in the personality (futex, sleep, lock waits), how long the personality worked for it.
  u64 started_ticks = 0;
  u64 waited_ticks = 0;
  u64 system_ticks = 0;
  u64 waits = 0;            // Waits that blocked (ru_nvcsw).
  abi::PersonalityRegisters start_registers{};  // A new thread's first registers (clone).
  // sigaltstack (signals.cpp): the thread's alternate signal stack; 0 bytes: none. A new thread has
  // none; a forked child's thread keeps its parent thread's, as on Linux.
  u64 signal_stack = 0, signal_stack_bytes = 0;
  // Its blocked signals (rt_sigprocmask is per thread, as on Linux: musl blocks every signal in a
  // thread that exits); a new thread starts with its creator's. rt_sigsuspend's mask to give back
  // after the handler's frame is built.
  u64 signal_mask = 0, suspend_mask = 0;
  bool suspend_mask_pending = false;
  u64 pending_signals = 0;  // Sent to this thread (tkill, tgkill); atomic or, atomic and.
  u64 cpu = UNKNOWN_CPU;    // Where it runs (set when it is made, moved or makes a thread).
  static constexpr u64 UNKNOWN_CPU = ~u64{0};
};
void threads_init();
ThreadEntry& current_thread();
// The calling thread's Notification, created on first use; 0 when the memory limit refuses it.
u64 current_notification();
i64 linux_clone(u64 flags, u64 stack, u64 parent_tid, u64 child_tid, u64 tls);
[[noreturn]] void linux_exit_thread(u64 status);
i64 linux_futex(u64 address, u64 operation, u64 value, u64 timeout, u64 address2, u64 value3);
bool thread_alive(u64 tid);
// The CPU a process with this id (or a helper thread, 0) starts on: the function's CPUs in turn.
u64 cpu_for(u64 tid);
// sched_setaffinity and sched_getaffinity (pid 0 or the caller's tid): the set the process's new
// threads and children start in (cpu_for and clone pick within it).
i64 linux_sched_setaffinity(u64 pid, u64 length, u64 mask);
i64 linux_sched_getaffinity(u64 pid, u64 length, u64 mask);
// fork: the child's only thread is entry 0, with the forking thread's TLS and the tid `tid`;
// every other entry is free and holds no capability (they were the parent's).
void threads_after_fork(const ThreadEntry& forking, u64 tid, u64 clear_tid);
// exec, exit_group, a fatal signal: every thread of the thread table but the caller ends now,
// whatever it is doing (running program code, blocked in a wait, spinning for the lock): deleting
// its only Thread capability destroys it in the kernel (entries 1.., and entry 0 of a forked child,
// whose capability fork gave it alone). pid 1's entry 0 is the manager's thread (FUNCTION_THREAD
// is Interrupt only): it is interrupted and ends at its next entry into the personality, at once
// if it runs program code (thread_must_end). Under the lock.
void threads_end_others();
ThreadEntry* thread_table();  // MAX_THREADS entries; under the lock.
usize live_thread_count();
// A wait of the calling thread, without a timeout, until `*word` differs from `expected` and some
// wake_every_waiter(word) came (personality words only; counted by the deadlock check). Unlocked.
i64 wait_for_change(u32* word, u32 expected);
void wake_every_waiter(u32* word);  // Locked.
i64 linux_set_robust_list(u64 head, u64 length);
i64 linux_get_robust_list(u64 tid, u64 head_address, u64 length_address);
// CPU times in nanoseconds of the calling thread (thread) or of every thread, past ones included.
void cpu_times(bool whole_process, u64& user_nanoseconds, u64& system_nanoseconds, u64& waits);
u64 ticks_to_nanoseconds(u64 ticks);

// Capability slots of the function's own space (FUNCTION_FIRST_FREE .. FUNCTION_CAPABILITY_SLOTS - 1);
// 0 when none is left.
u64 allocate_slot();
void free_slot(u64 slot);

// Ranges of the program's address space: true when [address, address + length) lies inside memory
// the program may read (or write), with no overflow. Length 0 is always fine.
bool readable(u64 address, u64 length);
bool writable(u64 address, u64 length);

// stdout (the output area, counted past its capacity) and stderr (EVENT_LOG to the manager).
void write_output(const u8* bytes, u64 length);
void write_log(const char* text, usize length);
[[gnu::format(printf, 1, 2)]] void logf(const char* format, ...);

// Ends the invocation (every thread): EVENT_EXIT with `status` and the stdout byte count. Takes
// state_lock() and never gives it back, and ends the other threads (threads_end_others), so no
// other thread changes the result afterwards; the caller must not hold it. A second exit of the
// same process ends only its caller: the first one's status stands, as on Linux. Never returns.
[[noreturn]] void exit_program(u64 status);
// True once this process is ending (exit_program or end_process took state_lock() for good; pid 1
// then blocks in EVENT_EXIT until the task is gone): a thread waiting for the lock waits in vain,
// so it ends instead (StateLock::lock).
inline bool process_ending() {
  return (__atomic_load_n(&ending_reasons, __ATOMIC_ACQUIRE) & ENDING_PROCESS) != 0;
}
void mark_process_ending();  // Under state_lock(), which the caller keeps for good.
// Logs how many calls the process answered ENOSYS and their first numbers (none: nothing).
void log_unsupported_calls();

u64 read_tsc();
// Profiling (profile.cpp; empty unless built with METTEAGLE_LINUX_PROFILE): the start, one record
// per system call, and the report logged at exit.
void profile_start();
void profile_record(u64 number, u64 tid, u64 entered, u64 spent, u64 waited);
void profile_report();
u64 monotonic_nanoseconds();
// The wall clock (FunctionContext::realtime_offset): nanoseconds since 1970-01-01 UTC now, and the
// offset to add to monotonic time (0 when the manager has no clock: then boot-relative, as before).
u64 realtime_nanoseconds();
u64 realtime_offset();
// True for the clocks that read the wall clock: CLOCK_REALTIME, _COARSE, _ALARM and CLOCK_TAI.
// Seconds a timespec may ask for (larger values are taken as this): about year 2286, so absolute
// wall-clock deadlines fit, and in nanoseconds (1e19) still below 2^64.
constexpr u64 MAX_TIMESPEC_SECONDS = 10'000'000'000;
constexpr u64 timespec_seconds(i64 seconds) {
  return static_cast<u64>(seconds) > MAX_TIMESPEC_SECONDS ? MAX_TIMESPEC_SECONDS : static_cast<u64>(seconds);
}
constexpr bool is_realtime_clock(u64 clock) { return clock == 0 || clock == 5 || clock == 8 || clock == 11; }
// Sleeps without spinning (a wait on the thread's notification with a timeout). Without the lock.
// A signal for the thread (its wait ends Interrupted and signal_pending() says so) ends it early:
// the nanoseconds left then, else 0.
u64 sleep_nanoseconds(u64 nanoseconds);
void random_bytes(u8* target, usize length);
void random_init();

// Memory calls (memory.cpp).
void memory_init();
bool memory_contains(u64 address, u64 length);  // brk area, mmap area or fixed mappings.
// False when a page of the range is PROT_NONE, or (write) not writable, in the protections that
// mmap and mprotect set on the personality's memory; true for memory outside it.
bool memory_permits(u64 address, u64 length, bool write);
i64 linux_brk(u64 address);
i64 linux_mmap(u64 address, u64 length, u64 protection, u64 flags, u64 descriptor, u64 offset);
i64 linux_munmap(u64 address, u64 length);
i64 linux_mprotect(u64 address, u64 length, u64 protection);
i64 linux_mremap(u64 address, u64 old_length, u64 new_length, u64 flags, u64 new_address);
i64 linux_madvise(u64 address, u64 length, u64 advice);
i64 linux_mincore(u64 address, u64 length, u64 vector);
// Maps a fresh Memory of `pages` at `address` (charged to the memory limit); its slot or 0.
u64 map_fresh(u64 address, u64 pages);
// Zeroed bytes (a page multiple) from the mmap area, as for an anonymous mmap; 0 past the limit.
u64 allocate_anonymous(u64 bytes);
// Gives the pages of [start, end) (page aligned, in the personality's areas) their frames now, so
// that the personality's own writes there cannot meet the memory limit as a fault (which would end
// the invocation); false when the limit refuses (the pages before the refused one stay given).
bool commit_pages(u64 start, u64 end);
// Processes: the chunks of memory the personality mapped (brk, mmap, MAP_FIXED), for fork's copy.
struct MemoryChunk {
  u64 address, pages, slot;
};
usize memory_chunk_count();
MemoryChunk memory_chunk(usize index);
// The child of a fork makes the kernel's mappings of its chunks agree with the protections it
// inherited; exec gives back the program's brk and mmap memory (/tmp is in the file store) and drops
// every protection.
void memory_after_fork();
// `scratch` holds EXEC_SCRATCH_BYTES for the ranges kept (exec's own buffer, not the data segment).
constexpr usize EXEC_SCRATCH_BYTES = 300 * 16;
void memory_reset_for_exec(u64 keep_address, u64 keep_bytes, void* scratch);
// Personality memory in the mmap area that exec must never give back (the supervisor's stacks).
void memory_keep_on_exec(u64 address, u64 bytes);
// exec of another program: every brk chunk goes (the new program may lie where the old break
// was); memory_init then places the break after the new image (State::start.image_end).
void memory_release_break();

inline sys::Error native(abi::Syscall operation, u64 selector, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0,
                         u64 a5 = 0) {
  return sys::invoke(operation, selector, a1, a2, a3, a4, a5);
}

// TaskUnmap of a whole range: a call that stopped early (abi::UNMAP_MAX_MAPPINGS) is repeated
// from where it stopped.
inline sys::Error native_unmap(u64 task, u64 address, u64 pages) {
  u64 end = address + pages * sys::PAGE_SIZE;
  for (;;) {
    sys::SyscallRegisters registers{address, pages, 0, 0, 0, 0};
    sys::Error error = sys::invoke(abi::Syscall::TaskUnmap, task, registers);
    if (error != sys::Error::None || registers.argument1 >= end || registers.argument1 <= address) return error;
    pages = (end - registers.argument1) / sys::PAGE_SIZE;
    address = registers.argument1;
  }
}

// TaskMap of a whole range, in calls of at most abi::MAP_MAX_PAGES pages each going on from where
// the last stopped; if a later part fails the parts mapped go again (all or nothing).
inline sys::Error native_map(u64 task, u64 memory, u64 page_offset, u64 address, u64 pages, u32 rights) {
  u64 start = address;
  u64 end = address + pages * sys::PAGE_SIZE;
  for (;;) {
    sys::SyscallRegisters registers{memory, page_offset, address, pages, rights, 0};
    sys::Error error = sys::invoke(abi::Syscall::TaskMap, task, registers);
    if (error != sys::Error::None) {
      if (address != start) (void)native_unmap(task, start, (address - start) / sys::PAGE_SIZE);
      return error;
    }
    if (registers.argument1 >= end || registers.argument1 <= address) return error;
    page_offset += (registers.argument1 - address) / sys::PAGE_SIZE;
    pages = (end - registers.argument1) / sys::PAGE_SIZE;
    address = registers.argument1;
  }
}

}  // namespace personality
