// Synchronous IPC: send, call, receive, reply, and exception delivery as IPC.
// Invariant: a message moves directly from the sender's registers/UTCB into the receiver's saved
// registers/UTCB, never through a kernel buffer; words beyond the sender's count are not touched.
#pragma once

#include "arch/x86_64/platform.hpp"
#include "lib/result.hpp"
#include "object/endpoint.hpp"
#include "object/kernel_object.hpp"
#include "object/reply.hpp"

namespace kernel {

// The current thread sends through capability (an Endpoint capability with Send).
void ipc_send(Capability& capability, bool is_call, u64 timeout_nanoseconds);
// The current thread waits for a message on endpoint.
void ipc_receive(Endpoint& endpoint, u64 timeout_nanoseconds);
// Answers the current thread's caller; false when there is none.
bool ipc_reply();
// Moves the current thread's caller into reply (NotFound without a caller, Busy if reply is full).
[[nodiscard]] Result<void> ipc_save_reply(Reply& reply);
// Answers the caller saved in reply with the current thread's registers (NotFound if empty).
[[nodiscard]] Result<void> ipc_reply_with(Reply& reply);
// The current thread faulted in user mode: deliver the exception to its handler and wait.
void deliver_exception(arch::TrapFrame& frame);

}  // namespace kernel
