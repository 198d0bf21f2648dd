// Timers that send signals: alarm, setitimer/getitimer (ITIMER_REAL), and timer_create,
// timer_settime, timer_gettime, timer_getoverrun, timer_delete (every clock is the TSC, as
// clock_gettime's). A timer thread of the process, outside the thread table and with native calls
// only, sleeps on its own Notification until the earliest expiry, sends the signal
// (send_process_signal, which interrupts the thread that takes it; or one thread for
// SIGEV_THREAD_ID) and re-arms interval timers; it is started by the first timer armed.
// Invariants: timers change only under state_lock(); whoever arms a timer earlier than the thread's
// current sleep signals its notification; a forked child has no timers and no timer thread (as on
// Linux); the thread and its stack survive exec, as ITIMER_REAL does.
#include "process.hpp"

extern "C" [[gnu::visibility("hidden")]] void personality_timer_entry();

namespace personality {
namespace {

constexpr u64 SIGALRM = 14;
constexpr std::int32_t SI_KERNEL = 0x80, SI_TIMER = -2;
constexpr std::int32_t SIGEV_SIGNAL = 0, SIGEV_NONE = 1, SIGEV_THREAD_ID = 4;
constexpr u64 ITIMER_REAL = 0;
constexpr u64 TIMER_ABSTIME = 1;
constexpr u64 NANOSECONDS = 1'000'000'000;

// Entry 0 is ITIMER_REAL (alarm, setitimer); entries 1.. are timer_create's, id = index - 1.
constexpr usize MAX_TIMERS = 16;
struct Timer {
  bool used;
  u64 expiry;    // monotonic_nanoseconds(); 0: disarmed.
  u64 interval;  // 0: one shot.
  u64 signal;
  std::int32_t notify;  // SIGEV_SIGNAL, SIGEV_NONE or SIGEV_THREAD_ID.
  u64 value;            // sigev_value, the handler's si_value.
  u64 tid;              // SIGEV_THREAD_ID's thread.
  u32 overrun;
  bool realtime = false;  // timer_create's clock reads the wall clock: TIMER_ABSTIME values are on it.
};
Timer timers[MAX_TIMERS + 1];

constexpr u64 TIMER_UTCB = manager::FUNCTION_UTCB_ADDRESS + (MAX_THREADS + 1) * PAGE;
constexpr u64 TIMER_STACK_BYTES = 8192;
u64 timer_notification = 0;  // 0: no timer thread yet.
bool timer_thread_refused = false;

// Starts the timer thread (locked); false when the memory limit or the slots refuse it.
bool timer_thread_ready() {
  if (timer_notification != 0) return true;
  if (timer_thread_refused) return false;
  u64 stack = allocate_anonymous(TIMER_STACK_BYTES);
  u64 notification = allocate_slot();
  u64 thread = allocate_slot();
  bool started = stack != 0 && notification != 0 && thread != 0 &&
                 native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY,
                        static_cast<u64>(abi::ObjectType::Notification), notification) == sys::Error::None &&
                 native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Thread),
                        thread, 0, manager::FUNCTION_TASK, TIMER_UTCB) == sys::Error::None &&
                 native(abi::Syscall::ThreadConfigure, thread, manager::FUNCTION_PRIORITY, cpu_for(0),
                        own_exception_slot) == sys::Error::None;
  if (started) {
    memory_keep_on_exec(stack, TIMER_STACK_BYTES);
    timer_notification = notification;
    started = native(abi::Syscall::ThreadStart, thread, reinterpret_cast<u64>(&personality_timer_entry),
                     stack + TIMER_STACK_BYTES, 0) == sys::Error::None;
  }
  if (!started) {
    timer_notification = 0;
    timer_thread_refused = true;
    logf("linux: no timer thread (memory limit or capability slots): timers do not fire\n");
  }
  return started;
}

// Arms (expiry 0: disarms) a timer and wakes the timer thread to look again. Locked.
i64 arm(Timer& timer, u64 expiry, u64 interval) {
  if (expiry != 0 && !timer_thread_ready()) return -EAGAIN;
  timer.expiry = expiry;
  timer.interval = interval;
  timer.overrun = 0;
  if (timer_notification != 0) (void)native(abi::Syscall::NotificationSignal, timer_notification, 1);
  return 0;
}

// Sends a due timer's signal and re-arms it (an interval timer that fell behind counts overruns).
void fire(usize index, u64 now) {
  Timer& timer = timers[index];
  if (timer.notify == SIGEV_THREAD_ID) {
    ThreadEntry* table = thread_table();
    for (usize i = 0; i < MAX_THREADS; ++i)
      if (table[i].use == ThreadUse::Running && table[i].tid == timer.tid) send_thread_signal(i, timer.signal);
  } else if (timer.notify == SIGEV_SIGNAL) {
    send_process_signal(timer.signal, index == 0 ? SI_KERNEL : SI_TIMER, timer.value, static_cast<u32>(index - 1),
                        false);
  }
  if (timer.interval == 0) {
    timer.expiry = 0;
    return;
  }
  timer.expiry += timer.interval;
  if (timer.expiry <= now) {
    u64 missed = (now - timer.expiry) / timer.interval + 1;
    timer.overrun += static_cast<u32>(missed > 0x7fffffff ? 0x7fffffff : missed);
    timer.expiry += missed * timer.interval;
  }
}

