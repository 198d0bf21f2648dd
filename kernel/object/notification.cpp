// Notification: creation, signal and wait, and destruction, which fails its waiters and unbinds
// its interrupts.
// Invariant: see notification.hpp; bits are taken whole by one waiter.
#include "object/notification.hpp"

#include "arch/x86_64/cpu.hpp"
#include "core/scheduler.hpp"
#include "core/syscall_dispatch.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::Syscall;

Result<Notification*> create_notification(Factory* factory) {
  return allocate_object<Notification>(factory, ObjectType::Notification);
}

void notification_signal(Notification& notification, u64 bits) {
  notification.bits |= bits;
  if (Thread* waiter = notification.waiters.pop_front()) {
    cancel_timeout(*waiter);
    waiter->blocked_on = nullptr;
    // The waiter's NotificationWait returns the bits as its o1.
    arch::SyscallRegisters registers(*waiter->frame);
    registers.set_output<1>(notification.bits);
    registers.set_error(Error::None);
    notification.bits = 0;
    make_ready(*waiter);
  }
}

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::NotificationSignal>(Thread&, Target<Syscall::NotificationSignal> target,
                                                    SyscallArguments<Syscall::NotificationSignal>& arguments) {
  u64 bits = arguments.bits();
  if (bits == 0) return Error::InvalidArgument;
  notification_signal(target.object, bits);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(NotificationSignal);

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::NotificationWait>(Thread& self, Target<Syscall::NotificationWait> target,
                                                  SyscallArguments<Syscall::NotificationWait>& arguments) {
  Notification& notification = target.object;
  if (notification.bits != 0) {
    arguments.set_bits(notification.bits);
    notification.bits = 0;
    return Outcome::Finished;
  }
  u64 timeout = arguments.timeout();
  if (timeout == 0) return Error::Timeout;
  if (take_pending_interrupt(self)) return Error::Interrupted;
  notification.waiters.push_back(self);
  if (timeout != abi::TIMEOUT_INFINITE) {
    u64 now = arch::read_tsc();
    u64 delay = nanoseconds_to_tsc(timeout);
    if (delay <= ~u64{0} - now) add_timeout(self, now + delay);
  }
  block_current(ThreadState::BlockedReceive);  // The signaller (or a timeout) fills in the result.
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(NotificationWait);

void destroy_notification(Notification& notification) {
  while (Thread* thread = notification.waiters.pop_front()) wake_with_error(*thread, Error::Destroyed);
  while (Irq* irq = notification.bound_irqs.front()) unbind_irq(*irq);
  free_object(&notification);
}

}  // namespace kernel
