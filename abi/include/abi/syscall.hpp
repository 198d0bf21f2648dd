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
// Operations whose work a caller could make long (CapabilityDelete and CapabilityRevoke of
// capabilities with many descendants, MemoryWrite/MemoryRead/MemoryCopy) do a bounded part per
// kernel entry and then enter themselves again at the same `syscall` instruction, re-checking
// everything; the kernel lock is free and the thread preemptible in between. A continued
// MemoryWrite/Read/Copy leaves its offset, address and length registers advanced.
//
// X(name, number, target (rdi), right needed on it, lock, arguments, outputs, errors, summary).
// The target is an object type, Any (a capability of any type), None (rdi is ignored) or
// ThreadOrSelf (a Thread capability, or selector 0 for the calling thread). The right is a value
// of the target type's rights enum (rights.hpp), NoRight::None when none is needed; the kernel's
// dispatcher checks type and right before the operation's handler runs, and a right of another
// type's enum does not compile. The lock column says what the operation runs under: Kernel, the
// kernel lock (every operation so far). The kernel's handler table, the operation count and the
// reference in docs/SYSCALLS.md are all generated from this one table.
// Every operation with a target may also return InvalidCapability (rdi names no capability),
// WrongType and NoRights for it; the errors column lists the others.
#define ABI_SYSCALLS(X)                                                                                         \
  X(DebugWrite, 0, DebugConsole, DebugConsoleRight::Write, Kernel, "a1 address, a2 length (at most 4096)", "-",                          \
    "InvalidArgument (length too large, or the range is not readable user memory)",                             \
    "write bytes from user memory to the serial console")                                                       \
  X(DebugExit, 1, DebugConsole, DebugConsoleRight::Exit, Kernel, "a1 exit code (low 8 bits)", "does not return",                          \
    "-", "end the machine through isa-debug-exit: QEMU exits with status 2 * code + 1")                             \
  X(CapabilityIdentify, 2, Any, NoRight::None, Kernel, "-", "o1 object type, o2 rights, o3 badge", "Destroyed",                    \
    "describe the capability in slot rdi")                                                                      \
  X(CapabilityCopy, 3, Any, NoRight::None, Kernel, "a1 destination slot, a2 rights mask, a3 badge (0 = keep)", "-",                \
    "InvalidCapability (destination 0 or out of range), SlotOccupied, InvalidArgument (badge on a non-endpoint " \
    "or already badged capability), QuotaExceeded/OutOfMemory (the destination's chunk of slots, made on its "  \
    "first fill and charged to the caller's factory)",                                                          \
    "derive a copy with rights & mask into an empty slot; it is revoked with its source")                       \
  X(CapabilityDelete, 4, Any, NoRight::None, Kernel, "-", "-", "Destroyed",                                                        \
    "empty the slot; derived capabilities move to its parent; the last capability destroys the object "       \
    "(in bounded steps: the call enters itself again until every child has moved)")         \
  X(CapabilityRevoke, 5, Any, NoRight::None, Kernel, "-", "-", "Destroyed",                                                        \
    "delete every capability derived from this one (transitively); it stays (in bounded steps: the call "      \
    "enters itself again until none is left)")                                   \
  X(FactoryCreate, 6, Factory, FactoryRight::Create, Kernel,                                                                        \
    "a1 object type, a2 destination slot, a3 size (Task: capability slots 2-65536; a space of more than 51 "    \
    "gets each page of 51 slots, charged, at its first fill; Memory: pages 1-65536, "                           \
    "lazy 1-LAZY_MAX_PAGES; Factory: quota bytes), a4 task selector (Thread; needs Task Map) or Memory flags "     \
    "(MEMORY_LAZY: demand-zero, each page charged when first touched), a5 UTCB address (Thread)",               \
    "-",                                                                                                        \
    "InvalidCapability, SlotOccupied, InvalidArgument (type, size, Memory flags or UTCB address: page "         \
    "aligned, below USER_SPACE_USABLE_END), Busy (UTCB address in use), " \
    "QuotaExceeded, OutOfMemory",                                                                               \
    "create an object charged to the factory; the new capability has all rights (a Factory: Observe only "    \
    "if this capability has it); an ordinary Memory is filled 512 pages per kernel entry, the call "           \
    "entering again by itself")                                                                                 \
  X(FactoryInfo, 7, Factory, NoRight::None, Kernel, "-",                                                                          \
    "o1 quota bytes, o2 bytes used, o3 bytes of physical memory the kernel has free (the whole machine's; "   \
    "0 unless the capability has Observe), o4 bytes in live kernel heap objects, o5 bytes of pages the "    \
    "kernel heap holds (o4 and o5 also 0 without Observe)", "-",                                              \
    "read the factory's accounting and, with Observe, the machine's free memory")                                              \
  X(TaskMap, 8, Task, TaskRight::Map, Kernel,                                                                                    \
    "a1 memory selector (needs the requested rights), a2 first page in the memory, a3 address, a4 pages, "      \
    "a5 rights (MemoryRight bits; Read required; Write and Execute exclusive)",                                 \
    "o1 where it stopped: the range's end when done, else where the rest begins (call again from there with "  \
    "a2 and a4 advanced as far)",                                                                               \
    "InvalidArgument (range, alignment, rights; nothing at or above USER_SPACE_USABLE_END), Busy (overlaps "   \
    "a mapping or a UTCB; a lazy Memory with LAZY_MAX_MAPPINGS mappings), QuotaExceeded, OutOfMemory (no "     \
    "physical frame for a page table or the mapping's record)",                                                 \
    "map pages of a memory object into the task; one call maps at most MAP_MAX_PAGES pages (one mapping) "   \
    "and the whole range is checked for overlaps first; a lazy Memory's pages are mapped as the task "        \
    "touches them")                                                                                             \
  X(TaskUnmap, 9, Task, TaskRight::Map, Kernel, "a1 address, a2 pages",                                                         \
    "o1 where it stopped: the range's end when done, else where the rest begins (call again from there)",       \
    "InvalidArgument (range), NotFound (nothing mapped there), QuotaExceeded (cutting a mapping in two), "    \
    "OutOfMemory (the same, with no physical memory left)",                                                     \
    "remove the pages inside the range; a mapping reaching past it keeps the rest; one call handles at most "   \
    "UNMAP_MAX_MAPPINGS mappings and UNMAP_MAX_PAGES pages")                                                   \
  X(TaskGiveCapability, 10, Task, TaskRight::Capabilities, Kernel, "a1 own slot, a2 slot in the task, a3 rights mask", "-",      \
    "InvalidCapability (a1 empty, a2 0 or out of range), SlotOccupied, Destroyed, QuotaExceeded/OutOfMemory "   \
    "(a2's chunk of slots, made on its first fill and charged to the task's factory)",                          \
    "derive a copy of an own capability into the task's space")                                                 \
  X(ThreadStart, 11, Thread, ThreadRight::Control, Kernel, "a1 rip, a2 rsp, a3 value for rdi", "-",                                \
    "Busy (already started), InvalidArgument (rip at or above USER_SPACE_USABLE_END, rsp outside user space)",   \
    "start a never-started thread")                                                                            \
  X(ThreadConfigure, 12, Thread, ThreadRight::Control, Kernel, "a1 priority (0-63, at most the caller's), a2 CPU (in the new set), " \
    "a3 exception endpoint selector (0 = none; needs Send), a4 the CPUs it may ever run on (bit i = CPU i; "     \
    "within the caller's own; 0 = unchanged). New threads inherit their creator's set", "-",                   \
    "InvalidArgument (priority, CPU or CPU set), InvalidCapability/WrongType/NoRights (a3)",                    \
    "set scheduling parameters and the exception handler; a thread given another CPU continues there (a "      \
    "running one is interrupted at once, the caller moves before it returns)")                                  \
  X(ThreadExit, 13, None, NoRight::None, Kernel, "-", "does not return", "-", "end the calling thread")                           \
  X(ThreadYield, 14, None, NoRight::None, Kernel, "-", "-", "-", "give the CPU to the next thread of the same priority")          \
  X(IpcCall, 15, Endpoint, EndpointRight::Send, Kernel, "a1 message tag, a2-a5 words 0-3, r12 timeout (send phase)",                 \
    "o1 reply tag, o2-o5 reply words 0-3",                                                                       \
    "Timeout, Destroyed (endpoint or server gone, or the server took another call before answering this one)",  \
    "send and wait for the reply; the server sees the capability's badge")                                     \
  X(IpcSend, 16, Endpoint, EndpointRight::Send, Kernel, "a1 message tag, a2-a5 words 0-3, r12 timeout", "-", "Timeout, Destroyed",   \
    "send; blocks until a receiver takes the message or the timeout ends")                                     \
  X(IpcReceive, 17, Endpoint, EndpointRight::Receive, Kernel, "r12 timeout", "o1 tag, o2-o5 words 0-3, r12 badge",                   \
    "Timeout, Destroyed", "wait for a message")                                                                 \
  X(IpcReply, 18, None, NoRight::None, Kernel, "a1 message tag, a2-a5 words 0-3", "-", "NotFound (no caller waits)",              \
    "answer the last call received; never blocks")                                                              \
  X(IpcReplyWait, 19, Endpoint, EndpointRight::Receive, Kernel, "a1 reply tag, a2-a5 reply words, r12 timeout",                      \
    "o1 tag, o2-o5 words 0-3, r12 badge", "Timeout, Destroyed",                                                 \
    "answer the last caller (if any), then wait for the next message")                                          \
  X(ThreadSelf, 20, None, NoRight::None, Kernel, "-", "o1 CPU index, o2 TSC at entry, o3 TSC ticks per second, o4 CPUs online, " \
    "o5 ThreadYield calls since boot (every thread, every CPU: a thread spinning for a lock shows there)", "-", \
    "the null system call: where, when and on what machine am I") \
  X(NotificationSignal, 21, Notification, NotificationRight::Signal, Kernel, "a1 bits (non-zero)", "-", "InvalidArgument (no bits)",      \
    "set bits; wakes one waiter")                                                                               \
  X(NotificationWait, 22, Notification, NotificationRight::Wait, Kernel, "r12 timeout", "o1 the bits that were set (now cleared)",        \
    "Timeout, Destroyed", "wait until some bit is set, take all bits")                                          \
  X(PlatformCreateMmio, 23, Platform, PlatformRight::Devices, Kernel,                                                                \
    "a1 destination slot, a2 physical address (page aligned), a3 pages, a4 factory selector (charged)", "-",    \
    "InvalidCapability, SlotOccupied, InvalidArgument (range touches RAM or the kernel's interrupt controllers)," \
    " QuotaExceeded",                                                                                           \
    "a Memory capability (Read, Write) for device registers, mapped uncached")                                  \
  X(PlatformCreateIoPorts, 24, Platform, PlatformRight::Devices, Kernel,                                                             \
    "a1 destination slot, a2 first port, a3 count, a4 factory selector (charged)", "-",                         \
    "InvalidCapability, SlotOccupied, InvalidArgument (range beyond 0xffff, or it includes the kernel's "        \
    "console, PIC, PIT or exit ports), QuotaExceeded",                                                          \
    "an IoPorts capability (Read, Write) for a port range")                                                     \
  X(PlatformCreateIrq, 25, Platform, PlatformRight::Devices, Kernel,                                                                 \
    "a1 destination slot, a2 interrupt line (1-47: inputs of the I/O APICs present), a3 flags (bit 0 level-triggered, "           \
    "bit 1 active-low), a4 factory selector (charged)", "-",                                                     \
    "InvalidCapability, SlotOccupied, InvalidArgument (line), Busy (the line has an Irq object), QuotaExceeded", \
    "an Irq capability for one interrupt line, masked until bound")                                             \
  X(IrqBind, 26, Irq, IrqRight::Control, Kernel, "a1 notification selector (needs Signal, 0 = unbind), a2 bits", "-",           \
    "InvalidArgument (no bits), InvalidCapability/WrongType/NoRights (a1)",                                      \
    "deliver the line's interrupts as bits on the notification; unmasks the line")                              \
  X(IrqAcknowledge, 27, Irq, IrqRight::Control, Kernel, "-", "-", "-",                                                          \
    "unmask the line after its interrupt was handled (each interrupt masks it)")                                \
  X(IoPortRead, 28, IoPorts, IoPortsRight::Read, Kernel, "a1 port, a2 width in bytes (1, 2 or 4)", "o1 value",                      \
    "InvalidArgument (port outside the range, or width)", "read an I/O port")                                   \
  X(IoPortWrite, 29, IoPorts, IoPortsRight::Write, Kernel, "a1 port, a2 width in bytes (1, 2 or 4), a3 value", "-",                 \
    "InvalidArgument (port outside the range, or width)", "write an I/O port")                                  \
  X(IpcSaveReply, 30, Reply, ReplyRight::Reply, Kernel, "-", "-", "NotFound (no caller waits), Busy (the object holds a caller)", \
    "move the pending reply of the last caller received into the reply object")                                \
  X(IpcReplyWith, 31, Reply, ReplyRight::Reply, Kernel, "a1 message tag, a2-a5 words 0-3", "-", "NotFound (the object is empty)", \
    "answer the caller held by the reply object; never blocks")                                                 \
  X(PlatformCreateDmaMemory, 32, Platform, PlatformRight::Devices, Kernel,                                                            \
    "a1 destination slot, a2 pages (1-512), a4 factory selector (charged)", "-",                                \
    "InvalidCapability, SlotOccupied, InvalidArgument (pages), QuotaExceeded, OutOfMemory",                     \
    "physically contiguous, zeroed Memory (all rights) for device queues and buffers")                          \
  X(PlatformMemoryPhysical, 33, Platform, PlatformRight::Devices, Kernel, "a1 memory selector (any rights), a2 page index",          \
    "o1 physical address of the page",                                                                          \
    "InvalidCapability/WrongType (a1), InvalidArgument (page beyond the object)",                               \
    "the physical address of one page, for programming a device's DMA")                                        \
  X(MemoryWrite, 34, Memory, MemoryRight::Write, Kernel, "a1 offset in the object, a2 source address, a3 length (at most 16 MiB)", "-", \
    "InvalidArgument (range beyond the object, source not readable, device memory)",                            \
    "copy bytes from the caller's memory into the object, without mapping it (256 KiB per kernel entry; the "  \
    "call enters itself again with a1-a3 advanced)")                                  \
  X(MemoryRead, 35, Memory, MemoryRight::Read, Kernel, "a1 offset in the object, a2 destination address, a3 length (at most 16 MiB)", \
    "-", "InvalidArgument (range beyond the object, destination not writable, device memory)",                  \
    "copy bytes from the object into the caller's memory, without mapping it (a lazy object's untouched pages " \
    "read as zero and stay untouched; 256 KiB per kernel entry; the call enters itself again with a1-a3 "     \
    "advanced)")                                                                                                \
  X(MemoryCopy, 36, Memory, MemoryRight::Write, Kernel,                                                                            \
    "a1 destination offset, a2 source memory selector (needs Read), a3 source offset, a4 length (at most 16 MiB)", \
    "-", "InvalidArgument (a range beyond its object, device memory), InvalidCapability/WrongType/NoRights (a2)", \
    "copy bytes from one memory object into another (the target), without mapping either (256 KiB per "       \
    "kernel entry; the call enters itself again with a1, a3 and a4 advanced)")                   \
  X(ThreadSetSyscallHandler, 37, ThreadOrSelf, ThreadRight::Control, Kernel,                                                            \
    "a1 handler entry (0 = native system calls again), a2 handler stack top; selector 0 = the caller",          \
    "-", "InvalidArgument (entry at or above USER_SPACE_USABLE_END, stack outside user space)",                  \
    "redirect the thread's system calls to a user-level personality (see Utcb::personality_active)")           \
  X(PersonalityReturn, 38, None, NoRight::None, Kernel, "-", "does not return: the thread continues with Utcb::personality_registers", \
    "InvalidArgument (no handler set, rip at or above USER_SPACE_USABLE_END, or rsp outside user space)",        \
    "end a personality handler: clear personality_active and resume the saved (possibly changed) registers")   \
  X(ThreadSetFsBase, 39, ThreadOrSelf, ThreadRight::Control, Kernel, "a1 FS base (a user-space address); selector 0 = the caller", "-",  \
    "InvalidArgument (address outside user space)", "set a thread's FS segment base (thread-local storage)")     \
  X(MemoryDecommit, 40, Memory, MemoryRight::Write, Kernel, "a1 first page, a2 pages",                                              \
    "o1 where it stopped: the range's end when done, else the page where the rest begins (call again)",         \
    "InvalidArgument (not a lazy Memory, or the range beyond it)",                                              \
    "give back the touched pages of the range of a lazy Memory (unmapped from every mapping first); they read " \
    "as zero when touched again; one call clears at most UNMAP_MAX_PAGES page-table entries over all mappings")   \
  X(MemoryCommit, 41, Memory, MemoryRight::Write, Kernel, "a1 first page, a2 pages",                                                \
    "o1 where it stopped: the range's end when done, else the page where the rest begins (call again)",         \
    "InvalidArgument (not a lazy Memory, or the range beyond it), QuotaExceeded, OutOfMemory (o1: the first "   \
    "page left without a frame)",                                                                               \
    "give the untouched pages of the range of a lazy Memory their zeroed frames now, charged as a touch would " \
    "be, so a later touch cannot fail; one call handles at most UNMAP_MAX_PAGES pages")                         \
  X(MemoryCopyCommitted, 42, Memory, MemoryRight::Write, Kernel, "a1 source memory selector (needs Read), a2 first page, a3 pages", \
    "o1 where it stopped: the range's end when done, else the page where the rest begins (call again)",         \
    "InvalidArgument (either object not lazy, or the range beyond either), InvalidCapability/WrongType/"          \
    "NoRights (a1), QuotaExceeded, OutOfMemory (o1: the first page left without its copy)",                      \
    "copy the touched pages of [a2, a2 + a3) of a lazy source into the same pages of the lazy target (rdi), "   \
    "giving the target's pages frames as a touch would (charged to the target's factory); untouched source "    \
    "pages are skipped and stay as they are in the target (a fork's copy of a reservation costs only what was " \
    "touched); one call copies at most COPY_COMMITTED_MAX_PAGES pages and looks at most UNMAP_MAX_PAGES pages") \
  X(MemoryResidency, 43, Memory, MemoryRight::Read, Kernel, "a1 first page, a2 pages (1 to 64)",                                  \
    "o1 bit i set: page a1 + i has a frame (a lazy Memory's touched or committed pages; every page of any other)", \
    "InvalidArgument (a2 0 or above 64, or the range beyond the Memory)",                                         \
    "which pages of a range hold a frame now, without touching any (Linux's mincore)")   \
  X(ThreadInterrupt, 44, Thread, ThreadRight::Interrupt, Kernel, "-", "-", "-",                                  \
    "interrupt a thread (a personality's asynchronous signal): blocked in NotificationWait or IpcReceive (also " \
    "IpcReplyWait's wait), that wait ends with Interrupted; otherwise the thread is marked: its next such wait " \
    "that would block ends with Interrupted at once, and at its next return to user mode outside its "       \
    "personality handler (a thread with a syscall handler whose personality_active is 0) it enters the handler " \
    "as a redirected `syscall` does, with rsi = PERSONALITY_ENTRY_INTERRUPT and the interrupted registers, " \
    "rcx and r11 included, in personality_registers (a running thread is reached by an inter-processor "      \
    "interrupt, sent only when the mark was not yet set). One mark at most: interrupts that come before it " \
    "is taken merge; an ended thread is left as it is")

