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
  // words: 0 handle (listener or connection), 1 interest (POLL_READABLE | POLL_WRITABLE, 0 = none;
  // a new socket watches nothing). Poll reports a socket only for the events it watches.
  // Errors: NotFound, InvalidArgument (unknown bits).
  SOCKET_WATCH = 7,
  // words: 0 timeout ns. Waits until a watched socket of the caller's badge is ready, a Wake of the
  // badge, or the timeout (then an empty answer, not an error). Reply: 0 flags (POLL_WOKEN), 1 count,
  // then `count` words (at most POLL_MAX_READY), each handle | events << POLL_EVENT_SHIFT; more
  // ready sockets come in the next Poll (the scan resumes where this one stopped, so none starves).
  // Readiness is a level: a socket stays ready until the client takes its data or stops watching.
  // Errors: Busy (another Poll of this badge waits), QuotaExceeded (no poller slot).
  SOCKET_POLL = 8,
  // No words. Ends the badge's waiting Poll now with POLL_WOKEN (or makes its next Poll return at
  // once): how another thread of the client hands work to the thread that polls.
  SOCKET_WAKE = 9,
  // As Send, but never waits: takes as many of the bytes as lwIP's send buffer has room for now.
  // Reply: 0 bytes accepted (>= 1). Errors: Busy (no room now), NotFound, Destroyed, InvalidArgument.
  SOCKET_SEND_NOW = 10,
  // Bulk transfer through a buffer the client shares once, so a large body costs one call per
  // BULK_BYTES instead of one per 504 bytes. words: 0 size in bytes (1..MAX_ATTACH_BYTES);
  // capabilities[0]: a Memory (Read and Write) of at least that size, not demand-zero. The server
  // never maps it: it moves bytes with MemoryRead/MemoryWrite, so a client that revokes or deletes
  // it meanwhile only gets errors. One buffer per badge. Errors: InvalidArgument (no capability,
  // bad size, or a Memory it cannot read and write), Busy (the badge has one), QuotaExceeded.
  SOCKET_ATTACH = 11,
  // As Receive with timeout 0, into the attached buffer: words: 0 connection, 1 offset, 2 maximum
  // (at most BULK_BYTES). Reply: 0 length (0 = the peer closed its side), the bytes at [offset,
  // offset + length) of the buffer. Errors: NotFound, Timeout (nothing now), Destroyed,
  // InvalidArgument (no buffer, or the range outside it), Busy (a Receive of it waits).
  SOCKET_RECEIVE_BULK = 12,
  // As SendNow, from the attached buffer: words: 0 connection, 1 offset, 2 length (at most
  // BULK_BYTES). Reply: 0 bytes accepted (>= 1, what lwIP has room for now). Errors: as SendNow,
  // and InvalidArgument for no buffer or a range outside it.
  SOCKET_SEND_BULK = 13,
};

constexpr u64 BULK_BYTES = 32 * 1024;          // The most one bulk Receive or Send moves.
constexpr u64 MAX_ATTACH_BYTES = 1024 * 1024;  // The largest attached buffer.

// Poll events and flags.
constexpr u64 POLL_READABLE = 1;  // Data, the peer's FIN or a reset to read; a listener: a queued connection.
constexpr u64 POLL_WRITABLE = 2;  // Room for SEND_BYTES (or a reset, which the next send reports).
constexpr u64 POLL_WOKEN = 1;     // Reply word 0: a Wake ended (or preceded) this Poll.
constexpr u64 POLL_EVENT_SHIFT = 56;  // Handles stay below 2^56 (a generation of 40 bits).
constexpr u64 POLL_HANDLE_MASK = (u64{1} << POLL_EVENT_SHIFT) - 1;
constexpr u64 POLL_FIRST_WORD = 2;
constexpr u64 POLL_MAX_READY = sys::abi::MESSAGE_WORDS - POLL_FIRST_WORD;  // 61.

constexpr u64 SEND_FIRST_WORD = 2;
constexpr u64 SEND_BYTES = (sys::abi::MESSAGE_WORDS - SEND_FIRST_WORD) * 8;        // 496.
constexpr u64 RECEIVE_FIRST_WORD = 1;
constexpr u64 RECEIVE_BYTES = (sys::abi::MESSAGE_WORDS - RECEIVE_FIRST_WORD) * 8;  // 504.

