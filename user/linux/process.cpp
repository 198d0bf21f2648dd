// Processes: fork (and vfork, clone without CLONE_VM) makes a new kernel Task from the
// invocation's factory, so every process is charged to the memory limit and goes with the
// invocation; wait4/waitid reap zombies; the end of a process; process groups and sessions.
// A child gets: the shared mappings (process.hpp) at their slots; a copy of the parent's writable
// memory: of its lazy Memory (brk, mmap and MAP_FIXED chunks, the stack below the manager's pages,
// at the parent's slot numbers) only the touched pages (MemoryCopyCommitted), of the rest every
// page, eagerly (its writable segments, the manager's stack pages from the program's rsp up, the
// personality's data, which holds its memory map, descriptors and thread table); its own task (Map), the manager endpoint (EVENT_LOG only),
// the factory and the executable at the usual selectors; and one thread, which starts in
// personality_fork_start on the copied personality stack and enters the program where fork
// returns, with rax = 0.
// Invariants: the parent holds the only capability of each child's Task that is not derived from
// it (children[]), so reaping revokes and deletes it and the child's task with its memory, thread
// and capabilities is gone; a child never sends EVENT_EXIT (only pid 1 ends the invocation); the
// process table changes only under the shared lock; fork holds state_lock() for the whole copy,
// so the child's copy of the personality's data is consistent (its lock word is reset at start).
#include <cstdint>

#include "files.hpp"
#include "image_files.hpp"
#include "process.hpp"

extern "C" [[gnu::visibility("hidden")]] char personality_data_start[];
extern "C" [[gnu::visibility("hidden")]] char personality_data_end[];
extern "C" [[gnu::visibility("hidden")]] char personality_stack_top[];
extern "C" [[gnu::visibility("hidden")]] void personality_syscall_entry();
extern "C" [[gnu::visibility("hidden")]] void personality_fork_entry();

namespace personality {
namespace {

constexpr u64 CLONE_SETTLS = 0x80000, CLONE_PARENT_SETTID = 0x100000, CLONE_CHILD_CLEARTID = 0x200000,
              CLONE_CHILD_SETTID = 0x1000000;
constexpr u64 SIGCHLD = 17;
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);
constexpr u32 ALL_RIGHTS = 0xffffffff;

// What the child needs to know at its start; fork fills it in the parent just before copying the
// personality's data, so the child reads its own copy.
struct ForkRecord {
  usize index;
  u64 pid;
  SlotSet slots;  // The child's capability slots in use.
  u64 exception_slot;  // Its badged Send capability of the supervisor's endpoint.
  abi::PersonalityRegisters registers;
  ThreadEntry thread;
  u64 clear_tid, set_tid;  // CLONE_CHILD_CLEARTID / CLONE_CHILD_SETTID words (0: none).
  u64 thread_slot;  // The child's capability to its own thread (signals interrupt it).
};
ForkRecord pending_fork;

struct Child {
  u64 pid;   // 0: free.
  u64 task;  // Its Task capability (the root of the child's own FUNCTION_TASK copy).
};
Child children[MAX_PROCESSES];


ProcessEntry& own_entry() { return shared()->processes[own_process_index]; }

i64 entry_of_pid(u64 pid) {
  for (usize i = 0; i < MAX_PROCESSES; ++i)
    if (shared()->processes[i].use != ProcessUse::Free && shared()->processes[i].pid == pid) return static_cast<i64>(i);
  return -1;
}

// Builds one child. Every capability the parent makes for it is given to it at a slot that is free
// in the child, and the parent's own copy is deleted at the end (the child's keeps the object).
class ChildBuilder {
 public:
  explicit ChildBuilder(u64 task) : task_(task) {}
  ~ChildBuilder() {
    for (usize i = 0; i < temporary_count_; ++i) {
      (void)native(abi::Syscall::CapabilityDelete, temporary_[i]);
      free_slot(temporary_[i]);
    }
  }
  const SlotSet& slots() const { return slots_; }

