// Endpoint: creation, the IPC operations on it (the message transfer itself is core/ipc.cpp), and
// destruction, which fails every waiting call with Destroyed.
// Invariant: see endpoint.hpp; a destroyed endpoint leaves no thread queued on it.
#include "object/endpoint.hpp"

#include "core/ipc.hpp"
#include "core/syscall_dispatch.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::Syscall;

Result<Endpoint*> create_endpoint(Factory* factory) { return allocate_object<Endpoint>(factory, ObjectType::Endpoint); }

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IpcCall>(Thread&, Target<Syscall::IpcCall> target,
                                         SyscallArguments<Syscall::IpcCall>& arguments) {
  ipc_send(target.capability, true, arguments.timeout());
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(IpcCall);

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IpcSend>(Thread&, Target<Syscall::IpcSend> target,
                                         SyscallArguments<Syscall::IpcSend>& arguments) {
  ipc_send(target.capability, false, arguments.timeout());
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(IpcSend);

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IpcReceive>(Thread&, Target<Syscall::IpcReceive> target,
                                            SyscallArguments<Syscall::IpcReceive>& arguments) {
  ipc_receive(target.object, arguments.timeout());
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(IpcReceive);

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IpcReply>(Thread&, Target<Syscall::IpcReply>, SyscallArguments<Syscall::IpcReply>&) {
  if (!ipc_reply()) return Error::NotFound;
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IpcReply);

template <> [[gnu::always_inline]] inline
Result<Outcome> invoke<Syscall::IpcReplyWait>(Thread&, Target<Syscall::IpcReplyWait> target,
                                              SyscallArguments<Syscall::IpcReplyWait>& arguments) {
  (void)ipc_reply();  // With no caller there is nothing to answer; the wait still happens.
  ipc_receive(target.object, arguments.timeout());
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(IpcReplyWait);

void destroy_endpoint(Endpoint& endpoint) {
  while (Thread* thread = endpoint.senders.pop_front()) {
    if (thread->sending_exception) {
      // No handler will ever answer: the faulting thread ends.
      stop_thread(*thread);
      continue;
    }
    wake_with_error(*thread, Error::Destroyed);
  }
  while (Thread* thread = endpoint.receivers.pop_front()) wake_with_error(*thread, Error::Destroyed);
  while (Thread* thread = endpoint.handled_threads.pop_front()) thread->exception_endpoint = nullptr;
  free_object(&endpoint);
}

}  // namespace kernel
