// The empty program of the spawn benchmark: tells its parent it ran (a call on selector 8) and ends.
#include "sys/sys.hpp"

using namespace sys;

extern "C" void metteagle_main(u64) {
  SyscallRegisters registers{};
  registers.argument1 = abi::MessageTag::make(0, 0).raw;
  registers.timeout_or_badge = abi::TIMEOUT_INFINITE;
  (void)invoke(abi::Syscall::IpcCall, 8, registers);
  exit_thread();
}
