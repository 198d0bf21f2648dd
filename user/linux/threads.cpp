// Threads of a Linux program: clone for threads, thread exit, futex. Each Linux thread is a kernel
// Thread of the function's own task, created from FUNCTION_FACTORY (charged to the memory limit),
// with its own UTCB, personality stack, syscall handler and Notification (docs/LINUX.md, Threads).
// Invariants: the thread table and every futex waiter record change only under state_lock(); a
// waiter registers itself under the lock after checking the futex value, and a waker marks it
// woken and signals its notification under the same lock, so no wake-up is lost; an entry is
// reused (its Thread capability deleted) only after its thread gave up the lock for the last time,
// and threads_end_others (exec, the process's end) destroys the others only while the caller holds
// the lock, so none of them holds it or the shared and store locks taken inside it;
// when every live thread waits on a futex without a timeout, nothing can wake any of them (there
// are no signals), so the invocation ends at once with status 134 instead of at its timeout.
#include "personality.hpp"
#include "process.hpp"

extern "C" [[gnu::visibility("hidden")]] void personality_syscall_entry();
extern "C" [[gnu::visibility("hidden")]] void personality_thread_entry();

namespace personality {
namespace {

constexpr u64 CLONE_VM = 0x100, CLONE_FS = 0x200, CLONE_FILES = 0x400, CLONE_SIGHAND = 0x800,
              CLONE_VFORK = 0x4000, CLONE_THREAD = 0x10000, CLONE_SYSVSEM = 0x40000, CLONE_SETTLS = 0x80000,
              CLONE_PARENT_SETTID = 0x100000, CLONE_CHILD_CLEARTID = 0x200000, CLONE_DETACHED = 0x400000,
              CLONE_UNTRACED = 0x800000, CLONE_CHILD_SETTID = 0x1000000;
constexpr u64 CLONE_THREAD_REQUIRED = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
constexpr u64 CLONE_THREAD_ALLOWED = CLONE_THREAD_REQUIRED | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                                     CLONE_CHILD_CLEARTID | CLONE_DETACHED | CLONE_UNTRACED | CLONE_CHILD_SETTID;

constexpr u32 FUTEX_BITSET_ANY = 0xffffffff;

ThreadEntry threads[MAX_THREADS];
usize live_threads = 0;  // Entries in use Running.
// CPU ticks of threads that have exited (RUSAGE_SELF counts them, as Linux does).
u64 exited_user_ticks = 0, exited_system_ticks = 0, exited_waits = 0;
u64 next_tid = 2;        // The first thread is tid 1 (= the pid, as on Linux).

u64 utcb_of(usize index) { return manager::FUNCTION_UTCB_ADDRESS + index * PAGE; }

usize current_index() {
  u64 self = sys::utcb()->self;
  u64 index = (self - manager::FUNCTION_UTCB_ADDRESS) / PAGE;
  return self >= manager::FUNCTION_UTCB_ADDRESS && index < MAX_THREADS ? static_cast<usize>(index) : 0;
}

u64 create_notification() {
  u64 slot = allocate_slot();
  if (slot == 0) return 0;
  if (native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Notification),
             slot, 0) != sys::Error::None) {
    free_slot(slot);
    return 0;
  }
  return slot;
}

// Wakes up to `count` threads waiting on `address` whose bitset meets `bitset`; how many. Locked.
u32 wake_locked(u64 address, u32 count, u32 bitset) {
  u32 woken = 0;
  for (ThreadEntry& entry : threads) {
    if (woken >= count) break;
    if (entry.use != ThreadUse::Running || entry.futex_address != address || (entry.futex_bitset & bitset) == 0)
      continue;
    entry.futex_address = 0;
    entry.woken = true;
    // The bit stays set until the waiter takes it, even if it has not reached its wait yet.
    (void)native(abi::Syscall::NotificationSignal, entry.notification, 1);
    ++woken;
  }
  return woken;
}

// Gives back the Thread capability of an entry whose thread has exited (or is about to: it holds
// no lock and touches no memory any more, see linux_exit_thread). Locked.
void reap_locked(ThreadEntry& entry) {
  if (entry.thread_slot != 0) {
    (void)native(abi::Syscall::CapabilityDelete, entry.thread_slot);
    free_slot(entry.thread_slot);
    entry.thread_slot = 0;
  }
  entry.use = ThreadUse::Free;
}

