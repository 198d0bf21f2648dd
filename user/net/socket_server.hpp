// SocketServer: the net server's IPC socket interface (net/socket.hpp, docs/NETWORK.md) over
// lwIP's raw TCP API. Callers that must wait (Accept, Receive, Send on a full buffer) are parked in
// Reply objects and answered from the lwIP callback that makes them ready, or at their deadline.
// Invariant: it runs on the event loop's thread only (lwIP is single-threaded), and every request
// received is answered exactly once: at once, or later through the Reply object it was parked in.
#pragma once

#include "sys/sys.hpp"

namespace net {

class SocketServer {
 public:
  // Creates the Reply objects (charged to `factory`, slots from `slots`); false on failure.
  [[nodiscard]] sys::Result<void> start(sys::Endpoint endpoint, sys::Factory factory, sys::SlotAllocator& slots);
  // Serves requests waiting on the endpoint: first waits up to `first_timeout` ns for one (a wait
  // that ThreadInterrupt ends early), then takes those already queued; at most a bounded number per
  // call, so the caller's device loop keeps running. Returns how many were served.
  sys::usize serve_pending(sys::u64 first_timeout);
  // Sends the delayed ACKs that are due, answers parked callers whose deadline passed (Timeout),
  // and retries parked sends; looks at the connections only when one of the last two is due, so
  // it is cheap to call on every turn of the loop.
  void expire_deadlines();
  // How long the loop may wait before expire_deadlines has work: until the first delayed ACK's or
  // parked caller's deadline, or a short retry interval while a send is parked; ~0 when nothing waits.
  sys::u64 next_deadline_ns();
};

}  // namespace net
