// DebugConsole: the boot-time console object, writing to the serial console and ending the machine.
// Invariant: see debug_console.hpp; it is never destroyed.
#include "object/debug_console.hpp"

#include "core/panic.hpp"
#include "core/syscall_dispatch.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::Syscall;

DebugConsole* create_debug_console() {
  auto console = allocate_object<DebugConsole>(nullptr, ObjectType::DebugConsole);
  KERNEL_ASSERT(console.ok());  // Boot time: the heap has memory.
  return console.value();
}

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::DebugWrite>(Thread&, Target<Syscall::DebugWrite>,
                                            SyscallArguments<Syscall::DebugWrite>& arguments) {
  if (arguments.length() > PAGE_SIZE) return Error::InvalidArgument;
  char buffer[PAGE_SIZE];
  TRY_VOID(arguments.text().copy_in(buffer));
  arch::serial_write(buffer, arguments.length());
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(DebugWrite);

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::DebugExit>(Thread&, Target<Syscall::DebugExit>,
                                           SyscallArguments<Syscall::DebugExit>& arguments) {
  arch::qemu_exit(arguments.exit_code());
}
KERNEL_SYSCALL_DISPATCHER(DebugExit);

}  // namespace kernel
