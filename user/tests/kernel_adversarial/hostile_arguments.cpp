// Cases with hostile arguments: unknown operation numbers, selectors 0 and 2^63 for every
// operation, kernel-half pointers, overflowing lengths and ranges, a server that drops a caller,
// and a seeded random syscall fuzzer of four threads on both CPUs over a fenced-off range of
// slots; the kernel must answer each precisely, survive, and refund every byte it charged.
#include "../support/child_task.hpp"
#include "../support/local_thread.hpp"

namespace kernel_adversarial {
namespace {

using namespace support;
using abi::Syscall;

Error raw(u64 operation, u64 selector, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0, u64 a4 = 0, u64 a5 = 0) {
  SyscallRegisters registers{a1, a2, a3, a4, a5, 0};
  return invoke(static_cast<Syscall>(operation), selector, registers);
}

void unknown_operations_are_unsupported(Case& test) {
  const u64 numbers[] = {abi::SYSCALL_COUNT, abi::SYSCALL_COUNT + 1, 255, 1000, u64{1} << 32, u64{1} << 63, ~u64{0}};
  for (u64 number : numbers) EXPECT_EQ(raw(number, CONSOLE, 1, 2, 3, 4, 5), Error::Unsupported);
}

// Every operation with a target, given selector 0 or 2^63, finds no capability (ThreadExit and
// the target-less operations are left out: they ignore the selector).
void every_operation_rejects_null_and_huge_selectors(Case& test) {
  const Syscall targeted[] = {Syscall::DebugWrite,   Syscall::DebugExit,       Syscall::CapabilityIdentify,
                              Syscall::CapabilityCopy, Syscall::CapabilityDelete, Syscall::CapabilityRevoke,
                              Syscall::FactoryCreate, Syscall::FactoryInfo,     Syscall::TaskMap,
                              Syscall::TaskUnmap,    Syscall::TaskGiveCapability, Syscall::ThreadStart,
                              Syscall::ThreadConfigure, Syscall::IpcCall,      Syscall::IpcSend,
                              Syscall::IpcReceive,   Syscall::IpcReplyWait};
  for (Syscall operation : targeted) {
    for (u64 selector : {u64{0}, u64{1} << 63, u64{abi::ROOT_CAPABILITY_SLOTS}, ~u64{0}}) {
      Error error = raw(static_cast<u64>(operation), selector, 0x11, 70, 1, 0, 0);
      if (error != Error::InvalidCapability)
        test.fail(__FILE__, __LINE__, "operation %lu with selector %#lx gave %s", static_cast<u64>(operation), selector,
                  error_name(error));
    }
  }
}

void pointers_and_lengths_are_checked(Case& test) {
  Console console(CONSOLE);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(0xffff800000000000), 1), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(0xffffffff80000000), 8), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(0x7ffffffffff8), 16), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(0x400000), ~u64{0}), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(~u64{0}), 2), Error::InvalidArgument);
  // A receive-slot or send-capability selector in the UTCB that is garbage transfers nothing.
  ScopedSlot memory_slot(test);
  REQUIRE(memory_slot.valid());
  Environment& own = environment();
  Memory memory = REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), 2));
  Task task = own.self_task;
  EXPECT_ERROR(task.map(memory, 0, 0, 1, MEMORY_READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, abi::USER_SPACE_END - PAGE_SIZE, 2, MEMORY_READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS + 1, 1, MEMORY_READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, SCRATCH_MAPPING_ADDRESS, ~u64{0}, MEMORY_READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, ~u64{0}, SCRATCH_MAPPING_ADDRESS, 2, MEMORY_READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 1, SCRATCH_MAPPING_ADDRESS, ~u64{0}, MEMORY_READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, ~u64{0} & ~(PAGE_SIZE - 1), 1, MEMORY_READ), Error::InvalidArgument);
  EXPECT_ERROR(task.unmap(abi::USER_SPACE_END - PAGE_SIZE, 2), Error::InvalidArgument);
  EXPECT_ERROR(task.unmap(SCRATCH_MAPPING_ADDRESS, ~u64{0}), Error::InvalidArgument);
  // The last page below USER_SPACE_END is never mapped, with any rights: a `syscall` at its end
  // would return to the non-canonical USER_SPACE_END (the sysret hazard). The page below it is
  // the highest a mapping may take.
  EXPECT_EQ(abi::USER_SPACE_USABLE_END, abi::USER_SPACE_END - PAGE_SIZE);
  EXPECT_ERROR(task.map(memory, 0, abi::USER_SPACE_END - PAGE_SIZE, 1, READ_WRITE), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, abi::USER_SPACE_END - PAGE_SIZE, 1, READ_EXECUTE), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, abi::USER_SPACE_END - PAGE_SIZE, 1, MEMORY_READ), Error::InvalidArgument);
  EXPECT_ERROR(task.map(memory, 0, abi::USER_SPACE_USABLE_END - PAGE_SIZE, 2, READ_EXECUTE), Error::InvalidArgument);
  EXPECT_OK(task.map(memory, 0, abi::USER_SPACE_USABLE_END - PAGE_SIZE, 1, READ_WRITE));
  write_word(abi::USER_SPACE_USABLE_END - 8, 0x1234);
  EXPECT_EQ(read_word(abi::USER_SPACE_USABLE_END - 8), 0x1234);
  EXPECT_OK(task.unmap(abi::USER_SPACE_USABLE_END - PAGE_SIZE, 1));
  EXPECT_ERROR(task.unmap(abi::USER_SPACE_END - PAGE_SIZE, 1), Error::NotFound);
  // Sizes beyond the limits when creating.
  ScopedSlot slot(test);
  REQUIRE(slot.valid());
  EXPECT_ERROR(own.factory.create_memory(slot.selector(), ~u64{0}), Error::InvalidArgument);
  EXPECT_ERROR(own.factory.create_task(slot.selector(), ~u64{0}), Error::InvalidArgument);
  EXPECT_ERROR(own.factory.create_factory(slot.selector(), ~u64{0}), Error::QuotaExceeded);
}

