// SyscallArguments<Operation>: each operation's arguments and outputs by name, read and written
// through the register convention of kernel/arch/x86_64/syscall_registers.hpp. One view per row
// of abi/syscall.hpp's table, in its order and with its argument column's words; an operation
// without a view does not compile.
// Invariant: generic kernel code reaches a system call's registers only through these views.
#pragma once

#include "abi/syscall.hpp"
#include "arch/x86_64/syscall_registers.hpp"
#include "core/user_memory.hpp"

namespace kernel {

// What every view shares: the target selector, the IPC timeout, the error, a restart.
class SyscallView {
 public:
  explicit SyscallView(arch::TrapFrame& frame) : registers_(frame) {}

  u64 selector() const { return registers_.selector(); }
  u64 timeout() const { return registers_.timeout(); }
  void set_error(metteagle::abi::Error error) { registers_.set_error(error); }
  // The call enters itself again at the same `syscall` (a bounded step of a long operation):
  // every check is made again on the new entry.
  void restart(metteagle::abi::Syscall operation) { registers_.restart(operation); }

 protected:
  template <u32 Index> u64 argument() const { return registers_.argument<Index>(); }
  template <u32 Index> void set_argument(u64 value) { registers_.set_argument<Index>(value); }
  template <u32 Index> void set_output(u64 value) { registers_.set_output<Index>(value); }

