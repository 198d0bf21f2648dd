// The state the processes of one invocation share (process.hpp): one Memory at SHARED_ADDRESS in
// every process (process table, stdout; pipes are in the file store, file_store.hpp) and the notifications processes block on, made by
// the first pipe or fork; and, made by the first fork only, the read-only pages every process maps
// alike (the program's read-only segments, the personality's text and read-only data, the context
// page, the input), each a Memory given to every child at the same capability slot.
// Invariants: shared() stays null until the shared memory and notifications exist, so a program
// that never forks or pipes pays nothing, and one that only pipes pays no copies; once it exists, stdout and the input offset live only there; the mappings listed
// in shared_mappings are the same pages at the same addresses in every process.
#include "process.hpp"

extern "C" [[gnu::visibility("hidden")]] char personality_rodata_start[];
extern "C" [[gnu::visibility("hidden")]] char personality_data_start[];
extern "C" [[gnu::visibility("hidden")]] void personality_supervisor_entry();
extern "C" [[gnu::visibility("hidden")]] void personality_crash_entry();

namespace personality {
namespace {

SharedState* the_shared = nullptr;
bool shared_refused = false;  // A refused first attempt is final (its slots and mappings stay).

constexpr u32 READ = abi::rights_of(abi::MemoryRight::Read);
constexpr u32 READ_EXECUTE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Execute);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

// A copy of `bytes` at `address` (the caller's own, readable pages) in a new Memory, listed as a
// shared mapping at the same address; false when the memory limit refuses it.
bool share_copy(u64 address, u64 bytes, u32 rights) {
  u64 pages = page_up(bytes) / PAGE;
  if (pages == 0 || shared_mapping_count >= MAX_SHARED_MAPPINGS) return pages == 0;
  u64 slot = allocate_slot();
  if (slot == 0) return false;
  if (native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Memory), slot,
             pages) != sys::Error::None ||
      native(abi::Syscall::MemoryWrite, slot, 0, address, bytes) != sys::Error::None) {
    (void)native(abi::Syscall::CapabilityDelete, slot);
    free_slot(slot);
    return false;
  }
  shared_mappings[shared_mapping_count++] = SharedMapping{address, pages, slot, rights};
  return true;
}

// The supervisor: a thread of pid 1 outside the thread table (its UTCB past the table's pages,
// its stack here) that receives the faults of other processes' threads, badged with the process's
// index + 1, and resumes the faulting thread at personality_crash_entry, which ends that process
// with the signal Linux would send (its parent's wait sees it), on the process's crash stack.
// Both stacks come from the mmap area (the personality's data stays small: it is copied at every
// invocation and fork) and survive exec; every process has its own copy of the crash stack.
constexpr u64 SUPERVISOR_STACK_BYTES = 8192, CRASH_STACK_BYTES = 8192;
u64 crash_stack_top = 0;
constexpr u64 SUPERVISOR_UTCB = manager::FUNCTION_UTCB_ADDRESS + MAX_THREADS * PAGE;

u64 signal_of(u32 kind) {
  switch (static_cast<abi::ExceptionKind>(kind)) {
    case abi::ExceptionKind::InvalidOpcode: return 4;  // SIGILL
    case abi::ExceptionKind::DivideError: return 8;    // SIGFPE
    case abi::ExceptionKind::Breakpoint: return 5;     // SIGTRAP
    default: return 11;                                // SIGSEGV
  }
}

bool start_supervisor(SharedState& table) {
  u64 stacks = allocate_anonymous(SUPERVISOR_STACK_BYTES + CRASH_STACK_BYTES);
  if (stacks == 0) return false;
  memory_keep_on_exec(stacks, SUPERVISOR_STACK_BYTES + CRASH_STACK_BYTES);
  crash_stack_top = stacks + SUPERVISOR_STACK_BYTES + CRASH_STACK_BYTES;
  u64 endpoint = allocate_slot();
  u64 thread = allocate_slot();
  if (endpoint == 0 || thread == 0) return false;
  table.exception_slot = endpoint;
  return native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Endpoint),
                endpoint) == sys::Error::None &&
         native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Thread),
                thread, 0, manager::FUNCTION_TASK, SUPERVISOR_UTCB) == sys::Error::None &&
         native(abi::Syscall::ThreadConfigure, thread, manager::FUNCTION_PRIORITY, cpu_for(0),
                manager::FUNCTION_MANAGER) == sys::Error::None &&
         native(abi::Syscall::ThreadStart, thread, reinterpret_cast<u64>(&personality_supervisor_entry),
                stacks + SUPERVISOR_STACK_BYTES, 0) == sys::Error::None;
}