void thread_start_rejects_kernel_addresses(Case& test) {
  Environment& own = environment();
  ScopedSlot task_slot(test), thread_slot(test);
  REQUIRE(task_slot.valid() && thread_slot.valid());
  Task task = REQUIRE_OK(own.factory.create_task(task_slot.selector(), 16));
  Thread thread = REQUIRE_OK(own.factory.create_thread(thread_slot.selector(), task, 0x10000));
  EXPECT_ERROR(thread.start(0xffff800000000000, 0x20000, 0), Error::InvalidArgument);
  EXPECT_ERROR(thread.start(0xffffffff80000000, 0x20000, 0), Error::InvalidArgument);
  EXPECT_ERROR(thread.start(abi::USER_SPACE_END, 0x20000, 0), Error::InvalidArgument);
  EXPECT_ERROR(thread.start(0x400000, 0xffff800000001000, 0), Error::InvalidArgument);
  EXPECT_ERROR(thread.start(0x400000, abi::USER_SPACE_END, 0), Error::InvalidArgument);
  // Code never runs in the last page below USER_SPACE_END: a `syscall` at 0x7ffffffffffe would
  // return to a non-canonical address.
  EXPECT_ERROR(thread.start(abi::USER_SPACE_END - 2, 0x20000, 0), Error::InvalidArgument);
  EXPECT_ERROR(thread.start(abi::USER_SPACE_USABLE_END, 0x20000, 0), Error::InvalidArgument);
  // Nor does a UTCB go there.
  ScopedSlot high_thread_slot(test);
  REQUIRE(high_thread_slot.valid());
  EXPECT_ERROR(own.factory.create_thread(high_thread_slot.selector(), task, abi::USER_SPACE_END - PAGE_SIZE),
               Error::InvalidArgument);
  // None of those started it; it still can be started (in an empty task it faults and ends).
  EXPECT_OK(thread.start(abi::USER_SPACE_USABLE_END - 1, abi::USER_SPACE_END - 8, 0));
  EXPECT_ERROR(thread.start(0x400000, 0x20000, 0), Error::Busy);
  pause_for(1'000'000);
}

// A server that took a call and then takes another without answering can never answer the first:
// the first caller's call ends with Destroyed at once, and a reply goes to the second. (The kernel
// used to keep the first caller blocked forever, linked to a server that had forgotten it; once
// the server was freed, ending that caller wrote into freed kernel memory.)
struct UnansweredCaller {
  u64 endpoint;
  volatile u64 result;  // 0 while the call waits, then 1 + the Error it returned.
  volatile u64 reply_label;
};
UnansweredCaller unanswered_callers[2];

void unanswered_caller_entry(u64 index) {
  UnansweredCaller& self = unanswered_callers[index];
  Message message = Message::make(static_cast<u32>(index + 1));
  auto result = Endpoint(self.endpoint).call(message, message, REPORT_TIMEOUT);
  self.reply_label = message.label();
  self.result = 1 + static_cast<u64>(result.error());
}

// Pauses (letting this CPU's other threads run) until result is set or REPORT_TIMEOUT passed: a
// loaded host may run a woken thread only milliseconds later.
void wait_for_result(const volatile u64& result) {
  for (u64 waited = 0; result == 0 && waited < REPORT_TIMEOUT; waited += 1'000'000) pause_for(1'000'000);
}

