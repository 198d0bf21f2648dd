// Irq: one I/O APIC interrupt line; its interrupts arrive as bits on a bound notification.
// Invariant: at most one Irq object exists per line (the kernel's table points to it); the line is
// masked whenever no notification is bound or an interrupt awaits acknowledgement.
#pragma once

#include "lib/result.hpp"

#include "object/kernel_object.hpp"

namespace kernel {

struct Notification;

struct Irq {
  KernelObject header;
  u32 line = 0;
  bool level_triggered = false;
  bool active_low = false;
  Notification* notification = nullptr;
  u64 bits = 0;
  ListNode binding_node;  // On notification->bound_irqs.
};

constexpr u32 IRQ_LINES = 48;  // Lines of both of microvm's I/O APICs; absent ones are refused.

struct Factory;
// A line the caller (a Platform holder) validated; Busy if the line has an Irq object.
[[nodiscard]] Result<Irq*> create_irq(Factory* factory, u32 line, bool level_triggered, bool active_low);
// The Irq object of a line, or null; forget_irq masks the line and clears the entry.
Irq* irq_of_line(u32 line);
void forget_irq(Irq& irq);
// Detaches irq from its notification and masks the line.
void unbind_irq(Irq& irq);
void destroy_irq(Irq& irq);

}  // namespace kernel