  bool give(u64 own, u64 target, u32 rights) {
    if (native(abi::Syscall::TaskGiveCapability, task_, own, target, rights) != sys::Error::None) return false;
    slots_.add(target);
    return true;
  }
  bool map_shared(const SharedMapping& mapping) {
    return native(abi::Syscall::TaskMap, task_, mapping.slot, 0, mapping.address, mapping.pages, mapping.rights) ==
               sys::Error::None &&
           give(mapping.slot, mapping.slot, ALL_RIGHTS);
  }
  // A parent slot kept until the child is built (so no two objects get one child slot).
  u64 temporary() {
    u64 slot = temporary_count_ < MAX_TEMPORARY ? allocate_slot() : 0;
    if (slot != 0) temporary_[temporary_count_++] = slot;
    return slot;
  }
  // A fresh copy of [address, address + pages) for the child, the bytes of [from, to) copied where
  // the parent can read them (PROT_NONE pages stay zero), given at `child_slot` (0: the copy's own
  // slot number, which is free in the child because it was free in the parent).
  bool copy(u64 address, u64 pages, u64 child_slot, u64 from, u64 to, u64 slot = 0) {
    if (slot == 0 && (slot = temporary()) == 0) return false;
    if (native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Memory),
               slot, pages) != sys::Error::None)
      return false;
    for (u64 cursor = from; cursor < to;) {
      u64 end = cursor;
      while (end < to && memory_permits(end, PAGE, false)) end += PAGE;
      if (end > cursor &&
          native(abi::Syscall::MemoryWrite, slot, cursor - address, cursor, end - cursor) != sys::Error::None)
        return false;
      cursor = end + PAGE;
    }
    return native(abi::Syscall::TaskMap, task_, slot, 0, address, pages, READ_WRITE) == sys::Error::None &&
           give(slot, child_slot == 0 ? slot : child_slot, ALL_RIGHTS);
  }
  // A lazy copy of the parent's lazy Memory `source` (mapped at `address`, `pages` long): the child's
  // object is lazy too, and only the pages of [first_page, end_page) the parent has touched are
  // copied and charged (MemoryCopyCommitted), so a reservation costs the child what it costs the
  // parent, and pages never touched stay free in both.
  bool copy_lazy(u64 address, u64 pages, u64 source, u64 child_slot, u64 first_page, u64 end_page) {
    // The child's slot is fixed (the parent's own number for this memory), so the parent's copy of
    // the capability can go at once: the memory chunks never run out of temporary slots.
    u64 slot = allocate_slot();
    if (slot == 0) return false;
    bool built = native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY,
                        static_cast<u64>(abi::ObjectType::Memory), slot, pages, abi::MEMORY_LAZY) == sys::Error::None;
    while (built && first_page < end_page) {
      sys::SyscallRegisters registers{source, first_page, end_page - first_page, 0, 0, 0};
      built = sys::invoke(abi::Syscall::MemoryCopyCommitted, slot, registers) == sys::Error::None;
      first_page = registers.argument1;
    }
    built = built && native_map(task_, slot, 0, address, pages, READ_WRITE) == sys::Error::None &&
            give(slot, child_slot, ALL_RIGHTS);
    (void)native(abi::Syscall::CapabilityDelete, slot);
    free_slot(slot);
    return built;
  }

  // An image function's file mappings (image_files.cpp): the tree's pages mapped alike from the
  // one read-only tree Memory (never copied), and a copy of each private Memory (lazy: its touched
  // pages; eager: every byte) at the parent's slot number, mapped wherever the parent maps it.
  bool copy_image_mappings() {
    ImageMapping mapping{};
    for (usize i = 0; i < IMAGE_MAX_MAPPINGS; ++i)
      if (image_mapping(i, mapping) && mapping.memory == manager::FUNCTION_IMAGE_TREE && mapping.rights != 0 &&
          native_map(task_, mapping.memory, mapping.first_page, mapping.start, (mapping.end - mapping.start) / PAGE,
                     mapping.rights) != sys::Error::None)
        return false;
    ImagePrivateMemory memory{};
    for (usize i = 0; i < IMAGE_MAX_MAPPINGS; ++i)
      if (image_private_memory(i, memory) && !copy_private(memory)) return false;
    return true;
  }

 private:
  bool copy_private(const ImagePrivateMemory& source) {
    u64 slot = allocate_slot();
    if (slot == 0) return false;
    bool built = native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY,
                        static_cast<u64>(abi::ObjectType::Memory), slot, source.pages,
                        source.lazy ? abi::MEMORY_LAZY : 0) == sys::Error::None;
    if (source.lazy) {
      for (u64 first_page = 0; built && first_page < source.pages;) {
        sys::SyscallRegisters registers{source.slot, first_page, source.pages - first_page, 0, 0, 0};
        built = sys::invoke(abi::Syscall::MemoryCopyCommitted, slot, registers) == sys::Error::None;
        first_page = registers.argument1;
      }
    } else {
      constexpr u64 STEP = u64{16} << 20;  // The kernel's largest MemoryCopy.
      for (u64 offset = 0; built && offset < source.pages * PAGE; offset += STEP) {
        u64 bytes = source.pages * PAGE - offset < STEP ? source.pages * PAGE - offset : STEP;
        built = native(abi::Syscall::MemoryCopy, slot, offset, source.slot, offset, bytes) == sys::Error::None;
      }
    }
    ImageMapping mapping{};
    for (usize i = 0; built && i < IMAGE_MAX_MAPPINGS; ++i)
      if (image_mapping(i, mapping) && mapping.memory == source.slot && mapping.rights != 0)
        built = native_map(task_, slot, mapping.first_page, mapping.start, (mapping.end - mapping.start) / PAGE,
                           mapping.rights) == sys::Error::None;
    built = built && give(slot, source.slot, ALL_RIGHTS);
    (void)native(abi::Syscall::CapabilityDelete, slot);
    free_slot(slot);
    return built;
  }

  static constexpr usize MAX_TEMPORARY = 24;
  u64 task_;
  SlotSet slots_{};
  u64 temporary_[MAX_TEMPORARY] = {};
  usize temporary_count_ = 0;
};

