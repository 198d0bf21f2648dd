// Reply: one caller's pending reply, saved out of the server thread so the server can receive
// other calls (even exceptions) before answering it.
// Invariant: reply->caller == t exactly when t->callee_reply == reply, and t is BlockedReply.
#pragma once

#include "lib/result.hpp"

#include "object/kernel_object.hpp"

namespace kernel {

struct Thread;

struct Reply {
  KernelObject header;
  Thread* caller = nullptr;
};

struct Factory;
[[nodiscard]] Result<Reply*> create_reply(Factory* factory);
void destroy_reply(Reply& reply);

}  // namespace kernel
