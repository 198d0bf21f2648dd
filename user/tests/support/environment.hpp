// What every adversarial/lifecycle test program shares: the root task's capabilities, a slot
// allocator over its capability space, and scoped slots.
// Invariant: cases leave the capability space as they found it (every slot they fill is emptied
// and freed), so cases do not depend on their order.
#pragma once

#include <initializer_list>

#include "../framework.hpp"

namespace support {

using namespace sys;
using test::Case;

constexpr u32 ENDPOINT_SEND = abi::rights_of(abi::EndpointRight::Send);
constexpr u32 ENDPOINT_RECEIVE = abi::rights_of(abi::EndpointRight::Receive);
constexpr u32 ENDPOINT_GRANT = abi::rights_of(abi::EndpointRight::Grant);
constexpr u32 MEMORY_READ = abi::rights_of(abi::MemoryRight::Read);
constexpr u32 MEMORY_WRITE = abi::rights_of(abi::MemoryRight::Write);
constexpr u32 MEMORY_EXECUTE = abi::rights_of(abi::MemoryRight::Execute);
constexpr u32 READ_WRITE = MEMORY_READ | MEMORY_WRITE;
constexpr u32 READ_EXECUTE = MEMORY_READ | MEMORY_EXECUTE;

// Finite timeouts turn a lost message into a failed case instead of a hung scenario.
constexpr u64 REPORT_TIMEOUT = 5'000'000'000;
// Long enough for a thread that should have acted to act; used to show that something did not happen.
constexpr u64 SILENCE_TIMEOUT = 50'000'000;

struct Environment {
  const abi::RootBootInfo* boot_info;
  Task self_task{SELF_TASK};
  Thread self_thread{SELF_THREAD};
  Factory factory{OWN_FACTORY};
  Console console{CONSOLE};
  SlotAllocator* slots;
  u64 own_priority;  // The root thread's priority, found by probing ThreadConfigure's ceiling.
};

Environment& environment();

// The cases of one file of a program.
struct TestGroup {
  const test::TestEntry* tests;
  usize count;
};

// Starts a test program as the root task: checks it is the root task, sets up the environment,
// runs the groups' cases in order and exits the machine. `name` appears in the first log line.
void run_program(const char* name, u64 argument, std::initializer_list<TestGroup> groups);

// Free addresses of the own address space for the cases' temporary mappings; above the program
// image and below the root task's fixed areas (boot info 0x10000000 .. stack 0x30000000).
constexpr u64 SCRATCH_MAPPING_ADDRESS = 0x0000000050000000;
constexpr u64 SCRATCH_MAPPING_LIMIT = 0x0000000058000000;

// The program's slot allocator (environment().slots), and slots of it that live for one case.
SlotAllocator& slots();
using ScopedSlot = test::ScopedSlotOf<slots>;

// Volatile accesses, so the compiler keeps every probe the case means to make.
inline u64 read_word(u64 address) { return *reinterpret_cast<volatile u64*>(address); }
inline void write_word(u64 address, u64 value) { *reinterpret_cast<volatile u64*>(address) = value; }

// Gives the CPU away (yielding) until `nanoseconds` have passed, so threads of the same
// priority on this CPU get to run and block where the case wants them.
void pause_for(u64 nanoseconds);
// Nanoseconds elapsed between two TSC readings.
u64 elapsed_nanoseconds(u64 start_timestamp, u64 end_timestamp);

// True when the slot names nothing: shows that a destroyed object took its capabilities with it.
inline bool slot_is_empty(u64 selector) { return Capability(selector).identify().error() == Error::InvalidCapability; }

}  // namespace support