// Builds and starts the child in task `task`; false when anything is refused (the caller deletes
// the task, and with it whatever was given to it). Locked.
bool build_child(u64 task, usize index, u64 pid, u64 flags, u64 stack, u64 child_tid, u64 tls) {
  State& s = state();
  ChildBuilder child(task);
  constexpr u32 MAP = abi::rights_of(abi::TaskRight::Map);
  if (!child.give(manager::FUNCTION_MANAGER, manager::FUNCTION_MANAGER, ALL_RIGHTS) ||
      !child.give(manager::FUNCTION_FACTORY, manager::FUNCTION_FACTORY, ALL_RIGHTS) ||
      !child.give(task, manager::FUNCTION_TASK, MAP))
    return false;
  // A static program's executable (exec reads it); an image function has its tree instead: the
  // same read-only Memory at the same slot and address, shared, never copied.
  bool image = s.start.image_tree_bytes != 0;
  if (!image && !child.give(manager::FUNCTION_EXECUTABLE, manager::FUNCTION_EXECUTABLE, ALL_RIGHTS)) return false;
  if (image && (!child.give(manager::FUNCTION_IMAGE_TREE, manager::FUNCTION_IMAGE_TREE, ALL_RIGHTS) ||
                native_map(task, manager::FUNCTION_IMAGE_TREE, 0, manager::IMAGE_TREE_ADDRESS,
                           page_up(s.start.image_tree_bytes) / PAGE, abi::rights_of(abi::MemoryRight::Read)) !=
                    sys::Error::None ||
                !child.copy_image_mappings()))
    return false;
  for (usize i = 0; i < shared_mapping_count; ++i)
    if (!child.map_shared(shared_mappings[i])) return false;
  for (u64 notification : shared()->notification_slots)
    if (!child.give(notification, notification, ALL_RIGHTS)) return false;
  // Every process may wake every watcher (Signal); Wait too, which its own watcher needs and its
  // own children's watchers will need (notifications have no other right to leave out).
  constexpr u32 SIGNAL_WAIT = abi::rights_of(abi::NotificationRight::Signal, abi::NotificationRight::Wait);
  for (u64 notification : shared()->signal_slots)
    if (!child.give(notification, notification, SIGNAL_WAIT)) return false;
  // Faults of its threads go to the supervisor with its badge; it may badge its own children's.
  constexpr u32 SEND = abi::rights_of(abi::EndpointRight::Send);
  u64 endpoint = shared()->exception_slot;
  u64 exceptions = child.temporary();
  if (exceptions == 0 || !child.give(endpoint, endpoint, SEND) ||
      native(abi::Syscall::CapabilityCopy, endpoint, exceptions, SEND, index + 1) != sys::Error::None ||
      !child.give(exceptions, exceptions, SEND))
    return false;
  for (u64 i = 0; i < s.start.segment_count; ++i) {
    const manager::LinuxSegment& segment = s.start.segments[i];
    if ((segment.flags & manager::LINUX_SEGMENT_WRITABLE) != 0 &&
        !child.copy(segment.address, segment.bytes / PAGE, 0, segment.address, segment.address + segment.bytes))
      return false;
  }
  const abi::PersonalityRegisters& registers = sys::utcb()->personality_registers;
  // Below the program's stack pointer (less the red zone) nothing is live: fresh zero pages. The
  // stack is the manager's eager top (copied byte for byte) and the personality's lazy rest below
  // it (only its touched pages copied).
  constexpr u64 EAGER_STACK_LOW = manager::FUNCTION_STACK_TOP - manager::FUNCTION_STACK_PAGES * PAGE;
  u64 stack_from = s.stack_low;
  if (registers.rsp >= s.stack_low + 128 && registers.rsp <= manager::FUNCTION_STACK_TOP)
    stack_from = page_down(registers.rsp - 128);
  if (!child.copy(EAGER_STACK_LOW, manager::FUNCTION_STACK_PAGES, 0,
                  stack_from > EAGER_STACK_LOW ? stack_from : EAGER_STACK_LOW, manager::FUNCTION_STACK_TOP))
    return false;
  if (s.stack_slot != 0 &&
      !child.copy_lazy(s.stack_low, (EAGER_STACK_LOW - s.stack_low) / PAGE, s.stack_slot, s.stack_slot,
                       stack_from < EAGER_STACK_LOW ? (stack_from - s.stack_low) / PAGE : (EAGER_STACK_LOW - s.stack_low) / PAGE,
                       (EAGER_STACK_LOW - s.stack_low) / PAGE))
    return false;
  for (usize i = 0; i < memory_chunk_count(); ++i) {
    MemoryChunk chunk = memory_chunk(i);
    if (!child.copy_lazy(chunk.address, chunk.pages, chunk.slot, chunk.slot, 0, chunk.pages)) return false;
  }
  u64 thread = child.temporary();
  u64 data_slot = child.temporary();
  if (thread == 0 || data_slot == 0) return false;
  if (native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Thread), thread,
             0, task, manager::FUNCTION_UTCB_ADDRESS) != sys::Error::None ||
      native(abi::Syscall::ThreadConfigure, thread, manager::FUNCTION_PRIORITY, cpu_for(pid), exceptions) !=
          sys::Error::None ||
      !child.give(thread, thread, ALL_RIGHTS))
    return false;

  // The record the child reads, then the copy of the personality's data that carries it.
  ForkRecord& record = pending_fork;
  record.index = index;
  record.pid = pid;
  record.slots = child.slots();
  record.slots.add(data_slot);
  record.exception_slot = exceptions;
  record.thread_slot = thread;
  record.registers = registers;
  record.registers.rax = 0;
  if (stack != 0) record.registers.rsp = stack;
  record.thread = current_thread();
  if ((flags & CLONE_SETTLS) != 0) record.thread.fs_base = tls;
  record.clear_tid = (flags & CLONE_CHILD_CLEARTID) != 0 ? child_tid : 0;
  record.set_tid = (flags & CLONE_CHILD_SETTID) != 0 ? child_tid : 0;
  u64 data = reinterpret_cast<u64>(personality_data_start);
  u64 data_end = reinterpret_cast<u64>(personality_data_end);
  if (!child.copy(data, (data_end - data) / PAGE, 0, data, data_end, data_slot)) return false;
  return native(abi::Syscall::ThreadStart, thread, reinterpret_cast<u64>(&personality_fork_entry),
                reinterpret_cast<u64>(personality_stack_top), 0) == sys::Error::None;
}

