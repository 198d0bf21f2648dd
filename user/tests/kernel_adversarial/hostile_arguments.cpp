// Cases with hostile arguments: unknown operation numbers, selectors 0 and 2^63 for every
// operation, kernel-half pointers, overflowing lengths and ranges, and a seeded random syscall
// fuzzer over a fenced-off range of slots; the kernel must answer each precisely and survive.
#include "../support/child_task.hpp"

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

// The fuzzer's slots: copies of objects whose originals stay outside the range, so nothing the
// fuzzer deletes can destroy anything but those copies and what it created itself.
constexpr u64 FUZZ_FIRST = 900;
constexpr u64 FUZZ_SLOTS = 64;
constexpr u64 FUZZ_CALLS = 4000;

u64 fuzz_state = 0x2545f4914f6cdd1d;
u64 next_random() {
  fuzz_state ^= fuzz_state << 13;
  fuzz_state ^= fuzz_state >> 7;
  fuzz_state ^= fuzz_state << 17;
  return fuzz_state;
}

// Arguments are drawn from values that reach deep into the kernel's checks: slots of the fuzz
// range, small numbers, page-aligned user addresses, boundaries and plain noise.
u64 random_argument() {
  switch (next_random() % 8) {
    case 0: return FUZZ_FIRST + next_random() % FUZZ_SLOTS;
    case 1: return next_random() % 16;
    case 2: return 0x70000000 + (next_random() % 64) * PAGE_SIZE;
    case 3: return abi::USER_SPACE_END - PAGE_SIZE * (next_random() % 3);
    case 4: return ~u64{0} - next_random() % 4;
    case 5: return u64{1} << (next_random() % 64);
    case 6: return 0;
    default: return next_random();
  }
}

void random_system_calls_do_not_crash_the_kernel(Case& test) {
  Environment& own = environment();
  u64 root_before = REQUIRE_OK(own.factory.info()).used_bytes;
  ScopedSlot factory_slot(test), endpoint_slot(test), memory_slot(test);
  REQUIRE(factory_slot.valid() && endpoint_slot.valid() && memory_slot.valid());
  Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), 4 * 1024 * 1024));
  REQUIRE_OK(factory.create_endpoint(endpoint_slot.selector()));
  REQUIRE_OK(factory.create_memory(memory_slot.selector(), 4));
  ChildTask child;
  REQUIRE_OK(child.create(factory));
  REQUIRE_OK(child.add_thread(0, nullptr, 0, 0, 0, false));
  REQUIRE_OK(child.add_thread(1, nullptr, 0, 0, 0, false));
  // The console copy has no rights: the fuzzer may not print noise into the transcript.
  const u64 originals[] = {factory.selector(), endpoint_slot.selector(), memory_slot.selector(), child.task().selector(),
                           child.thread(0).selector(), child.thread(1).selector(), CONSOLE};
  for (u64 index = 0; index < FUZZ_SLOTS / 2; ++index) {
    u64 original = originals[index % (sizeof originals / sizeof originals[0])];
    REQUIRE_OK(Capability(original).copy_to(FUZZ_FIRST + index, original == CONSOLE ? 0 : abi::ALL_RIGHTS));
  }
  for (u64 call = 0; call < FUZZ_CALLS; ++call) {
    u64 operation = next_random() % (abi::SYSCALL_COUNT + 2);
    // Never end the machine or this thread.
    if (operation == static_cast<u64>(Syscall::DebugExit) || operation == static_cast<u64>(Syscall::ThreadExit)) continue;
    u64 selector = FUZZ_FIRST + next_random() % FUZZ_SLOTS;
    SyscallRegisters registers{random_argument(), random_argument(), random_argument(), random_argument(),
                               random_argument(), next_random() % 2 == 0 ? u64{0} : u64{1000}};
    // Copies, gives and creates must land only in the fuzz range or in other tasks.
    if (operation == static_cast<u64>(Syscall::CapabilityCopy) || operation == static_cast<u64>(Syscall::FactoryCreate)) {
      u64& destination = operation == static_cast<u64>(Syscall::CapabilityCopy) ? registers.argument1 : registers.argument2;
      destination = FUZZ_FIRST + destination % FUZZ_SLOTS;
    }
    // A UTCB's receive slots outside the fuzz range would let a transfer fill our own slots.
    set_receive_slots(FUZZ_FIRST + next_random() % FUZZ_SLOTS, FUZZ_FIRST + next_random() % FUZZ_SLOTS);
    (void)invoke(static_cast<Syscall>(operation), selector, registers);
  }
  set_receive_slots(0, 0);
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
  // Everything the fuzzer touched goes with its factory and the fuzz range.
  for (u64 slot = FUZZ_FIRST; slot < FUZZ_FIRST + FUZZ_SLOTS; ++slot) (void)Capability(slot).remove();
  child.destroy();
  REQUIRE_OK(factory.remove());
  (void)Capability(endpoint_slot.selector()).remove();
  (void)Capability(memory_slot.selector()).remove();
  (void)check.remove();
  (void)endpoint.remove();
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, root_before);
}

}  // namespace

extern const test::TestEntry HOSTILE_TESTS[] = {
    {"unknown_operations_are_unsupported", unknown_operations_are_unsupported},
    {"every_operation_rejects_null_and_huge_selectors", every_operation_rejects_null_and_huge_selectors},
    {"pointers_and_lengths_are_checked", pointers_and_lengths_are_checked},
    {"thread_start_rejects_kernel_addresses", thread_start_rejects_kernel_addresses},
    {"random_system_calls_do_not_crash_the_kernel", random_system_calls_do_not_crash_the_kernel},
};
extern const usize HOSTILE_TEST_COUNT = sizeof HOSTILE_TESTS / sizeof HOSTILE_TESTS[0];

}  // namespace kernel_adversarial
