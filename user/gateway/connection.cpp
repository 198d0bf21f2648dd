// RequestAssembler and ConnectionStats: the phases of one connection's request, their deadlines,
// and the counters that make every closed connection visible in /metrics.
#include "connection.hpp"

#include "sys/string.hpp"

namespace gateway {
namespace {

constexpr u64 MICROSECONDS_PER_SECOND = 1'000'000;

// The time a body of `length` bytes may take at `rate` bytes per second, without overflow.
u64 transfer_microseconds(u64 length, u64 rate) {
  if (rate == 0) return 0;
  return length / rate * MICROSECONDS_PER_SECOND + length % rate * MICROSECONDS_PER_SECOND / rate;
}

}  // namespace

// Window memory is backed this much at a time ahead of the bytes that arrive.
constexpr u64 RESERVE_STEP = 64 * 1024;

RequestAssembler::RequestAssembler(char* buffer, usize capacity, const ConnectionTimeouts& timeouts,
                                   BodyWindow& window, const RequestPolicy& policy)
    : buffer_(buffer), capacity_(capacity), timeouts_(timeouts), window_(window), policy_(policy) {}

void RequestAssembler::start(u64 now) {
  window_.release();
  phase_ = Phase::Idle;
  buffered_ = 0;
  head_ = RequestHead{};
  body_ = nullptr;
  body_capacity_ = body_length_ = raw_length_ = reserved_ = body_limit_ = received_total_ = window_used_ = 0;
  in_window_ = body_complete_ = continue_sent_ = screened_ = partial_ = false;
  piece_ = streamed_ = 0;
  screen_status_ = 0;
  screen_message_ = nullptr;
  phase_deadline_ = now + timeouts_.idle_us;
}

u8* RequestAssembler::receive_space() {
  if (phase_ == Phase::Body) return body_ + body_length_ + raw_length_;
  return reinterpret_cast<u8*>(buffer_ + buffered_);
}

usize RequestAssembler::body_room() const {
  u64 used = body_length_ + raw_length_;
  if (!in_window_) return static_cast<usize>(body_capacity_ - used);
  u64 room = reserved_ - used;
  // A Content-Length body in the window takes exactly its length: the next request waits in the
  // client's bytes. A chunked one may take what follows its end, at most what the buffer has room
  // for behind the head, where it goes when the body is complete.
  u64 bound = head_.chunked ? capacity_ - head_.head_length : head_.content_length - streamed_ - body_length_;
  return static_cast<usize>(room < bound ? room : bound);
}

usize RequestAssembler::receive_room() const {
  switch (phase_) {
    case Phase::Idle:
    case Phase::Head: return capacity_ - buffered_;
    case Phase::Body: return body_room();
    case Phase::Ready:
    case Phase::Done: return 0;
  }
  return 0;
}

Event RequestAssembler::respond(u32 status, const char* message, ConnectionStats::Reason reason) {
  phase_ = Phase::Done;
  Event event;
  event.kind = Event::Respond;
  event.status = status;
  event.message = message;
  event.reason = reason;
  return event;
}

Event RequestAssembler::close(ConnectionStats::Reason reason) {
  phase_ = Phase::Done;
  Event event;
  event.kind = Event::Close;
  event.reason = reason;
  return event;
}

bool RequestAssembler::move_to_window(u64 capacity, bool exact) {
  u64 used = body_length_ + raw_length_;
  // Memory for a body is given only to a request the head alone does not refuse (a client without
  // a key cannot make the gateway hold megabytes); the refusal is then answered at once.
  if (!screened_) {
    screened_ = true;
    const char* message = nullptr;
    screen_status_ = policy_.screen(head_, message);
    screen_message_ = message;
    if (screen_status_ != 0) return false;
  }
  u8* window = window_.open(capacity, exact);
  if (window == nullptr) return false;
  u64 wanted = used + RESERVE_STEP < capacity ? used + RESERVE_STEP : capacity;
  if (!window_.reserve(wanted)) return false;
  reserved_ = wanted;
  memmove(window, body_, used);
  body_ = window;
  body_capacity_ = capacity;
  window_used_ = used;
  in_window_ = true;
  buffered_ = head_.head_length;
  return true;
}

Event RequestAssembler::received(u64 now, usize count) {
  if (count == 0 || count > receive_room()) return Event{};
  if (phase_ != Phase::Body) {
    buffered_ += count;
    return advance(now);
  }
  raw_length_ += count;
  received_total_ += count;
  if (!in_window_) buffered_ += count;
  if (in_window_ && body_length_ + raw_length_ > window_used_) window_used_ = body_length_ + raw_length_;
  return advance(now);
}

Event RequestAssembler::advance(u64 now) {
  if (phase_ == Phase::Idle) {
    if (buffered_ == 0) return Event{};
    phase_ = Phase::Head;
    phase_deadline_ = now + timeouts_.head_us;
  }
  if (phase_ == Phase::Head) {
    ParseStatus parsed = parse_request_head(buffer_, buffered_, head_);
    if (parsed == ParseStatus::Incomplete) return Event{};
    if (parsed == ParseStatus::Invalid)
      return respond(head_.error_status, head_.error != nullptr ? head_.error : "malformed request",
                     ConnectionStats::REFUSED);
    if (parsed == ParseStatus::TooLarge)
      return respond(431, "request line and headers exceed 8 KiB", ConnectionStats::REFUSED);
    Event started = start_body(now);
    if (started.kind != Event::NeedMore) return started;
  }
  if (phase_ != Phase::Body) return Event{};
  if (head_.chunked) {
    Event decoded = decode_chunks(now);
    if (decoded.kind != Event::NeedMore) return decoded;
  } else {
    u64 have = body_length_ + raw_length_;
    u64 remaining = head_.content_length - streamed_;
    body_length_ = have < remaining ? have : remaining;
    raw_length_ = have - body_length_;
    body_complete_ = body_length_ == remaining;
  }
  // A streamed body hands over a piece when the window holds one (or is full), not the whole.
  if (!body_complete_ && piece_ != 0 && in_window_ && body_length_ > 0 &&
      (body_length_ >= piece_ || (body_room() == 0 && reserved_ >= body_capacity_))) {
    partial_ = true;
    phase_ = Phase::Ready;
    phase_deadline_ = 0;
    Event event;
    event.kind = Event::Ready;
    return event;
  }
  if (body_complete_) {
    if (in_window_) {
      // Bytes of the next request may have followed a chunked body into the window: they go
      // behind the head (body_room() kept them within its room). Then everything after the body
      // is wiped (those bytes, and framing decoded in place), as the window may become a
      // function's input, and a pooling proxy's next request may be another client's.
      memcpy(buffer_ + head_.head_length, body_ + body_length_, static_cast<usize>(raw_length_));
      buffered_ = head_.head_length + static_cast<usize>(raw_length_);
      raw_length_ = 0;
      if (window_used_ > body_length_) memset(body_ + body_length_, 0, static_cast<usize>(window_used_ - body_length_));
    }
    phase_ = Phase::Ready;
    phase_deadline_ = 0;
    Event event;
    event.kind = Event::Ready;
    return event;
  }
  // A chunked body's length is unknown: its deadline grows with what arrived, at the minimum rate.
  if (head_.chunked)
    phase_deadline_ = body_started_ + timeouts_.body_grace_us +
                      transfer_microseconds(received_total_, timeouts_.body_minimum_bytes_per_second);
  if (body_room() == 0) {
    // The buffer is full (or the window's backed part): go to the window, or back more of it.
    bool room;
    if (!in_window_ && piece_ != 0) {
      // A streamed body's window holds one piece (and, chunked, its framing).
      u64 remaining = head_.content_length - streamed_;
      room = head_.chunked ? move_to_window(piece_ + capacity_, false)
                           : move_to_window(remaining < piece_ ? remaining : piece_, false);
    } else if (!in_window_) {
      room = head_.chunked ? move_to_window(body_limit_ + capacity_, false) : move_to_window(head_.content_length, true);
    } else {
      u64 wanted = reserved_ + RESERVE_STEP < body_capacity_ ? reserved_ + RESERVE_STEP : body_capacity_;
      room = wanted > reserved_ && window_.reserve(wanted);
      if (room) reserved_ = wanted;
    }
    if (screen_status_ != 0) return respond(screen_status_, screen_message_, ConnectionStats::REFUSED);
    if (!room || body_room() == 0)
      return respond(503, "no memory for the request body now; retry later", ConnectionStats::REFUSED);
  }
  Event event;
  if (head_.expect_continue && !continue_sent_) {
    continue_sent_ = true;
    event.send_continue = true;
  }
  return event;
}

Event RequestAssembler::start_body(u64 now) {
  body_limit_ = policy_.body_limit(head_);
  piece_ = policy_.stream_piece(head_);
  streamed_ = 0;
  partial_ = false;
  if (!head_.chunked && head_.content_length > body_limit_)
    return respond(413, policy_.body_limit_message(head_), ConnectionStats::REFUSED);
  usize leftover = buffered_ - head_.head_length;
  bool complete_now = !head_.chunked && leftover >= head_.content_length;
  if (head_.expect_continue && !complete_now) {
    // The client waits for our word before it sends the body: refuse now what the head decides.
    const char* message = nullptr;
    u32 status = policy_.screen(head_, message);
    screened_ = true;
    if (status != 0) return respond(status, message, ConnectionStats::REFUSED);
  }
  phase_ = Phase::Body;
  body_started_ = now;
  body_ = reinterpret_cast<u8*>(buffer_ + head_.head_length);
  body_capacity_ = capacity_ - head_.head_length;
  body_length_ = 0;
  raw_length_ = leftover;
  received_total_ = leftover;
  in_window_ = false;
  body_complete_ = false;
  if (head_.chunked) {
    chunks_.start(body_limit_);
    phase_deadline_ = now + timeouts_.body_grace_us +
                      transfer_microseconds(received_total_, timeouts_.body_minimum_bytes_per_second);
    return Event{};
  }
  phase_deadline_ = now + timeouts_.body_grace_us +
                    transfer_microseconds(head_.content_length, timeouts_.body_minimum_bytes_per_second);
  // A body that cannot fit the buffer goes to the window from its first byte (a streamed one
  // to a window of one piece).
  u64 window_bytes = piece_ != 0 && head_.content_length > piece_ ? piece_ : head_.content_length;
  if (head_.content_length > body_capacity_ && !move_to_window(window_bytes, piece_ == 0)) {
    if (screen_status_ != 0) return respond(screen_status_, screen_message_, ConnectionStats::REFUSED);
    return respond(503, "no memory for the request body now; retry later", ConnectionStats::REFUSED);
  }
  return Event{};
}

// Decodes the raw bytes in place: data moves down to the end of the body decoded so far (it never
// moves up, as framing only shrinks), and what is left (a partial chunk line, or bytes after the
// body's end) follows it.
Event RequestAssembler::decode_chunks(u64) {
  u8* raw = body_ + body_length_;
  u64 offset = 0;
  while (offset < raw_length_ && !body_complete_) {
    ChunkDecoder::Step step = chunks_.next(raw + offset, static_cast<usize>(raw_length_ - offset));
    switch (step.status) {
      case ChunkDecoder::Status::Data:
        memmove(body_ + body_length_, raw + offset + step.data_offset, step.data_length);
        body_length_ += step.data_length;
        break;
      case ChunkDecoder::Status::Done: body_complete_ = true; break;
      case ChunkDecoder::Status::More: break;
      case ChunkDecoder::Status::Invalid: return respond(400, chunks_.error(), ConnectionStats::REFUSED);
      case ChunkDecoder::Status::TooLarge:
        return respond(413, policy_.body_limit_message(head_), ConnectionStats::REFUSED);
    }
    offset += step.consumed;
    if (step.status == ChunkDecoder::Status::More) break;
  }
  u64 rest = raw_length_ - offset;
  memmove(body_ + body_length_, raw + offset, rest);
  raw_length_ = rest;
  if (!in_window_) buffered_ = head_.head_length + static_cast<usize>(body_length_ + raw_length_);
  return Event{};
}

Event RequestAssembler::peer_closed(u64) {
  switch (phase_) {
    case Phase::Idle: return close(ConnectionStats::PEER_CLOSED);
    case Phase::Head: return close(ConnectionStats::MID_REQUEST);
    // The client closed its sending side before the body was complete: a truncated upload.
    case Phase::Body:
      return respond(400, head_.chunked ? "chunked body cut short (no last chunk)" : "body shorter than Content-Length",
                     ConnectionStats::MID_REQUEST);
    case Phase::Ready:
    case Phase::Done: return Event{};
  }
  return Event{};
}

Event RequestAssembler::check_deadline(u64 now) {
  u64 due = deadline();
  if (due == 0 || now < due) return Event{};
  switch (phase_) {
    case Phase::Idle: return close(ConnectionStats::IDLE_TIMEOUT);
    case Phase::Head:
      return respond(408, "request head not complete within its deadline (10 s from its first byte)",
                     ConnectionStats::HEAD_TIMEOUT);
    case Phase::Body:
      return respond(408,
                     head_.chunked ? "chunked request body too slow (10 s plus 1 s per 16 KiB received)"
                                   : "request body not complete within its deadline (10 s plus 1 s per 16 KiB)",
                     ConnectionStats::BODY_TIMEOUT);
    case Phase::Ready:
    case Phase::Done: return Event{};
  }
  return Event{};
}

u64 RequestAssembler::deadline() const {
  return phase_ == Phase::Idle || phase_ == Phase::Head || phase_ == Phase::Body ? phase_deadline_ : 0;
}

Event RequestAssembler::finish_request(u64 now) {
  if (in_window_) {
    // The bytes after a chunked body's end (the next request) were moved behind the head.
    memmove(buffer_, buffer_ + head_.head_length, buffered_ - head_.head_length);
    buffered_ -= head_.head_length;
    window_.release();
  } else {
    usize consumed = head_.head_length + static_cast<usize>(body_length_);
    if (consumed > buffered_) consumed = buffered_;
    memmove(buffer_, buffer_ + consumed, buffered_ - consumed);
    buffered_ -= consumed;
  }
  head_ = RequestHead{};
  body_ = nullptr;
  body_capacity_ = body_length_ = raw_length_ = reserved_ = body_limit_ = received_total_ = window_used_ = 0;
  in_window_ = body_complete_ = continue_sent_ = screened_ = partial_ = false;
  piece_ = streamed_ = 0;
  screen_status_ = 0;
  screen_message_ = nullptr;
  phase_ = Phase::Idle;
  phase_deadline_ = now + timeouts_.idle_us;
  return advance(now);
}

Event RequestAssembler::continue_body(u64 now) {
  if (phase_ != Phase::Ready || !partial_) return Event{};
  streamed_ += body_length_;
  // What followed the piece (undecoded chunk framing and data) moves to the window's start.
  memmove(body_, body_ + body_length_, static_cast<usize>(raw_length_));
  body_length_ = 0;
  partial_ = false;
  phase_ = Phase::Body;
  // The time the piece took is not the client's: its deadline starts again for what is left.
  body_started_ = now;
  received_total_ = raw_length_;
  phase_deadline_ = now + timeouts_.body_grace_us +
                    (head_.chunked ? 0
                                   : transfer_microseconds(head_.content_length - streamed_,
                                                           timeouts_.body_minimum_bytes_per_second));
  return advance(now);
}

void ConnectionStats::render(Buffer& output) const {
  auto line = [&output](const char* name, u64 value) {
    output.append(name);
    output.append(" ");
    output.append_unsigned(value);
    output.append("\n");
  };
  output.append("# TYPE metteagle_connections_open gauge\n");
  line("metteagle_connections_open", open.load(std::memory_order_relaxed));
  output.append("# TYPE metteagle_connections_limit gauge\n");
  line("metteagle_connections_limit", limit.load(std::memory_order_relaxed));
  output.append("# TYPE metteagle_connections_accepted_total counter\n");
  line("metteagle_connections_accepted_total", accepted.load(std::memory_order_relaxed));
  output.append("# TYPE metteagle_connections_rejected_total counter\n");
  line("metteagle_connections_rejected_total", rejected.load(std::memory_order_relaxed));
  output.append("# TYPE metteagle_connections_closed_total counter\n");
  for (usize reason = 0; reason < REASON_COUNT; ++reason) {
    output.append("metteagle_connections_closed_total{reason=\"");
    output.append(REASON_NAMES[reason]);
    output.append("\"} ");
    output.append_unsigned(closed[reason].load(std::memory_order_relaxed));
    output.append("\n");
  }
}

}  // namespace gateway
