// The system-call interface: operation numbers, register conventions, message layout, UTCB.
// This file is the one definition; docs/SYSCALLS.md is written from it.
// Invariant: the layout of every structure here is pinned with static_asserts; numbers only grow.
#pragma once

#include <type_traits>

#include "abi/error.hpp"
#include "abi/rights.hpp"
#include "abi/types.hpp"

namespace metteagle::abi {

// Registers on `syscall`:
//   rax  operation (Syscall)          -> on return: Error
//   rdi  capability selector (target)
//   rsi  argument 1 / message tag     -> output 1 / message tag
//   rdx  argument 2 / message word 0  -> output 2 / word 0
//   r10  argument 3 / message word 1  -> output 3 / word 1
//   r8   argument 4 / message word 2  -> output 4 / word 2
//   r9   argument 5 / message word 3  -> output 5 / word 3
//   r12  IPC timeout in nanoseconds (0 = do not block, TIMEOUT_INFINITE = wait forever)
//                                     -> on receive: the badge of the capability the sender used
//   rcx, r11 are clobbered by the instruction; every other register is preserved.
//
// X(name, number, target type, needed rights, description)
#define ABI_SYSCALLS(X)                                                                                    \
  X(DebugWrite, 0, DebugConsole, "Write", "write a2 bytes from user address a1 to the console (at most 4096)") \
  X(DebugExit, 1, DebugConsole, "Exit", "end the machine with exit code a1 (QEMU isa-debug-exit)")      \
  X(CapabilityIdentify, 2, None, "-", "describe a capability: out1=type, out2=rights, out3=badge")      \
  X(CapabilityCopy, 3, None, "-", "copy into empty slot a1 with rights & a2; a3 sets the badge of an unbadged endpoint capability") \
  X(CapabilityDelete, 4, None, "-", "empty the slot; derived capabilities move to its parent")          \
  X(CapabilityRevoke, 5, None, "-", "delete every capability derived from this one, keep it")           \
  X(FactoryCreate, 6, Factory, "Create", "create an object of type a1 into empty slot a2; a3 = size (pages for Memory, quota bytes for Factory, capability slots for Task)") \
  X(FactoryInfo, 7, Factory, "-", "out1=quota bytes, out2=bytes used")                                  \
  X(TaskMap, 8, Task, "Map", "map memory a1 (selector) page offset a2 at address a3, a4 pages, rights a5 (MemoryRight bits)") \
  X(TaskUnmap, 9, Task, "Map", "unmap a2 pages at address a1")                                          \
  X(TaskGiveCapability, 10, Task, "Capabilities", "copy own slot a1 into the task's empty slot a2 with rights & a3") \
  X(ThreadStart, 11, Thread, "Control", "start a never-started thread at rip a1, rsp a2, rdi a3")       \
  X(ThreadConfigure, 12, Thread, "Control", "priority a1, CPU a2, exception endpoint selector a3 (0 = none)") \
  X(ThreadExit, 13, None, "-", "end the calling thread")                                                \
  X(ThreadYield, 14, None, "-", "give up the rest of the time slice")                                   \
  X(IpcCall, 15, Endpoint, "Send", "send a message and wait for the reply")                             \
  X(IpcSend, 16, Endpoint, "Send", "send a message; wait until a receiver takes it or the timeout ends")\
  X(IpcReceive, 17, Endpoint, "Receive", "wait for a message")                                          \
  X(IpcReply, 18, None, "-", "answer the last caller received; never blocks")                           \
  X(IpcReplyWait, 19, Endpoint, "Receive", "answer the last caller, then wait for the next message")    \
  X(ThreadSelf, 20, None, "-", "out1 = the caller's CPU, out2 = TSC at entry")

enum class Syscall : u64 {
#define ABI_SYSCALL_ENUM(name, number, type, rights, text) name = number,
  ABI_SYSCALLS(ABI_SYSCALL_ENUM)
#undef ABI_SYSCALL_ENUM
};
constexpr u64 SYSCALL_COUNT = 21;

constexpr u64 TIMEOUT_INFINITE = ~u64{0};

// The capability slot that is always empty: selector 0 names nothing.
constexpr u64 NULL_SELECTOR = 0;

// Message tag (rsi): label in bits 0-31 (meaning chosen by the protocol), word count in bits
// 32-38 (at most MESSAGE_WORDS), transferred capability count in bits 40-41.
constexpr u64 MESSAGE_WORDS = 64;
constexpr u64 REGISTER_WORDS = 4;
constexpr u64 MAX_TRANSFER_CAPABILITIES = 2;

struct MessageTag {
  u64 raw;
  static constexpr MessageTag make(u32 label, u64 words, u64 capabilities = 0) {
    return MessageTag{u64{label} | (words << 32) | (capabilities << 40)};
  }
  constexpr u32 label() const { return static_cast<u32>(raw); }
  constexpr u64 words() const { return (raw >> 32) & 0x7f; }
  constexpr u64 capabilities() const { return (raw >> 40) & 0x3; }
};

// User thread control block: one page per thread, mapped in its task; %gs:0 holds its address.
// Words 0-3 of a message travel in registers; words 4 and up are read from and written to words[].
struct Utcb {
  u64 self;
  u64 words[MESSAGE_WORDS];
  // Capabilities to send with the next message: selector and rights mask each.
  u64 send_capabilities[MAX_TRANSFER_CAPABILITIES];
  u64 send_rights[MAX_TRANSFER_CAPABILITIES];
  // Empty slots where received capabilities land (0 = refuse); the kernel writes how many arrived.
  u64 receive_slots[MAX_TRANSFER_CAPABILITIES];
  u64 received_capabilities;
  u8 reserved[4096 - 8 * (1 + MESSAGE_WORDS + 3 * MAX_TRANSFER_CAPABILITIES + 1)];
};
static_assert(sizeof(Utcb) == 4096);
static_assert(std::is_trivially_copyable_v<Utcb>);

// Exceptions of a thread arrive at its exception endpoint as a call with this label and words:
// 0 rip, 1 fault address (page faults), 2 error code, 3 rsp, 4 exception vector.
enum class ExceptionKind : u32 {
  PageFault = 0x1000,
  GeneralProtection = 0x1001,
  InvalidOpcode = 0x1002,
  DivideError = 0x1003,
  Breakpoint = 0x1004,
  Other = 0x1005,
};
// The handler's reply label: Resume retries the instruction (after fixing the cause), ResumeAt
// continues at word 0 (rip) with word 1 (rsp), Kill ends the thread.
enum class ExceptionReply : u32 { Resume = 0, ResumeAt = 1, Kill = 2 };

// Layout of user address spaces.
constexpr u64 USER_SPACE_START = 0x1000;  // The first page stays unmapped: null dereferences fault.
constexpr u64 USER_SPACE_END = 0x0000800000000000;

}  // namespace metteagle::abi
