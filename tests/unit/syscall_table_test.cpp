// The ABI table as the kernel's dispatcher reads it, on the host: each operation's target and
// typed right, the operation count, and the typed argument views over the register convention.
#include "core/syscall_arguments.hpp"

#include <gtest/gtest.h>

extern "C" klib::u64 checked_copy(void* destination, const void* source, klib::u64 length);

namespace {

namespace abi = metteagle::abi;
using abi::Syscall;
using abi::TargetKind;
using kernel::SyscallArguments;
using klib::u64;

TEST(SyscallTable, CountIsTheNumberOfRows) {
  EXPECT_EQ(abi::SYSCALL_COUNT, static_cast<u64>(Syscall::ThreadInterrupt) + 1);
}

TEST(SyscallTable, RowsCarryTargetAndTypedRight) {
  auto write = abi::syscall_description(Syscall::IoPortWrite);
  EXPECT_EQ(write.target.kind, TargetKind::Object);
  EXPECT_EQ(write.target.type, abi::ObjectType::IoPorts);
  EXPECT_EQ(write.rights, abi::rights_of(abi::IoPortsRight::Write));
  auto save = abi::syscall_description(Syscall::IpcSaveReply);
  EXPECT_EQ(save.target.type, abi::ObjectType::Reply);
  EXPECT_EQ(save.rights, abi::rights_of(abi::ReplyRight::Reply));
  auto bind = abi::syscall_description(Syscall::IrqBind);
  EXPECT_EQ(bind.target.type, abi::ObjectType::Irq);
  EXPECT_EQ(bind.rights, abi::rights_of(abi::IrqRight::Control));
  auto mmio = abi::syscall_description(Syscall::PlatformCreateMmio);
  EXPECT_EQ(mmio.target.type, abi::ObjectType::Platform);
  EXPECT_EQ(mmio.rights, abi::rights_of(abi::PlatformRight::Devices));
  EXPECT_EQ(abi::syscall_description(Syscall::ThreadSelf).target.kind, TargetKind::None);
  EXPECT_EQ(abi::syscall_description(Syscall::CapabilityCopy).target.kind, TargetKind::Any);
  EXPECT_EQ(abi::syscall_description(Syscall::ThreadSetFsBase).target.kind, TargetKind::ThreadOrSelf);
  EXPECT_EQ(abi::syscall_description(Syscall::FactoryInfo).rights, 0u);
  auto interrupt = abi::syscall_description(Syscall::ThreadInterrupt);
  EXPECT_EQ(interrupt.target.kind, TargetKind::Object);
  EXPECT_EQ(interrupt.target.type, abi::ObjectType::Thread);
  EXPECT_EQ(interrupt.rights, abi::rights_of(abi::ThreadRight::Interrupt));
  for (u64 number = 0; number < abi::SYSCALL_COUNT; ++number)
    EXPECT_EQ(abi::syscall_description(static_cast<Syscall>(number)).lock, abi::SyscallLock::Kernel) << number;
}

// A right of another type's enum, or a right on a target without a type, is refused.
static_assert(abi::detail::right_fits<abi::IoPortsRight>({TargetKind::Object, abi::ObjectType::IoPorts}));
static_assert(!abi::detail::right_fits<abi::MemoryRight>({TargetKind::Object, abi::ObjectType::IoPorts}));
static_assert(!abi::detail::right_fits<abi::TaskRight>(abi::syscall_targets::Any));
static_assert(abi::detail::right_fits<abi::NoRight>(abi::syscall_targets::None));

arch::TrapFrame frame_with_arguments() {
  arch::TrapFrame frame{};
  frame.rdi = 9;
  frame.rsi = 11;
  frame.rdx = 22;
  frame.r10 = 33;
  frame.r8 = 44;
  frame.r9 = 55;
  frame.r12 = 66;
  return frame;
}

TEST(SyscallArgumentViews, ReadTheRegistersOfTheConvention) {
  arch::TrapFrame frame = frame_with_arguments();
  SyscallArguments<Syscall::TaskMap> map(frame);
  EXPECT_EQ(map.selector(), 9u);
  EXPECT_EQ(map.memory_selector(), 11u);
  EXPECT_EQ(map.first_page(), 22u);
  EXPECT_EQ(map.address(), 33u);
  EXPECT_EQ(map.page_count(), 44u);
  EXPECT_EQ(map.rights(), 55u);
  EXPECT_EQ(map.timeout(), 66u);
  SyscallArguments<Syscall::MemoryCopy> copy(frame);
  EXPECT_EQ(copy.source_selector(), 22u);
  EXPECT_EQ(copy.length(), 44u);
  SyscallArguments<Syscall::PlatformCreateIrq> irq(frame);
  EXPECT_EQ(irq.destination_slot(), 11u);
  EXPECT_EQ(irq.line(), 22u);
  EXPECT_EQ(irq.factory_selector(), 44u);
}

TEST(SyscallArgumentViews, OutputsErrorsAndRestarts) {
  arch::TrapFrame frame = frame_with_arguments();
  frame.rip = 0x401002;
  SyscallArguments<Syscall::FactoryInfo> info(frame);
  info.set_quota(1);
  info.set_used(2);
  info.set_machine_free(3);
  info.set_heap_in_objects(4);
  info.set_heap_pages(5);
  info.set_error(abi::Error::NoRights);
  EXPECT_EQ(frame.rsi, 1u);
  EXPECT_EQ(frame.rdx, 2u);
  EXPECT_EQ(frame.r10, 3u);
  EXPECT_EQ(frame.r8, 4u);
  EXPECT_EQ(frame.r9, 5u);
  EXPECT_EQ(frame.rax, static_cast<u64>(abi::Error::NoRights));
  SyscallArguments<Syscall::MemoryCopy> copy(frame);
  copy.set_remaining(100, 200, 300);
  copy.restart(Syscall::MemoryCopy);
  EXPECT_EQ(frame.rsi, 100u);
  EXPECT_EQ(frame.rdx, 2u);  // The source selector stays.
  EXPECT_EQ(frame.r10, 200u);
  EXPECT_EQ(frame.r8, 300u);
  EXPECT_EQ(frame.rip, 0x401000u);  // Back onto the two-byte `syscall`.
  EXPECT_EQ(frame.rax, static_cast<u64>(Syscall::MemoryCopy));
}

}  // namespace