// Frees the entries of processes that went with a reaped one (its children, whose tasks were held
// by its capability space, and theirs). Shared lock held.
void forget_orphans() {
  for (bool changed = true; changed;) {
    changed = false;
    for (ProcessEntry& entry : shared()->processes) {
      if (entry.use == ProcessUse::Free || entry.pid == LINUX_PID || entry_of_pid(entry.parent) >= 0) continue;
      entry = ProcessEntry{};
      changed = true;
    }
  }
}

bool matches(const ProcessEntry& entry, i64 selector) {
  if (entry.use == ProcessUse::Free || entry.parent != own_pid) return false;
  if (selector > 0) return entry.pid == static_cast<u64>(selector);
  if (selector == -1) return true;
  u64 group = selector == 0 ? own_entry().group : static_cast<u64>(-selector);
  return entry.group == group;
}

// Looks for a zombie child matching `selector`: its pid and status, reaped unless `keep`; 0 when
// children match but none has ended; -ECHILD when none matches. Waits (without locks) unless
// `nonblocking`; -ERESTARTSYS when a signal comes (EINTR, or a restart with SA_RESTART).
i64 wait_child(i64 selector, bool nonblocking, bool keep, u32& status) {
  if (shared() == nullptr) return -ECHILD;
  for (;;) {
    u64 found_pid = 0;
    bool any = false;
    {
      SharedGuard guard;
      for (ProcessEntry& entry : shared()->processes) {
        if (!matches(entry, selector)) continue;
        any = true;
        if (entry.use != ProcessUse::Zombie) continue;
        found_pid = entry.pid;
        status = entry.status;
        if (!keep) {
          entry = ProcessEntry{};
          forget_orphans();
        }
        break;
      }
    }
    if (found_pid != 0) {
      if (!keep)
        for (Child& child : children) {
          if (child.pid != found_pid) continue;
          // Revoke first: the child's own FUNCTION_TASK is derived from this capability.
          (void)native(abi::Syscall::CapabilityRevoke, child.task);
          (void)native(abi::Syscall::CapabilityDelete, child.task);
          free_slot(child.task);
          child = Child{};
        }
      return static_cast<i64>(found_pid);
    }
    if (!any) return -ECHILD;
    if (nonblocking) return 0;
    if (signal_pending()) return -ERESTARTSYS;
    state_lock().unlock();
    process_block(~u64{0});
    state_lock().lock();
  }
}

}  // namespace