struct PollResult {
  bool woken = false;
  u64 count = 0;
  u64 ready[POLL_MAX_READY] = {};
  u64 handle(u64 index) const { return ready[index] & POLL_HANDLE_MASK; }
  u64 events(u64 index) const { return ready[index] >> POLL_EVENT_SHIFT; }
};

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
  // Sends at most SEND_BYTES of `bytes` without waiting: what lwIP has room for now (Busy: none).
  [[nodiscard]] sys::Result<u64> send_now(u64 connection, const u8* bytes, u64 length) const {
    sys::Message message;
    u64 count = length < SEND_BYTES ? length : SEND_BYTES;
    message.words[0] = connection;
    message.words[1] = count;
    copy(reinterpret_cast<u8*>(&message.words[SEND_FIRST_WORD]), bytes, count);
    message.set_words(SOCKET_SEND_NOW, SEND_FIRST_WORD + (count + 7) / 8);
    auto called = sys::rpc_call(server_, message, message);
    if (!called.ok()) return called.error();
    if (message.words[0] == 0 || message.words[0] > count) return Error::InvalidArgument;  // A confused server.
    return message.words[0];
  }
  [[nodiscard]] sys::Result<void> watch(u64 handle, u64 interest) const {
    sys::Message message = sys::Message::make(SOCKET_WATCH, {handle, interest});
    return sys::rpc_call(server_, message, message);
  }
  [[nodiscard]] sys::Result<void> poll(u64 timeout, PollResult& result) const {
    sys::Message message = sys::Message::make(SOCKET_POLL, {timeout});
    auto called = sys::rpc_call(server_, message, message);
    if (!called.ok()) return called.error();
    u64 carried = message.word_count() > POLL_FIRST_WORD ? message.word_count() - POLL_FIRST_WORD : 0;
    if (message.words[1] > carried || message.words[1] > POLL_MAX_READY) return Error::InvalidArgument;
    result.woken = (message.words[0] & POLL_WOKEN) != 0;
    result.count = message.words[1];
    for (u64 index = 0; index < result.count; ++index) result.ready[index] = message.words[POLL_FIRST_WORD + index];
    return {};
  }
  // Shares `buffer` (size bytes) for the bulk calls; the server keeps its own capability to it.
  [[nodiscard]] sys::Result<void> attach(sys::Memory buffer, u64 size) const {
    sys::Message message = sys::Message::make(SOCKET_ATTACH, {size});
    message.attach(buffer, sys::abi::rights_of(sys::abi::MemoryRight::Read, sys::abi::MemoryRight::Write));
    return sys::rpc_call(server_, message, message);
  }
  // Receives at most min(maximum, BULK_BYTES) bytes into the attached buffer at `offset`, without
  // waiting (Timeout: nothing now); 0 = the peer closed its side.
  [[nodiscard]] sys::Result<u64> receive_bulk(u64 connection, u64 offset, u64 maximum) const {
    sys::Message message = sys::Message::make(SOCKET_RECEIVE_BULK, {connection, offset, maximum});
    auto called = sys::rpc_call(server_, message, message);
    if (!called.ok()) return called.error();
    if (message.words[0] > maximum || message.words[0] > BULK_BYTES) return Error::InvalidArgument;
    return message.words[0];
  }
  // Sends what lwIP has room for now of the attached buffer's [offset, offset + length).
  [[nodiscard]] sys::Result<u64> send_bulk(u64 connection, u64 offset, u64 length) const {
    sys::Message message = sys::Message::make(SOCKET_SEND_BULK, {connection, offset, length});
    auto called = sys::rpc_call(server_, message, message);
    if (!called.ok()) return called.error();
    if (message.words[0] == 0 || message.words[0] > length) return Error::InvalidArgument;
    return message.words[0];
  }
  [[nodiscard]] sys::Result<void> wake() const {
    sys::Message message = sys::Message::make(SOCKET_WAKE);
    return sys::rpc_call(server_, message, message);
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
