// The system-call handler table, generated from abi/syscall.hpp's table, the entry from user mode,
// and the handlers of the capability operations (they apply to a capability of any type); every
// object's own operations are in its file, object/<object>.cpp.
// Invariant: each handler runs only after the dispatcher validated its target (type and right);
// it validates its arguments before it changes anything, so a failing call changes nothing.
#include "abi/syscall.hpp"
#include "arch/x86_64/address_space.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/console.hpp"
#include "core/heap.hpp"
#include "core/ipc.hpp"
#include "core/kernel_lock.hpp"
#include "core/memory.hpp"
#include "core/scheduler.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/capability_space.hpp"
#include "object/lazy_memory.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::Syscall;

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::CapabilityIdentify>(
    Thread&, Target<Syscall::CapabilityIdentify> target, SyscallArguments<Syscall::CapabilityIdentify>& arguments) {
  arguments.set_description(static_cast<u64>(target.capability.object->type), target.capability.rights,
                            target.capability.badge);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(CapabilityIdentify);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::CapabilityCopy>(
    Thread& self, Target<Syscall::CapabilityCopy> target, SyscallArguments<Syscall::CapabilityCopy>& arguments) {
  Capability& source = target.capability;
  u64 badge = arguments.badge();
  // A badge can be set once, on an unbadged endpoint capability; it then names the holder.
  if (badge != 0 && (source.object->type != ObjectType::Endpoint || source.badge != 0)) return Error::InvalidArgument;
  // Last, as it may make the slot's chunk.
  Capability* destination = TRY(lookup_empty(own_task(self), arguments.destination_slot()));
  derive_capability(*destination, source, static_cast<u32>(arguments.rights_mask()), badge);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(CapabilityCopy);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::CapabilityDelete>(
    Thread&, Target<Syscall::CapabilityDelete> target, SyscallArguments<Syscall::CapabilityDelete>& arguments) {
  u64 work = 0;
  if (!delete_capability(target.capability, work, CAPABILITY_STEP_WORK)) {
    arguments.restart(Syscall::CapabilityDelete);
    return Outcome::Continues;
  }
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(CapabilityDelete);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::CapabilityRevoke>(
    Thread&, Target<Syscall::CapabilityRevoke> target, SyscallArguments<Syscall::CapabilityRevoke>& arguments) {
  u64 work = 0;
  if (!revoke_capability(target.capability, work, CAPABILITY_STEP_WORK)) {
    arguments.restart(Syscall::CapabilityRevoke);
    return Outcome::Continues;
  }
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(CapabilityRevoke);

namespace {

// Every operation's dispatcher, indexed by number: the table is the ABI table, so its order,
// its length and each entry's target and right cannot drift from abi/syscall.hpp.
using Handler = void (*)(Thread& self, arch::TrapFrame& frame);
constexpr Handler handlers[abi::SYSCALL_COUNT] = {
#define KERNEL_HANDLER_ENTRY(name, number, target, right, lock, arguments, outputs, errors, summary) \
  dispatch<Syscall::name>,
    ABI_SYSCALLS(KERNEL_HANDLER_ENTRY)
#undef KERNEL_HANDLER_ENTRY
};

// The dispatcher below takes the kernel lock for every operation: the table may not yet ask for less.
#define KERNEL_LOCK_CHECK(name, number, target, right, lock, arguments, outputs, errors, summary) \
  static_assert(abi::SyscallLock::lock == abi::SyscallLock::Kernel, #name ": only the kernel lock exists");
ABI_SYSCALLS(KERNEL_LOCK_CHECK)
#undef KERNEL_LOCK_CHECK

}  // namespace

// Everything that must happen before any return to user mode.
void on_return_to_user() {
  if (destroy_queue_length != 0) finish_destroy_queue();
  Thread& self = *current_thread();
  // Every path that sets a user instruction pointer checks it; should one ever let a return address outside
  // usable user space through, the thread ends as its own fault: the exit path never returns to
  // it (sysret to a non-canonical address faults in ring 0 on the user's stack, CVE-2012-0217).
  if (self.state != ThreadState::Dead &&
      arch::user_instruction_pointer(*self.frame) >= metteagle::abi::USER_SPACE_USABLE_END)
    stop_thread(self);
  if (current_thread()->state == ThreadState::Dead) exit_current();
  // The scheduler's request also carries a ThreadInterrupt's (interrupt_thread and schedule raise it
  // for a marked thread), so the common return pays nothing for interrupts.
  if (this_cpu().need_reschedule) {
    schedule();
    if (current_thread()->interrupt_pending) take_interrupt(*current_thread());
  }
  // A shootdown may have moved this CPU to the kernel's tables; user code needs its own.
  // (A dead thread never gets here: exit_current does not return.)
  arch::address_space_activate(current_thread()->task->page_table_root);
}

}  // namespace kernel

extern "C" void syscall_dispatch(arch::TrapFrame* frame) {
  using namespace kernel;
  kernel_lock_acquire();
  Thread& self = *current_thread();
  arch::SyscallRegisters registers(*frame);
  u64 operation = registers.operation();
  // While this CPU waited for the kernel lock, another may have destroyed this thread: then it
  // only leaves (on_return_to_user), it does nothing more.
  if (self.state == ThreadState::Dead) {
    // Nothing: its task may be gone.
  } else if (self.syscall_handler_entry != 0 && redirect_to_personality(self, *frame)) {
    // A foreign system call: the thread continues in its user-level handler.
  } else if (operation < metteagle::abi::SYSCALL_COUNT) {
    handlers[operation](self, *frame);
  } else {
    registers.set_error(metteagle::abi::Error::Unsupported);
  }
  on_return_to_user();
  kernel_lock_release();
}
