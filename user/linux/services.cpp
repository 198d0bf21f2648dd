// The personality's services for its system calls: the state lock, slots, pointer checks, output
// and log, termination, time and randomness. Invariant: the output area is written only inside
// [0, output_capacity) and only under state_lock(); messages to the manager stay within
// MESSAGE_WORDS; the slot bitmap changes only through atomic compare-and-swap.
#include "lib/format.hpp"
#include "manager/log_format.hpp"
#include "image_files.hpp"
#include "personality.hpp"
#include "process.hpp"
#include "sys/endpoint.hpp"
#include "sys/protocol.hpp"

namespace personality {
namespace {

State the_state;
StateLock the_lock;

bool inside(u64 address, u64 end, u64 first, u64 last) { return address >= first && end <= last; }

// Sends one event (the first `bytes` bytes of `body`) to the manager (FUNCTION_MANAGER) and waits
// for the answer; the error is the IPC's.
template <sys::MessageBody Body>
sys::Error call_manager(u32 label, const Body& body, u64 bytes = sizeof(Body)) {
  sys::Message message;
  sys::put(message, label, body, bytes);
  auto called = sys::Endpoint(manager::FUNCTION_MANAGER).call(message, message);
  return called.ok() ? sys::Error::None : called.error();
}

}  // namespace

State& state() { return the_state; }
StateLock& state_lock() { return the_lock; }
u32 ending_reasons = 0;
// Set once, under the_lock, which is then never given back.
void mark_process_ending() { __atomic_or_fetch(&ending_reasons, ENDING_PROCESS, __ATOMIC_RELEASE); }

// SpinLock::lock's loop, looking at thread_must_end while the lock is held by another thread (an
// ending process's lock is never given back).
void StateLock::wait() {
  u32* word = lock_.word();
  unsigned spins = 0;
  do {
    while (__atomic_load_n(word, __ATOMIC_RELAXED) != 0) {
      if (thread_must_end()) end_calling_thread();
      if (++spins < SpinLock::SPINS_BEFORE_YIELD) {
        __builtin_ia32_pause();
      } else {
        spins = 0;
        sys::yield_thread();
      }
    }
  } while (__atomic_exchange_n(word, 1u, __ATOMIC_ACQUIRE) != 0);
}

void StateLock::give_up() {
  lock_.unlock();
  end_calling_thread();
}

void end_calling_thread() {
  for (;;) (void)native(abi::Syscall::ThreadExit, abi::NULL_SELECTOR);
}

// Lock-free, because sleeps and futex waits create their thread's notification without the lock.
u64 allocate_slot() {
  for (usize index = 0; index < SlotSet::WORDS; ++index) {
    u64* word = &the_state.slots_used.words[index];
    u64 used = __atomic_load_n(word, __ATOMIC_RELAXED);
    for (;;) {
      u64 bit = index == 0 ? manager::FUNCTION_FIRST_FREE : 0;
      while (bit < 64 && ((used >> bit) & 1) != 0) ++bit;
      if (bit == 64) break;
      if (__atomic_compare_exchange_n(word, &used, used | (u64{1} << bit), false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return index * 64 + bit;
    }
  }
  return 0;
}

void free_slot(u64 slot) {
  if (slot >= manager::FUNCTION_FIRST_FREE && slot < manager::FUNCTION_CAPABILITY_SLOTS)
    __atomic_and_fetch(&the_state.slots_used.words[slot / 64], ~(u64{1} << (slot % 64)), __ATOMIC_ACQ_REL);
}

bool readable(u64 address, u64 length) {
  if (length == 0) return true;
  u64 end;
  if (__builtin_add_overflow(address, length, &end) || address < abi::USER_SPACE_START || end > abi::USER_SPACE_END)
    return false;
  const State& s = the_state;
  for (u64 i = 0; i < s.start.segment_count; ++i) {
    const manager::LinuxSegment& segment = s.start.segments[i];
    if (inside(address, end, segment.address, segment.address + segment.bytes)) return true;
  }
  if (inside(address, end, manager::FUNCTION_INPUT_ADDRESS,
             manager::FUNCTION_INPUT_ADDRESS + page_up(s.context->input_size)))
    return true;
  if (inside(address, end, manager::FUNCTION_CONTEXT_ADDRESS, manager::FUNCTION_CONTEXT_ADDRESS + PAGE)) return true;
  if (memory_contains(address, length)) return memory_permits(address, length, false);
  if (image_mapping_permits(address, end, false)) return true;
  return writable(address, length);
}

bool writable(u64 address, u64 length) {
  if (length == 0) return true;
  u64 end;
  if (__builtin_add_overflow(address, length, &end) || address < abi::USER_SPACE_START || end > abi::USER_SPACE_END)
    return false;
  const State& s = the_state;
  if (inside(address, end, s.stack_low, manager::FUNCTION_STACK_TOP)) return true;
  for (u64 i = 0; i < s.start.segment_count; ++i) {
    const manager::LinuxSegment& segment = s.start.segments[i];
    if ((segment.flags & manager::LINUX_SEGMENT_WRITABLE) != 0 &&
        inside(address, end, segment.address, segment.address + segment.bytes))
      return true;
  }
  if (inside(address, end, manager::FUNCTION_OUTPUT_ADDRESS,
             manager::FUNCTION_OUTPUT_ADDRESS + page_up(s.context->output_capacity == 0 ? 1 : s.context->output_capacity)))
    return true;
  if (image_mapping_permits(address, end, true)) return true;
  return memory_contains(address, length) && memory_permits(address, length, true);
}

void write_output(const u8* bytes, u64 length) {
  State& s = the_state;
  if (SharedState* table = shared()) {
    // Once processes exist, every process appends to the shared copy (pid 1 hands it over at exit).
    SharedGuard guard;
    u64 capacity = s.context->output_capacity;
    if (table->output_size < capacity) {
      u64 fits = capacity - table->output_size < length ? capacity - table->output_size : length;
      memcpy(shared_output() + table->output_size, bytes, fits);
    }
    table->output_size += length;
    return;
  }
  u64 capacity = s.context->output_capacity;
  auto* area = reinterpret_cast<u8*>(s.context->output_address);
  if (s.output_size < capacity) {
    u64 fits = capacity - s.output_size < length ? capacity - s.output_size : length;
    memcpy(area + s.output_size, bytes, fits);
  }
  s.output_size += length;
}

void write_log(const char* text, usize length) {
  while (length > 0) {
    usize chunk = length < manager::LOG_BYTES ? length : manager::LOG_BYTES;
    manager::LogEvent event;
    event.length = chunk;
    memcpy(event.bytes, text, chunk);
    if (call_manager(manager::EVENT_LOG, event, offsetof(manager::LogEvent, bytes) + chunk) != sys::Error::None) return;
    text += chunk;
    length -= chunk;
  }
}

void logf(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  manager::format_log(write_log, format, arguments);
  va_end(arguments);
}

void log_unsupported_calls() {
  const State& s = the_state;
  if (s.unsupported_calls == 0) return;
  char numbers[96] = {};
  usize used = 0;
  for (usize i = 0; i < s.unsupported_distinct && used + 24 < sizeof numbers; ++i)
    used += klib::format_to_buffer(numbers + used, sizeof numbers - used, i == 0 ? "%lu" : ",%lu",
                                   s.unsupported_numbers[i]);
  logf("linux: %s%lu unsupported system call%s answered ENOSYS (numbers %s)\n",
       own_pid == LINUX_PID ? "" : "a child process: ", s.unsupported_calls, s.unsupported_calls == 1 ? "" : "s",
       numbers);
}

void exit_program(u64 status) {
  State& s = the_state;
  // Only pid 1 ends the invocation; any other process becomes a zombie for its parent.
  if (shared() != nullptr && own_pid != LINUX_PID) end_process((status & 0xff) << 8);
  the_lock.lock();  // Kept: nothing of the process changes the result any more.
  // Threads still waiting for the lock (the signal watcher, the timer thread) end instead.
  mark_process_ending();
  threads_end_others();  // The manager destroys the task at EVENT_EXIT; they stop before that.
  profile_report();
  log_unsupported_calls();
  u64 output_size = s.output_size, unsupported_calls = s.unsupported_calls;
  if (SharedState* table = shared()) {
    // Everything the processes wrote to stdout goes into the manager's area now.
    SharedGuard guard;
    output_size = table->output_size;
    unsupported_calls += table->unsupported_calls;
    u64 capacity = s.context->output_capacity;
    memcpy(reinterpret_cast<u8*>(s.context->output_address), shared_output(),
           output_size < capacity ? output_size : capacity);
  }
  (void)call_manager(manager::EVENT_EXIT, manager::ExitEvent{status & 0xff, output_size, unsupported_calls});
  // The manager destroys the task on EVENT_EXIT; reaching this means it is gone.
  for (;;) (void)native(abi::Syscall::ThreadExit, 0);
}

u64 read_tsc() {
  u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (u64{high} << 32) | low;
}

u64 monotonic_nanoseconds() {
  u64 hertz = the_state.context->tsc_hertz == 0 ? 1'000'000'000 : the_state.context->tsc_hertz;
  u64 ticks = read_tsc();
  // Split so that nothing overflows for TSC rates below 18 GHz.
  return ticks / hertz * 1'000'000'000 + ticks % hertz * 1'000'000'000 / hertz;
}

namespace {
bool image_identity() { return (the_state.start.flags & manager::LINUX_START_IDENTITY) != 0; }
}  // namespace
u64 linux_uid() { return image_identity() ? the_state.start.uid : DEFAULT_UID; }
u64 linux_gid() { return image_identity() ? the_state.start.gid : DEFAULT_GID; }

u64 realtime_offset() { return the_state.context->realtime_offset; }
u64 realtime_nanoseconds() { return monotonic_nanoseconds() + realtime_offset(); }

u64 sleep_nanoseconds(u64 nanoseconds) {
  if (nanoseconds == 0) return 0;
  u64 notification = current_notification();
  u64 until = monotonic_nanoseconds() + nanoseconds;
  for (u64 now = monotonic_nanoseconds(); now < until; now = monotonic_nanoseconds()) {
    if (notification == 0) {
      // No object could be made (memory limit): yield until the time has passed.
      (void)native(abi::Syscall::ThreadYield, 0);
      continue;
    }
    // A futex wake that came after its wait timed out may have left a bit: then wait again for
    // the rest of the time.
    sys::SyscallRegisters registers{0, 0, 0, 0, 0, until - now};
    u64 before = read_tsc();
    sys::Error error = sys::invoke(abi::Syscall::NotificationWait, notification, registers);
    current_thread().waited_ticks += read_tsc() - before;  // Its own entry: no lock needed.
    ++current_thread().waits;
    if (error == sys::Error::Interrupted && signal_pending()) {
      u64 after = monotonic_nanoseconds();
      return after < until ? until - after : 1;
    }
  }
  return 0;
}

void random_init() {
  State& s = the_state;
  u32 eax = 1, ebx = 0, ecx = 0, edx = 0;
  asm volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  s.have_rdrand = (ecx >> 30) & 1;
  s.random_state = read_tsc() ^ (s.context->invocation_id * 0x9e3779b97f4a7c15ull);
}

// rdrand when the CPU has it (retried a few times, as Intel advises), else splitmix64 over a
// TSC-and-invocation seed: unpredictable enough for hash seeds and AT_RANDOM, not for keys.
void random_bytes(u8* target, usize length) {
  State& s = the_state;
  while (length > 0) {
    u64 value = 0;
    bool got = false;
    for (int attempt = 0; s.have_rdrand && attempt < 10 && !got; ++attempt) {
      u8 ok;
      asm volatile("rdrand %0; setc %1" : "=r"(value), "=qm"(ok));
      got = ok != 0;
    }
    if (!got) {
      s.random_state += 0x9e3779b97f4a7c15ull ^ read_tsc();
      value = s.random_state;
      value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
      value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
      value ^= value >> 31;
    }
    usize chunk = length < 8 ? length : 8;
    memcpy(target, &value, chunk);
    target += chunk;
    length -= chunk;
  }
}

}  // namespace personality