u64 allocate_tid(u64& next_tid) {
  if (shared() == nullptr) return next_tid++;
  SharedGuard guard;
  return shared()->next_pid++;
}

i64 process_fork(u64 flags, u64 stack, u64 parent_tid, u64 child_tid, u64 tls) {
  LockGuard guard;
  if ((flags & CLONE_PARENT_SETTID) != 0 && !writable(parent_tid, 4)) return -EFAULT;
  if (!processes_init()) return -EAGAIN;
  Child* record = nullptr;
  for (Child& child : children)
    if (child.pid == 0 && record == nullptr) record = &child;
  if (record == nullptr) return -EAGAIN;
  usize index = MAX_PROCESSES;
  u64 pid = 0;
  {
    SharedGuard shared_guard;
    for (usize i = 0; i < MAX_PROCESSES && index == MAX_PROCESSES; ++i)
      if (shared()->processes[i].use == ProcessUse::Free) index = i;
    if (index == MAX_PROCESSES) return -EAGAIN;  // The process limit (docs/LINUX.md).
    pid = shared()->next_pid++;
    const ProcessEntry& self = own_entry();
    shared()->processes[index] =
        ProcessEntry{ProcessUse::Running, static_cast<u32>(pid), static_cast<u32>(own_pid), self.group, self.session, 0, 0, 0};
  }
  u64 task = allocate_slot();
  bool built = task != 0 &&
               native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Task),
                      task, manager::FUNCTION_CAPABILITY_SLOTS) == sys::Error::None;
  // The child's descriptors count in the descriptions they share before it can run (a close in
  // the parent right after fork must not look like the last one).
  if (built) built = files_fork_references();
  if (built && !build_child(task, index, pid, flags, stack, child_tid, tls)) {
    built = false;
    // Its descriptors never came to life: take back their counts.
    files_fork_references_undo();
  }
  if (!built) {
    if (task != 0) {
      (void)native(abi::Syscall::CapabilityRevoke, task);
      (void)native(abi::Syscall::CapabilityDelete, task);
      free_slot(task);
    }
    SharedGuard shared_guard;
    shared()->processes[index] = ProcessEntry{};
    return -EAGAIN;  // The memory limit or the capability slots, as Linux's RLIMIT_NPROC says.
  }
  *record = Child{pid, task};
  if ((flags & CLONE_PARENT_SETTID) != 0) {
    u32 value = static_cast<u32>(pid);
    memcpy(reinterpret_cast<void*>(parent_tid), &value, 4);
  }
  return static_cast<i64>(pid);
}


