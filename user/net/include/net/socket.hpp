// The net server's socket interface over IPC (docs/NETWORK.md): the protocol, declared once, and
// a thin client library over libsys. A request's label names the operation; the reply's label is
// an abi::Error (0 = success) and its words the results, as in sys/rpc.hpp. Each message's words are
// one struct below (the request's and reply's named beside each operation).
// Invariant: data travels inline in message words (at most SEND_BYTES per Send, RECEIVE_BYTES per
// Receive); a handle is valid only under the badge that created it (else NotFound).
#pragma once

#include "sys/sys.hpp"

namespace net {

using sys::Error;
using sys::u16;
using sys::u32;
using sys::u64;
using sys::u8;
using sys::usize;

enum SocketRequest : sys::u32 {
  // ListenRequest (the backlog is ignored for now). Reply: ListenReply.
  // Errors: InvalidArgument (port 0 or > 65535), Busy (port taken), QuotaExceeded (no listener slot).
  SOCKET_LISTEN = 1,
  // AcceptRequest (timeout ns; abi::TIMEOUT_INFINITE = forever). Reply: Accepted (the peer's IPv4
  // address in network order in the low 32 bits). Errors: NotFound, Timeout, Busy
  // (another Accept on this listener waits already).
  SOCKET_ACCEPT = 2,
  // ConnectRequest: an outgoing TCP connection from the server's address to `address` (IPv4,
  // network order in the low 32 bits, as Accepted's; ipv4() builds it) and `port`, waiting at most
  // `timeout` ns (1 ns .. abi::TIMEOUT_INFINITE, which waits until lwIP gives up its SYN retries)
  // for the peer's answer. Reply: ConnectReply (a connection as Accept's: Send, Receive, Watch,
  // Close take it). Errors (connect_error_text): InvalidArgument (port 0 or > 65535, timeout 0,
  // an address 0.x, 127.x, multicast or broadcast: this stack has no loopback and no multicast),
  // Destroyed (refused: the peer answered the SYN with a reset), NotFound (unreachable: no route),
  // Timeout (no answer in time), QuotaExceeded (no connection slot, PCB or Reply object).
  SOCKET_CONNECT = 3,
  // SendRequest (length 1..SEND_BYTES). Reply: SentReply (all of the bytes accepted). Waits while lwIP's send buffer is full. Errors: NotFound, Destroyed (reset), Busy.
  SOCKET_SEND = 4,
  // ReceiveRequest (timeout ns). Reply: ReceiveReply (length 0 = the peer closed its side). Errors: NotFound, Timeout, Destroyed (reset), Busy.
  SOCKET_RECEIVE = 5,
  // HandleRequest (a listener or connection). Errors: NotFound.
  SOCKET_CLOSE = 6,
  // WatchRequest: a listener or connection and its interest (POLL_READABLE | POLL_WRITABLE, 0 =
  // none; a new socket watches nothing). Poll reports a socket only for the events it watches.
  // Errors: NotFound, InvalidArgument (unknown bits).
  SOCKET_WATCH = 7,
  // PollRequest (timeout ns, then `count` interest changes, each handle | interest <<
  // POLL_EVENT_SHIFT, applied first as Watch would, so a client that changes interest between two
  // Polls needs no Watch call; a change for a socket that is gone is skipped). Waits until a
  // watched socket of the caller's badge is ready, a Wake of the
  // badge, or the timeout (then an empty answer, not an error). Reply: PollReply, `count`
  // entries (at most POLL_MAX_READY), each handle | events << POLL_EVENT_SHIFT; more
  // ready sockets come in the next Poll (the scan resumes where this one stopped, so none starves).
  // Readiness is a level: a socket stays ready until the client takes its data or stops watching.
  // A connection watched with POLL_DELIVER has its received bytes in the answer, as far as the
  // message has room after the entries: its entry carries POLL_DELIVERED, and after the last
  // entry come, in entry order, each delivery's word (length | POLL_DELIVERED_ALL when nothing
  // more was pending) and its bytes, padded to a word. Delivered bytes are taken, as a Receive's
  // are; a client asks for them only while it has room for RECEIVE_BYTES (the most one carries).
  // A badge whose attached buffer has a delivery area (AttachRequest) gets the deliveries there
  // instead, in the same layout from the area's start (as many as the area holds, each still at
  // most RECEIVE_BYTES), and POLL_DELIVERED_IN_BUFFER in the flags: a Poll that reports many
  // connections then carries all their bytes, where the message held those of two or three.
  // Errors: Busy (another Poll of this badge waits), QuotaExceeded (no poller slot),
  // InvalidArgument (more changes than POLL_MAX_WATCH or carried, or unknown interest bits: none
  // is applied then).
  SOCKET_POLL = 8,
  // No words. Ends the badge's waiting Poll now with POLL_WOKEN (or makes its next Poll return at
  // once): how another thread of the client hands work to the thread that polls.
  SOCKET_WAKE = 9,
  // As Send, but never waits: takes as many of the bytes as lwIP's send buffer has room for now.
  // Reply: SentReply (>= 1 byte). Errors: Busy (no room now), NotFound, Destroyed, InvalidArgument.
  SOCKET_SEND_NOW = 10,
  // Bulk transfer through a buffer the client shares once, so a large body costs one call per
  // BULK_BYTES instead of one per 504 bytes. AttachRequest (size 1..MAX_ATTACH_BYTES, and
  // optionally the area Poll delivers into: 8-byte aligned, at most BULK_BYTES, inside the size);
  // capabilities[0]: a Memory (Read and Write) of at least that size, not demand-zero. The server
  // never maps it: it moves bytes with MemoryRead/MemoryWrite, so a client that revokes or deletes
  // it meanwhile only gets errors. One buffer per badge. Errors: InvalidArgument (no capability,
  // bad size, or a Memory it cannot read and write), Busy (the badge has one), QuotaExceeded.
  SOCKET_ATTACH = 11,
  // As Receive with timeout 0, into the attached buffer: BulkRequest (length = the maximum, at
  // most BULK_BYTES). Reply: BulkReceived (length 0 = the peer closed its side); the bytes are
  // at [offset, offset + length) of the buffer. Errors: NotFound, Timeout (nothing now), Destroyed,
  // InvalidArgument (no buffer, or the range outside it), Busy (a Receive of it waits).
  SOCKET_RECEIVE_BULK = 12,
  // As SendNow, from the attached buffer: BulkRequest (length at most BULK_BYTES).
  // Reply: SentReply (>= 1 byte, what lwIP has room for now). Errors: as SendNow,
  // and InvalidArgument for no buffer or a range outside it.
  SOCKET_SEND_BULK = 13,
};

constexpr u64 BULK_BYTES = 32 * 1024;          // The most one bulk Receive or Send moves.
constexpr u64 MAX_ATTACH_BYTES = 1024 * 1024;  // The largest attached buffer.

// Poll events and flags.
constexpr u64 POLL_READABLE = 1;  // Data, the peer's FIN or a reset to read; a listener: a queued connection.
constexpr u64 POLL_WRITABLE = 2;  // Room for SEND_BYTES (or a reset, which the next send reports).
constexpr u64 POLL_DELIVER = 4;   // Interest (connections): deliver received bytes in the answer.
constexpr u64 POLL_DELIVERED = 4;  // Event: this entry's bytes follow the entries.
constexpr u64 POLL_DELIVERED_ALL = u64{1} << 32;  // In a delivery's word: all that was pending.
constexpr u64 POLL_DELIVERY_LENGTH_MASK = 0xffff;
constexpr u64 POLL_WOKEN = 1;     // PollReply.flags: a Wake ended (or preceded) this Poll.
constexpr u64 POLL_DELIVERED_IN_BUFFER = 2;  // PollReply.flags: the deliveries are in the delivery area.
constexpr u64 POLL_EVENT_SHIFT = 56;  // Handles stay below 2^56 (a generation of 40 bits).
constexpr u64 POLL_HANDLE_MASK = (u64{1} << POLL_EVENT_SHIFT) - 1;
constexpr u64 POLL_MAX_READY = sys::abi::MESSAGE_WORDS - 2;  // 62.
constexpr u64 POLL_MAX_WATCH = sys::abi::MESSAGE_WORDS - 2;  // Interest changes one Poll carries: 62.

constexpr u64 SEND_BYTES = sys::MESSAGE_BYTES - 2 * 8;     // 496.
constexpr u64 RECEIVE_BYTES = sys::MESSAGE_BYTES - 1 * 8;  // 504.

// The messages, one struct each (sys/protocol.hpp moves them in and out of message words). A
// request whose label has no struct here carries no words; a reply with none carries no words.
struct ListenRequest {
  u64 port;
  u64 backlog;
};
struct ListenReply {
  u64 listener;
};
struct AcceptRequest {
  u64 listener;
  u64 timeout;
};
struct ConnectRequest {
  u64 address;
  u64 port;
  u64 timeout;
};
struct ConnectReply {
  u64 connection;
};
struct Accepted {  // Accept's reply.
  u64 connection;
  u64 peer_address;
  u64 peer_port;
};
// Send and SendNow: the message ends after the `length` bytes used.
struct SendRequest {
  u64 connection;
  u64 length;
  u8 bytes[SEND_BYTES];
};
static_assert(offsetof(SendRequest, bytes) == 16 && sizeof(SendRequest) == sys::MESSAGE_BYTES);
struct SentReply {  // Send, SendNow and SendBulk.
  u64 accepted;
};
struct ReceiveRequest {
  u64 connection;
  u64 maximum;
  u64 timeout;
};
// Receive: the message ends after the `length` bytes used.
struct ReceiveReply {
  u64 length;
  u8 bytes[RECEIVE_BYTES];
};
static_assert(offsetof(ReceiveReply, bytes) == 8 && sizeof(ReceiveReply) == sys::MESSAGE_BYTES);
struct BulkReceived {  // ReceiveBulk: the bytes are in the attached buffer.
  u64 length;
};
struct HandleRequest {  // Close.
  u64 handle;
};
struct WatchRequest {
  u64 handle;
  u64 interest;
};
// The message ends after the `count` entries of `watch` used.
struct PollRequest {
  u64 timeout;
  u64 count;
  u64 watch[POLL_MAX_WATCH];
};
static_assert(offsetof(PollRequest, watch) == 16 && sizeof(PollRequest) == sys::MESSAGE_BYTES);
// The message ends after the `count` entries of `ready` used.
struct PollReply {
  u64 flags;
  u64 count;
  u64 ready[POLL_MAX_READY];
};
static_assert(offsetof(PollReply, ready) == 16 && sizeof(PollReply) == sys::MESSAGE_BYTES);
struct AttachRequest {
  u64 size;
  u64 delivery_offset;  // Where Poll's deliveries go (SOCKET_POLL); delivery_bytes 0: in the answer.
  u64 delivery_bytes;
};
// ReceiveBulk (`length` is the maximum) and SendBulk.
struct BulkRequest {
  u64 connection;
  u64 offset;
  u64 length;
};

// a.b.c.d as ConnectRequest and Accepted carry it: network byte order in the low 32 bits.
constexpr u64 ipv4(u8 a, u8 b, u8 c, u8 d) { return u64{a} | u64{b} << 8 | u64{c} << 16 | u64{d} << 24; }
static_assert(ipv4(10, 0, 2, 2) == 0x0202000a);

// What a failed Connect means, in words (its errors above).
constexpr const char* connect_error_text(Error error) {
  switch (error) {
    case Error::Destroyed: return "connection refused";
    case Error::NotFound: return "host unreachable";
    case Error::Timeout: return "connection timed out";
    case Error::InvalidArgument: return "address, port or timeout not allowed";
    case Error::QuotaExceeded: return "no socket free in the net server";
    default: return "connect failed";
  }
}

// A Poll's answer: the ready sockets, and the bytes delivered with them (POLL_DELIVER).
struct PollResult {
  struct Delivery {
    const u8* bytes = nullptr;
    u64 length = 0;    // 0: none (the entry has no POLL_DELIVERED).
    bool all = false;  // Nothing more was pending when these were taken.
  };
  bool woken = false;
  u64 count = 0;
  u64 ready[POLL_MAX_READY] = {};
  u64 handle(u64 index) const { return ready[index] & POLL_HANDLE_MASK; }
  u64 events(u64 index) const { return ready[index] >> POLL_EVENT_SHIFT; }
  Delivery delivery(u64 index) const {
    if ((events(index) & POLL_DELIVERED) == 0) return {};
    return {(area != nullptr ? area : data) + delivered_offset[index], delivered_length[index], delivered_all[index]};
  }
  u8 data[sys::MESSAGE_BYTES] = {};  // The answer's words after the entries.
  const u8* area = nullptr;          // The delivery area, when the deliveries are there.
  u16 delivered_offset[POLL_MAX_READY] = {};
  u16 delivered_length[POLL_MAX_READY] = {};
  bool delivered_all[POLL_MAX_READY] = {};
};

// The server's side of a Poll answer: entries first, then the deliveries (read_poll_reply's
// layout). Entries cannot be added once a delivery is made.
class PollReplyBuilder {
 public:
  // Deliveries go to `area` (area_bytes, staged by the server for the client's delivery area)
  // rather than into the answer; before the first deliver.
  void deliver_into(u8* area, u64 area_bytes) {
    area_ = area;
    area_bytes_ = area_bytes;
  }
  // The bytes of `area` the deliveries used.
  u64 area_used() const { return area_used_; }
  // False when the answer has POLL_MAX_READY entries already, or deliveries began.
  bool add(u64 handle, u64 events) {
    if (count_ == POLL_MAX_READY || words_ != 0) return false;
    body_.ready[count_++] = handle | events << POLL_EVENT_SHIFT;
    return true;
  }
  u64 count() const { return count_; }
  u64 events(u64 entry) const { return body_.ready[entry] >> POLL_EVENT_SHIFT; }
  // How many bytes one more delivery may carry (0: none fits).
  u64 delivery_room() const {
    if (area_ != nullptr) {
      u64 room = area_bytes_ < area_used_ + 16 ? 0 : (area_bytes_ - area_used_ - 8) / 8 * 8;
      return room < RECEIVE_BYTES ? room : RECEIVE_BYTES;
    }
    u64 used = words_ != 0 ? words_ : count_;
    return used + 2 > POLL_MAX_READY ? 0 : (POLL_MAX_READY - used - 1) * 8;
  }
  // Marks entry as delivered with `length` (1..delivery_room()) bytes, which the caller writes
  // where the result points.
  u8* deliver(u64 entry, u64 length, bool all) {
    body_.ready[entry] |= POLL_DELIVERED << POLL_EVENT_SHIFT;
    u64 word = length | (all ? POLL_DELIVERED_ALL : 0);
    if (area_ != nullptr) {
      __builtin_memcpy(area_ + area_used_, &word, 8);
      u8* bytes = area_ + area_used_ + 8;
      area_used_ += 8 + (length + 7) / 8 * 8;
      return bytes;
    }
    if (words_ == 0) words_ = count_;
    body_.ready[words_] = word;
    u8* bytes = reinterpret_cast<u8*>(&body_.ready[words_ + 1]);
    words_ += 1 + (length + 7) / 8;
    return bytes;
  }
  void finish(sys::Message& answer, bool woken) {
    body_.flags = (woken ? POLL_WOKEN : 0) | (area_used_ != 0 ? POLL_DELIVERED_IN_BUFFER : 0);
    body_.count = count_;
    sys::put(answer, 0, body_, offsetof(PollReply, ready) + (words_ != 0 ? words_ : count_) * 8);
  }