 private:
  arch::SyscallRegisters registers_;
};

template <metteagle::abi::Syscall Operation> class SyscallArguments;

#define KERNEL_SYSCALL_VIEW(name) template <> class SyscallArguments<metteagle::abi::Syscall::name> : public SyscallView

// A view with no arguments and no outputs (besides the error).
#define KERNEL_SYSCALL_VIEW_EMPTY(name) \
  KERNEL_SYSCALL_VIEW(name) {           \
   public:                              \
    using SyscallView::SyscallView;     \
  }

KERNEL_SYSCALL_VIEW(DebugWrite) {
 public:
  using SyscallView::SyscallView;
  u64 length() const { return argument<2>(); }
  UserSpan<const char> text() const { return {argument<1>(), argument<2>()}; }
};

KERNEL_SYSCALL_VIEW(DebugExit) {
 public:
  using SyscallView::SyscallView;
  u8 exit_code() const { return static_cast<u8>(argument<1>()); }
};

KERNEL_SYSCALL_VIEW(CapabilityIdentify) {
 public:
  using SyscallView::SyscallView;
  void set_description(u64 type, u64 rights, u64 badge) {
    set_output<1>(type);
    set_output<2>(rights);
    set_output<3>(badge);
  }
};

KERNEL_SYSCALL_VIEW(CapabilityCopy) {
 public:
  using SyscallView::SyscallView;
  u64 destination_slot() const { return argument<1>(); }
  u64 rights_mask() const { return argument<2>(); }
  u64 badge() const { return argument<3>(); }
};

KERNEL_SYSCALL_VIEW_EMPTY(CapabilityDelete);
KERNEL_SYSCALL_VIEW_EMPTY(CapabilityRevoke);

KERNEL_SYSCALL_VIEW(FactoryCreate) {
 public:
  using SyscallView::SyscallView;
  u64 object_type() const { return argument<1>(); }
  u64 destination_slot() const { return argument<2>(); }
  u64 size() const { return argument<3>(); }
  u64 task_selector() const { return argument<4>(); }  // Thread.
  u64 memory_flags() const { return argument<4>(); }   // Memory.
  u64 utcb_address() const { return argument<5>(); }   // Thread.
};

KERNEL_SYSCALL_VIEW(FactoryInfo) {
 public:
  using SyscallView::SyscallView;
  void set_quota(u64 bytes) { set_output<1>(bytes); }
  void set_used(u64 bytes) { set_output<2>(bytes); }
  void set_machine_free(u64 bytes) { set_output<3>(bytes); }
  void set_heap_in_objects(u64 bytes) { set_output<4>(bytes); }
  void set_heap_pages(u64 bytes) { set_output<5>(bytes); }
};

KERNEL_SYSCALL_VIEW(TaskMap) {
 public:
  using SyscallView::SyscallView;
  u64 memory_selector() const { return argument<1>(); }
  u64 first_page() const { return argument<2>(); }
  u64 address() const { return argument<3>(); }
  u64 page_count() const { return argument<4>(); }
  u64 rights() const { return argument<5>(); }
  void set_stopped_at(u64 address) { set_output<1>(address); }
};

KERNEL_SYSCALL_VIEW(TaskUnmap) {
 public:
  using SyscallView::SyscallView;
  u64 address() const { return argument<1>(); }
  u64 page_count() const { return argument<2>(); }
  void set_stopped_at(u64 address) { set_output<1>(address); }
};

KERNEL_SYSCALL_VIEW(TaskGiveCapability) {
 public:
  using SyscallView::SyscallView;
  u64 own_slot() const { return argument<1>(); }
  u64 task_slot() const { return argument<2>(); }
  u64 rights_mask() const { return argument<3>(); }
};

KERNEL_SYSCALL_VIEW(ThreadStart) {
 public:
  using SyscallView::SyscallView;
  u64 instruction_pointer() const { return argument<1>(); }
  u64 stack_pointer() const { return argument<2>(); }
  u64 start_argument() const { return argument<3>(); }
};

KERNEL_SYSCALL_VIEW(ThreadConfigure) {
 public:
  using SyscallView::SyscallView;
  u64 priority() const { return argument<1>(); }
  u64 cpu() const { return argument<2>(); }
  u64 exception_endpoint_selector() const { return argument<3>(); }
  u64 allowed_cpus() const { return argument<4>(); }  // 0: unchanged.
};

KERNEL_SYSCALL_VIEW_EMPTY(ThreadExit);
KERNEL_SYSCALL_VIEW_EMPTY(ThreadYield);
// The IPC operations' messages travel in the registers of the threads involved; ipc.cpp moves
// them (through arch::SyscallRegisters), the views carry only the timeout.
KERNEL_SYSCALL_VIEW_EMPTY(IpcCall);
KERNEL_SYSCALL_VIEW_EMPTY(IpcSend);
KERNEL_SYSCALL_VIEW_EMPTY(IpcReceive);
KERNEL_SYSCALL_VIEW_EMPTY(IpcReply);
KERNEL_SYSCALL_VIEW_EMPTY(IpcReplyWait);

KERNEL_SYSCALL_VIEW(ThreadSelf) {
 public:
  using SyscallView::SyscallView;
  void set_cpu(u64 index) { set_output<1>(index); }
  void set_timestamp(u64 ticks) { set_output<2>(ticks); }
  void set_timestamp_hertz(u64 hertz) { set_output<3>(hertz); }
  void set_cpus_online(u64 count) { set_output<4>(count); }
  void set_yields(u64 count) { set_output<5>(count); }
};

KERNEL_SYSCALL_VIEW(NotificationSignal) {
 public:
  using SyscallView::SyscallView;
  u64 bits() const { return argument<1>(); }
};

KERNEL_SYSCALL_VIEW(NotificationWait) {
 public:
  using SyscallView::SyscallView;
  void set_bits(u64 bits) { set_output<1>(bits); }
};

// The platform's creations share their destination (a1) and the factory charged (a4).
class PlatformCreationView : public SyscallView {
 public:
  using SyscallView::SyscallView;
  u64 destination_slot() const { return argument<1>(); }
  u64 factory_selector() const { return argument<4>(); }
};

template <> class SyscallArguments<metteagle::abi::Syscall::PlatformCreateMmio> : public PlatformCreationView {
 public:
  using PlatformCreationView::PlatformCreationView;
  u64 physical_address() const { return argument<2>(); }
  u64 page_count() const { return argument<3>(); }
};

template <> class SyscallArguments<metteagle::abi::Syscall::PlatformCreateIoPorts> : public PlatformCreationView {
 public:
  using PlatformCreationView::PlatformCreationView;
  u64 first_port() const { return argument<2>(); }
  u64 port_count() const { return argument<3>(); }
};

template <> class SyscallArguments<metteagle::abi::Syscall::PlatformCreateIrq> : public PlatformCreationView {
 public:
  using PlatformCreationView::PlatformCreationView;
  u64 line() const { return argument<2>(); }
  u64 flags() const { return argument<3>(); }
};

KERNEL_SYSCALL_VIEW(IrqBind) {
 public:
  using SyscallView::SyscallView;
  u64 notification_selector() const { return argument<1>(); }
  u64 bits() const { return argument<2>(); }
};

KERNEL_SYSCALL_VIEW_EMPTY(IrqAcknowledge);

KERNEL_SYSCALL_VIEW(IoPortRead) {
 public:
  using SyscallView::SyscallView;
  u64 port() const { return argument<1>(); }
  u64 width() const { return argument<2>(); }
  void set_value(u64 value) { set_output<1>(value); }
};

KERNEL_SYSCALL_VIEW(IoPortWrite) {
 public:
  using SyscallView::SyscallView;
  u64 port() const { return argument<1>(); }
  u64 width() const { return argument<2>(); }
  u64 value() const { return argument<3>(); }
};

KERNEL_SYSCALL_VIEW_EMPTY(IpcSaveReply);
KERNEL_SYSCALL_VIEW_EMPTY(IpcReplyWith);

template <> class SyscallArguments<metteagle::abi::Syscall::PlatformCreateDmaMemory> : public PlatformCreationView {
 public:
  using PlatformCreationView::PlatformCreationView;
  u64 page_count() const { return argument<2>(); }
};

KERNEL_SYSCALL_VIEW(PlatformMemoryPhysical) {
 public:
  using SyscallView::SyscallView;
  u64 memory_selector() const { return argument<1>(); }
  u64 page() const { return argument<2>(); }
  void set_physical_address(u64 address) { set_output<1>(address); }
};

KERNEL_SYSCALL_VIEW(MemoryWrite) {
 public:
  using SyscallView::SyscallView;
  u64 offset() const { return argument<1>(); }
  UserSpan<const u8> source() const { return {argument<2>(), argument<3>()}; }
  u64 length() const { return argument<3>(); }
  // What remains for the next entry.
  void set_remaining(u64 offset, const UserSpan<const u8>& source) {
    set_argument<1>(offset);
    set_argument<2>(source.address());
    set_argument<3>(source.count());
  }
};

KERNEL_SYSCALL_VIEW(MemoryRead) {
 public:
  using SyscallView::SyscallView;
  u64 offset() const { return argument<1>(); }
  UserSpan<u8> destination() const { return {argument<2>(), argument<3>()}; }
  u64 length() const { return argument<3>(); }
  void set_remaining(u64 offset, const UserSpan<u8>& destination) {
    set_argument<1>(offset);
    set_argument<2>(destination.address());
    set_argument<3>(destination.count());
  }
};

KERNEL_SYSCALL_VIEW(MemoryCopy) {
 public:
  using SyscallView::SyscallView;
  u64 target_offset() const { return argument<1>(); }
  u64 source_selector() const { return argument<2>(); }
  u64 source_offset() const { return argument<3>(); }
  u64 length() const { return argument<4>(); }
  void set_remaining(u64 target_offset, u64 source_offset, u64 length) {
    set_argument<1>(target_offset);
    set_argument<3>(source_offset);
    set_argument<4>(length);
  }
};

KERNEL_SYSCALL_VIEW(ThreadSetSyscallHandler) {
 public:
  using SyscallView::SyscallView;
  u64 entry() const { return argument<1>(); }  // 0: native system calls again.
  u64 stack_top() const { return argument<2>(); }
};

KERNEL_SYSCALL_VIEW_EMPTY(PersonalityReturn);
KERNEL_SYSCALL_VIEW_EMPTY(ThreadInterrupt);

KERNEL_SYSCALL_VIEW(ThreadSetFsBase) {
 public:
  using SyscallView::SyscallView;
  u64 base() const { return argument<1>(); }
};

KERNEL_SYSCALL_VIEW(MemoryDecommit) {
 public:
  using SyscallView::SyscallView;
  u64 first_page() const { return argument<1>(); }
  u64 page_count() const { return argument<2>(); }
  void set_stopped_at(u64 page) { set_output<1>(page); }
};

KERNEL_SYSCALL_VIEW(MemoryCommit) {
 public:
  using SyscallView::SyscallView;
  u64 first_page() const { return argument<1>(); }
  u64 page_count() const { return argument<2>(); }
  void set_stopped_at(u64 page) { set_output<1>(page); }
};

KERNEL_SYSCALL_VIEW(MemoryCopyCommitted) {
 public:
  using SyscallView::SyscallView;
  u64 source_selector() const { return argument<1>(); }
  u64 first_page() const { return argument<2>(); }
  u64 page_count() const { return argument<3>(); }
  void set_stopped_at(u64 page) { set_output<1>(page); }
};

KERNEL_SYSCALL_VIEW(MemoryResidency) {
 public:
  using SyscallView::SyscallView;
  u64 first_page() const { return argument<1>(); }
  u64 page_count() const { return argument<2>(); }
  void set_resident(u64 bits) { set_output<1>(bits); }
};

#undef KERNEL_SYSCALL_VIEW_EMPTY
#undef KERNEL_SYSCALL_VIEW

}  // namespace kernel