i64 linux_wait4(u64 pid, u64 status_address, u64 options, u64 usage) {
  constexpr u64 WNOHANG = 1, WUNTRACED = 2, WCONTINUED = 8, WNOTHREAD = 0x20000000, WALL = 0x40000000,
                WCLONE = 0x80000000;
  if ((options & ~(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE)) != 0) return -EINVAL;
  if (status_address != 0 && !writable(status_address, 4)) return -EFAULT;
  if (usage != 0 && !writable(usage, 144)) return -EFAULT;
  u32 status = 0;
  i64 result = wait_child(static_cast<std::int32_t>(pid), (options & WNOHANG) != 0, false, status);
  if (result > 0) {
    if (status_address != 0) memcpy(reinterpret_cast<void*>(status_address), &status, 4);
    if (usage != 0) memset(reinterpret_cast<void*>(usage), 0, 144);
  }
  return result;
}

i64 linux_waitid(u64 type, u64 id, u64 info, u64 options) {
  constexpr u64 P_ALL = 0, P_PID = 1, P_PGID = 2;
  constexpr u64 WNOHANG = 1, WSTOPPED = 2, WEXITED = 4, WCONTINUED = 8, WNOWAIT = 0x1000000;
  if ((options & ~(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT)) != 0 || (options & WEXITED) == 0)
    return -EINVAL;
  if (info != 0 && !writable(info, 128)) return -EFAULT;
  i64 selector;
  switch (type) {
    case P_ALL: selector = -1; break;
    case P_PID: selector = static_cast<std::int32_t>(id); if (selector <= 0) return -EINVAL; break;
    case P_PGID: selector = id == 0 ? 0 : -static_cast<i64>(static_cast<std::int32_t>(id)); break;
    default: return -EINVAL;
  }
  u32 status = 0;
  i64 result = wait_child(selector, (options & WNOHANG) != 0, (options & WNOWAIT) != 0, status);
  if (result < 0) return result;
  if (info != 0) {
    // siginfo_t for SIGCHLD: signo, errno, code, then pid, uid, status (x86-64 layout).
    std::int32_t words[32] = {};
    if (result > 0) {
      bool exited = (status & 0x7f) == 0;
      words[0] = static_cast<std::int32_t>(SIGCHLD);
      words[2] = exited ? 1 : 2;  // CLD_EXITED, CLD_KILLED.
      words[4] = static_cast<std::int32_t>(result);
      words[5] = static_cast<std::int32_t>(linux_uid());
      words[6] = static_cast<std::int32_t>(exited ? (status >> 8) & 0xff : status & 0x7f);
    }
    memcpy(reinterpret_cast<void*>(info), words, sizeof words);
  }
  return 0;
}

i64 linux_getppid() {
  if (shared() == nullptr) return 0;
  SharedGuard guard;
  return own_entry().parent;
}

i64 linux_setpgid(u64 pid, u64 group) {
  if (static_cast<std::int32_t>(group) < 0) return -EINVAL;
  u64 target = pid == 0 ? own_pid : pid;
  u64 new_group = group == 0 ? target : group;
  if (shared() == nullptr) return target == own_pid && new_group == own_pid ? 0 : (target == own_pid ? -EPERM : -ESRCH);
  SharedGuard guard;
  i64 index = entry_of_pid(target);
  if (index < 0) return -ESRCH;
  ProcessEntry& entry = shared()->processes[index];
  if (target != own_pid && entry.parent != own_pid) return -ESRCH;
  if (entry.session != own_entry().session || entry.pid == entry.session) return -EPERM;
  if (new_group != target) {
    bool exists = false;
    for (const ProcessEntry& other : shared()->processes)
      exists = exists || (other.use != ProcessUse::Free && other.group == new_group && other.session == entry.session);
    if (!exists) return -EPERM;
  }
  entry.group = static_cast<u32>(new_group);
  return 0;
}

i64 linux_getpgid(u64 pid) {
  if (shared() == nullptr) return pid == 0 || pid == own_pid ? static_cast<i64>(own_pid) : -ESRCH;
  SharedGuard guard;
  i64 index = entry_of_pid(pid == 0 ? own_pid : pid);
  return index < 0 ? -ESRCH : shared()->processes[index].group;
}

i64 linux_getsid(u64 pid) {
  if (shared() == nullptr) return pid == 0 || pid == own_pid ? static_cast<i64>(own_pid) : -ESRCH;
  SharedGuard guard;
  i64 index = entry_of_pid(pid == 0 ? own_pid : pid);
  return index < 0 ? -ESRCH : shared()->processes[index].session;
}

