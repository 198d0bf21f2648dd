// Reply: creation, saving a caller into it and answering from it, and destruction, which fails
// the caller it holds.
// Invariant: see reply.hpp; a destroyed Reply leaves no caller waiting on it.
#include "object/reply.hpp"

#include "core/ipc.hpp"
#include "core/syscall_dispatch.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Syscall;

Result<Reply*> create_reply(Factory* factory) { return allocate_object<Reply>(factory, ObjectType::Reply); }

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IpcSaveReply>(Thread&, Target<Syscall::IpcSaveReply> target,
                                              SyscallArguments<Syscall::IpcSaveReply>&) {
  TRY_VOID(ipc_save_reply(target.object));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IpcSaveReply);

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IpcReplyWith>(Thread&, Target<Syscall::IpcReplyWith> target,
                                              SyscallArguments<Syscall::IpcReplyWith>&) {
  TRY_VOID(ipc_reply_with(target.object));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IpcReplyWith);

void destroy_reply(Reply& reply) {
  if (Thread* caller = reply.caller) {
    reply.caller = nullptr;
    caller->callee_reply = nullptr;
    abandon_caller(*caller);
  }
  free_object(&reply);
}

}  // namespace kernel