i64 wait_on(u64 address, u32 expected, u32 bitset, bool timed, u64 deadline, bool personality_word = false) {
  ThreadEntry& self = current_thread();
  u64 notification = current_notification();
  bool deadlocked;
  {
    LockGuard guard;
    if (!personality_word && !readable(address, 4)) return -EFAULT;
    if (__atomic_load_n(reinterpret_cast<const u32*>(address), __ATOMIC_SEQ_CST) != expected) return -EAGAIN;
    self.futex_address = address;
    self.futex_bitset = bitset;
    self.futex_untimed = !timed;
    self.woken = false;
    usize stuck = 0;
    for (const ThreadEntry& entry : threads)
      if (entry.use == ThreadUse::Running && entry.futex_address != 0 && entry.futex_untimed) ++stuck;
    // An armed timer can still send a signal whose handler wakes someone.
    deadlocked = stuck == live_threads && !timers_armed();
  }
  if (deadlocked) {
    logf("linux: every thread waits on a futex without a timeout (deadlock)\n");
    exit_program(134);
  }
  for (;;) {
    u64 now = monotonic_nanoseconds();
    u64 timeout = abi::TIMEOUT_INFINITE;
    if (timed) timeout = deadline > now ? deadline - now : 0;
    if (timeout != 0) {
      if (notification != 0) {
        sys::SyscallRegisters registers{0, 0, 0, 0, 0, timeout};
        u64 before = read_tsc();
        (void)sys::invoke(abi::Syscall::NotificationWait, notification, registers);
        self.waited_ticks += read_tsc() - before;
        ++self.waits;
      } else {
        (void)native(abi::Syscall::ThreadYield, abi::NULL_SELECTOR);  // No object (memory limit): poll.
      }
    }
    LockGuard guard;
    if (self.woken) return 0;
    if (timed && monotonic_nanoseconds() >= deadline) {
      self.futex_address = 0;
      return -ETIMEDOUT;
    }
    // A signal for this thread ends a program's wait (its handler runs; with SA_RESTART the wait
    // starts again, as on Linux); the personality's own waits go on.
    if (!personality_word && signal_pending()) {
      self.futex_address = 0;
      return -ERESTARTSYS;
    }
    // A bit left by a wake-up that came after an earlier wait had timed out: wait again.
  }
}