namespace {
i64 nice_value = 0;  // This process's (fork copies it); only this process's own can be asked and set.
constexpr u64 PRIO_PROCESS = 0, PRIO_PGRP = 1, PRIO_USER = 2;
}  // namespace

// getpriority and setpriority of the calling process (zsh lowers the priority of background jobs,
// `nice` calls them): recorded, never acted on (one invocation's processes share its CPU set).
// Raising the priority (a lower value) is EACCES, as for an unprivileged Linux process (RLIMIT_NICE 0).
i64 linux_getpriority(u64 which, u64 who) {
  if (which > PRIO_USER) return -EINVAL;
  if (which == PRIO_PROCESS && who != 0 && who != own_pid) return -ESRCH;
  if (which != PRIO_PROCESS && who != 0) return -ESRCH;
  return 20 - nice_value;  // The system call's encoding: 40 for -20 ... 1 for 19.
}

i64 linux_setpriority(u64 which, u64 who, u64 value) {
  if (which > PRIO_USER) return -EINVAL;
  if ((which == PRIO_PROCESS && who != 0 && who != own_pid) || (which != PRIO_PROCESS && who != 0)) return -ESRCH;
  auto wanted = static_cast<i64>(static_cast<std::int32_t>(value));
  if (wanted < -20) wanted = -20;
  if (wanted > 19) wanted = 19;
  if (wanted < nice_value) return -EACCES;
  nice_value = wanted;
  return 0;
}

namespace {
struct ProcessAttributes {
  char name[16];  // PR_SET_NAME: Linux's is the thread's; here the process's (one thread in most programs).
  u64 death_signal;
  bool dumpable = true, no_new_privileges, keep_capabilities;
};
ProcessAttributes attributes;  // fork copies them; exec keeps them (the name aside).
}  // namespace

i64 linux_prctl(u64 option, u64 argument2, u64 argument3, u64 argument4, u64 argument5) {
  constexpr u64 PR_SET_PDEATHSIG = 1, PR_GET_PDEATHSIG = 2, PR_GET_DUMPABLE = 3, PR_SET_DUMPABLE = 4,
                PR_GET_KEEPCAPS = 7, PR_SET_KEEPCAPS = 8, PR_SET_NAME = 15, PR_GET_NAME = 16, PR_CAPBSET_READ = 23,
                PR_SET_NO_NEW_PRIVS = 38, PR_GET_NO_NEW_PRIVS = 39;
  ProcessAttributes& self = attributes;
  auto put_int = [](u64 address, u64 value) -> i64 {
    if (!writable(address, 4)) return -EFAULT;
    auto word = static_cast<u32>(value);
    memcpy(reinterpret_cast<void*>(address), &word, 4);
    return 0;
  };
  switch (option) {
    case PR_SET_PDEATHSIG:
      if (argument2 > 64) return -EINVAL;
      attributes.death_signal = argument2;  // Recorded: a parent's end sends nothing yet.
      return 0;
    case PR_GET_PDEATHSIG: return put_int(argument2, attributes.death_signal);
    case PR_GET_DUMPABLE: return attributes.dumpable ? 1 : 0;
    case PR_SET_DUMPABLE:
      if (argument2 > 1) return -EINVAL;
      attributes.dumpable = argument2 == 1;
      return 0;
    case PR_GET_KEEPCAPS: return attributes.keep_capabilities ? 1 : 0;
    case PR_SET_KEEPCAPS:
      if (argument2 > 1) return -EINVAL;
      attributes.keep_capabilities = argument2 == 1;
      return 0;
    case PR_SET_NAME:
      if (!readable(argument2, 1)) return -EFAULT;
      for (usize i = 0; i < sizeof self.name; ++i) {
        u64 at = argument2 + i;
        if (i > 0 && (at & (PAGE - 1)) == 0 && !readable(at, 1)) return -EFAULT;
        self.name[i] = i + 1 == sizeof self.name ? '\0' : *reinterpret_cast<const char*>(at);
        if (self.name[i] == '\0') break;
      }
      return 0;
    case PR_GET_NAME:
      if (!writable(argument2, sizeof self.name)) return -EFAULT;
      memcpy(reinterpret_cast<void*>(argument2), self.name, sizeof self.name);
      return 0;
    case PR_CAPBSET_READ: return argument2 <= 40 ? 0 : -EINVAL;  // uid 1000 holds no capability.
    case PR_SET_NO_NEW_PRIVS:
      if (argument2 != 1 || argument3 != 0 || argument4 != 0 || argument5 != 0) return -EINVAL;
      attributes.no_new_privileges = true;
      return 0;
    case PR_GET_NO_NEW_PRIVS:
      if (argument2 != 0 || argument3 != 0 || argument4 != 0 || argument5 != 0) return -EINVAL;
      return attributes.no_new_privileges ? 1 : 0;
    default: return NOT_SUPPORTED;
  }
}

