// eventfd and eventfd2: a 64-bit counter per instance behind a descriptor (Stream::Event in
// files.cpp), read and written 8 bytes at a time as Linux's fs/eventfd.c does, and watched by poll
// and epoll (readable while the counter is not 0, writable while it is below 0xfffffffffffffffe).
// A read or write that must wait looks again every millisecond without the lock (as epoll_pwait
// waits). An instance lives in the personality's data, so a forked child gets its own copy.
// Invariants: counter <= EVENT_MAXIMUM; an instance is in use while some description names it
// (files.cpp calls eventfd_released on the last close); everything runs under state_lock() except
// the sleeps.
#include "file_store.hpp"
#include "files.hpp"

namespace personality {
namespace {

constexpr usize MAX_EVENTS = 16;
constexpr u64 EVENT_MAXIMUM = 0xfffffffffffffffe;
constexpr u64 EFD_SEMAPHORE = 1, EFD_NONBLOCK = 04000, EFD_CLOEXEC = 02000000;

struct EventCounter {
  bool used;
  bool semaphore;  // EFD_SEMAPHORE: a read takes 1, not the whole count.
  u64 counter;
};
EventCounter events[MAX_EVENTS];

// Gives up the lock for a millisecond: another thread's write or read may change the counter.
void wait_a_moment() {
  u32 held = store_suspend();  // A read or write of an eventfd runs under files.cpp's StoreGuard.
  state_lock().unlock();
  sleep_nanoseconds(1'000'000);
  state_lock().lock();
  store_resume(held);
}

}  // namespace

i64 linux_eventfd2(u64 initial, u64 flags) {
  if ((flags & ~(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC)) != 0) return -EINVAL;
  if (initial > 0xffffffff) return -EINVAL;  // The argument is an unsigned int.
  for (u32 index = 0; index < MAX_EVENTS; ++index) {
    if (events[index].used) continue;
    i64 descriptor = event_install(index, (flags & EFD_NONBLOCK) != 0, (flags & EFD_CLOEXEC) != 0);
    if (descriptor >= 0) events[index] = EventCounter{true, (flags & EFD_SEMAPHORE) != 0, initial};
    return descriptor;
  }
  return -ENFILE;
}

void eventfd_released(u32 index) { events[index] = EventCounter{}; }

u32 eventfd_state(u32 index) {
  const EventCounter& event = events[index];
  return (event.counter > 0 ? 1u : 0u) | (event.counter < EVENT_MAXIMUM ? 2u : 0u);
}

i64 eventfd_read(u32 index, u64 buffer, u64 length, bool nonblocking) {
  if (length < 8) return -EINVAL;
  if (!writable(buffer, 8)) return -EFAULT;
  EventCounter& event = events[index];
  while (event.counter == 0) {
    if (nonblocking) return -EAGAIN;
    wait_a_moment();
  }
  u64 value = event.semaphore ? 1 : event.counter;
  event.counter -= value;
  memcpy(reinterpret_cast<void*>(buffer), &value, 8);
  return 8;
}

i64 eventfd_write(u32 index, u64 buffer, u64 length, bool nonblocking) {
  if (length < 8) return -EINVAL;
  if (!readable(buffer, 8)) return -EFAULT;
  u64 value;
  memcpy(&value, reinterpret_cast<const void*>(buffer), 8);
  if (value == ~u64{0}) return -EINVAL;
  EventCounter& event = events[index];
  while (EVENT_MAXIMUM - event.counter < value) {
    if (nonblocking) return -EAGAIN;
    wait_a_moment();
  }
  event.counter += value;
  return 8;
}

}  // namespace personality