void a_second_call_taken_ends_the_unanswered_first(Case& test) {
  Environment& own = environment();
  ScopedSlot endpoint_slot(test);
  REQUIRE(endpoint_slot.valid());
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(endpoint_slot.selector()));
  // Both callers share this thread's CPU, so they run only while this thread waits or pauses.
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  LocalThread first, second;
  REQUIRE_OK(first.create(0));
  REQUIRE_OK(second.create(0));
  unanswered_callers[0] = {endpoint.selector(), 0, 0};
  unanswered_callers[1] = {endpoint.selector(), 0, 0};
  Message request;
  REQUIRE_OK(first.start(unanswered_caller_entry, 0));
  REQUIRE_OK(endpoint.receive(request, REPORT_TIMEOUT));
  EXPECT_EQ(request.label(), 1);
  REQUIRE_OK(second.start(unanswered_caller_entry, 1));
  REQUIRE_OK(endpoint.receive(request, REPORT_TIMEOUT));
  EXPECT_EQ(request.label(), 2);
  wait_for_result(unanswered_callers[0].result);
  EXPECT_EQ(unanswered_callers[0].result, 1 + static_cast<u64>(Error::Destroyed));
  EXPECT_EQ(unanswered_callers[1].result, 0);
  EXPECT_OK(reply(Message::make(0x77)));
  wait_for_result(unanswered_callers[1].result);
  EXPECT_EQ(unanswered_callers[1].result, 1 + static_cast<u64>(Error::None));
  EXPECT_EQ(unanswered_callers[1].reply_label, 0x77);
  // Nobody is left to answer.
  EXPECT_ERROR(reply(Message::make(0x78)), Error::NotFound);
}

// The syscall fuzzer: FUZZ_THREADS threads of this task, spread over the CPUs, make random system
// calls at once. Their slots are one shared range at the top of the capability space, split into
// one part per thread: a thread fills (copies, creates, receives) only slots of its own part, but
// names slots of every part as targets and arguments, so threads delete, revoke, map and call
// through each other's capabilities while those change. The range starts as copies of objects
// whose originals stay outside it, so nothing the fuzzer deletes can destroy anything but those
// copies and what it created itself; the slot allocator never reaches this high. No capability
// from outside the range is ever named, sent or given, and no task capability goes into a task's
// space, so deleting the range and the originals destroys everything the fuzzer made.
constexpr u64 FUZZ_THREADS = 4;
constexpr u64 FUZZ_PART_SLOTS = 32;
constexpr u64 FUZZ_SLOTS = FUZZ_THREADS * FUZZ_PART_SLOTS;
constexpr u64 FUZZ_FIRST = abi::ROOT_CAPABILITY_SLOTS - FUZZ_SLOTS;
// The suite's short run; `fuzz_calls=<n>` on the kernel command line sets another (make fuzz-kernel).
constexpr u64 DEFAULT_FUZZ_CALLS = 50'000;
// No thread finished a call for this long: every thread still out must be waiting for an answer
// that only the cleanup can give (a caller held in a Reply object nobody answers).
constexpr u64 FUZZ_STALL_NANOSECONDS = 5'000'000'000;
// When every thread still out is in a call, no fuzz thread is left to answer it: the cleanup comes
// after this much quiet.
constexpr u64 FUZZ_CALLER_WAIT_NANOSECONDS = 100'000'000;
constexpr u64 FUZZ_PROGRESS_INTERVAL = 1'000'000;

struct FuzzThread {
  u64 random_state;
  u64 first_slot;            // Its own part of the range.
  volatile u64 completed;    // Calls that returned.
  volatile u64 succeeded;    // ... of which with Error::None.
  volatile u64 operation;    // The call it is in, or ~0 between calls.
  volatile u64 cpu;          // Where it ran its first call.
  volatile u64 done;
};

constexpr u64 FUZZ_ORIGINALS = 7;
// Every this many calls a thread copies one original into its part again, so the range does not
// decay into empty slots that every call fails on.
constexpr u64 FUZZ_REFILL_INTERVAL = 32;

struct FuzzRun {
  u64 target_calls;
  u64 parking_endpoint;      // Outside the range: finished threads wait here until deleted.
  u64 originals[FUZZ_ORIGINALS];  // Outside the range; the console last (copied without rights).
  volatile u64 issued;       // Calls handed out, shared by all threads.
  volatile u64 stop;
  FuzzThread threads[FUZZ_THREADS];
};
FuzzRun fuzz_run;

