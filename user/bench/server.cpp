// The benchmark's IPC server: answers every call on its endpoint (selector 8) at once. A call with
// label 1 first moves the server to the CPU in word 0, so the client can measure same-CPU and
// cross-CPU round trips against the same task.
#include "sys/sys.hpp"

using namespace sys;

namespace {
constexpr u64 ENDPOINT = 8;
constexpr u64 OWN_THREAD = 2;
constexpr u32 LABEL_MOVE_TO_CPU = 1;
constexpr u32 SERVER_PRIORITY = 16;
}  // namespace

extern "C" void metteagle_main(u64) {
  SyscallRegisters registers{};
  registers.timeout_or_badge = abi::TIMEOUT_INFINITE;
  Error error = invoke(abi::Syscall::IpcReceive, ENDPOINT, registers);
  while (error == Error::None) {
    abi::MessageTag tag{registers.argument1};
    if (tag.label() == LABEL_MOVE_TO_CPU)
      error = invoke(abi::Syscall::ThreadConfigure, OWN_THREAD, SERVER_PRIORITY, registers.argument2);
    // The reply echoes word 0; words 1-3 stay as received.
    registers.argument1 = abi::MessageTag::make(static_cast<u32>(error), 1).raw;
    registers.timeout_or_badge = abi::TIMEOUT_INFINITE;
    error = invoke(abi::Syscall::IpcReplyWait, ENDPOINT, registers);
  }
  exit_thread();
}
