// Irq: one I/O APIC interrupt line; its interrupts arrive as bits on a bound notification.
// Invariant: at most one Irq object exists per line (the kernel's table points to it); the line is
// masked whenever no notification is bound or an interrupt awaits acknowledgement.
#pragma once

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

}  // namespace kernel