struct TimeValue {  // struct timeval
  i64 seconds, microseconds;
};
struct TimeSpec {
  i64 seconds, nanoseconds;
};

u64 remaining(const Timer& timer) {
  u64 now = monotonic_nanoseconds();
  if (timer.expiry == 0) return 0;
  return timer.expiry > now ? timer.expiry - now : 1;
}

void put_interval_value(u64 address, u64 interval, u64 value) {  // struct itimerval
  TimeValue pair[2] = {{static_cast<i64>(interval / NANOSECONDS), static_cast<i64>(interval % NANOSECONDS / 1000)},
                       {static_cast<i64>(value / NANOSECONDS), static_cast<i64>((value % NANOSECONDS + 999) / 1000)}};
  if (pair[1].microseconds == 1'000'000) pair[1] = {pair[1].seconds + 1, 0};
  memcpy(reinterpret_cast<void*>(address), pair, sizeof pair);
}

void put_interval_spec(u64 address, u64 interval, u64 value) {  // struct itimerspec
  TimeSpec pair[2] = {{static_cast<i64>(interval / NANOSECONDS), static_cast<i64>(interval % NANOSECONDS)},
                      {static_cast<i64>(value / NANOSECONDS), static_cast<i64>(value % NANOSECONDS)}};
  memcpy(reinterpret_cast<void*>(address), pair, sizeof pair);
}

// A timeval or timespec pair read into nanoseconds; false when a field is out of range.
bool read_pair(u64 address, u64 unit_per_second, u64& interval, u64& value) {
  i64 words[4];
  memcpy(words, reinterpret_cast<const void*>(address), sizeof words);
  for (usize i = 0; i < 4; i += 2)
    if (words[i] < 0 || words[i + 1] < 0 || static_cast<u64>(words[i + 1]) >= unit_per_second) return false;
  auto nanoseconds = [&](usize i) {
    u64 seconds = timespec_seconds(words[i]);
    return seconds * NANOSECONDS + static_cast<u64>(words[i + 1]) * (NANOSECONDS / unit_per_second);
  };
  interval = nanoseconds(0);
  value = nanoseconds(2);
  return true;
}

Timer* posix_timer(u64 id) { return id < MAX_TIMERS && timers[id + 1].used ? &timers[id + 1] : nullptr; }

}  // namespace

bool timers_armed() {
  for (const Timer& timer : timers)
    if (timer.expiry != 0) return true;
  return false;
}

void timers_after_fork() {
  for (Timer& timer : timers) timer = Timer{};
  timer_notification = 0;
  timer_thread_refused = false;
}

i64 linux_alarm(u64 seconds) {
  Timer& timer = timers[0];
  u64 left = remaining(timer);
  timer.used = true;
  timer.signal = SIGALRM;
  timer.notify = SIGEV_SIGNAL;
  u64 capped = seconds > 1'000'000'000 ? 1'000'000'000 : seconds;
  i64 armed = arm(timer, capped == 0 ? 0 : monotonic_nanoseconds() + capped * NANOSECONDS, 0);
  if (armed != 0) return armed;
  // Linux rounds the seconds left to the nearest, and says 1 rather than 0 while one is armed.
  u64 left_seconds = (left + NANOSECONDS / 2) / NANOSECONDS;
  return static_cast<i64>(left != 0 && left_seconds == 0 ? 1 : left_seconds);
}

i64 linux_getitimer(u64 which, u64 value) {
  if (which > 2) return -EINVAL;
  if (!writable(value, 2 * sizeof(TimeValue))) return -EFAULT;
  const Timer& timer = timers[0];
  if (which != ITIMER_REAL) put_interval_value(value, 0, 0);  // Never armed (see setitimer).
  else put_interval_value(value, timer.interval, remaining(timer));
  return 0;
}

// ITIMER_REAL only; ITIMER_VIRTUAL and ITIMER_PROF (CPU-time timers) are EINVAL (docs/LINUX.md).
i64 linux_setitimer(u64 which, u64 new_value, u64 old_value) {
  if (which != ITIMER_REAL) return -EINVAL;
  if (new_value != 0 && !readable(new_value, 2 * sizeof(TimeValue))) return -EFAULT;
  if (old_value != 0 && !writable(old_value, 2 * sizeof(TimeValue))) return -EFAULT;
  u64 interval = 0, value = 0;
  if (new_value != 0 && !read_pair(new_value, 1'000'000, interval, value)) return -EINVAL;
  Timer& timer = timers[0];
  if (old_value != 0) put_interval_value(old_value, timer.interval, remaining(timer));
  timer.used = true;
  timer.signal = SIGALRM;
  timer.notify = SIGEV_SIGNAL;
  return arm(timer, value == 0 ? 0 : monotonic_nanoseconds() + value, value == 0 ? 0 : interval);
}

