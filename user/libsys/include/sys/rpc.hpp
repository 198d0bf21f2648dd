// A small RPC layer over IPC: a request is a message whose label names the method; the reply's
// label is the handler's Error (0 = success) and its words the results.
// Invariant: a server answers every request exactly once — unknown labels with Unsupported, short
// requests with InvalidArgument — so a client never waits on a request the server dropped.
#pragma once

#include "sys/endpoint.hpp"
#include "sys/protocol.hpp"

namespace sys {

// Client side: sends `request` and waits; a reply whose label is not Error::None becomes that error.
[[nodiscard]] inline Result<void> rpc_call(Endpoint server, const Message& request, Message& reply,
                                           u64 timeout = WAIT_FOREVER) {
  auto called = server.call(request, reply, timeout);
  if (!called.ok()) return called.error();
  auto status = static_cast<Error>(reply.label());
  if (status != Error::None) return status;
  return {};
}

// Typed client side: sends `label` with (the first `bytes` bytes of) `request` and, on success,
// copies the reply's body into `reply` (what the reply did not carry reads as zero).
template <MessageBody Request, MessageBody Reply>
[[nodiscard]] Result<void> rpc_call(Endpoint server, u32 label, const Request& request, Reply& reply,
                                    u64 bytes = sizeof(Request), u64 timeout = WAIT_FOREVER) {
  Message message = message_of(label, request, bytes);
  TRY_VOID(rpc_call(server, message, message, timeout));
  get(message, reply);
  return {};
}

// Server side: one entry per method. The handler sees the request (with request.badge telling it
// which client called, because the server handed each client a differently badged capability)
// and fills the reply's words; its return value becomes the reply's label.
template <typename Server>
struct RpcMethod {
  u32 label;
  u64 minimum_words;
  Error (Server::*handle)(const Message& request, Message& reply);
};

// Serves `endpoint` forever with `methods`; returns only when receiving fails (e.g. the endpoint
// was destroyed), with that error.
template <typename Server, usize Count>
Error rpc_serve(Endpoint endpoint, Server& server, const RpcMethod<Server> (&methods)[Count]) {
  Message request;
  Message answer;
  auto received = endpoint.receive(request);
  if (!received.ok()) return received.error();
  while (true) {
    answer = Message::make(0);
    Error status = Error::Unsupported;
    for (const auto& method : methods) {
      if (method.label != request.label()) continue;
      status = request.word_count() < method.minimum_words ? Error::InvalidArgument
                                                           : (server.*method.handle)(request, answer);
      break;
    }
    answer.set_words(static_cast<u32>(status), status == Error::None ? answer.word_count() : 0);
    if (endpoint.reply_wait(answer, request).ok()) continue;
    // The reply fails when the caller vanished before it; that must not stop the server. A plain
    // receive tells whether the endpoint itself still works.
    received = endpoint.receive(request);
    if (!received.ok()) return received.error();
  }
}

}  // namespace sys