enum class Syscall : u64 {
#define ABI_SYSCALL_ENUM(name, number, target, right, lock, arguments, outputs, errors, summary) name = number,
  ABI_SYSCALLS(ABI_SYSCALL_ENUM)
#undef ABI_SYSCALL_ENUM
};

// The number of operations: one per table entry. Numbers are dense (checked below), so an
// operation number below SYSCALL_COUNT always names an operation.
constexpr u64 SYSCALL_COUNT = 0
#define ABI_SYSCALL_ONE(name, number, target, right, lock, arguments, outputs, errors, summary) +1
    ABI_SYSCALLS(ABI_SYSCALL_ONE);
#undef ABI_SYSCALL_ONE

// What the target column can say (see the table's comment).
enum class TargetKind : u8 { None, Any, Object, ThreadOrSelf };
struct SyscallTarget {
  TargetKind kind;
  ObjectType type;  // The type rdi must name (Object, ThreadOrSelf); None otherwise.
};
// The target column's words, so the table can name them bare.
namespace syscall_targets {
constexpr SyscallTarget None{TargetKind::None, ObjectType::None};
constexpr SyscallTarget Any{TargetKind::Any, ObjectType::None};
constexpr SyscallTarget ThreadOrSelf{TargetKind::ThreadOrSelf, ObjectType::Thread};
#define ABI_OBJECT_TARGET(type) constexpr SyscallTarget type{TargetKind::Object, ObjectType::type};
ABI_OBJECT_TYPES(ABI_OBJECT_TARGET)
#undef ABI_OBJECT_TARGET
}  // namespace syscall_targets