 private:
  PollReply body_;
  u64 count_ = 0;
  u64 words_ = 0;  // Words of `ready` used once deliveries began (0 before).
  u8* area_ = nullptr;
  u64 area_bytes_ = 0;
  u64 area_used_ = 0;
};

// A Poll's answer into `result`; InvalidArgument for a confused server (more entries than words,
// or a delivery that does not fit the words carried, or the delivery area, or has unknown bits).
// `area` (area_bytes): the client's delivery area, where POLL_DELIVERED_IN_BUFFER puts them.
inline sys::Result<void> read_poll_reply(const sys::Message& message, PollResult& result, const u8* area = nullptr,
                                         u64 area_bytes = 0) {
  u64 carried = sys::bytes_from(message, offsetof(PollReply, ready)) / 8;
  PollReply answer;
  sys::get(message, answer);
  if (answer.count > carried || answer.count > POLL_MAX_READY) return Error::InvalidArgument;
  bool in_area = (answer.flags & POLL_DELIVERED_IN_BUFFER) != 0;
  if (in_area && area == nullptr) return Error::InvalidArgument;
  result.woken = (answer.flags & POLL_WOKEN) != 0;
  result.count = answer.count;
  for (u64 index = 0; index < result.count; ++index) result.ready[index] = answer.ready[index];
  // The deliveries, in entry order; one that runs past the words carried (or the area) is a
  // confused server.
  u64 extra = (carried - answer.count) * 8;
  __builtin_memcpy(result.data, reinterpret_cast<const u8*>(answer.ready + answer.count), extra);
  result.area = in_area ? area : nullptr;
  const u8* source = in_area ? area : result.data;
  if (in_area) extra = area_bytes;
  u64 at = 0;
  for (u64 index = 0; index < result.count; ++index) {
    if ((result.events(index) & POLL_DELIVERED) == 0) continue;
    if (at + 8 > extra) return Error::InvalidArgument;
    u64 word = 0;
    __builtin_memcpy(reinterpret_cast<u8*>(&word), source + at, 8);
    u64 length = word & POLL_DELIVERY_LENGTH_MASK;
    if (length == 0 || length > RECEIVE_BYTES || (word & ~(POLL_DELIVERY_LENGTH_MASK | POLL_DELIVERED_ALL)) != 0 ||
        length > extra - at - 8)
      return Error::InvalidArgument;
    result.delivered_offset[index] = static_cast<u16>(at + 8);
    result.delivered_length[index] = static_cast<u16>(length);
    result.delivered_all[index] = (word & POLL_DELIVERED_ALL) != 0;
    at += 8 + (length + 7) / 8 * 8;
  }
  return {};
}

// The client side: one capability (Send) to the net server's endpoint.
class SocketClient {
 public:
  explicit SocketClient(sys::Endpoint server) : server_(server) {}

