// RequestAssembler: one connection's incoming side as a state machine (idle, head, body, ready)
// over a buffer the caller owns, with the deadlines that keep a slow client from holding anything
// but its own connection; and ConnectionStats, the connection counters of /metrics. Pure (no
// system calls; time is passed in), host-tested under sanitizers (tests/gateway/connection_test.cpp).
// Invariant: the buffer is written only where receive_space() says and only while a request is
// being read; while a request is Ready its head and inline body stay untouched until
// finish_request(); every way a request can fail ends in exactly one Event (a status to answer, or
// a quiet close), never in a wait without a deadline.
#pragma once

#include <atomic>

#include "chunked.hpp"
#include "http.hpp"

namespace gateway {

struct ConnectionTimeouts {
  u64 idle_us = 15'000'000;     // A keep-alive connection without a request (also before the first).
  u64 head_us = 10'000'000;     // From a request's first byte to the end of its head.
  u64 body_grace_us = 10'000'000;  // The body's deadline: this grace plus its length at the minimum rate.
  u64 body_minimum_bytes_per_second = 16 * 1024;
};

// Where a body too large for the connection's buffer goes: a window of memory (in the gateway, a
// demand-zero Memory object mapped into its address space, which an invocation can take as its
// input without a copy).
class BodyWindow {
 public:
  // A window of `capacity` bytes (its pages backed by reserve()); nullptr when there is no room
  // now (the request is answered 503). `exact`: the body will fill it (a Content-Length body), so
  // it may be backed whole at once.
  virtual u8* open(u64 capacity, bool exact) = 0;
  // Backs the window's first `bytes` bytes with memory; false when there is none now (503).
  virtual bool reserve(u64 bytes) = 0;
  // The request is done with the window (its body was answered).
  virtual void release() = 0;

 protected:
  ~BodyWindow() = default;
};

// What the gateway decides about a request from its head alone, before its body is read.
class RequestPolicy {
 public:
  // The largest body the request may have (413 beyond), and the message saying so.
  virtual u64 body_limit(const RequestHead& head) const = 0;
  virtual const char* body_limit_message(const RequestHead& head) const = 0;
  // For a request that asked "Expect: 100-continue", or whose body needs a window: the final
  // status to answer at once instead of reading its body (401, 404), with its message; 0 to
  // answer "100 Continue" and read it.
  virtual u32 screen(const RequestHead& head, const char*& message) const = 0;
  // 0 for a request whose body is handed over whole; else the size of the pieces in which it is
  // handed over as it arrives (an image archive streamed to the store, never held whole).
  virtual u64 stream_piece(const RequestHead&) const { return 0; }

 protected:
  ~RequestPolicy() = default;
};

// Counters and gauges of the connection layer, rendered into /metrics. Written by the event loop,
// read by any worker rendering the page (relaxed atomics: each value is a count on its own).
struct ConnectionStats {
  enum Reason : usize {
    IDLE_TIMEOUT,   // A keep-alive connection without a request for the idle timeout.
    HEAD_TIMEOUT,   // 408: a head not complete within its deadline.
    BODY_TIMEOUT,   // 408: a body not complete within its deadline (minimum rate).
    SEND_TIMEOUT,   // A client that did not take its response at the minimum rate.
    PEER_CLOSED,    // The client closed between requests (normal).
    MID_REQUEST,    // The client closed or reset in the middle of a request or response.
    REFUSED,        // 400, 413, 431, 501 or 503, or a 401/404/405 answered to "Expect: 100-continue"
                    // instead of reading the body: a request the gateway would not take, then closed.
    SERVED,         // The gateway closed after a response (Connection: close, HTTP/1.0).
    REASON_COUNT,
  };
  static constexpr const char* REASON_NAMES[REASON_COUNT] = {"idle_timeout", "head_timeout", "body_timeout",
                                                             "send_timeout", "peer_closed",  "mid_request",
                                                             "refused",      "served"};
  std::atomic<u64> open{0};
  std::atomic<u64> limit{0};
  std::atomic<u64> accepted{0};
  std::atomic<u64> rejected{0};  // 503 at the connection limit.
  std::atomic<u64> closed[REASON_COUNT] = {};