// The lock column: Kernel, the kernel lock is held while the operation runs.
enum class SyscallLock : u8 { Kernel };

// One operation's row, as the kernel's dispatcher reads it.
struct SyscallDescription {
  SyscallTarget target;
  u32 rights;  // The right needed on the target, as a bit mask (0: none).
  SyscallLock lock;
};

constexpr SyscallDescription syscall_description(Syscall operation) {
  switch (operation) {
#define ABI_SYSCALL_DESCRIPTION(name, number, target, right, lock, arguments, outputs, errors, summary) \
  case Syscall::name:                                                                                  \
    return {syscall_targets::target, static_cast<u32>(right), SyscallLock::lock};
    ABI_SYSCALLS(ABI_SYSCALL_DESCRIPTION)
#undef ABI_SYSCALL_DESCRIPTION
  }
  return {syscall_targets::None, 0, SyscallLock::Kernel};
}

namespace detail {
// Numbers run 0 .. SYSCALL_COUNT - 1 in table order, so the generated handler table indexed by
// number has no hole and no entry out of place.
constexpr bool syscall_numbers_dense() {
  u64 expected = 0;
#define ABI_SYSCALL_DENSE(name, number, target, right, lock, arguments, outputs, errors, summary) \
  if (static_cast<u64>(Syscall::name) != expected++) return false;
  ABI_SYSCALLS(ABI_SYSCALL_DENSE)
#undef ABI_SYSCALL_DENSE
  return true;
}
// A right must belong to its target's type (or be NoRight::None).
template <typename Right>
constexpr bool right_fits(SyscallTarget target) {
  if constexpr (std::is_same_v<Right, NoRight>) return true;
  else return (target.kind == TargetKind::Object || target.kind == TargetKind::ThreadOrSelf) && is_right_of<Right>(target.type);
}
}  // namespace detail
static_assert(detail::syscall_numbers_dense(), "operation numbers must follow the table, without gaps");
#define ABI_SYSCALL_RIGHT_CHECK(name, number, target, right, lock, arguments, outputs, errors, summary) \
  static_assert(detail::right_fits<decltype(right)>(syscall_targets::target), #name ": right of another type");
ABI_SYSCALLS(ABI_SYSCALL_RIGHT_CHECK)
#undef ABI_SYSCALL_RIGHT_CHECK

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

// Why a personality handler was entered (rsi at its entry): a redirected `syscall`, or a
// ThreadInterrupt taken while the thread ran outside its handler.
constexpr u64 PERSONALITY_ENTRY_SYSCALL = 0;
constexpr u64 PERSONALITY_ENTRY_INTERRUPT = 1;

// A thread's registers at a redirected `syscall` (rcx and r11 as the instruction left them: the
// return address and the flags). The handler may change them; PersonalityReturn loads them back
// (rip and rsp must stay below USER_SPACE_END; rflags keeps only the arithmetic flags). After an
// interrupt (PERSONALITY_ENTRY_INTERRUPT) they are the interrupted instruction's, rcx and r11 as the
// program had them; PersonalityReturn resumes every register exactly, rcx and r11 included.
struct PersonalityRegisters {
  u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
  u64 rip, rflags, rsp;
};
static_assert(sizeof(PersonalityRegisters) == 18 * 8);

// User thread control block: one page per thread, mapped in its task; %gs:0 holds its address.
// Words 0-3 of a message travel in registers; word i >= 4 is read from and written to words[i]
// (words[0..3] are unused by the kernel).
struct Utcb {
  u64 self;
  u64 words[MESSAGE_WORDS];
  // Capabilities to send with the next message: selector and rights mask each.
  u64 send_capabilities[MAX_TRANSFER_CAPABILITIES];
  u64 send_rights[MAX_TRANSFER_CAPABILITIES];
  // Empty slots where received capabilities land (0 = refuse); the kernel writes how many arrived.
  u64 receive_slots[MAX_TRANSFER_CAPABILITIES];
  u64 received_capabilities;
  // System-call personality (ThreadSetSyscallHandler): while personality_active is 0, a `syscall`
  // of the thread is not a native call: the kernel saves its registers here, sets
  // personality_active to 1 and enters the handler; PersonalityReturn resumes from them.
  u64 personality_active;
  PersonalityRegisters personality_registers;
  u8 reserved[4096 - 8 * (1 + MESSAGE_WORDS + 3 * MAX_TRANSFER_CAPABILITIES + 1 + 1) - sizeof(PersonalityRegisters)];
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
// The words of that call, for handlers that read them as a struct.
struct ExceptionMessage {
  u64 rip;
  u64 fault_address;  // Page faults; else 0.
  u64 error_code;
  u64 rsp;
  u64 vector;
};
static_assert(sizeof(ExceptionMessage) == 5 * 8);
// The handler's reply label: Resume retries the instruction (after fixing the cause), ResumeAt
// continues at word 0 (rip) with word 1 (rsp), Kill ends the thread. A ResumeAt rip at or above
// USER_SPACE_USABLE_END (or rsp outside user space) ends the thread like Kill.
enum class ExceptionReply : u32 { Resume = 0, ResumeAt = 1, Kill = 2 };
// Bits the kernel adds to a page fault's error code (word 2) when the fault was the first touch of
// a lazy Memory's page that could not get its frame: the object's factory had no quota left for
// it (the memory limit), or the machine had no frame.
constexpr u64 PAGE_FAULT_QUOTA_EXCEEDED = u64{1} << 62;
constexpr u64 PAGE_FAULT_OUT_OF_MEMORY = u64{1} << 61;

// Layout of user address spaces.
constexpr u64 USER_SPACE_START = 0x1000;  // The first page stays unmapped: null dereferences fault.
// The end of the canonical lower half: every user address (pointer, stack, FS base) lies below it.
constexpr u64 USER_SPACE_END = 0x0000800000000000;
// The end of what can be mapped or executed: the last page below USER_SPACE_END never is, so no
// instruction can end at the non-canonical USER_SPACE_END (a `syscall` there would return to it).
// Mappings, UTCBs and the rip that ThreadStart, ResumeAt and PersonalityReturn set stay below it.
constexpr u64 USER_SPACE_USABLE_END = USER_SPACE_END - 0x1000;

// TaskUnmap's work per call: it stops before the next mapping once it has removed or cut this
// many mappings, and inside a mapping once it has cleared this many pages (the mapping keeps
// the rest), so one call holds the kernel for a bounded time (tens of milliseconds under TCG).
constexpr u64 UNMAP_MAX_MAPPINGS = 4096;
constexpr u64 UNMAP_MAX_PAGES = 8192;
// TaskMap's work per call: it maps at most this many pages (one mapping record) and says where it
// stopped; the caller maps the rest from there (sys::Task::map does), so that mapping the
// largest Memory (65,536 pages: 9-21 ms under TCG in one call) holds the kernel lock for a
// few milliseconds at a time.
constexpr u64 MAP_MAX_PAGES = 8192;

// FactoryCreate's Memory flags (a4). MEMORY_LAZY: demand-zero; the reservation is charged only
// its object and a leaf directory (8 bytes per 2 MiB), each page one page (and each 2 MiB touched
// one more page for its leaf of frame addresses) when a task first touches it through a mapping;
// MemoryDecommit gives pages back, MemoryCopyCommitted copies the touched ones into another lazy
// object. MemoryRead, MemoryWrite, MemoryCopy and PlatformMemoryPhysical refuse lazy objects.
constexpr u64 MEMORY_LAZY = 1;
constexpr u64 LAZY_MAX_PAGES = u64{1} << 20;  // 4 GiB.
constexpr u64 LAZY_MAX_MAPPINGS = 4096;
// MemoryCopyCommitted's work per call: at most this many pages copied (256 KiB, as MemoryCopy moves
// per kernel entry) and UNMAP_MAX_PAGES pages looked at (an untouched 2 MiB leaf counts as one).
constexpr u64 COPY_COMMITTED_MAX_PAGES = 64;

}  // namespace metteagle::abi
