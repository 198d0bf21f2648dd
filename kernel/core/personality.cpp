// System-call personalities: a thread's `syscall` instructions redirected to a user-level handler
// in its own task (a Linux ABI, for instance), and the FS base that thread-local storage needs.
// The kernel knows nothing of the foreign ABI: it saves the registers in the UTCB, enters the
// handler, and later resumes whatever registers the handler leaves there.
// Invariant: the handler runs with personality_active set, so its own system calls are native;
// a resumed thread gets only a user-space instruction and stack pointer and arithmetic flags, whatever the UTCB says.
#include <cstddef>

#include "abi/syscall.hpp"
#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/syscall_registers.hpp"
#include "core/scheduler.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/capability_space.hpp"

namespace kernel {
namespace {

using abi::Error;
using abi::Syscall;

abi::Utcb& utcb_of(Thread& thread) {
  return *reinterpret_cast<abi::Utcb*>(arch::physical_to_virtual(thread.utcb_frame));
}

bool user_address(u64 address) { return address < abi::USER_SPACE_END; }
// Where code can run: below the usable end, so no instruction ends at a non-canonical address.
bool user_code_address(u64 address) { return address < abi::USER_SPACE_USABLE_END; }

}  // namespace

bool redirect_to_personality(Thread& self, arch::TrapFrame& frame) {
  if (self.syscall_handler_entry == 0) return false;
  abi::Utcb& utcb = utcb_of(self);
  if (utcb.personality_active != 0) return false;  // The handler's own calls are native.
  utcb.personality_registers = arch::personality_registers(frame);
  utcb.personality_active = 1;
  arch::enter_personality(frame, self.syscall_handler_entry, self.syscall_handler_stack,
                          self.utcb_address + offsetof(abi::Utcb, personality_registers),
                          abi::PERSONALITY_ENTRY_SYSCALL);
  return true;
}

void take_interrupt(Thread& self) {
  // Without a handler the mark stays for the thread's next wait; inside its handler, the handler
  // returns first (PersonalityReturn) and the interrupt is taken on that way out.
  if (self.syscall_handler_entry == 0) return;
  abi::Utcb& utcb = utcb_of(self);
  if (utcb.personality_active != 0) return;
  self.interrupt_pending = false;
  utcb.personality_registers = arch::personality_registers(*self.frame);
  utcb.personality_active = 1;
  arch::enter_personality(*self.frame, self.syscall_handler_entry, self.syscall_handler_stack,
                          self.utcb_address + offsetof(abi::Utcb, personality_registers),
                          abi::PERSONALITY_ENTRY_INTERRUPT);
}

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::ThreadSetSyscallHandler>(
    Thread&, Target<Syscall::ThreadSetSyscallHandler> target,
    SyscallArguments<Syscall::ThreadSetSyscallHandler>& arguments) {
  u64 entry = arguments.entry();
  u64 stack = arguments.stack_top();
  if (entry != 0 && (!user_code_address(entry) || !user_address(stack))) return Error::InvalidArgument;
  target.thread.syscall_handler_entry = entry;
  target.thread.syscall_handler_stack = entry == 0 ? 0 : stack;
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadSetSyscallHandler);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::PersonalityReturn>(
    Thread& self, Target<Syscall::PersonalityReturn>, SyscallArguments<Syscall::PersonalityReturn>&) {
  if (self.syscall_handler_entry == 0) return Error::InvalidArgument;
  abi::Utcb& utcb = utcb_of(self);
  // One copy out of the UTCB (user-writable memory), then checks on the copy.
  abi::PersonalityRegisters saved = utcb.personality_registers;
  if (!user_code_address(arch::saved_instruction_pointer(saved)) || !user_address(arch::saved_stack_pointer(saved)))
    return Error::InvalidArgument;
  arch::load_personality_registers(*self.frame, saved);
  utcb.personality_active = 0;
  // An interrupt that came while the handler ran is taken on this way out (on_return_to_user).
  if (self.interrupt_pending) this_cpu().need_reschedule = true;
  return Outcome::Continues;  // The registers, the result among them, are the handler's.
}
KERNEL_SYSCALL_DISPATCHER(PersonalityReturn);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::ThreadSetFsBase>(
    Thread& self, Target<Syscall::ThreadSetFsBase> target, SyscallArguments<Syscall::ThreadSetFsBase>& arguments) {
  u64 base = arguments.base();
  if (!user_address(base)) return Error::InvalidArgument;
  target.thread.fs_base = base;
  if (&target.thread == &self) arch::set_fs_base(base);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadSetFsBase);

}  // namespace kernel
