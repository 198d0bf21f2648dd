// Irq: creation for a free line, binding to a notification and acknowledging, interrupt
// delivery, and destruction, which masks the line and frees it for a new Irq.
// Invariant: see irq.hpp; irqs_by_line[line] is the line's one Irq object or null.
#include "object/irq.hpp"

#include "arch/x86_64/ioapic.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::rights_of;
using abi::Syscall;

namespace {
// The Irq object of each line, so a line has at most one.
Irq* irqs_by_line[IRQ_LINES];
}  // namespace

Irq* irq_of_line(u32 line) { return line < IRQ_LINES ? irqs_by_line[line] : nullptr; }

Result<Irq*> create_irq(Factory* factory, u32 line, bool level_triggered, bool active_low) {
  if (line == 0 || line >= IRQ_LINES || !arch::ioapic_line_present(line)) return Error::InvalidArgument;
  if (irqs_by_line[line] != nullptr) return Error::Busy;
  Irq* irq = TRY(allocate_object<Irq>(factory, ObjectType::Irq));
  irq->line = line;
  irq->level_triggered = level_triggered;
  irq->active_low = active_low;
  irqs_by_line[line] = irq;
  arch::ioapic_configure(line, level_triggered, active_low);
  return irq;
}

template <>
[[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::IrqBind>(Thread& self, Target<Syscall::IrqBind> target,
                                                                       SyscallArguments<Syscall::IrqBind>& arguments) {
  Irq& irq = target.object;
  u64 bits = arguments.bits();
  Notification* notification = nullptr;
  if (arguments.notification_selector() != abi::NULL_SELECTOR) {
    Capability* bound = TRY(lookup(own_task(self), arguments.notification_selector(), ObjectType::Notification,
                                   rights_of(abi::NotificationRight::Signal)));
    if (bits == 0) return Error::InvalidArgument;
    notification = object_of<Notification>(*bound);
  }
  if (irq.notification != nullptr) decltype(irq.notification->bound_irqs)::remove(irq);
  irq.notification = notification;
  irq.bits = bits;
  if (notification != nullptr) {
    notification->bound_irqs.push_back(irq);
    arch::ioapic_unmask(irq.line);
  } else {
    arch::ioapic_mask(irq.line);
  }
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IrqBind);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::IrqAcknowledge>(
    Thread&, Target<Syscall::IrqAcknowledge> target, SyscallArguments<Syscall::IrqAcknowledge>&) {
  if (target.object.notification != nullptr) arch::ioapic_unmask(target.object.line);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IrqAcknowledge);

void on_device_interrupt(u32 line) {
  Irq* irq = irq_of_line(line);
  if (irq == nullptr) return;
  // Masked until the driver acknowledges: a level-triggered line would fire again at once.
  arch::ioapic_mask(line);
  if (irq->notification != nullptr) notification_signal(*irq->notification, irq->bits);
}

void unbind_irq(Irq& irq) {
  if (irq.notification != nullptr) decltype(irq.notification->bound_irqs)::remove(irq);
  irq.notification = nullptr;
  arch::ioapic_mask(irq.line);
}

void forget_irq(Irq& irq) {
  arch::ioapic_mask(irq.line);
  irqs_by_line[irq.line] = nullptr;
}

void destroy_irq(Irq& irq) {
  unbind_irq(irq);
  forget_irq(irq);
  free_object(&irq);
}

}  // namespace kernel