bool create_shared() {
  State& s = state();
  u64 output_bytes = page_up(s.context->output_capacity == 0 ? 1 : s.context->output_capacity);
  u64 pages = (OUTPUT_OFFSET + output_bytes) / PAGE;
  u64 slot = map_fresh(SHARED_ADDRESS, pages);
  if (slot == 0) return false;
  shared_mappings[shared_mapping_count++] = SharedMapping{SHARED_ADDRESS, pages, slot, READ_WRITE};
  auto* table = reinterpret_cast<SharedState*>(SHARED_ADDRESS);  // Fresh pages: all zero.
  for (u64& notification : table->notification_slots) {
    notification = allocate_slot();
    if (notification == 0 || native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY,
                                    static_cast<u64>(abi::ObjectType::Notification), notification) != sys::Error::None)
      return false;
  }
  // stdout so far moves into the shared area; from now on every process appends there.
  u64 capacity = s.context->output_capacity;
  memcpy(reinterpret_cast<u8*>(SHARED_ADDRESS + OUTPUT_OFFSET), reinterpret_cast<const u8*>(s.context->output_address),
         s.output_size < capacity ? s.output_size : capacity);
  table->output_size = s.output_size;
  table->input_position = s.input_position;
  table->next_pid = static_cast<u32>(next_thread_id());  // Past every tid given so far.
  table->processes[0] = ProcessEntry{ProcessUse::Running, static_cast<u32>(LINUX_PID), 0, 1, 1, 0, 0, 0};
  return true;
}

// What only a fork needs (a pipe between threads does not: Go's netpoller makes one at start-up):
// what the manager mapped read-only and every process maps alike (the program's read-only
// segments, the personality's text and read-only data, the context page, the input and the
// function's strings), the
// supervisor of children's faults, and the signal watchers' notifications with pid 1's watcher.
// The function's strings the manager mapped (its secret files' bytes among them), bounded.
u64 strings_bytes(const manager::FunctionContext& context) {
  u64 bytes = context.argument_bytes + context.environment_bytes + context.secret_bytes;
  return bytes <= manager::MAX_FUNCTION_STRINGS_BYTES ? bytes : 0;
}

bool create_process_support() {
  const State& s = state();
  for (u64 i = 0; i < s.start.segment_count; ++i) {
    const manager::LinuxSegment& segment = s.start.segments[i];
    if ((segment.flags & manager::LINUX_SEGMENT_WRITABLE) != 0) continue;
    bool executable = (segment.flags & manager::LINUX_SEGMENT_EXECUTABLE) != 0;
    if (!share_copy(segment.address, segment.bytes, executable ? READ_EXECUTE : READ)) return false;
  }
  u64 text = manager::LINUX_PERSONALITY_ADDRESS;
  u64 rodata = reinterpret_cast<u64>(personality_rodata_start);
  u64 data = reinterpret_cast<u64>(personality_data_start);
  for (u64& notification : the_shared->signal_slots) {
    notification = allocate_slot();
    if (notification == 0 || native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY,
                                    static_cast<u64>(abi::ObjectType::Notification), notification) != sys::Error::None)
      return false;
  }
  if (!share_copy(text, rodata - text, READ_EXECUTE) || !share_copy(rodata, data - rodata, READ) ||
      !share_copy(manager::FUNCTION_CONTEXT_ADDRESS, PAGE, READ) ||
      !share_copy(manager::FUNCTION_INPUT_ADDRESS, s.context->input_size, READ) ||
      !share_copy(manager::FUNCTION_STRINGS_ADDRESS, strings_bytes(*s.context), READ) || !start_supervisor(*the_shared))
    return false;
  // Without its watcher pid 1 still forks; other processes' signals then wait for its next call.
  if (!signal_watcher_start()) logf("linux: pid 1 has no signal watcher (memory limit or capability slots)\n");
  return true;
}
bool process_support_ready = false;
bool process_support_refused = false;

}  // namespace