  void close(Reason reason) {
    closed[reason].fetch_add(1, std::memory_order_relaxed);
    open.fetch_sub(1, std::memory_order_relaxed);
  }
  void render(Buffer& output) const;
};

enum class Phase {
  Idle,   // No byte of the next request yet.
  Head,   // Part of a head.
  Body,   // A complete head; its body is arriving.
  Ready,  // A complete request, handed to a worker; nothing is read until finish_request().
  Done,   // An Event ended the connection.
};

struct Event {
  enum Kind {
    NeedMore,  // Keep reading (send_continue: answer "100 Continue" first).
    Ready,     // A complete request: head(), body.
    Respond,   // Answer `status` with `message`, then close.
    Close,     // Close without an answer (`reason` says why, for the counters).
  };
  Kind kind = NeedMore;
  u32 status = 0;
  const char* message = nullptr;
  bool send_continue = false;
  ConnectionStats::Reason reason = ConnectionStats::REFUSED;  // Respond and Close: for the counters.
};

class RequestAssembler {
 public:
  // `capacity` must hold a whole head and its end check (MAX_HEAD_BYTES + 1) and more: the rest is
  // room for bodies that come inline; larger ones (and chunked ones that outgrow it) go to `window`.
  RequestAssembler(char* buffer, usize capacity, const ConnectionTimeouts& timeouts, BodyWindow& window,
                   const RequestPolicy& policy);

  // A new connection at `now` (microseconds): Idle.
  void start(u64 now);
  Phase phase() const { return phase_; }
  // Where the next received bytes go and how many may come now (0: do not read).
  u8* receive_space();
  usize receive_room() const;
  // `count` bytes arrived in receive_space() at `now`.
  Event received(u64 now, usize count);
  // The peer ended its side (FIN) at `now`.
  Event peer_closed(u64 now);
  // Ends an expired phase: Close after the idle timeout, 408 when a head or body is late.
  Event check_deadline(u64 now);
  // When the current phase ends unless the request moves on (0 = no deadline: Ready, Done).
  u64 deadline() const;

  // The request, while Ready: its head and its (decoded) body.
  const RequestHead& head() const { return head_; }
  u64 body_length() const { return body_length_; }
  const u8* body() const { return body_; }
  // True when the body lies in the window (BodyWindow::open), false when in the buffer.
  bool body_in_window() const { return in_window_; }
  // A streamed body (RequestPolicy::stream_piece): true while Ready with a piece that is not the
  // body's last; body() then holds the bytes from offset streamed_bytes() of the whole body.
  bool partial() const { return partial_; }
  u64 streamed_bytes() const { return streamed_; }
  // The worker took a partial piece: the window is emptied and the body goes on arriving.
  Event continue_body(u64 now);

  // The request was answered at `now`: pipelined bytes move to the front and the next request
  // starts (Idle, or Head/Ready when they hold one already; see the returned Event).
  Event finish_request(u64 now);
  // Bytes received and not yet consumed by a finished request (tests).
  usize buffered() const { return buffered_; }

 private:
  Event advance(u64 now);
  Event start_body(u64 now);
  Event decode_chunks(u64 now);
  bool move_to_window(u64 capacity, bool exact);
  usize body_room() const;
  Event respond(u32 status, const char* message, ConnectionStats::Reason reason);
  Event close(ConnectionStats::Reason reason);

  char* buffer_;
  usize capacity_;
  ConnectionTimeouts timeouts_;
  BodyWindow& window_;
  const RequestPolicy& policy_;
  Phase phase_ = Phase::Idle;
  usize buffered_ = 0;       // Bytes in the buffer: the head, then (inline) the body region's bytes.
  u64 phase_deadline_ = 0;
  u64 body_started_ = 0;     // When the head was complete (a chunked body's deadline grows from it).
  RequestHead head_;
  // The body region: the buffer after the head, or the window. It holds body_length_ bytes of
  // (decoded) body, then raw_length_ bytes received and not yet decoded (chunked framing, or
  // bytes of the next request).
  u8* body_ = nullptr;
  u64 body_capacity_ = 0;
  u64 body_length_ = 0;
  u64 raw_length_ = 0;
  u64 reserved_ = 0;         // Bytes of the window backed by memory.
  u64 window_used_ = 0;      // The window's bytes written so far (all are wiped after the body).
  u64 body_limit_ = 0;
  u64 received_total_ = 0;   // Body bytes as received (framing included), for the deadline.
  bool in_window_ = false;
  bool body_complete_ = false;
  u64 piece_ = 0;            // RequestPolicy::stream_piece of this request (0: whole).
  u64 streamed_ = 0;         // Decoded body bytes handed over in earlier pieces.
  bool partial_ = false;
  bool continue_sent_ = false;
  bool screened_ = false;    // RequestPolicy::screen was asked (Expect, or before a window).
  u32 screen_status_ = 0;    // Its answer.
  const char* screen_message_ = nullptr;
  ChunkDecoder chunks_;
};

}  // namespace gateway
