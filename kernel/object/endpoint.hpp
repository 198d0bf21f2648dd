// Endpoint: rendezvous point for synchronous IPC.
// Invariant: at most one of the queues is non-empty; `senders` holds only threads blocked in
// send, call or exception delivery on this endpoint, `receivers` only threads blocked in receive.
#pragma once

#include "lib/result.hpp"

#include "object/kernel_object.hpp"
#include "object/thread.hpp"

namespace kernel {

struct Endpoint {
  KernelObject header;
  ThreadQueue senders;
  ThreadQueue receivers;
  // Threads whose exception handler this endpoint is; they lose it when the endpoint dies.
  IntrusiveList<Thread, &Thread::handler_node> handled_threads;
};

struct Factory;
[[nodiscard]] Result<Endpoint*> create_endpoint(Factory* factory);
void destroy_endpoint(Endpoint& endpoint);

}  // namespace kernel
