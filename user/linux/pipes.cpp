// Pipes, the personality's only ones: a table entry and a ring of PIPE_CAPACITY bytes per pipe in
// the invocation's file store (file_store.hpp), so both ends work between the threads of a process
// and across the processes of an invocation alike, and poll and epoll (netpoll.cpp) watch them
// through pipe_state. A reader or writer that must wait records its process in `waiting` and
// blocks on its notification (the shared state's, process.hpp); whoever changes the pipe wakes
// them all. Pipes are limited by STORE_MAX_PIPES and by the memory limit (each ring is charged).
// Invariants: 0 <= write_total - read_total <= PIPE_CAPACITY; `readers`/`writers` count the open
// file descriptions of each end (shared by fork and dup); a pipe is free once both are 0; a write
// of at most PIPE_ATOMIC bytes goes in whole or not at all; the ring changes only under the
// store's lock, and nobody waits while holding a lock.
#include "file_store.hpp"
#include "process.hpp"

namespace personality {
namespace {

constexpr u64 SIGPIPE = 13;

// Wakes every process waiting on `pipe` (they look again). Shared lock held; returns who to wake.
u32 take_waiting(PipeEntry& pipe) {
  u32 waiting = pipe.waiting;
  pipe.waiting = 0;
  return waiting;
}

// The caller's own process too: another of its threads may wait on the same pipe (a pipe between
// threads); a wake-up nobody takes only makes the next wait look again.
void wake_all(u32 waiting) {
  for (usize i = 0; i < MAX_PROCESSES; ++i)
    if ((waiting >> i & 1) != 0) process_wake(i);
}

void wait_for_pipe() {
  u32 held = store_suspend();
  state_lock().unlock();
  process_block(~u64{0});
  state_lock().lock();
  store_resume(held);
}

u8* ring_of(const PipeEntry& pipe) { return reinterpret_cast<u8*>(pipe.ring); }

}  // namespace

i64 pipe_create(u32& pipe) {
  // The shared state holds the notifications a waiting reader or writer blocks on.
  if (!shared_init() || !store_init()) return -ENOMEM;
  StoreGuard guard;
  StoreHeader& header = *store();
  u32 index;
  if (header.pipe_free != 0) {
    index = header.pipe_free - 1;
  } else {
    if (header.pipe_high >= STORE_MAX_PIPES) return -ENFILE;
    index = header.pipe_high;
    if (store_pipe(index, true) == nullptr) return -ENOMEM;
  }
  u64 capacity = 0;
  u64 ring = store_allocate(PIPE_CAPACITY, capacity);
  if (ring == 0) return -ENOMEM;
  if (header.pipe_free != 0) header.pipe_free = store_pipe(index)->writers;  // A free entry chains the next.
  else ++header.pipe_high;
  *store_pipe(index) = PipeEntry{true, 1, 1, 0, 0, 0, ring};
  pipe = index;
  return 0;
}

void pipe_release(u32 pipe, bool write_end) {
  u32 waiting;
  {
    StoreGuard guard;
    PipeEntry& entry = *store_pipe(pipe);
    --(write_end ? entry.writers : entry.readers);
    waiting = take_waiting(entry);  // Readers may now see the end, writers EPIPE.
    if (entry.readers == 0 && entry.writers == 0) {
      store_free(entry.ring, PIPE_CAPACITY);
      entry = PipeEntry{};
      entry.writers = store()->pipe_free;
      store()->pipe_free = pipe + 1;
    }
  }
  wake_all(waiting);
}

i64 pipe_read(u32 pipe, u64 buffer, u64 length, bool nonblocking) {
  if (length == 0) return 0;
  for (;;) {
    u32 waiting = 0;
    i64 result = -EAGAIN;
    {
      StoreGuard guard;
      PipeEntry& entry = *store_pipe(pipe);
      u64 available = entry.write_total - entry.read_total;
      if (available > 0) {
        u64 count = length < available ? length : available;
        u64 at = entry.read_total % PIPE_CAPACITY;
        u64 first = PIPE_CAPACITY - at < count ? PIPE_CAPACITY - at : count;
        memcpy(reinterpret_cast<void*>(buffer), ring_of(entry) + at, first);
        memcpy(reinterpret_cast<void*>(buffer + first), ring_of(entry), count - first);
        entry.read_total += count;
        waiting = take_waiting(entry);
        result = static_cast<i64>(count);
      } else if (entry.writers == 0) {
        result = 0;  // End of file: no writer is left anywhere.
      } else if (!nonblocking) {
        entry.waiting |= u32{1} << own_process_index;
        result = -EINTR;  // Means "wait" below.
      }
    }
    wake_all(waiting);
    if (result != -EINTR) return result;
    if (signal_pending()) return -ERESTARTSYS;  // EINTR, or read again after an SA_RESTART handler.
    wait_for_pipe();
  }
}

i64 pipe_write(u32 pipe, u64 buffer, u64 length, bool nonblocking) {
  u64 written = 0;
  while (written < length || length == 0) {
    u32 waiting = 0;
    bool must_wait = false;
    {
      StoreGuard guard;
      PipeEntry& entry = *store_pipe(pipe);
      if (entry.readers == 0) {
        raise_signal(SIGPIPE);  // Its default action ends the writer after this call.
        return written > 0 ? static_cast<i64>(written) : -EPIPE;
      }
      if (length == 0) return 0;
      u64 space = PIPE_CAPACITY - (entry.write_total - entry.read_total);
      u64 remaining = length - written;
      // Up to PIPE_BUF bytes go in at once or not at all; more may be split.
      u64 needed = remaining <= PIPE_ATOMIC ? remaining : 1;
      if (space >= needed) {
        u64 count = remaining < space ? remaining : space;
        u64 at = entry.write_total % PIPE_CAPACITY;
        u64 first = PIPE_CAPACITY - at < count ? PIPE_CAPACITY - at : count;
        memcpy(ring_of(entry) + at, reinterpret_cast<const void*>(buffer + written), first);
        memcpy(ring_of(entry), reinterpret_cast<const void*>(buffer + written + first), count - first);
        entry.write_total += count;
        written += count;
        waiting = take_waiting(entry);
      } else if (nonblocking) {
        return written > 0 ? static_cast<i64>(written) : -EAGAIN;
      } else {
        entry.waiting |= u32{1} << own_process_index;
        must_wait = true;
      }
    }
    wake_all(waiting);
    if (!must_wait) continue;
    if (signal_pending()) return written > 0 ? static_cast<i64>(written) : -ERESTARTSYS;
    wait_for_pipe();
  }
  return static_cast<i64>(written);
}

u32 pipe_state(u32 pipe, bool write_end, bool record_waiter) {
  StoreGuard guard;
  PipeEntry& entry = *store_pipe(pipe);
  u64 used = entry.write_total - entry.read_total;
  u32 state = 0;
  if (write_end) {
    if (PIPE_CAPACITY - used >= PIPE_ATOMIC) state |= 1;
    if (entry.readers == 0) state |= 2;
  } else {
    if (used > 0) state |= 1;
    if (entry.writers == 0) state |= 2;
  }
  if (state == 0 && record_waiter) entry.waiting |= u32{1} << own_process_index;  // poll waits for a change.
  return state;
}

}  // namespace personality
