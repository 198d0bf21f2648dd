// What Go's netpoller needs inside one program: pipe2 (pipes between the threads of the program,
// bytes in a 4 KiB buffer of the personality) and epoll_create1/epoll_ctl/epoll_pwait over the
// personality's descriptors. Pipes never block (a read of an empty pipe with a writer is EAGAIN,
// a write to a full one EAGAIN, as with O_NONBLOCK, which Go sets): the netpoller's wake-up pipe
// needs nothing more. epoll_pwait waits in 1 ms sleeps without the lock until a watched descriptor
// is ready or the timeout ends. Regular files are EPERM for epoll_ctl, as on Linux (Go then does
// blocking I/O on them). Inter-process pipes are not this file's business.
// Invariants: a pipe's count <= PIPE_BYTES; a pipe or an epoll instance is in use while some
// description refers to it (files.cpp calls netpoll_released on the last close); everything here
// runs under state_lock() except the waiting in epoll_pwait.
#include "files.hpp"

namespace personality {
namespace {

constexpr usize MAX_PIPES = 8;
constexpr usize MAX_EPOLLS = 4;
constexpr usize MAX_WATCHES = 32;
constexpr u64 PIPE_BYTES = 4096;
constexpr u32 EPOLLIN = 1, EPOLLOUT = 4, EPOLLERR = 8, EPOLLHUP = 0x10;
constexpr u64 EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
constexpr u64 O_NONBLOCK = 04000, O_CLOEXEC = 02000000;

struct Pipe {
  bool used;
  bool reader_open, writer_open;
  u64 head, count;
  u8 bytes[PIPE_BYTES];
};
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

Pipe pipes[MAX_PIPES];
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
      const Pipe& pipe = pipes[target.index];
      if (pipe.count > 0) events |= EPOLLIN;
      if (!pipe.writer_open) events |= EPOLLIN | EPOLLHUP;
      break;
    }
    case NetpollKind::PipeWrite: {
      const Pipe& pipe = pipes[target.index];
      if (!pipe.reader_open) events |= EPOLLERR;
      else if (pipe.count < PIPE_BYTES) events |= EPOLLOUT;
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

i64 linux_pipe2(u64 address, u64 flags) {
  if ((flags & ~(O_NONBLOCK | O_CLOEXEC)) != 0) return -EINVAL;
  if (!writable(address, 8)) return -EFAULT;
  for (u32 index = 0; index < MAX_PIPES; ++index) {
    Pipe& pipe = pipes[index];
    if (pipe.used) continue;
    bool close_on_exec = (flags & O_CLOEXEC) != 0;
    i64 reader = netpoll_install(NetpollKind::PipeRead, index, close_on_exec);
    if (reader < 0) return reader;
    i64 writer = netpoll_install(NetpollKind::PipeWrite, index, close_on_exec);
    if (writer < 0) {
      (void)linux_close(static_cast<u64>(reader));
      return writer;
    }
    pipe.used = pipe.reader_open = pipe.writer_open = true;
    pipe.head = pipe.count = 0;
    std::int32_t both[2] = {static_cast<std::int32_t>(reader), static_cast<std::int32_t>(writer)};
    memcpy(reinterpret_cast<void*>(address), both, sizeof both);
    return 0;
  }
  return -ENFILE;
}

i64 pipe_read(u32 index, u64 buffer, u64 length) {
  Pipe& pipe = pipes[index];
  if (!writable(buffer, length)) return -EFAULT;
  if (pipe.count == 0) return pipe.writer_open ? -EAGAIN : 0;
  u64 done = 0;
  auto* target = reinterpret_cast<u8*>(buffer);
  while (done < length && pipe.count > 0) {
    target[done++] = pipe.bytes[pipe.head];
    pipe.head = (pipe.head + 1) % PIPE_BYTES;
    --pipe.count;
  }
  return static_cast<i64>(done);
}

i64 pipe_write(u32 index, u64 buffer, u64 length, bool from_personality) {
  Pipe& pipe = pipes[index];
  if (!from_personality && !readable(buffer, length)) return -EFAULT;
  if (!pipe.reader_open) return -EPIPE;  // No SIGPIPE: signals are not delivered.
  if (pipe.count == PIPE_BYTES) return -EAGAIN;
  u64 done = 0;
  const auto* source = reinterpret_cast<const u8*>(buffer);
  while (done < length && pipe.count < PIPE_BYTES) {
    pipe.bytes[(pipe.head + pipe.count) % PIPE_BYTES] = source[done++];
    ++pipe.count;
  }
  return static_cast<i64>(done);
}

void netpoll_released(NetpollKind kind, u32 index) {
  if (kind == NetpollKind::Epoll) {
    epolls[index] = Epoll{};
    return;
  }
  Pipe& pipe = pipes[index];
  if (kind == NetpollKind::PipeRead) pipe.reader_open = false;
  if (kind == NetpollKind::PipeWrite) pipe.writer_open = false;
  if (!pipe.reader_open && !pipe.writer_open) pipe.used = false;
}

i64 linux_epoll_create1(u64 flags) {
  if ((flags & ~O_CLOEXEC) != 0) return -EINVAL;
  for (u32 index = 0; index < MAX_EPOLLS; ++index) {
    if (epolls[index].used) continue;
    i64 descriptor = netpoll_install(NetpollKind::Epoll, index, (flags & O_CLOEXEC) != 0);
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
    sleep_nanoseconds(left < 1'000'000 ? left : 1'000'000);
  }
}

}  // namespace personality
