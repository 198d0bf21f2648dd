// The net server's socket interface over IPC (docs/NETWORK.md): the protocol, declared once, and
// a thin client library over libsys. A request's label names the operation; the reply's label is
// an abi::Error (0 = success) and its words the results, as in sys/rpc.hpp.
// Invariant: data travels inline in message words (at most SEND_BYTES per Send, RECEIVE_BYTES per
// Receive); a handle is valid only under the badge that created it (else NotFound).
#pragma once

#include "sys/sys.hpp"

namespace net {

using sys::Error;
using sys::u64;
using sys::u8;
using sys::usize;

enum SocketRequest : sys::u32 {
  // words: 0 port, 1 backlog (ignored for now). Reply: 0 listener handle.
  // Errors: InvalidArgument (port 0 or > 65535), Busy (port taken), QuotaExceeded (no listener slot).
  SOCKET_LISTEN = 1,
  // words: 0 listener, 1 timeout ns (abi::TIMEOUT_INFINITE = forever). Reply: 0 connection handle,
  // 1 peer IPv4 (network order in the low 32 bits), 2 peer port. Errors: NotFound, Timeout, Busy
  // (another Accept on this listener waits already).
  SOCKET_ACCEPT = 2,
  // Designed (docs/NETWORK.md), not implemented: answered with Unsupported.
  SOCKET_CONNECT = 3,
  // words: 0 connection, 1 length (1..SEND_BYTES), bytes from word 2. Reply: 0 bytes accepted (all
  // of them). Waits while lwIP's send buffer is full. Errors: NotFound, Destroyed (reset), Busy.
  SOCKET_SEND = 4,
  // words: 0 connection, 1 maximum bytes, 2 timeout ns. Reply: 0 length (0 = the peer closed its
  // side), bytes from word 1. Errors: NotFound, Timeout, Destroyed (reset), Busy.
  SOCKET_RECEIVE = 5,
  // words: 0 handle (listener or connection). Errors: NotFound.
  SOCKET_CLOSE = 6,
};

constexpr u64 SEND_FIRST_WORD = 2;
constexpr u64 SEND_BYTES = (sys::abi::MESSAGE_WORDS - SEND_FIRST_WORD) * 8;        // 496.
constexpr u64 RECEIVE_FIRST_WORD = 1;
constexpr u64 RECEIVE_BYTES = (sys::abi::MESSAGE_WORDS - RECEIVE_FIRST_WORD) * 8;  // 504.

struct Accepted {
  u64 connection;
  u64 peer_address;
  u64 peer_port;
};

// The client side: one capability (Send) to the net server's endpoint.
class SocketClient {
 public:
  explicit SocketClient(sys::Endpoint server) : server_(server) {}

  [[nodiscard]] sys::Result<u64> listen(u64 port, u64 backlog = 8) const {
    sys::Message message = sys::Message::make(SOCKET_LISTEN, {port, backlog});
    auto called = sys::rpc_call(server_, message, message);
    if (!called.ok()) return called.error();
    return message.words[0];
  }
  [[nodiscard]] sys::Result<Accepted> accept(u64 listener, u64 timeout = sys::WAIT_FOREVER) const {
    sys::Message message = sys::Message::make(SOCKET_ACCEPT, {listener, timeout});
    auto called = sys::rpc_call(server_, message, message);
    if (!called.ok()) return called.error();
    return Accepted{message.words[0], message.words[1], message.words[2]};
  }
  // Sends at most SEND_BYTES of `bytes`; returns how many were taken.
  [[nodiscard]] sys::Result<u64> send_some(u64 connection, const u8* bytes, u64 length) const {
    sys::Message message;
    u64 count = length < SEND_BYTES ? length : SEND_BYTES;
    message.words[0] = connection;
    message.words[1] = count;
    copy(reinterpret_cast<u8*>(&message.words[SEND_FIRST_WORD]), bytes, count);
    message.set_words(SOCKET_SEND, SEND_FIRST_WORD + (count + 7) / 8);
    auto called = sys::rpc_call(server_, message, message);
    if (!called.ok()) return called.error();
    return message.words[0];
  }
  // Sends all of `bytes`, SEND_BYTES per call.
  [[nodiscard]] sys::Result<void> send_all(u64 connection, const u8* bytes, u64 length) const {
    while (length > 0) {
      auto sent = send_some(connection, bytes, length);
      if (!sent.ok()) return sent.error();
      if (sent.value() == 0 || sent.value() > length) return Error::InvalidArgument;
      bytes += sent.value();
      length -= sent.value();
    }
    return {};
  }
  // Receives at most min(maximum, RECEIVE_BYTES) bytes; 0 = the peer closed its side.
  [[nodiscard]] sys::Result<u64> receive(u64 connection, u8* bytes, u64 maximum, u64 timeout) const {
    sys::Message message = sys::Message::make(SOCKET_RECEIVE, {connection, maximum, timeout});
    auto called = sys::rpc_call(server_, message, message);
    if (!called.ok()) return called.error();
    u64 length = message.words[0];
    u64 carried = (message.word_count() > RECEIVE_FIRST_WORD ? message.word_count() - RECEIVE_FIRST_WORD : 0) * 8;
    if (length > maximum || length > carried) return Error::InvalidArgument;  // A confused server.
    copy(bytes, reinterpret_cast<const u8*>(&message.words[RECEIVE_FIRST_WORD]), length);
    return length;
  }
  [[nodiscard]] sys::Result<void> close(u64 handle) const {
    sys::Message message = sys::Message::make(SOCKET_CLOSE, {handle});
    return sys::rpc_call(server_, message, message);
  }

 private:
  static void copy(u8* target, const u8* source, u64 length) {
    for (u64 index = 0; index < length; ++index) target[index] = source[index];
  }
  sys::Endpoint server_;
};

}  // namespace net