  [[nodiscard]] sys::Result<u64> listen(u64 port, u64 backlog = 8) const {
    ListenReply answer;
    TRY_VOID(sys::rpc_call(server_, SOCKET_LISTEN, ListenRequest{port, backlog}, answer));
    return answer.listener;
  }
  // Waits until the connection is open (or `timeout` ns); the connection, as accept()'s.
  [[nodiscard]] sys::Result<u64> connect(u64 address, u64 port, u64 timeout) const {
    ConnectReply answer;
    TRY_VOID(sys::rpc_call(server_, SOCKET_CONNECT, ConnectRequest{address, port, timeout}, answer));
    return answer.connection;
  }
  [[nodiscard]] sys::Result<Accepted> accept(u64 listener, u64 timeout = sys::WAIT_FOREVER) const {
    Accepted answer;
    TRY_VOID(sys::rpc_call(server_, SOCKET_ACCEPT, AcceptRequest{listener, timeout}, answer));
    return answer;
  }
  // Sends at most SEND_BYTES of `bytes`; returns how many were taken.
  [[nodiscard]] sys::Result<u64> send_some(u64 connection, const u8* bytes, u64 length) const {
    return send(SOCKET_SEND, connection, bytes, length);
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
    sys::Message message = sys::message_of(SOCKET_RECEIVE, ReceiveRequest{connection, maximum, timeout});
    TRY_VOID(sys::rpc_call(server_, message, message));
    ReceiveReply answer;
    u64 carried = sys::bytes_from(message, offsetof(ReceiveReply, bytes));
    sys::get(message, answer);
    if (answer.length > maximum || answer.length > carried) return Error::InvalidArgument;  // A confused server.
    copy(bytes, answer.bytes, answer.length);
    return answer.length;
  }
  // Sends at most SEND_BYTES of `bytes` without waiting: what lwIP has room for now (Busy: none).
  [[nodiscard]] sys::Result<u64> send_now(u64 connection, const u8* bytes, u64 length) const {
    return send(SOCKET_SEND_NOW, connection, bytes, length);
  }
  [[nodiscard]] sys::Result<void> watch(u64 handle, u64 interest) const {
    sys::Message message = sys::message_of(SOCKET_WATCH, WatchRequest{handle, interest});
    return sys::rpc_call(server_, message, message);
  }
  // `watch`: `watch_count` (at most POLL_MAX_WATCH) interest changes applied before the wait,
  // each handle | interest << POLL_EVENT_SHIFT.
  [[nodiscard]] sys::Result<void> poll(u64 timeout, PollResult& result, const u64* watch = nullptr,
                                       u64 watch_count = 0) const {
    return poll(timeout, result, watch, watch_count, nullptr, 0);
  }
  // As above, for a client whose attached buffer has a delivery area, mapped at `area`.
  [[nodiscard]] sys::Result<void> poll(u64 timeout, PollResult& result, const u64* watch, u64 watch_count,
                                       const u8* area, u64 area_bytes) const {
    if (watch_count > POLL_MAX_WATCH) return Error::InvalidArgument;
    PollRequest request;
    request.timeout = timeout;
    request.count = watch_count;
    for (u64 index = 0; index < watch_count; ++index) request.watch[index] = watch[index];
    sys::Message message = sys::message_of(SOCKET_POLL, request, offsetof(PollRequest, watch) + watch_count * 8);
    TRY_VOID(sys::rpc_call(server_, message, message));
    return read_poll_reply(message, result, area, area_bytes);
  }
  // Shares `buffer` (size bytes) for the bulk calls; the server keeps its own capability to it.
  // With delivery_bytes, Poll delivers into [delivery_offset, delivery_offset + delivery_bytes).
  [[nodiscard]] sys::Result<void> attach(sys::Memory buffer, u64 size, u64 delivery_offset = 0,
                                         u64 delivery_bytes = 0) const {
    sys::Message message = sys::message_of(SOCKET_ATTACH, AttachRequest{size, delivery_offset, delivery_bytes});
    message.attach(buffer, sys::abi::rights_of(sys::abi::MemoryRight::Read, sys::abi::MemoryRight::Write));
    return sys::rpc_call(server_, message, message);
  }
  // Receives at most min(maximum, BULK_BYTES) bytes into the attached buffer at `offset`, without
  // waiting (Timeout: nothing now); 0 = the peer closed its side.
  [[nodiscard]] sys::Result<u64> receive_bulk(u64 connection, u64 offset, u64 maximum) const {
    BulkReceived answer;
    TRY_VOID(sys::rpc_call(server_, SOCKET_RECEIVE_BULK, BulkRequest{connection, offset, maximum}, answer));
    if (answer.length > maximum || answer.length > BULK_BYTES) return Error::InvalidArgument;
    return answer.length;
  }
  // Sends what lwIP has room for now of the attached buffer's [offset, offset + length).
  [[nodiscard]] sys::Result<u64> send_bulk(u64 connection, u64 offset, u64 length) const {
    SentReply answer;
    TRY_VOID(sys::rpc_call(server_, SOCKET_SEND_BULK, BulkRequest{connection, offset, length}, answer));
    if (answer.accepted == 0 || answer.accepted > length) return Error::InvalidArgument;
    return answer.accepted;
  }
  [[nodiscard]] sys::Result<void> wake() const {
    sys::Message message = sys::Message::make(SOCKET_WAKE);
    return sys::rpc_call(server_, message, message);
  }
  [[nodiscard]] sys::Result<void> close(u64 handle) const {
    sys::Message message = sys::message_of(SOCKET_CLOSE, HandleRequest{handle});
    return sys::rpc_call(server_, message, message);
  }

 private:
  // Send and SendNow: at most SEND_BYTES of `bytes`; the server accepts at least one byte.
  [[nodiscard]] sys::Result<u64> send(u32 operation, u64 connection, const u8* bytes, u64 length) const {
    SendRequest request;
    request.connection = connection;
    request.length = length < SEND_BYTES ? length : SEND_BYTES;
    copy(request.bytes, bytes, request.length);
    SentReply answer;
    TRY_VOID(sys::rpc_call(server_, operation, request, answer, offsetof(SendRequest, bytes) + request.length));
    if (answer.accepted == 0 || answer.accepted > request.length) return Error::InvalidArgument;  // A confused server.
    return answer.accepted;
  }
  static void copy(u8* target, const u8* source, u64 length) {
    for (u64 index = 0; index < length; ++index) target[index] = source[index];
  }
  sys::Endpoint server_;
};

}  // namespace net
