// Record locks of a Linux program's files: classic POSIX locks (fcntl F_SETLK, F_SETLKW, F_GETLK;
// owned by the process), open-file-description locks (F_OFD_*; owned by the description) and
// flock locks (owned by the description), with Linux's semantics between the threads of an
// invocation (docs/LINUX.md, Record locks).
// Invariants: records live in one page mapped at the first lock (charged to the memory limit);
// the records of one owner on one file never overlap, and touching or overlapping records of one
// owner and type are merged (as Linux keeps them); everything changes only under state_lock();
// whatever removes or weakens a lock bumps `generation` and wakes every waiter, which then tries
// again, so a waiter never sleeps through the change it waits for.
#include <cstdint>

#include "files.hpp"

namespace personality {
namespace {

constexpr u64 F_GETLK = 5, F_SETLK = 6, F_SETLKW = 7, F_OFD_GETLK = 36, F_OFD_SETLK = 37, F_OFD_SETLKW = 38;
constexpr std::int16_t F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
constexpr u64 LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
constexpr i64 OFFSET_MAX = INT64_MAX;
constexpr i64 EDEADLK = 35, ENOLCK = 37, EOVERFLOW = 75;
constexpr u32 PROCESS = 0;  // The owner of classic locks; descriptions own as index + 1.

enum class LockKind : u8 { Free, Record, Flock };

struct LockRecord {
  LockKind kind;
  std::int16_t type;  // F_RDLCK or F_WRLCK.
  u32 file;
  u32 owner;
  i64 start, end;     // Inclusive byte range (flock: unused).
};
constexpr usize MAX_LOCKS = PAGE / sizeof(LockRecord);

// struct flock of x86-64.
struct LinuxFlock {
  std::int16_t type, whence;
  i64 start, length;
  std::int32_t pid;
};
static_assert(sizeof(LinuxFlock) == 32);

LockRecord* records = nullptr;  // MAX_LOCKS entries, mapped at the first lock.
u32 generation = 0;             // Bumped by every release; waiters wait for it to change.

u32 description_owner(u32 description) { return description + 1; }

bool overlaps(const LockRecord& record, i64 start, i64 end) { return record.start <= end && start <= record.end; }

// The first record lock of another owner that conflicts with the request, or nullptr.
const LockRecord* record_conflict(u32 file, u32 owner, std::int16_t type, i64 start, i64 end) {
  for (usize i = 0; records != nullptr && i < MAX_LOCKS; ++i) {
    const LockRecord& record = records[i];
    if (record.kind != LockKind::Record || record.file != file || record.owner == owner) continue;
    if (overlaps(record, start, end) && (type == F_WRLCK || record.type == F_WRLCK)) return &record;
  }
  return nullptr;
}

void released() {
  ++generation;
  wake_every_waiter(&generation);
}

bool ensure_records() {
  if (records == nullptr) records = reinterpret_cast<LockRecord*>(allocate_anonymous(PAGE));  // Zero: all Free.
  return records != nullptr;
}

// Sets [start, end] of `owner`'s locks on `file` to `type` (F_UNLCK removes), splitting and
// merging its records as Linux's posix_lock_inode does. ENOLCK when the table cannot hold the result.
i64 apply_record(u32 file, u32 owner, std::int16_t type, i64 start, i64 end) {
  if (!ensure_records()) return -ENOLCK;
  // The owner's records on the file after the change, built apart so that a full table changes nothing.
  LockRecord result[MAX_LOCKS];
  usize count = 0, others = 0;
  bool weakened = false;
  for (usize i = 0; i < MAX_LOCKS; ++i) {
    const LockRecord& record = records[i];
    if (record.kind == LockKind::Free) continue;
    if (record.kind != LockKind::Record || record.file != file || record.owner != owner) {
      ++others;
      continue;
    }
    bool touching = (end == OFFSET_MAX || record.start <= end + 1) && record.end >= start - 1;
    if (type != F_UNLCK && record.type == type && touching) {
      start = record.start < start ? record.start : start;  // Merged into the request.
      end = record.end > end ? record.end : end;
      continue;
    }
    if (!overlaps(record, start, end)) {
      result[count++] = record;
      continue;
    }
    weakened = weakened || record.type == F_WRLCK || type == F_UNLCK;
    if (record.start < start) {
      result[count] = record;
      result[count++].end = start - 1;
    }
    if (record.end > end) {
      result[count] = record;
      result[count++].start = end + 1;
    }
  }
  if (type != F_UNLCK) result[count++] = LockRecord{LockKind::Record, type, file, owner, start, end};
  if (others + count > MAX_LOCKS) return -ENOLCK;
  for (usize i = 0; i < MAX_LOCKS; ++i) {
    LockRecord& record = records[i];
    if (record.kind == LockKind::Record && record.file == file && record.owner == owner) record = LockRecord{};
  }
  for (usize i = 0, next = 0; next < count; ++i)
    if (records[i].kind == LockKind::Free) records[i] = result[next++];
  if (weakened) released();
  return 0;
}

// Linux's flock_to_posix_lock: the request's inclusive range.
i64 range_of(const LinuxFlock& request, const LockTarget& target, i64& start, i64& end) {
  i64 base;
  switch (request.whence) {
    case 0: base = 0; break;
    case 1: base = static_cast<i64>(target.offset); break;
    case 2: base = static_cast<i64>(target.size); break;
    default: return -EINVAL;
  }
  if (request.start > OFFSET_MAX - base) return -EOVERFLOW;
  start = base + request.start;
  if (start < 0) return -EINVAL;
  if (request.length > 0) {
    if (request.length - 1 > OFFSET_MAX - start) return -EOVERFLOW;
    end = start + request.length - 1;
  } else if (request.length < 0) {
    if (start + request.length < 0) return -EINVAL;
    end = start - 1;
    start += request.length;
  } else {
    end = OFFSET_MAX;
  }
  return 0;
}

// Linux's deadlock check for a classic F_SETLKW (posix_locks_deadlock): the blocker's owner waits
// for a lock of this process. In one process only an OFD owner can be the other party, and only
// its waits on classic locks are recorded by Linux, so one step decides.
bool would_deadlock(u32 blocker_owner) {
  ThreadEntry* table = thread_table();
  for (usize i = 0; i < MAX_THREADS; ++i)
    if (table[i].use == ThreadUse::Running && table[i].lock_wait_owner == blocker_owner + 1 &&
        table[i].lock_wait_on_classic)
      return true;
  return false;
}

i64 get_lock(u64 command, const LockTarget& target, LinuxFlock& request) {
  if (request.type != F_RDLCK && request.type != F_WRLCK) return -EINVAL;
  if (command == F_OFD_GETLK && request.pid != 0) return -EINVAL;
  i64 start, end;
  i64 error = range_of(request, target, start, end);
  if (error < 0) return error;
  u32 owner = command == F_OFD_GETLK ? description_owner(target.description) : PROCESS;
  const LockRecord* conflict = record_conflict(target.file, owner, request.type, start, end);
  if (conflict == nullptr) {
    request.type = F_UNLCK;
    return 0;
  }
  request.type = conflict->type;
  request.whence = 0;
  request.start = conflict->start;
  request.length = conflict->end == OFFSET_MAX ? 0 : conflict->end - conflict->start + 1;
  request.pid = conflict->owner == PROCESS ? static_cast<std::int32_t>(LINUX_PID) : -1;
  return 0;
}

}  // namespace

bool is_lock_command(u64 command) {
  return command == F_GETLK || command == F_SETLK || command == F_SETLKW || command == F_OFD_GETLK ||
         command == F_OFD_SETLK || command == F_OFD_SETLKW;
}

i64 linux_fcntl_lock(u64 descriptor, u64 command, u64 argument) {
  ThreadEntry& self = current_thread();
  for (;;) {
    u32 expected;
    {
      LockGuard guard;
      self.lock_wait_owner = 0;
      LockTarget target;
      i64 error = lock_target(descriptor, target);
      if (error < 0) return error;
      if (!writable(argument, sizeof(LinuxFlock))) return -EFAULT;
      LinuxFlock request;
      memcpy(&request, reinterpret_cast<const void*>(argument), sizeof request);
      if (command == F_GETLK || command == F_OFD_GETLK) {
        error = get_lock(command, target, request);
        if (error == 0) memcpy(reinterpret_cast<void*>(argument), &request, sizeof request);
        return error;
      }
      i64 start, end;
      error = range_of(request, target, start, end);
      if (error < 0) return error;
      if (request.type != F_RDLCK && request.type != F_WRLCK && request.type != F_UNLCK) return -EINVAL;
      if ((request.type == F_RDLCK && !target.readable) || (request.type == F_WRLCK && !target.writable)) return -EBADF;
      bool open_description = command == F_OFD_SETLK || command == F_OFD_SETLKW;
      if (open_description && request.pid != 0) return -EINVAL;
      u32 owner = open_description ? description_owner(target.description) : PROCESS;
      const LockRecord* conflict =
          request.type == F_UNLCK ? nullptr : record_conflict(target.file, owner, request.type, start, end);
      if (conflict == nullptr) {
        return apply_record(target.file, owner, request.type, start, end);
      }
      // Linux answers EAGAIN (POSIX allows EACCES too) when it may not wait.
      if (command == F_SETLK || command == F_OFD_SETLK) return -EAGAIN;
      if (!open_description && conflict->owner != PROCESS && would_deadlock(conflict->owner)) return -EDEADLK;
      self.lock_wait_owner = owner + 1;
      self.lock_wait_on_classic = conflict->owner == PROCESS;
      expected = generation;
    }
    // Until some lock is released; then try again (the program's descriptor may be gone by then).
    (void)wait_for_change(&generation, expected);
  }
}

i64 linux_flock(u64 descriptor, u64 operation) {
  u64 command = operation & ~LOCK_NB;
  std::int16_t type;
  if (command == LOCK_SH) type = F_RDLCK;
  else if (command == LOCK_EX) type = F_WRLCK;
  else if (command == LOCK_UN) type = F_UNLCK;
  else return -EINVAL;
  for (;;) {
    u32 expected;
    {
      LockGuard guard;
      LockTarget target;
      i64 error = lock_target(descriptor, target);
      if (error < 0) return error;
      u32 owner = description_owner(target.description);
      // Linux converts a lock by removing the old one first (not atomically, as flock(2) says).
      LockRecord* own = nullptr;
      for (usize i = 0; records != nullptr && i < MAX_LOCKS; ++i)
        if (records[i].kind == LockKind::Flock && records[i].file == target.file && records[i].owner == owner)
          own = &records[i];
      if (own != nullptr) {
        if (own->type == type) return 0;
        *own = LockRecord{};
        released();
      }
      if (type == F_UNLCK) return 0;
      bool conflict = false;
      for (usize i = 0; records != nullptr && i < MAX_LOCKS; ++i) {
        const LockRecord& record = records[i];
        if (record.kind == LockKind::Flock && record.file == target.file && record.owner != owner &&
            (type == F_WRLCK || record.type == F_WRLCK))
          conflict = true;
      }
      if (!conflict) {
        if (!ensure_records()) return -ENOLCK;
        for (usize i = 0; i < MAX_LOCKS; ++i) {
          if (records[i].kind != LockKind::Free) continue;
          records[i] = LockRecord{LockKind::Flock, type, target.file, owner, 0, 0};
          return 0;
        }
        return -ENOLCK;
      }
      if ((operation & LOCK_NB) != 0) return -EAGAIN;  // EWOULDBLOCK.
      expected = generation;
    }
    (void)wait_for_change(&generation, expected);
  }
}

void locks_descriptor_closed(u32 file) {
  bool any = false;
  for (usize i = 0; records != nullptr && i < MAX_LOCKS; ++i) {
    LockRecord& record = records[i];
    if (record.kind == LockKind::Record && record.file == file && record.owner == PROCESS) {
      record = LockRecord{};
      any = true;
    }
  }
  if (any) released();
}

void locks_description_released(u32 description) {
  bool any = false;
  for (usize i = 0; records != nullptr && i < MAX_LOCKS; ++i) {
    LockRecord& record = records[i];
    if (record.kind != LockKind::Free && record.owner == description_owner(description)) {
      record = LockRecord{};
      any = true;
    }
  }
  if (any) released();
}

}  // namespace personality