i64 linux_setsid() {
  // pid 1 leads its group and session from the start, as a container's init does.
  if (shared() == nullptr) return -EPERM;
  SharedGuard guard;
  ProcessEntry& self = own_entry();
  for (const ProcessEntry& other : shared()->processes)
    if (other.use != ProcessUse::Free && other.group == own_pid) return -EPERM;
  self.group = self.session = static_cast<u32>(own_pid);
  return static_cast<i64>(own_pid);
}

void end_process(u64 wait_status) {
  if (shared() == nullptr || own_pid == LINUX_PID) {
    bool exited = (wait_status & 0x7f) == 0;
    if (!exited) logf("linux: killed by signal %lu\n", wait_status & 0x7f);
    exit_program(exited ? (wait_status >> 8) & 0xff : 128 + (wait_status & 0x7f));
  }
  state_lock().lock();  // Kept: nothing of the process changes its status or its files any more.
  // Threads still waiting for the lock (the signal watcher, the timer thread) end instead; the
  // program's other threads are destroyed now, whatever they do, so none runs (or spins) while
  // the parent takes its time to wait, or never waits.
  mark_process_ending();
  threads_end_others();
  log_unsupported_calls();
  files_close_all();
  usize parent = MAX_PROCESSES;
  {
    SharedGuard guard;
    shared()->unsupported_calls += state().unsupported_calls;
    ProcessEntry& self = own_entry();
    self.use = ProcessUse::Zombie;
    self.status = static_cast<u32>(wait_status);
    i64 index = entry_of_pid(self.parent);
    if (index >= 0) {
      parent = static_cast<usize>(index);
      shared()->processes[parent].pending |= u64{1} << (SIGCHLD - 1);
    }
  }
  process_wake(parent);
  signal_watcher_wake(parent);  // A SIGCHLD handler runs even while the parent computes.
  // The parent's wait deletes this task; until then the thread must not run again.
  end_calling_thread();
}

}  // namespace personality

using namespace personality;

// A forked child's first instructions (personality_fork_entry in entry.S, on the copied
// personality stack): take over the record the parent left, redirect system calls, and enter the
// program where fork returns.
extern "C" [[noreturn]] void personality_fork_start() {
  abi::Utcb* utcb = sys::utcb();
  utcb->personality_active = 1;
  __atomic_store_n(state_lock().word(), 0u, __ATOMIC_RELEASE);  // The parent held it while copying.
  const ForkRecord& record = pending_fork;
  State& s = state();
  s.slots_used = record.slots;
  s.unsupported_calls = 0;  // The parent reports its own.
  s.unsupported_distinct = 0;
  own_process_index = record.index;
  own_pid = record.pid;
  own_exception_slot = record.exception_slot;
  main_thread_slot = record.thread_slot;
  timers_after_fork();
  for (Child& child : children) child = Child{};
  threads_after_fork(record.thread, record.pid, record.clear_tid);
  memory_after_fork();
  if (record.set_tid != 0 && writable(record.set_tid, 4)) {
    u32 tid = static_cast<u32>(record.pid);
    memcpy(reinterpret_cast<void*>(record.set_tid), &tid, 4);
  }
  sys::Error error = native(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR,
                            reinterpret_cast<u64>(&personality_syscall_entry),
                            reinterpret_cast<u64>(personality_stack_top));
  if (error == sys::Error::None && record.thread.fs_base != 0)
    error = native(abi::Syscall::ThreadSetFsBase, abi::NULL_SELECTOR, record.thread.fs_base);
  if (error != sys::Error::None) end_process(127 << 8);
  {
    LockGuard guard;
    if (!signal_watcher_start())
      logf("linux: process %lu has no signal watcher (memory limit or capability slots): other processes' "
           "signals wait for its next system call\n", own_pid);
  }
  utcb->personality_active = 1;
  utcb->personality_registers = record.registers;
  (void)native(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR);
  end_process(127 << 8);
}