bool read_timeout(u64 address, u64& nanoseconds) {
  struct TimeSpec {
    i64 seconds, nanoseconds;
  } spec;
  memcpy(&spec, reinterpret_cast<const void*>(address), sizeof spec);
  if (spec.seconds < 0 || spec.nanoseconds < 0 || spec.nanoseconds >= 1'000'000'000) return false;
  u64 seconds = timespec_seconds(spec.seconds);
  nanoseconds = seconds * 1'000'000'000 + static_cast<u64>(spec.nanoseconds);
  return true;
}

constexpr u32 FUTEX_WAITERS = 0x80000000, FUTEX_OWNER_DIED = 0x40000000, FUTEX_TID_MASK = 0x3fffffff;

// Linux's handle_futex_death: a robust futex the exiting thread owns gets FUTEX_OWNER_DIED (and
// keeps FUTEX_WAITERS), and one waiter wakes; a pending one nobody owns yet wakes one waiter.
void futex_death(u64 address, bool priority_inheritance, bool pending, u32 tid) {
  if ((address & 3) != 0 || !writable(address, 4)) return;
  auto* word = reinterpret_cast<u32*>(address);
  u32 value = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  for (;;) {
    if (pending && !priority_inheritance && value == 0) {
      (void)wake_locked(address, 1, FUTEX_BITSET_ANY);
      return;
    }
    if ((value & FUTEX_TID_MASK) != tid) return;
    u32 dead = (value & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if (__atomic_compare_exchange_n(word, &value, dead, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) break;
  }
  if (!priority_inheritance && (value & FUTEX_WAITERS) != 0) (void)wake_locked(address, 1, FUTEX_BITSET_ANY);
}

// Linux's exit_robust_list over struct robust_list_head {next, futex_offset, list_op_pending}:
// bit 0 of a pointer marks a PI futex; at most 2048 entries; unreadable memory ends the walk.
void walk_robust_list(const ThreadEntry& self) {
  constexpr usize ROBUST_LIST_LIMIT = 2048;
  u64 head = self.robust_list;
  if (head == 0 || !readable(head, 24)) return;
  u64 words[3];
  memcpy(words, reinterpret_cast<const void*>(head), sizeof words);
  u64 entry = words[0] & ~u64{1};
  bool priority_inheritance = (words[0] & 1) != 0;
  auto offset = static_cast<i64>(words[1]);
  u64 pending = words[2] & ~u64{1};
  bool pending_priority_inheritance = (words[2] & 1) != 0;
  auto tid = static_cast<u32>(self.tid);
  for (usize limit = ROBUST_LIST_LIMIT; entry != head && limit > 0; --limit) {
    bool readable_next = readable(entry, 8);
    u64 next = 0;
    if (readable_next) memcpy(&next, reinterpret_cast<const void*>(entry), 8);
    if (entry != pending) futex_death(entry + static_cast<u64>(offset), priority_inheritance, false, tid);
    if (!readable_next) return;
    entry = next & ~u64{1};
    priority_inheritance = (next & 1) != 0;
  }
  if (pending != 0) futex_death(pending + static_cast<u64>(offset), pending_priority_inheritance, true, tid);
}

// A thread's user and system ticks so far: its life minus its waits, split at the personality.
void thread_ticks(const ThreadEntry& entry, u64& user, u64& system) {
  u64 alive = read_tsc() - entry.started_ticks;
  system = entry.system_ticks;
  u64 busy = alive > entry.waited_ticks ? alive - entry.waited_ticks : 0;
  user = busy > system ? busy - system : 0;
}

}  // namespace

ThreadEntry* thread_table() { return threads; }
usize live_thread_count() { return live_threads; }

i64 wait_for_change(u32* word, u32 expected) {
  return wait_on(reinterpret_cast<u64>(word), expected, FUTEX_BITSET_ANY, false, 0, true);
}

void wake_every_waiter(u32* word) { (void)wake_locked(reinterpret_cast<u64>(word), ~u32{0}, FUTEX_BITSET_ANY); }

i64 linux_set_robust_list(u64 head, u64 length) {
  if (length != 24) return -EINVAL;  // sizeof(struct robust_list_head).
  current_thread().robust_list = head;  // Checked with readable() when the thread exits.
  return 0;
}

i64 linux_get_robust_list(u64 tid, u64 head_address, u64 length_address) {
  const ThreadEntry* target = tid == 0 ? &current_thread() : nullptr;
  for (const ThreadEntry& entry : threads)
    if (target == nullptr && entry.use == ThreadUse::Running && entry.tid == tid) target = &entry;
  if (target == nullptr) return -ESRCH;
  u64 length = 24;
  if (!writable(length_address, 8) || !writable(head_address, 8)) return -EFAULT;
  memcpy(reinterpret_cast<void*>(length_address), &length, 8);
  memcpy(reinterpret_cast<void*>(head_address), &target->robust_list, 8);
  return 0;
}

u64 ticks_to_nanoseconds(u64 ticks) {
  u64 hertz = state().context->tsc_hertz == 0 ? 1'000'000'000 : state().context->tsc_hertz;
  return ticks / hertz * 1'000'000'000 + ticks % hertz * 1'000'000'000 / hertz;
}

void cpu_times(bool whole_process, u64& user_nanoseconds, u64& system_nanoseconds, u64& waits) {
  u64 user = 0, system = 0;
  waits = 0;
  if (whole_process) {
    user = exited_user_ticks;
    system = exited_system_ticks;
    waits = exited_waits;
  }
  for (const ThreadEntry& entry : threads) {
    if (entry.use != ThreadUse::Running || (!whole_process && &entry != &current_thread())) continue;
    u64 thread_user, thread_system;
    thread_ticks(entry, thread_user, thread_system);
    user += thread_user;
    system += thread_system;
    waits += entry.waits;
  }
  user_nanoseconds = ticks_to_nanoseconds(user);
  system_nanoseconds = ticks_to_nanoseconds(system);
}

void threads_init() {
  ThreadEntry& first = threads[0];
  first.use = ThreadUse::Running;
  first.started_ticks = read_tsc();
  first.tid = LINUX_PID;
  live_threads = 1;
}

ThreadEntry& current_thread() { return threads[current_index()]; }

u64 current_notification() {
  ThreadEntry& self = current_thread();
  // Only entry 0 creates its own lazily; clone gives every other thread one before it starts.
  if (self.notification == 0) self.notification = create_notification();
  return self.notification;
}

namespace {
// sched_setaffinity's set, within the function's CPU set (0: none given; a child inherits it).
u64 affinity_mask = 0;

// The CPU of a thread the calling thread makes: of the process's CPU set (sched_setaffinity's, else
// the function's), the one that runs fewest of the process's live threads; among equals the first
// after the caller's own CPU, so the caller's comes last. Like Linux, which starts a new thread on
// an idle CPU: a second thread never shares its creator's CPU while another is free (libgomp's
// spinning OpenMP worker beside igraph's main thread made graph_pagerank 1.9x slower, issue 11).
// Called under the state lock.
u64 cpu_for_new_thread() {
  ThreadEntry& creator = current_thread();
  creator.cpu = sys::thread_self().cpu;  // It may have been moved (sched_setaffinity).
  u64 mask = affinity_mask != 0 ? affinity_mask : state().context->cpu_mask;
  u64 load[64] = {};
  for (const ThreadEntry& entry : threads)
    if (entry.use == ThreadUse::Running && entry.cpu < 64) ++load[entry.cpu];
  u64 best = ThreadEntry::UNKNOWN_CPU;
  for (u64 step = 1; step <= 64; ++step) {
    u64 cpu = (creator.cpu + step) % 64;
    if (((mask >> cpu) & 1) != 0 && (best == ThreadEntry::UNKNOWN_CPU || load[cpu] < load[best])) best = cpu;
  }
  return best;  // The mask is never empty: the manager gives every function a CPU.
}

}  // namespace

// The CPU of process `tid` (or of a helper thread, 0): the function's CPUs in turn (the (tid mod
// count)-th of its set); after sched_setaffinity, the caller's own CPU when the set holds it, else
// the set's first.
u64 cpu_for(u64 tid) {
  if (affinity_mask != 0) {
    u64 here = sys::thread_self().cpu;
    if (here < 64 && ((affinity_mask >> here) & 1) != 0) return here;
    return static_cast<u64>(__builtin_ctzll(affinity_mask));
  }
  u64 mask = state().context->cpu_mask;
  u64 count = 0;  // No popcnt: the personality is built for the baseline x86-64 without libgcc.
  for (u64 rest = mask; rest != 0; rest &= rest - 1) ++count;
  u64 turn = tid % count;
  for (u64 cpu = 0;; ++cpu)
    if (((mask >> cpu) & 1) != 0 && turn-- == 0) return cpu;
}

i64 linux_sched_setaffinity(u64 pid, u64 length, u64 mask_address) {
  if (length < 8) return -EINVAL;
  if (!readable(mask_address, 8)) return -EFAULT;
  if (pid != 0 && pid != current_thread().tid) return -ESRCH;  // Other threads: not yet (docs/LINUX.md).
  u64 wanted;
  memcpy(&wanted, reinterpret_cast<const void*>(mask_address), 8);
  wanted &= state().context->cpu_mask;
  if (wanted == 0) return -EINVAL;  // No CPU of the function's set, as Linux answers.
  affinity_mask = wanted;
  // The caller moves when it can: every thread but pid 1's first (whose capability from the
  // manager is Interrupt only) holds Control of itself; that one stays on the CPU the manager chose.
  usize index = static_cast<usize>(&current_thread() - threads);
  u64 slot = index == 0 ? main_thread_slot : current_thread().thread_slot;
  u64 here = sys::thread_self().cpu;
  if (((wanted >> here) & 1) == 0 && slot != manager::FUNCTION_THREAD && slot != 0 &&
      native(abi::Syscall::ThreadConfigure, slot, manager::FUNCTION_PRIORITY,
             static_cast<u64>(__builtin_ctzll(wanted)), own_exception_slot) == sys::Error::None)
    current_thread().cpu = static_cast<u64>(__builtin_ctzll(wanted));
  return 0;
}

i64 linux_sched_getaffinity(u64 pid, u64 length, u64 mask_address) {
  if (length < 8) return -EINVAL;
  if (!writable(mask_address, 8)) return -EFAULT;
  if (pid != 0 && !thread_alive(pid) && pid != own_pid) return -ESRCH;
  u64 mask = affinity_mask != 0 ? affinity_mask : state().context->cpu_mask;
  memcpy(reinterpret_cast<void*>(mask_address), &mask, 8);
  return 8;
}

bool thread_alive(u64 tid) {
  for (const ThreadEntry& entry : threads)
    if (entry.use == ThreadUse::Running && entry.tid == tid) return true;
  return false;
}

u64 next_thread_id() { return next_tid; }

i64 linux_clone(u64 flags, u64 stack, u64 parent_tid, u64 child_tid, u64 tls) {
  // A new process (fork, vfork, posix_spawn, clone without CLONE_VM): a new task (process.cpp).
  if ((flags & CLONE_VM) == 0 || (flags & CLONE_VFORK) != 0)
    return process_fork(flags, stack, parent_tid, child_tid, tls);
  if ((flags & CLONE_THREAD_REQUIRED) != CLONE_THREAD_REQUIRED || (flags & ~(CLONE_THREAD_ALLOWED | 0xff)) != 0)
    return -EINVAL;
  if (stack < abi::USER_SPACE_START || stack >= abi::USER_SPACE_END) return -EINVAL;
  if ((flags & CLONE_SETTLS) != 0 && tls >= abi::USER_SPACE_END) return -EPERM;

  LockGuard guard;
  if ((flags & CLONE_PARENT_SETTID) != 0 && !writable(parent_tid, 4)) return -EFAULT;
  if ((flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) != 0 && !writable(child_tid, 4)) return -EFAULT;
  usize index = 1;
  while (index < MAX_THREADS && threads[index].use == ThreadUse::Running) ++index;
  if (index == MAX_THREADS) return -EAGAIN;
  ThreadEntry& entry = threads[index];
  if (entry.use == ThreadUse::Exited) reap_locked(entry);
  // The personality stack and the notification stay with the entry for its next thread.
  if (entry.handler_stack == 0) entry.handler_stack = allocate_anonymous(HANDLER_STACK_BYTES);
  if (entry.notification == 0) entry.notification = create_notification();
  if (entry.handler_stack == 0 || entry.notification == 0) return -EAGAIN;

  u64 slot = allocate_slot();
  if (slot == 0) return -EAGAIN;
  sys::Error error = native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY,
                            static_cast<u64>(abi::ObjectType::Thread), slot, 0, manager::FUNCTION_TASK, utcb_of(index));
  if (error != sys::Error::None) {
    free_slot(slot);
    return -EAGAIN;  // The memory limit (QuotaExceeded), as Linux's RLIMIT_NPROC would say.
  }
  // The CPU with fewest of the process's threads (the kernel keeps it inside the function's set),
  // and faults go where the first thread's go (pid 1: the manager; other processes: the supervisor).
  u64 cpu = cpu_for_new_thread();
  error = native(abi::Syscall::ThreadConfigure, slot, manager::FUNCTION_PRIORITY, cpu, own_exception_slot);
  entry.cpu = cpu;
  ThreadEntry& parent = current_thread();
  entry.thread_slot = slot;
  entry.tid = allocate_tid(next_tid);
  entry.clear_tid = (flags & CLONE_CHILD_CLEARTID) != 0 ? child_tid : 0;
  entry.fs_base = (flags & CLONE_SETTLS) != 0 ? tls : parent.fs_base;
  entry.futex_address = 0;
  entry.woken = false;
  entry.lock_wait_owner = 0;
  entry.robust_list = 0;  // A new thread registers its own list (glibc and musl do, in the thread).
  entry.started_ticks = read_tsc();
  entry.waited_ticks = entry.system_ticks = entry.waits = 0;
  entry.signal_mask = parent.signal_mask;  // As Linux: the creator's mask, no alternate stack.
  entry.suspend_mask_pending = false;
  entry.signal_stack = entry.signal_stack_bytes = 0;
  entry.start_registers = sys::utcb()->personality_registers;
  entry.start_registers.rax = 0;  // The child sees clone return 0 ...
  entry.start_registers.rsp = stack;  // ... on the stack it was given.
  if (error == sys::Error::None)
    error = native(abi::Syscall::ThreadStart, slot, reinterpret_cast<u64>(&personality_thread_entry),
                   entry.handler_stack + HANDLER_STACK_BYTES, index);
  if (error != sys::Error::None) {
    reap_locked(entry);
    return -EAGAIN;
  }
  entry.use = ThreadUse::Running;
  ++live_threads;
  u32 tid = static_cast<u32>(entry.tid);
  if ((flags & CLONE_PARENT_SETTID) != 0) memcpy(reinterpret_cast<void*>(parent_tid), &tid, 4);
  if ((flags & CLONE_CHILD_SETTID) != 0) memcpy(reinterpret_cast<void*>(child_tid), &tid, 4);
  return static_cast<i64>(entry.tid);
}

void threads_after_fork(const ThreadEntry& forking, u64 tid, u64 clear_tid) {
  ThreadEntry first = forking;
  for (ThreadEntry& entry : threads) {
    // The personality stacks of other entries lie in the mmap area, which the child has a copy of.
    u64 stack = &entry == &threads[0] ? 0 : entry.handler_stack;
    entry = ThreadEntry{};
    entry.handler_stack = stack;
  }
  threads[0] = first;
  threads[0].use = ThreadUse::Running;
  threads[0].tid = tid;
  threads[0].thread_slot = 0;
  threads[0].notification = 0;
  threads[0].handler_stack = 0;
  threads[0].clear_tid = clear_tid;
  threads[0].cpu = ThreadEntry::UNKNOWN_CPU;  // The child's thread runs where process.cpp put it.
  threads[0].futex_address = 0;
  threads[0].woken = false;
  live_threads = 1;
  // The child's first thread has the first UTCB, whatever entry forked: it is not told to end.
  __atomic_and_fetch(&ending_reasons, ~ENDING_FIRST_THREAD, __ATOMIC_RELEASE);
}

void threads_end_others() {
  usize self = current_index();
  for (usize i = 1; i < MAX_THREADS; ++i) {
    ThreadEntry& entry = threads[i];
    if (i == self) continue;
    // exec gives the mmap area back, so a new thread gets a new personality stack: free entries
    // too (a forked child's keep the stacks of its parent's threads), or the program's next
    // mmap would share memory with a new thread's personality stack.
    entry.handler_stack = 0;
    if (entry.use == ThreadUse::Free) continue;
    if (entry.use == ThreadUse::Running) --live_threads;
    reap_locked(entry);  // Deleting its only capability ends the thread.
    entry.handler_stack = 0;
  }
  ThreadEntry& first = threads[0];
  if (self == 0 || first.use != ThreadUse::Running) return;
  --live_threads;
  first.use = ThreadUse::Free;
  first.futex_address = 0;
  if (main_thread_slot != manager::FUNCTION_THREAD) {
    // A forked child's first thread: fork gave this process its only capability.
    (void)native(abi::Syscall::CapabilityDelete, main_thread_slot);
    free_slot(main_thread_slot);
    main_thread_slot = 0;
    return;
  }
  // pid 1's: the manager holds it; ours may only interrupt it, which brings it into the
  // personality at once (a wait ends, program code is left), where it ends itself.
  __atomic_or_fetch(&ending_reasons, ENDING_FIRST_THREAD, __ATOMIC_RELEASE);
  (void)native(abi::Syscall::ThreadInterrupt, main_thread_slot);
}

void linux_exit_thread(u64 status) {
  state_lock().lock();
  ThreadEntry& self = current_thread();
  walk_robust_list(self);
  u64 user, system;
  thread_ticks(self, user, system);
  exited_user_ticks += user;
  exited_system_ticks += system;
  exited_waits += self.waits;
  // pthread_join waits for this: the tid word becomes 0 and one waiter wakes.
  if (self.clear_tid != 0 && writable(self.clear_tid, 4)) {
    __atomic_store_n(reinterpret_cast<u32*>(self.clear_tid), 0u, __ATOMIC_SEQ_CST);
    (void)wake_locked(self.clear_tid, 1, FUTEX_BITSET_ANY);
  }
  self.futex_address = 0;
  if (--live_threads == 0) {
    state_lock().unlock();
    exit_program(status);  // The last thread: the invocation ends as with exit_group.
  }
  self.use = ThreadUse::Exited;
  // From here on the thread may be reaped (its capability deleted) at any moment: release the
  // lock and leave without touching its stack again.
  asm volatile(
      "movl $0, (%0)\n\t"
      "mov %1, %%eax\n\t"
      "syscall\n\t"
      "ud2"
      :
      : "r"(state_lock().word()), "i"(static_cast<u32>(abi::Syscall::ThreadExit))
      : "memory");
  __builtin_unreachable();
}

i64 linux_futex(u64 address, u64 operation, u64 value, u64 timeout, u64 address2, u64 value3) {
  constexpr u64 FUTEX_WAIT = 0, FUTEX_WAKE = 1, FUTEX_REQUEUE = 3, FUTEX_CMP_REQUEUE = 4, FUTEX_WAIT_BITSET = 9,
                FUTEX_WAKE_BITSET = 10, FUTEX_PRIVATE_FLAG = 128, FUTEX_CLOCK_REALTIME = 256;
  (void)address2;
  u64 command = operation & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
  if ((address & 3) != 0) return -EINVAL;
  u32 bitset = command == FUTEX_WAIT_BITSET || command == FUTEX_WAKE_BITSET ? static_cast<u32>(value3)
                                                                             : FUTEX_BITSET_ANY;
  if (bitset == 0) return -EINVAL;
  switch (command) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
      bool timed = timeout != 0;
      u64 deadline = 0;
      if (timed) {
        u64 nanoseconds;
        {
          LockGuard guard;
          if (!readable(timeout, 16)) return -EFAULT;
          if (!read_timeout(timeout, nanoseconds)) return -EINVAL;
        }
        // FUTEX_WAIT's timeout is relative; FUTEX_WAIT_BITSET's absolute, on the wall clock with
        // FUTEX_CLOCK_REALTIME (pthread_cond_timedwait's default), else monotonic.
        u64 offset = (operation & FUTEX_CLOCK_REALTIME) != 0 ? realtime_offset() : 0;
        deadline = command == FUTEX_WAIT ? monotonic_nanoseconds() + nanoseconds
                                         : (nanoseconds > offset ? nanoseconds - offset : 0);
      }
      return wait_on(address, static_cast<u32>(value), bitset, timed, deadline);
    }
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
      LockGuard guard;
      return wake_locked(address, static_cast<u32>(value), bitset);
    }
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
      // Requeueing is replaced by waking every waiter: futex users re-check their word after any
      // return, so the extra wake-ups cost time, not correctness.
      LockGuard guard;
      if (command == FUTEX_CMP_REQUEUE) {
        if (!readable(address, 4)) return -EFAULT;
        if (__atomic_load_n(reinterpret_cast<const u32*>(address), __ATOMIC_SEQ_CST) != static_cast<u32>(value3))
          return -EAGAIN;
      }
      return wake_locked(address, FUTEX_BITSET_ANY, FUTEX_BITSET_ANY);
    }
    default:
      return -ENOSYS;
  }
}

}  // namespace personality

using namespace personality;

// A new thread's first instructions (personality_thread_entry in entry.S calls this on its own
// personality stack): redirect its system calls, set its TLS, and enter the program where clone
// returns, with the registers its creator left in its entry.
extern "C" [[noreturn]] void personality_thread_start(u64 index) {
  abi::Utcb* utcb = sys::utcb();
  utcb->personality_active = 1;  // Its own calls below are native.
  ThreadEntry& self = threads[index < MAX_THREADS ? index : 0];
  sys::Error error = native(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR,
                            reinterpret_cast<u64>(&personality_syscall_entry), self.handler_stack + HANDLER_STACK_BYTES);
  if (error == sys::Error::None && self.fs_base != 0)
    error = native(abi::Syscall::ThreadSetFsBase, abi::NULL_SELECTOR, self.fs_base);
  if (error != sys::Error::None) {
    logf("linux: a new thread could not be set up: %s\n", sys::error_name(error));
    exit_program(127);
  }
  utcb->personality_active = 1;
  utcb->personality_registers = self.start_registers;
  error = native(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR);
  logf("linux: PersonalityReturn into a new thread failed: %s\n", sys::error_name(error));
  exit_program(127);
}
