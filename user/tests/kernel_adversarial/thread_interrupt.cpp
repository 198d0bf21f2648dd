// ThreadInterrupt: a blocked wait ends with Interrupted, a mark set before a wait ends that wait at
// once, a thread spinning in user code on the other CPU enters its personality handler with its
// registers (rcx and r11 included) and resumes them exactly, every rights mask, and a storm of
// interrupts at a thread on CPU 1 leaves a bystander there answering within a bound.
#include "bystander.hpp"

namespace kernel_adversarial {
namespace {

constexpr u32 THREAD_CONTROL = abi::rights_of(abi::ThreadRight::Control);
constexpr u32 THREAD_INTERRUPT = abi::rights_of(abi::ThreadRight::Interrupt);
constexpr u64 UNSET = ~u64{0};

Error interrupt(u64 thread) { return invoke(abi::Syscall::ThreadInterrupt, thread); }

// Waits for a flag another thread sets, at most REPORT_TIMEOUT; false when it never came.
bool await(volatile u64& flag) {
  for (u64 waited = 0; flag == 0; waited += 1'000'000) {
    if (waited >= REPORT_TIMEOUT) return false;
    pause_for(1'000'000);
  }
  return true;
}

struct WaitProbe {
  u64 notification;
  volatile u64 first, second, done;
};
WaitProbe wait_probe;

Error wait_on(u64 notification, u64 timeout) {
  SyscallRegisters registers{};
  registers.timeout_or_badge = timeout;
  return invoke(abi::Syscall::NotificationWait, notification, registers);
}

// An infinite wait (ended only by an interrupt), then a 1 ms one (the mark is gone: Timeout), then
// parked on the notification until the case deletes the thread.
void waiter_entry(u64) {
  wait_probe.first = static_cast<u64>(wait_on(wait_probe.notification, abi::TIMEOUT_INFINITE));
  wait_probe.second = static_cast<u64>(wait_on(wait_probe.notification, 1'000'000));
  wait_probe.done = 1;
  for (;;) (void)wait_on(wait_probe.notification, abi::TIMEOUT_INFINITE);
}

// `before_start`: the interrupt comes while the thread has not started (it marks it), else while it
// waits on the notification (it ends that wait).
void interrupt_ends_a_wait(Case& test, bool before_start) {
  Environment& own = environment();
  ScopedSlot notification_slot(test);
  REQUIRE(notification_slot.valid());
  REQUIRE_OK(own.factory.create(ObjectType::Notification, notification_slot.selector()));
  wait_probe = WaitProbe{notification_slot.selector(), UNSET, UNSET, 0};
  LocalThread waiter;
  REQUIRE_OK(waiter.create(0));
  if (before_start) EXPECT_OK(as_result(interrupt(waiter.thread().selector())));
  REQUIRE_OK(waiter.start(waiter_entry, 0));
  if (!before_start) {
    pause_for(SILENCE_TIMEOUT);
    EXPECT_EQ(wait_probe.first, UNSET);  // Nothing else ends an infinite wait on a silent notification.
    EXPECT_OK(as_result(interrupt(waiter.thread().selector())));
  }
  REQUIRE(await(wait_probe.done));
  EXPECT_EQ(wait_probe.first, static_cast<u64>(Error::Interrupted));
  EXPECT_EQ(wait_probe.second, static_cast<u64>(Error::Timeout));
}

void interrupt_ends_a_blocked_notification_wait(Case& test) { interrupt_ends_a_wait(test, false); }
void interrupt_before_a_wait_ends_it_at_once(Case& test) { interrupt_ends_a_wait(test, true); }

// A thread spinning in user code with chosen rcx and r11 (which sysretq would overwrite).
constexpr u64 SPIN_RCX = 0x12345678, SPIN_R11 = 0xa5a;
struct Spinner {
  volatile u64 stop;           // Set by the handler: the spinner leaves its loop.
  volatile u64 interrupts;     // Handler entries for an interrupt.
  volatile u64 syscalls;       // Handler entries for a `syscall` (none expected).
  volatile u64 seen_rcx, seen_r11, seen_rip;  // What the handler found in personality_registers.
  volatile u64 after_rcx, after_r11;          // The registers once resumed.
  volatile u64 stop_on_interrupt;             // 0: the handler only counts (the storm).
  volatile u64 done;
};
Spinner spinner;
alignas(16) u8 handler_stack[16384];

extern "C" [[noreturn]] void spinner_handler(abi::PersonalityRegisters* registers, u64 reason) {
  if (reason == abi::PERSONALITY_ENTRY_INTERRUPT) {
    spinner.interrupts = spinner.interrupts + 1;
    spinner.seen_rcx = registers->rcx;
    spinner.seen_r11 = registers->r11;
    spinner.seen_rip = registers->rip;
    if (spinner.stop_on_interrupt != 0) spinner.stop = 1;
  } else {
    spinner.syscalls = spinner.syscalls + 1;
  }
  (void)invoke(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR);
  __builtin_trap();
}

void spinner_entry(u64) {
  u64 stack_top = reinterpret_cast<u64>(handler_stack + sizeof handler_stack) - 8;  // As after a call.
  if (invoke(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR, reinterpret_cast<u64>(&spinner_handler),
             stack_top) != Error::None)
    spinner.syscalls = UNSET;
  u64 rcx_after, r11_after;
  asm volatile(
      "mov %[rcx_value], %%rcx\n"
      "mov %[r11_value], %%r11\n"
      "1: cmpq $0, %[stop]\n"
      "je 1b\n"
      "mov %%rcx, %[rcx_after]\n"
      "mov %%r11, %[r11_after]\n"
      : [rcx_after] "=r"(rcx_after), [r11_after] "=r"(r11_after)
      : [rcx_value] "i"(SPIN_RCX), [r11_value] "i"(SPIN_R11), [stop] "m"(spinner.stop)
      : "rcx", "r11", "cc", "memory");
  spinner.after_rcx = rcx_after;
  spinner.after_r11 = r11_after;
  // Native calls again: marked as inside the handler, the thread removes its handler.
  utcb()->personality_active = 1;
  (void)invoke(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR, 0, 0);
  utcb()->personality_active = 0;
  spinner.done = 1;
  Message message;
  for (;;) (void)Endpoint(bystander.parking).receive(message);
}

void interrupt_enters_the_handler_of_a_spinning_thread(Case& test) {
  Environment& own = environment();
  ScopedSlot parking_slot(test);
  REQUIRE(parking_slot.valid());
  REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  bystander.parking = parking_slot.selector();
  spinner = Spinner{};
  spinner.stop_on_interrupt = 1;
  LocalThread thread;
  REQUIRE_OK(thread.create(1));
  REQUIRE_OK(thread.start(spinner_entry, 0));
  pause_for(SILENCE_TIMEOUT);  // It spins on CPU 1 now; nothing stops it but the interrupt.
  EXPECT_EQ(spinner.stop, 0);
  EXPECT_OK(as_result(interrupt(thread.thread().selector())));
  REQUIRE(await(spinner.done));
  EXPECT_EQ(spinner.interrupts, 1);
  EXPECT_EQ(spinner.syscalls, 0);
  EXPECT_EQ(spinner.seen_rcx, SPIN_RCX);
  EXPECT_EQ(spinner.seen_r11, SPIN_R11);
  EXPECT(spinner.seen_rip > reinterpret_cast<u64>(&spinner_entry));
  // Resumed through iretq: rcx and r11 as the program had them, not sysretq's rip and rflags.
  EXPECT_EQ(spinner.after_rcx, SPIN_RCX);
  EXPECT_EQ(spinner.after_r11, SPIN_R11);
}

// A thread spinning without system calls on CPU 1 and a peer of the same priority there that sleeps
// 50 ms (past the spinner's 10 ms slice, which runs out while it runs alone), then interrupts it: the
// peer must get the CPU when it wakes, or no signal could ever reach a spinning thread of a
// function confined to one CPU.
struct Sleeper {
  u64 notification, spinner;
  volatile u64 woke, interrupted;
};
Sleeper sleeper;

void sleeper_entry(u64) {
  (void)wait_on(sleeper.notification, 50'000'000);
  sleeper.woke = 1;
  sleeper.interrupted = static_cast<u64>(interrupt(sleeper.spinner));
  for (;;) (void)wait_on(sleeper.notification, abi::TIMEOUT_INFINITE);
}

void a_peer_that_wakes_gets_the_cpu_of_a_spinning_thread(Case& test) {
  Environment& own = environment();
  ScopedSlot parking_slot(test), notification_slot(test);
  REQUIRE(parking_slot.valid() && notification_slot.valid());
  REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  REQUIRE_OK(own.factory.create(ObjectType::Notification, notification_slot.selector()));
  bystander.parking = parking_slot.selector();
  spinner = Spinner{};
  spinner.stop_on_interrupt = 1;
  LocalThread spinning, waking;
  REQUIRE_OK(spinning.create(1));
  REQUIRE_OK(waking.create(1));
  sleeper = Sleeper{notification_slot.selector(), spinning.thread().selector(), 0, UNSET};
  REQUIRE_OK(spinning.start(spinner_entry, 0));
  REQUIRE_OK(waking.start(sleeper_entry, 0));
  bool woke = await(sleeper.woke);
  if (!woke) spinner.stop = 1;  // The old scheduler: free CPU 1 so the case can end.
  EXPECT(woke);
  REQUIRE(await(spinner.done));
  EXPECT_EQ(sleeper.interrupted, static_cast<u64>(Error::None));
  EXPECT_EQ(spinner.interrupts, woke ? 1 : 0);
}

// Every mask of Thread rights: ThreadInterrupt needs Interrupt exactly; Control is not enough.
void interrupt_needs_its_right(Case& test) {
  Environment& own = environment();
  ScopedSlot task_slot(test), thread_slot(test), notification_slot(test), empty(test);
  REQUIRE(task_slot.valid() && thread_slot.valid() && notification_slot.valid() && empty.valid());
  // A thread of another task, never started: only a capability with Interrupt reaches it.
  Task task = REQUIRE_OK(own.factory.create_task(task_slot.selector(), 16));
  Thread thread = REQUIRE_OK(own.factory.create_thread(thread_slot.selector(), task, 0x10000));
  for (u32 mask = 0; mask <= (THREAD_CONTROL | THREAD_INTERRUPT); ++mask) {
    ScopedSlot copy(test);
    REQUIRE(copy.valid());
    REQUIRE_OK(thread.copy_to(copy.selector(), mask));
    EXPECT_EQ(interrupt(copy.selector()), (mask & THREAD_INTERRUPT) != 0 ? Error::None : Error::NoRights);
  }
  EXPECT_EQ(interrupt(empty.selector()), Error::InvalidCapability);
  REQUIRE_OK(own.factory.create(ObjectType::Notification, notification_slot.selector()));
  EXPECT_EQ(interrupt(notification_slot.selector()), Error::WrongType);
  EXPECT_EQ(interrupt(abi::NULL_SELECTOR), Error::InvalidCapability);  // No "self" for this one.
}

// The storm: interrupts back to back for 300 ms from CPU 0 at a thread spinning on CPU 1 whose
// handler takes them, while the bystander on CPU 1 makes system calls. Its longest gap stays below the bound (the
// healthy figure is the time slices it shares with the spinner: tens of milliseconds).
constexpr u64 STORM_NANOSECONDS = 300'000'000;
constexpr u64 STORM_BOUND_NANOSECONDS = 1'000'000'000;

void storm_once(Case& test, u64& gap) {
  Environment& own = environment();
  ScopedSlot parking_slot(test);
  REQUIRE(parking_slot.valid());
  REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  bystander = Bystander{0, 0, 0, 0, parking_slot.selector()};
  spinner = Spinner{};
  LocalThread target, watcher;
  REQUIRE_OK(target.create(1));
  REQUIRE_OK(watcher.create(1));
  REQUIRE_OK(target.start(spinner_entry, 0));
  REQUIRE_OK(watcher.start(bystander_entry, 0));
  pause_for(SILENCE_TIMEOUT);
  u64 sent = 0;
  for (u64 start = thread_self().timestamp; elapsed_nanoseconds(start, thread_self().timestamp) < STORM_NANOSECONDS;) {
    Error error = interrupt(target.thread().selector());
    if (error != Error::None) {
      test.fail(__FILE__, __LINE__, "interrupt %lu: %s", sent, error_name(error));
      break;
    }
    ++sent;
  }
  u64 longest = bystander.longest_gap;
  u64 taken = spinner.interrupts;
  spinner.stop = 1;
  REQUIRE(await(spinner.done));
  gap = stop_bystander(test, longest, "an interrupt storm");
  Console console(CONSOLE);
  sys::printf(console, "# %lu interrupts sent, %lu taken by the handler\n", sent, taken);
  // Marks merge: the handler ran at least once and never more often than interrupts came.
  EXPECT(taken >= 1 && taken <= sent);
  EXPECT_EQ(spinner.syscalls, 0);
}

void interrupt_storm_leaves_the_other_cpu_answering(Case& test) {
  expect_liveness(test, storm_once, STORM_BOUND_NANOSECONDS);
}

}  // namespace

extern const test::TestEntry THREAD_INTERRUPT_TESTS[] = {
    {"interrupt_ends_a_blocked_notification_wait", interrupt_ends_a_blocked_notification_wait},
    {"interrupt_before_a_wait_ends_it_at_once", interrupt_before_a_wait_ends_it_at_once},
    {"interrupt_enters_the_handler_of_a_spinning_thread", interrupt_enters_the_handler_of_a_spinning_thread},
    {"a_peer_that_wakes_gets_the_cpu_of_a_spinning_thread", a_peer_that_wakes_gets_the_cpu_of_a_spinning_thread},
    {"interrupt_needs_its_right", interrupt_needs_its_right},
    {"interrupt_storm_leaves_the_other_cpu_answering", interrupt_storm_leaves_the_other_cpu_answering},
};
extern const usize THREAD_INTERRUPT_TEST_COUNT = sizeof(THREAD_INTERRUPT_TESTS) / sizeof(THREAD_INTERRUPT_TESTS[0]);

}  // namespace kernel_adversarial