u64 next_random(FuzzThread& self) {
  u64& state = self.random_state;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

// Arguments are drawn from values that reach deep into the kernel's checks: slots of the fuzz
// range, small numbers, page-aligned user addresses, boundaries and plain noise.
u64 random_argument(FuzzThread& self) {
  switch (next_random(self) % 8) {
    case 0: return FUZZ_FIRST + next_random(self) % FUZZ_SLOTS;
    case 1: return next_random(self) % 16;
    case 2: return 0x70000000 + (next_random(self) % 64) * PAGE_SIZE;
    case 3: return abi::USER_SPACE_END - PAGE_SIZE * (next_random(self) % 3);
    case 4: return ~u64{0} - next_random(self) % 4;
    case 5: return u64{1} << (next_random(self) % 64);
    case 6: return 0;
    default: return next_random(self);
  }
}

u64 own_slot(FuzzThread& self, u64 value) { return self.first_slot + value % FUZZ_PART_SLOTS; }

// A selector below the range becomes one inside it; 0 and selectors past the space stay.
void fence(u64& selector) {
  if (selector != abi::NULL_SELECTOR && selector < FUZZ_FIRST) selector = FUZZ_FIRST + selector % FUZZ_SLOTS;
}

// Each thread's own bytes for MemoryWrite and MemoryRead to copy from and into.
constexpr u64 FUZZ_BUFFER_BYTES = 2 * PAGE_SIZE;
alignas(PAGE_SIZE) u8 fuzz_buffers[FUZZ_THREADS][FUZZ_BUFFER_BYTES];

// Arguments a well-meaning caller might pass (a valid object type, a small size, a slot of the
// range, a free address, a tag with words and capabilities), so that calls get past the first
// checks and build up state: objects, mappings, threads, waiting callers, saved replies.
void plausible_arguments(FuzzThread& self, u64 index, u64 operation, SyscallRegisters& registers) {
  auto random = [&](u64 bound) { return next_random(self) % bound; };
  auto slot = [&] { return FUZZ_FIRST + random(FUZZ_SLOTS); };
  auto address = [&] { return 0x70000000 + random(64) * PAGE_SIZE; };
  u64 buffer = reinterpret_cast<u64>(fuzz_buffers[index]);
  switch (static_cast<Syscall>(operation)) {
    case Syscall::CapabilityCopy:
      registers = {own_slot(self, 0) + random(FUZZ_PART_SLOTS), random(2) == 0 ? abi::ALL_RIGHTS : random(16),
                   random(4) == 0 ? 1 + random(8) : 0, 0, 0, 0};
      break;
    case Syscall::FactoryCreate: {
      u64 type = 1 + random(abi::OBJECT_TYPE_COUNT - 1);
      u64 size = type == static_cast<u64>(ObjectType::Task)     ? 2 + random(63)
                 : type == static_cast<u64>(ObjectType::Factory) ? PAGE_SIZE * (1 + random(64))
                                                                  : 1 + random(8);
      registers = {type, own_slot(self, random(FUZZ_PART_SLOTS)), size, slot(), address(), 0};
      break;
    }
    case Syscall::TaskMap: {
      const u64 rights[] = {MEMORY_READ, READ_WRITE, READ_EXECUTE};
      registers = {slot(), random(4), address(), 1 + random(4), rights[random(3)], 0};
      break;
    }
    case Syscall::TaskUnmap: registers = {address(), 1 + random(8), 0, 0, 0, 0}; break;
    case Syscall::TaskGiveCapability: registers = {own_slot(self, random(FUZZ_PART_SLOTS)), 1 + random(63), abi::ALL_RIGHTS, 0, 0, 0}; break;
    case Syscall::ThreadConfigure:
      registers = {random(20), random(2), random(2) == 0 ? 0 : slot(), random(4), 0, 0};
      break;
    case Syscall::IpcCall:
    case Syscall::IpcSend:
    case Syscall::IpcReply:
    case Syscall::IpcReplyWait:
    case Syscall::IpcReplyWith:
      registers.argument1 = abi::MessageTag::make(static_cast<u32>(random(4)), random(abi::MESSAGE_WORDS + 1), random(3)).raw;
      break;
    case Syscall::NotificationSignal: registers.argument1 = 1 + random(255); break;
    case Syscall::MemoryWrite:
    case Syscall::MemoryRead:
      registers = {random(4 * PAGE_SIZE), buffer + random(PAGE_SIZE), random(PAGE_SIZE), 0, 0, registers.timeout_or_badge};
      break;
    case Syscall::MemoryCopy: registers = {random(4 * PAGE_SIZE), slot(), random(4 * PAGE_SIZE), random(2 * PAGE_SIZE), 0, 0}; break;
    default: break;
  }
}

// The object type an operation's target must have; None when any capability will do or none exists.
ObjectType target_type(u64 operation) {
  switch (static_cast<Syscall>(operation)) {
    case Syscall::FactoryCreate: case Syscall::FactoryInfo: return ObjectType::Factory;
    case Syscall::TaskMap: case Syscall::TaskUnmap: case Syscall::TaskGiveCapability: return ObjectType::Task;
    case Syscall::ThreadStart: case Syscall::ThreadConfigure: case Syscall::ThreadSetSyscallHandler:
    case Syscall::ThreadSetFsBase: case Syscall::ThreadInterrupt: return ObjectType::Thread;
    case Syscall::IpcCall: case Syscall::IpcSend: case Syscall::IpcReceive: case Syscall::IpcReplyWait:
      return ObjectType::Endpoint;
    case Syscall::NotificationSignal: case Syscall::NotificationWait: return ObjectType::Notification;
    case Syscall::MemoryWrite: case Syscall::MemoryRead: case Syscall::MemoryCopy: return ObjectType::Memory;
    case Syscall::IpcSaveReply: case Syscall::IpcReplyWith: return ObjectType::Reply;
    default: return ObjectType::None;
  }
}

// A slot of the range that held a capability of `type` a moment ago (other threads may change it
// before the call), or a random slot when a few looks find none.
u64 slot_of_type(FuzzThread& self, ObjectType type) {
  u64 selector = FUZZ_FIRST + next_random(self) % FUZZ_SLOTS;
  for (u64 attempt = 0; attempt < 8 && type != ObjectType::None; ++attempt) {
    auto info = Capability(selector).identify();
    if (info.ok() && info.value().type == type) break;
    selector = FUZZ_FIRST + next_random(self) % FUZZ_SLOTS;
  }
  return selector;
}

// One random system call, with plausible arguments three times in four; true when it succeeded.
// Never DebugExit (it would end the machine) or ThreadExit.
bool fuzz_one_call(FuzzThread& self, u64 index) {
  u64 operation;
  do {
    operation = next_random(self) % (abi::SYSCALL_COUNT + 2);
  } while (operation == static_cast<u64>(Syscall::DebugExit) || operation == static_cast<u64>(Syscall::ThreadExit));
  bool plausible = next_random(self) % 4 != 0;
  u64 selector = plausible ? slot_of_type(self, target_type(operation)) : FUZZ_FIRST + next_random(self) % FUZZ_SLOTS;
  SyscallRegisters registers{random_argument(self), random_argument(self), random_argument(self),
                             random_argument(self), random_argument(self),
                             next_random(self) % 4 == 0 ? u64{1000} : u64{0}};
  if (plausible) plausible_arguments(self, index, operation, registers);
  // Capabilities named as arguments or sent along come only from the range: the test's own slots
  // below it (its task, thread, root factory, Platform, the case's endpoints) stay out of reach.
  switch (static_cast<Syscall>(operation)) {
    case Syscall::FactoryCreate: fence(registers.argument4); break;
    case Syscall::TaskMap: case Syscall::IrqBind: case Syscall::PlatformMemoryPhysical: fence(registers.argument1); break;
    case Syscall::ThreadConfigure: fence(registers.argument3); break;
    case Syscall::MemoryCopy: fence(registers.argument2); break;
    case Syscall::PlatformCreateMmio: case Syscall::PlatformCreateIoPorts: case Syscall::PlatformCreateIrq:
    case Syscall::PlatformCreateDmaMemory: fence(registers.argument4); break;
    default: break;
  }
  // Copies and creates land only in the own part, and so do received capabilities.
  if (operation == static_cast<u64>(Syscall::CapabilityCopy)) registers.argument1 = own_slot(self, registers.argument1);
  if (operation == static_cast<u64>(Syscall::FactoryCreate)) registers.argument2 = own_slot(self, registers.argument2);
  abi::Utcb* block = utcb();
  block->receive_slots[0] = own_slot(self, next_random(self));
  block->receive_slots[1] = own_slot(self, next_random(self));
  block->send_capabilities[0] = random_argument(self);
  block->send_capabilities[1] = random_argument(self);
  fence(block->send_capabilities[0]);
  fence(block->send_capabilities[1]);
  block->send_rights[0] = next_random(self);
  block->send_rights[1] = next_random(self);
  if (operation == static_cast<u64>(Syscall::TaskGiveCapability)) {
    // A task capability never goes into a task's space: a task holding (a way to) itself would
    // outlive every capability the cleanup can reach, and only deleting the factory could then
    // reclaim it, which would hide a lost refund. Only the own part is given, so no other thread
    // can fill the slot between this check and the call (it can only empty it).
    registers.argument1 = own_slot(self, registers.argument1);
    auto info = Capability(registers.argument1).identify();
    if (info.ok() && info.value().type == ObjectType::Task) registers.argument1 = abi::NULL_SELECTOR;
  }
  self.operation = operation;
  Error error = invoke(static_cast<Syscall>(operation), selector, registers);
  self.operation = ~u64{0};
  return error == Error::None;
}

void fuzz_thread_entry(u64 index) {
  FuzzThread& self = fuzz_run.threads[index];
  self.cpu = thread_self().cpu;
  while (fuzz_run.stop == 0 && __atomic_fetch_add(&fuzz_run.issued, 1, __ATOMIC_RELAXED) < fuzz_run.target_calls) {
    if (fuzz_one_call(self, index)) self.succeeded = self.succeeded + 1;
    self.completed = self.completed + 1;
    if (self.completed % FUZZ_REFILL_INTERVAL == 0) {
      u64 original = next_random(self) % FUZZ_ORIGINALS;
      (void)Capability(fuzz_run.originals[original]).copy_to(own_slot(self, next_random(self)),
                                                               original == FUZZ_ORIGINALS - 1 ? 0 : abi::ALL_RIGHTS);
    }
  }
  // Answer whoever still waits for this thread; it must not wait for a parked thread.
  (void)invoke(Syscall::IpcReply, abi::NULL_SELECTOR);
  set_receive_slots(0, 0);
  utcb()->send_capabilities[0] = utcb()->send_capabilities[1] = 0;
  __atomic_store_n(&self.done, 1, __ATOMIC_RELEASE);
  // Blocked, not running, when the case deletes it.
  Message message;
  (void)Endpoint(fuzz_run.parking_endpoint).receive(message);
}

u64 fuzz_completed() {
  u64 total = 0;
  for (const FuzzThread& thread : fuzz_run.threads) total += thread.completed;
  return total;
}

u64 fuzz_succeeded() {
  u64 total = 0;
  for (const FuzzThread& thread : fuzz_run.threads) total += thread.succeeded;
  return total;
}

bool fuzz_all_done() {
  for (const FuzzThread& thread : fuzz_run.threads)
    if (__atomic_load_n(&thread.done, __ATOMIC_ACQUIRE) == 0) return false;
  return true;
}

// True when every thread that has not finished is inside IpcCall (waiting for an answer).
bool fuzz_only_callers_left() {
  for (const FuzzThread& thread : fuzz_run.threads)
    if (thread.done == 0 && thread.operation != static_cast<u64>(Syscall::IpcCall)) return false;
  return true;
}

// The calls of the run: `fuzz_calls=<n>` on the kernel command line, else the suite's short run;
// 0 when the word is there but malformed.
u64 fuzz_calls_wanted() {
  const char* line = environment().boot_info->kernel_command_line;
  const char key[] = "fuzz_calls=";
  for (usize index = 0; line[index] != '\0'; ++index) {
    if (index > 0 && line[index - 1] != ' ') continue;
    usize length = 0;
    while (key[length] != '\0' && line[index + length] == key[length]) ++length;
    if (key[length] != '\0') continue;
    u64 value = 0;
    usize digits = 0;
    for (const char* cursor = line + index + length; *cursor >= '0' && *cursor <= '9'; ++cursor, ++digits) {
      if (value > (~u64{0} - 9) / 10) return 0;
      value = value * 10 + static_cast<u64>(*cursor - '0');
    }
    char after = line[index + length + digits];
    return digits > 0 && (after == '\0' || after == ' ') ? value : 0;
  }
  return DEFAULT_FUZZ_CALLS;
}

// Empties the range: every capability derived from a range slot (wherever the fuzzer gave it) goes
// first, then the slots themselves, so no copy outlives the range as the root of its own tree.
void clear_fuzz_range() {
  for (u64 slot = FUZZ_FIRST; slot < FUZZ_FIRST + FUZZ_SLOTS; ++slot) (void)Capability(slot).revoke();
  for (u64 slot = FUZZ_FIRST; slot < FUZZ_FIRST + FUZZ_SLOTS; ++slot) (void)Capability(slot).remove();
}

void random_system_calls_from_every_cpu_leave_the_quota_exact(Case& test) {
  Environment& own = environment();
  u64 target = fuzz_calls_wanted();
  REQUIRE(target > 0);
  REQUIRE(own.boot_info->cpu_count >= 2);
  u64 root_before = REQUIRE_OK(own.factory.info()).used_bytes;
  ScopedSlot factory_slot(test), endpoint_slot(test), memory_slot(test), parking_slot(test), clock_slot(test);
  REQUIRE(factory_slot.valid() && endpoint_slot.valid() && memory_slot.valid() && parking_slot.valid() &&
          clock_slot.valid());
  Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), 4 * 1024 * 1024));
  u64 factory_start = REQUIRE_OK(factory.info()).used_bytes;
  Endpoint parking = REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  Endpoint clock = REQUIRE_OK(own.factory.create_endpoint(clock_slot.selector()));
  REQUIRE_OK(factory.create_endpoint(endpoint_slot.selector()));
  REQUIRE_OK(factory.create_memory(memory_slot.selector(), 4));
  ChildTask child;
  REQUIRE_OK(child.create(factory));
  REQUIRE_OK(child.add_thread(0, nullptr, 0, 0, 0, false));
  REQUIRE_OK(child.add_thread(1, nullptr, 0, 1, 0, false));
  // Every part starts with copies of each object. The console copies have no rights: the fuzzer
  // may not print noise into the transcript.
  const u64 originals[FUZZ_ORIGINALS] = {factory.selector(),         endpoint_slot.selector(),
                                         memory_slot.selector(),     child.task().selector(),
                                         child.thread(0).selector(), child.thread(1).selector(), CONSOLE};
  for (u64 index = 0; index < FUZZ_ORIGINALS; ++index) fuzz_run.originals[index] = originals[index];
  for (u64 part = 0; part < FUZZ_THREADS; ++part) {
    for (u64 index = 0; index < FUZZ_PART_SLOTS / 2; ++index) {
      u64 original = originals[(index + part) % FUZZ_ORIGINALS];
      REQUIRE_OK(Capability(original).copy_to(FUZZ_FIRST + part * FUZZ_PART_SLOTS + index,
                                              original == CONSOLE ? 0 : abi::ALL_RIGHTS));
    }
  }
  fuzz_run.target_calls = target;
  fuzz_run.parking_endpoint = parking.selector();
  fuzz_run.issued = 0;
  fuzz_run.stop = 0;
  for (u64 index = 0; index < FUZZ_THREADS; ++index)
    fuzz_run.threads[index] = {0x2545f4914f6cdd1d * (index + 1), FUZZ_FIRST + index * FUZZ_PART_SLOTS, 0, 0, ~u64{0},
                               ~u64{0}, 0};
  // This thread waits on CPU 0 at the fuzzers' priority; they alternate over the CPUs.
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  LocalThread threads[FUZZ_THREADS];
  for (u64 index = 0; index < FUZZ_THREADS; ++index) REQUIRE_OK(threads[index].create(index % 2));
  u64 start = thread_self().timestamp;
  for (u64 index = 0; index < FUZZ_THREADS; ++index) REQUIRE_OK(threads[index].start(fuzz_thread_entry, index));

  // Wait (blocked, so the fuzzers on this CPU get it) until all finish or no call returns for
  // FUZZ_STALL_NANOSECONDS.
  u64 last_completed = 0;
  u64 last_progress = start;
  u64 next_report = FUZZ_PROGRESS_INTERVAL;
  bool stalled = false;
  Message tick;
  while (!fuzz_all_done()) {
    (void)clock.receive(tick, 10'000'000);
    u64 now = thread_self().timestamp;
    u64 completed = fuzz_completed();
    if (completed != last_completed) {
      last_completed = completed;
      last_progress = now;
    } else if (elapsed_nanoseconds(last_progress, now) > (fuzz_only_callers_left() ? FUZZ_CALLER_WAIT_NANOSECONDS
                                                                                    : FUZZ_STALL_NANOSECONDS)) {
      stalled = true;
      break;
    }
    if (target >= 10 * FUZZ_PROGRESS_INTERVAL && completed >= next_report) {
      printf(own.console, "# fuzzer: %lu calls, %lu s\n", completed, elapsed_nanoseconds(start, now) / 1'000'000'000);
      next_report += FUZZ_PROGRESS_INTERVAL;
    }
  }
  // The rate counts only the time calls were returning, not a stall's wait.
  u64 end = stalled ? last_progress : thread_self().timestamp;
  fuzz_run.stop = 1;
  if (stalled) {
    // Only a call can wait without bound (for its answer); any other operation out this long lost
    // its wake-up. Deleting the range and the child frees every waiting caller.
    for (u64 index = 0; index < FUZZ_THREADS; ++index) {
      const FuzzThread& thread = fuzz_run.threads[index];
      if (thread.done != 0) continue;
      printf(own.console, "# fuzzer: thread %lu waits in operation %lu after the others finished\n", index,
             thread.operation);
      if (thread.operation != static_cast<u64>(Syscall::IpcCall))
        test.fail(__FILE__, __LINE__, "fuzz thread %lu stuck in operation %lu", index, thread.operation);
    }
    clear_fuzz_range();
    for (u64 index = 0; index < 2; ++index) (void)child.thread(index).revoke();
    (void)child.task().revoke();
    child.destroy();
    u64 waited_from = thread_self().timestamp;
    while (!fuzz_all_done() && elapsed_nanoseconds(waited_from, thread_self().timestamp) < REPORT_TIMEOUT)
      (void)clock.receive(tick, 10'000'000);
  }
  bool all_finished = true;
  for (u64 index = 0; index < FUZZ_THREADS; ++index) {
    if (fuzz_run.threads[index].done == 0) {
      test.fail(__FILE__, __LINE__, "fuzz thread %lu never finished", index);
      all_finished = false;
    }
    EXPECT_EQ(fuzz_run.threads[index].cpu, index % 2);
  }
  // Each call handed out returned exactly once (a waiting caller's call returns when freed).
  u64 completed = fuzz_completed();
  EXPECT_EQ(completed, target);
  u64 nanoseconds = elapsed_nanoseconds(start, end);
  u64 milliseconds = nanoseconds / 1'000'000 > 0 ? nanoseconds / 1'000'000 : 1;
  printf(own.console, "# fuzzer: %lu calls (%lu succeeded) from %lu threads on 2 CPUs in %lu ms (guest TSC), %lu calls/s\n",
         completed, fuzz_succeeded(), FUZZ_THREADS, milliseconds, completed * 1000 / milliseconds);
  if (!all_finished) return;  // A thread may still be inside the kernel: leave its objects alone.
  pause_for(1'000'000);  // Let the threads block on the parking endpoint before they are deleted.
  for (LocalThread& thread : threads) thread.destroy();

  // Own capabilities still work: identify, create, map, write, read, IPC, print.
  EXPECT_EQ(REQUIRE_OK(Capability(SELF_TASK).identify()).type, ObjectType::Task);
  ScopedSlot check_slot(test), check_endpoint_slot(test);
  REQUIRE(check_slot.valid() && check_endpoint_slot.valid());
  Memory check = REQUIRE_OK(own.factory.create_memory(check_slot.selector(), 1));
  REQUIRE_OK(own.self_task.map(check, 0, SCRATCH_MAPPING_ADDRESS, 1, READ_WRITE));
  write_word(SCRATCH_MAPPING_ADDRESS, 0x600d);
  EXPECT_EQ(read_word(SCRATCH_MAPPING_ADDRESS), 0x600d);
  EXPECT_OK(own.self_task.unmap(SCRATCH_MAPPING_ADDRESS, 1));
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(check_endpoint_slot.selector()));
  Message message;
  EXPECT_ERROR(endpoint.receive(message, 1'000'000), Error::Timeout);
  EXPECT_OK(own.console.write("# fuzzer done\n", 14));

  // Everything the fuzzer made or touched goes with the range, the child and the originals; the
  // fuzz factory is then back at exactly its starting use (nothing leaked, nothing refunded twice),
  // and deleting it returns the root factory to exactly where it was.
  clear_fuzz_range();
  for (u64 original : {endpoint_slot.selector(), memory_slot.selector()}) (void)Capability(original).revoke();
  if (!slot_is_empty(child.task().selector())) {
    for (u64 index = 0; index < 2; ++index) (void)child.thread(index).revoke();
    (void)child.task().revoke();
  }
  child.destroy();
  (void)Capability(endpoint_slot.selector()).remove();
  (void)Capability(memory_slot.selector()).remove();
  (void)factory.revoke();
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, factory_start);
  REQUIRE_OK(factory.remove());
  (void)check.remove();
  (void)endpoint.remove();
  (void)parking.remove();
  (void)clock.remove();
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, root_before);
}

}  // namespace

extern const test::TestEntry HOSTILE_TESTS[] = {
    {"unknown_operations_are_unsupported", unknown_operations_are_unsupported},
    {"every_operation_rejects_null_and_huge_selectors", every_operation_rejects_null_and_huge_selectors},
    {"pointers_and_lengths_are_checked", pointers_and_lengths_are_checked},
    {"thread_start_rejects_kernel_addresses", thread_start_rejects_kernel_addresses},
    {"a_second_call_taken_ends_the_unanswered_first", a_second_call_taken_ends_the_unanswered_first},
    {"random_system_calls_from_every_cpu_leave_the_quota_exact", random_system_calls_from_every_cpu_leave_the_quota_exact},
};
extern const usize HOSTILE_TEST_COUNT = sizeof HOSTILE_TESTS / sizeof HOSTILE_TESTS[0];

}  // namespace kernel_adversarial
