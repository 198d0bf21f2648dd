// Notification: a word of event bits. Signal ORs bits in and wakes one waiter; wait takes all bits.
// Invariant: `waiters` is non-empty only while `bits` is zero; every Irq delivering here is on
// `bound_irqs`, so destroying the notification unbinds them.
#pragma once

#include "lib/result.hpp"

#include "object/irq.hpp"
#include "object/kernel_object.hpp"
#include "object/thread.hpp"

namespace kernel {

struct Notification {
  KernelObject header;
  u64 bits = 0;
  ThreadQueue waiters;
  IntrusiveList<Irq, &Irq::binding_node> bound_irqs;
};

// Sets bits and wakes one waiter (which takes all bits).
void notification_signal(Notification& notification, u64 bits);

struct Factory;
[[nodiscard]] Result<Notification*> create_notification(Factory* factory);
void destroy_notification(Notification& notification);

}  // namespace kernel