i64 linux_timer_create(u64 clock, u64 event_address, u64 id_address) {
  // CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, and their _ALARM variants: all the TSC here.
  if (clock != 0 && clock != 1 && clock != 7 && clock != 8 && clock != 9) return -EINVAL;
  if (event_address != 0 && !readable(event_address, 24)) return -EFAULT;
  if (!writable(id_address, 4)) return -EFAULT;
  usize index = 1;
  while (index <= MAX_TIMERS && timers[index].used) ++index;
  if (index > MAX_TIMERS) return -EAGAIN;
  Timer timer{true, 0, 0, SIGALRM, SIGEV_SIGNAL, index - 1, 0, 0};
  if (event_address != 0) {
    struct {
      u64 value;
      std::int32_t signal, notify, tid, padding;
    } event;
    memcpy(&event, reinterpret_cast<const void*>(event_address), sizeof event);
    if (event.notify != SIGEV_SIGNAL && event.notify != SIGEV_NONE && event.notify != SIGEV_THREAD_ID) return -EINVAL;
    if (event.notify != SIGEV_NONE && (event.signal < 1 || event.signal > 64)) return -EINVAL;
    if (event.notify == SIGEV_THREAD_ID && !thread_alive(static_cast<u64>(event.tid))) return -EINVAL;
    timer.value = event.value;
    timer.signal = static_cast<u64>(event.signal);
    timer.notify = event.notify;
    timer.tid = static_cast<u64>(event.tid);
  }
  timer.realtime = is_realtime_clock(clock);
  timers[index] = timer;
  u32 id = static_cast<u32>(index - 1);
  memcpy(reinterpret_cast<void*>(id_address), &id, 4);
  return 0;
}

i64 linux_timer_settime(u64 id, u64 flags, u64 new_value, u64 old_value) {
  Timer* timer = posix_timer(id);
  if (timer == nullptr) return -EINVAL;
  if (!readable(new_value, 2 * sizeof(TimeSpec))) return -EFAULT;
  if (old_value != 0 && !writable(old_value, 2 * sizeof(TimeSpec))) return -EFAULT;
  u64 interval, value;
  if (!read_pair(new_value, NANOSECONDS, interval, value)) return -EINVAL;
  if (old_value != 0) put_interval_spec(old_value, timer->interval, remaining(*timer));
  u64 now = monotonic_nanoseconds();
  // An absolute value on the wall clock becomes monotonic (the offset is fixed for the invocation).
  u64 offset = timer->realtime ? realtime_offset() : 0;
  if ((flags & TIMER_ABSTIME) != 0 && value != 0) value = value > offset ? value - offset : 1;
  u64 expiry = value == 0 ? 0 : (flags & TIMER_ABSTIME) != 0 ? (value > now ? value : now) : now + value;
  return arm(*timer, expiry, value == 0 ? 0 : interval);
}

i64 linux_timer_gettime(u64 id, u64 value) {
  Timer* timer = posix_timer(id);
  if (timer == nullptr) return -EINVAL;
  if (!writable(value, 2 * sizeof(TimeSpec))) return -EFAULT;
  put_interval_spec(value, timer->interval, remaining(*timer));
  return 0;
}

i64 linux_timer_getoverrun(u64 id) {
  Timer* timer = posix_timer(id);
  return timer == nullptr ? -EINVAL : static_cast<i64>(timer->overrun);
}

i64 linux_timer_delete(u64 id) {
  Timer* timer = posix_timer(id);
  if (timer == nullptr) return -EINVAL;
  (void)arm(*timer, 0, 0);
  *timer = Timer{};
  return 0;
}

}  // namespace personality

using namespace personality;

// The timer thread (personality_timer_entry in entry.S, on its own stack): fires what is due, then
// sleeps until the next expiry or until a timer is armed (its notification).
extern "C" [[noreturn]] void personality_timer_start() {
  for (;;) {
    u64 wait = abi::TIMEOUT_INFINITE;
    {
      LockGuard guard;
      u64 now = monotonic_nanoseconds();
      for (usize i = 0; i <= MAX_TIMERS; ++i)
        if (timers[i].expiry != 0 && timers[i].expiry <= now) fire(i, now);
      for (const Timer& timer : timers)
        if (timer.expiry != 0 && timer.expiry - now < wait) wait = timer.expiry > now ? timer.expiry - now : 1;
    }
    sys::SyscallRegisters registers{0, 0, 0, 0, 0, wait};
    (void)sys::invoke(abi::Syscall::NotificationWait, timer_notification, registers);
  }
}
