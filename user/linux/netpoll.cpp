// epoll_create1/epoll_ctl/epoll_pwait over the personality's descriptors, what Go's netpoller
// needs: the input, the output and log, and pipes (pipes.cpp, the one pipe of the personality,
// between threads and processes alike). epoll_pwait waits in 1 ms sleeps without the lock until a
// watched descriptor is ready or the timeout ends (a pipe write by another thread or process is
// seen within a millisecond). Regular files are EPERM for epoll_ctl, as on Linux (Go then does
// blocking I/O on them). An instance lives in the personality's data, so a forked child gets its
// own copy of its parent's instances (Linux shares them; no test program relies on that).
// Invariants: an epoll instance is in use while some description refers to it (files.cpp calls
// netpoll_released on the last close); everything here runs under state_lock() except the
// waiting in epoll_pwait.
#include "files.hpp"
#include "process.hpp"

namespace personality {
namespace {

constexpr usize MAX_EPOLLS = 4;
constexpr usize MAX_WATCHES = 32;
constexpr u32 EPOLLIN = 1, EPOLLOUT = 4, EPOLLERR = 8, EPOLLHUP = 0x10;
constexpr u64 EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
constexpr u64 O_CLOEXEC = 02000000;

struct Watch {
  std::int32_t descriptor;
  u32 events;
  u64 data;
};
struct Epoll {
  bool used;
  usize count;
  Watch watches[MAX_WATCHES];
};
struct [[gnu::packed]] EpollEvent {  // struct epoll_event is packed on x86-64.
  u32 events;
  u64 data;
};
static_assert(sizeof(EpollEvent) == 12);

Epoll epolls[MAX_EPOLLS];

// The events of `watch` that hold now; EPOLLERR for a descriptor closed since it was added.
u32 ready_events(const Watch& watch) {
  NetpollTarget target;
  if (!netpoll_target(static_cast<u64>(watch.descriptor), target)) return EPOLLERR;
  u32 events = 0;
  switch (target.kind) {
    case NetpollKind::Input: events = EPOLLIN; break;
    case NetpollKind::Output: events = EPOLLOUT; break;
    case NetpollKind::PipeRead: {
      // pipe_state: 1 ready, 2 the other end is gone (end of file for a reader).
      u32 state = pipe_state(target.index, false, false);
      // As Linux's pipe_poll: readable while bytes are there, hung up once no writer is left.
      if ((state & 1) != 0) events |= EPOLLIN;
      if ((state & 2) != 0) events |= EPOLLHUP;
      break;
    }
    case NetpollKind::PipeWrite: {
      u32 state = pipe_state(target.index, true, false);
      if ((state & 1) != 0) events |= EPOLLOUT;
      if ((state & 2) != 0) events |= EPOLLERR;
      break;
    }
    case NetpollKind::Event: {
      u32 state = eventfd_state(target.index);
      if ((state & 1) != 0) events |= EPOLLIN;
      if ((state & 2) != 0) events |= EPOLLOUT;
      break;
    }
    case NetpollKind::File:
    case NetpollKind::Epoll: break;
  }
  return events & (watch.events | EPOLLERR | EPOLLHUP);
}

// Ready watches of `instance` into the program's events (checked writable); their count.
i64 collect(Epoll& instance, u64 events_address, u64 max_events) {
  auto* events = reinterpret_cast<EpollEvent*>(events_address);
  i64 found = 0;
  for (usize i = 0; i < instance.count && static_cast<u64>(found) < max_events; ++i) {
    u32 ready = ready_events(instance.watches[i]);
    if (ready == 0) continue;
    EpollEvent event{ready, instance.watches[i].data};
    memcpy(&events[found], &event, sizeof event);
    ++found;
  }
  return found;
}

Epoll* epoll_of(u64 descriptor) {
  NetpollTarget target;
  if (!netpoll_target(descriptor, target) || target.kind != NetpollKind::Epoll) return nullptr;
  return &epolls[target.index];
}

}  // namespace

void netpoll_released(u32 index) { epolls[index] = Epoll{}; }

i64 linux_epoll_create1(u64 flags) {
  if ((flags & ~O_CLOEXEC) != 0) return -EINVAL;
  for (u32 index = 0; index < MAX_EPOLLS; ++index) {
    if (epolls[index].used) continue;
    i64 descriptor = epoll_install(index, (flags & O_CLOEXEC) != 0);
    if (descriptor >= 0) epolls[index] = Epoll{true, 0, {}};
    return descriptor;
  }
  return -ENFILE;
}

i64 linux_epoll_ctl(u64 epoll_descriptor, u64 operation, u64 descriptor, u64 event_address) {
  Epoll* instance = epoll_of(epoll_descriptor);
  if (instance == nullptr) return descriptor_open(epoll_descriptor) ? -EINVAL : -EBADF;
  NetpollTarget target;
  if (descriptor > 0x7fffffff || !netpoll_target(descriptor, target)) return -EBADF;
  if (descriptor == epoll_descriptor) return -EINVAL;
  if (target.kind == NetpollKind::File) return -EPERM;  // Regular files and directories, as on Linux.
  EpollEvent event{0, 0};
  if (operation != EPOLL_CTL_DEL) {
    if (!readable(event_address, sizeof event)) return -EFAULT;
    memcpy(&event, reinterpret_cast<const void*>(event_address), sizeof event);
  }
  usize at = 0;
  while (at < instance->count && instance->watches[at].descriptor != static_cast<std::int32_t>(descriptor)) ++at;
  bool present = at < instance->count;
  switch (operation) {
    case EPOLL_CTL_ADD:
      if (present) return -EEXIST;
      if (instance->count == MAX_WATCHES) return -ENOSPC;
      instance->watches[instance->count++] = Watch{static_cast<std::int32_t>(descriptor), event.events, event.data};
      return 0;
    case EPOLL_CTL_MOD:
      if (!present) return -ENOENT;
      instance->watches[at].events = event.events;
      instance->watches[at].data = event.data;
      return 0;
    case EPOLL_CTL_DEL:
      if (!present) return -ENOENT;
      instance->watches[at] = instance->watches[--instance->count];
      return 0;
    default:
      return -EINVAL;
  }
}

// Runs without the lock (runs_unlocked): it takes it for each look and sleeps between looks.
i64 linux_epoll_pwait(u64 epoll_descriptor, u64 events_address, u64 max_events, u64 timeout_ms) {
  auto timeout = static_cast<std::int32_t>(timeout_ms);
  if (static_cast<std::int32_t>(max_events) <= 0 || max_events > 1024) return -EINVAL;
  u64 deadline = timeout < 0 ? ~u64{0} : monotonic_nanoseconds() + static_cast<u64>(timeout) * 1'000'000;
  for (;;) {
    {
      LockGuard guard;
      Epoll* instance = epoll_of(epoll_descriptor);
      if (instance == nullptr) return descriptor_open(epoll_descriptor) ? -EINVAL : -EBADF;
      if (!writable(events_address, max_events * sizeof(EpollEvent))) return -EFAULT;
      i64 found = collect(*instance, events_address, max_events);
      if (found > 0) return found;
    }
    u64 now = monotonic_nanoseconds();
    if (now >= deadline) return 0;
    u64 left = deadline - now;
    if (signal_pending()) return -EINTR;
    if (sleep_nanoseconds(left < 1'000'000 ? left : 1'000'000) != 0) return -EINTR;
  }
}

}  // namespace personality
