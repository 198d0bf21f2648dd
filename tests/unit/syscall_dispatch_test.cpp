// The generic dispatcher on the host (seL4's decode/invoke split): the target is looked up and its
// type and right checked before the handler runs, a handler's error or success reaches the
// caller's rax, and a failed decode never reaches the handler.
#include "core/syscall_dispatch.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "object/io_ports.hpp"

namespace kernel {
namespace {
// What the test handlers saw: how often they ran, and with which target.
int io_port_writes = 0;
IoPorts* written_ports = nullptr;
abi::Error io_port_write_result = abi::Error::None;
int fs_base_calls = 0;
Thread* fs_base_thread = nullptr;
}  // namespace

using abi::Error;
using abi::Syscall;

template <>
Result<Outcome> invoke<Syscall::IoPortWrite>(Thread&, Target<Syscall::IoPortWrite> target,
                                             SyscallArguments<Syscall::IoPortWrite>& arguments) {
  ++io_port_writes;
  written_ports = &target.object;
  if (io_port_write_result != Error::None) return io_port_write_result;
  EXPECT_EQ(arguments.port(), 0x80u);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IoPortWrite);

template <>
Result<Outcome> invoke<Syscall::ThreadSetFsBase>(Thread&, Target<Syscall::ThreadSetFsBase> target,
                                                 SyscallArguments<Syscall::ThreadSetFsBase>&) {
  ++fs_base_calls;
  fs_base_thread = &target.thread;
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadSetFsBase);

}  // namespace kernel

namespace {

namespace abi = metteagle::abi;
using abi::Error;
using abi::Syscall;
using kernel::Capability;
using kernel::fs_base_calls;
using kernel::fs_base_thread;
using kernel::io_port_write_result;
using kernel::io_port_writes;
using kernel::written_ports;
using klib::u64;

struct Dispatch : ::testing::Test {
  static constexpr u64 SLOTS = 8;
  std::vector<Capability> slots = std::vector<Capability>(SLOTS);
  kernel::Task task;
  kernel::Thread self;
  kernel::Thread other;
  kernel::IoPorts ports;
  kernel::KernelObject endpoint;

  void SetUp() override {
    io_port_writes = fs_base_calls = 0;
    written_ports = nullptr;
    fs_base_thread = nullptr;
    io_port_write_result = Error::None;
    task.slot_chunks[0] = slots.data();
    task.slot_count = SLOTS;
    self.task = &task;
    ports.header.type = abi::ObjectType::IoPorts;
    other.header.type = abi::ObjectType::Thread;
    endpoint.type = abi::ObjectType::Endpoint;
    kernel::install_capability(slots[1], &ports.header, abi::ALL_RIGHTS);
    kernel::install_capability(slots[2], &ports.header, abi::rights_of(abi::IoPortsRight::Read));
    kernel::install_capability(slots[3], &endpoint, abi::ALL_RIGHTS);
    kernel::install_capability(slots[4], &other.header, abi::ALL_RIGHTS);
    kernel::install_capability(slots[5], &other.header, 0);
  }

  // Runs operation on selector from self and returns the error left in rax.
  template <Syscall Operation>
  Error call(u64 selector) {
    arch::TrapFrame frame{};
    frame.rax = static_cast<u64>(Operation);
    frame.rdi = selector;
    frame.rsi = 0x80;
    kernel::dispatch<Operation>(self, frame);
    return static_cast<Error>(frame.rax);
  }
};

TEST_F(Dispatch, TheHandlerRunsOnlyWithTheRightTypeAndRight) {
  EXPECT_EQ(call<Syscall::IoPortWrite>(0), Error::InvalidCapability);
  EXPECT_EQ(call<Syscall::IoPortWrite>(7), Error::InvalidCapability);  // Empty.
  EXPECT_EQ(call<Syscall::IoPortWrite>(SLOTS), Error::InvalidCapability);
  EXPECT_EQ(call<Syscall::IoPortWrite>(3), Error::WrongType);
  EXPECT_EQ(call<Syscall::IoPortWrite>(2), Error::NoRights);  // Read only.
  EXPECT_EQ(io_port_writes, 0);
  EXPECT_EQ(call<Syscall::IoPortWrite>(1), Error::None);
  EXPECT_EQ(io_port_writes, 1);
  EXPECT_EQ(written_ports, &ports);
  ports.header.dying = true;
  EXPECT_EQ(call<Syscall::IoPortWrite>(1), Error::Destroyed);
  EXPECT_EQ(io_port_writes, 1);
}

TEST_F(Dispatch, AHandlersErrorReachesTheCaller) {
  io_port_write_result = Error::InvalidArgument;
  EXPECT_EQ(call<Syscall::IoPortWrite>(1), Error::InvalidArgument);
  EXPECT_EQ(io_port_writes, 1);
}

TEST_F(Dispatch, ThreadOrSelfTakesSelectorZeroAsTheCaller) {
  EXPECT_EQ(call<Syscall::ThreadSetFsBase>(0), Error::None);
  EXPECT_EQ(fs_base_thread, &self);
  EXPECT_EQ(call<Syscall::ThreadSetFsBase>(4), Error::None);
  EXPECT_EQ(fs_base_thread, &other);
  EXPECT_EQ(call<Syscall::ThreadSetFsBase>(5), Error::NoRights);  // No Control.
  EXPECT_EQ(call<Syscall::ThreadSetFsBase>(1), Error::WrongType);
  EXPECT_EQ(fs_base_calls, 2);
}

TEST_F(Dispatch, AnyAndNoneTargets) {
  auto any = kernel::decode_target<Syscall::CapabilityIdentify>(self, 3);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(&any.value().capability, &slots[3]);
  EXPECT_EQ(kernel::decode_target<Syscall::CapabilityIdentify>(self, 6).error(), Error::InvalidCapability);
  // rdi means nothing to ThreadSelf: any value decodes.
  EXPECT_TRUE(kernel::decode_target<Syscall::ThreadSelf>(self, ~u64{0}).ok());
}

}  // namespace