SharedMapping shared_mappings[MAX_SHARED_MAPPINGS];
usize shared_mapping_count = 0;
usize own_process_index = 0;
u64 own_pid = LINUX_PID;
u64 own_exception_slot = manager::FUNCTION_MANAGER;

SharedState* shared() { return the_shared; }
u8* shared_output() { return reinterpret_cast<u8*>(SHARED_ADDRESS + OUTPUT_OFFSET); }
usize process_index() { return own_process_index; }
u64 process_pid() { return own_pid; }

bool shared_init() {
  if (the_shared != nullptr) return true;
  if (shared_refused) return false;
  if (!create_shared()) {
    shared_refused = true;
    return false;
  }
  the_shared = reinterpret_cast<SharedState*>(SHARED_ADDRESS);
  return true;
}

bool processes_init() {
  if (!shared_init()) return false;
  if (process_support_ready) return true;
  if (process_support_refused) return false;
  if (!create_process_support()) {
    process_support_refused = true;
    return false;
  }
  process_support_ready = true;
  return true;
}

void process_block(u64 nanoseconds) {
  constexpr u64 SLICE = 20'000'000;
  u64 timeout = nanoseconds < SLICE ? nanoseconds : SLICE;
  if (timeout == 0) return;
  if (the_shared == nullptr) {
    sleep_nanoseconds(timeout);
    return;
  }
  sys::SyscallRegisters registers{0, 0, 0, 0, 0, timeout};
  (void)sys::invoke(abi::Syscall::NotificationWait, the_shared->notification_slots[own_process_index], registers);
}

void process_wake(usize index) {
  if (the_shared != nullptr && index < MAX_PROCESSES)
    (void)native(abi::Syscall::NotificationSignal, the_shared->notification_slots[index], 1);
}

}  // namespace personality

using namespace personality;

extern "C" [[noreturn]] void personality_supervisor_start() {
  // Native system calls only: this thread has no syscall handler and never enters the program.
  SharedState* table = reinterpret_cast<SharedState*>(SHARED_ADDRESS);
  for (;;) {
    sys::SyscallRegisters registers{0, 0, 0, 0, 0, abi::TIMEOUT_INFINITE};
    if (sys::invoke(abi::Syscall::IpcReceive, table->exception_slot, registers) != sys::Error::None) continue;
    u64 badge = registers.timeout_or_badge;
    u32 kind = abi::MessageTag{registers.argument1}.label();
    if (badge == 0 || badge > MAX_PROCESSES || kind < static_cast<u32>(abi::ExceptionKind::PageFault)) {
      sys::SyscallRegisters kill{abi::MessageTag::make(static_cast<u32>(abi::ExceptionReply::Kill), 0).raw, 0, 0, 0, 0, 0};
      (void)sys::invoke(abi::Syscall::IpcReply, abi::NULL_SELECTOR, kill);
      continue;
    }
    table->lock.lock();
    table->processes[badge - 1].crash_signal = signal_of(kind);
    table->lock.unlock();
    sys::SyscallRegisters resume{abi::MessageTag::make(static_cast<u32>(abi::ExceptionReply::ResumeAt), 2).raw,
                                 reinterpret_cast<u64>(&personality_crash_entry),
                                 crash_stack_top, 0, 0, 0};
    (void)sys::invoke(abi::Syscall::IpcReply, abi::NULL_SELECTOR, resume);
  }
}

// A faulted thread of a process other than pid 1 continues here (the supervisor's ResumeAt): the
// process ends with the signal the supervisor recorded, as Linux ends it on an unhandled fault.
extern "C" [[noreturn]] void personality_crash_start() {
  sys::utcb()->personality_active = 1;  // Its calls below are native (it was in the program).
  u64 signal = shared()->processes[own_process_index].crash_signal;
  logf("linux: process %lu killed by signal %lu (a fault)\n", own_pid, signal);
  end_process(signal == 0 ? 11 : signal);
}
