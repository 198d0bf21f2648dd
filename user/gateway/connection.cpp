// RequestAssembler and ConnectionStats: the phases of one connection's request, their deadlines,
// and the counters that make every closed connection visible in /metrics.
#include "connection.hpp"

extern "C" void* memmove(void* destination, const void* source, size_t length);

namespace gateway {
namespace {

constexpr u64 MICROSECONDS_PER_SECOND = 1'000'000;

// The time a body of `length` bytes may take at `rate` bytes per second, without overflow.
u64 transfer_microseconds(u64 length, u64 rate) {
  if (rate == 0) return 0;
  return length / rate * MICROSECONDS_PER_SECOND + length % rate * MICROSECONDS_PER_SECOND / rate;
}

}  // namespace

RequestAssembler::RequestAssembler(char* buffer, usize capacity, const ConnectionTimeouts& timeouts,
                                   BodyStore& store, u64 (*body_limit)(const RequestHead&))
    : buffer_(buffer), capacity_(capacity), timeouts_(timeouts), store_(store), body_limit_(body_limit) {}

void RequestAssembler::start(u64 now) {
  phase_ = Phase::Idle;
  buffered_ = 0;
  large_ = false;
  body_received_ = 0;
  continue_sent_ = false;
  head_ = RequestHead{};
  phase_deadline_ = now + timeouts_.idle_us;
}

u8* RequestAssembler::receive_space() {
  // A large body passes through the room after its head on its way to the store.
  usize offset = phase_ == Phase::Body && large_ ? head_.head_length : buffered_;
  return reinterpret_cast<u8*>(buffer_ + offset);
}

usize RequestAssembler::receive_room() const {
  switch (phase_) {
    case Phase::Idle:
    case Phase::Head: return capacity_ - buffered_;
    case Phase::Body: {
      if (!large_) return capacity_ - buffered_;
      u64 room = capacity_ - head_.head_length;
      u64 missing = head_.content_length - body_received_;
      return static_cast<usize>(missing < room ? missing : room);
    }
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

Event RequestAssembler::received(u64 now, usize count) {
  if (count == 0 || count > receive_room()) return Event{};
  if (phase_ == Phase::Body && large_) {
    if (!store_.write(body_received_, receive_space(), count))
      return respond(503, "no memory for the request body now; retry later", ConnectionStats::REFUSED);
    body_received_ += count;
    return advance(now);
  }
  buffered_ += count;
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
      return respond(400, head_.error != nullptr ? head_.error : "malformed request", ConnectionStats::REFUSED);
    if (parsed == ParseStatus::TooLarge)
      return respond(431, "request line and headers exceed 8 KiB", ConnectionStats::REFUSED);
    u64 limit = body_limit_ != nullptr ? body_limit_(head_) : MAX_BODY_BYTES;
    if (head_.content_length > limit)
      return respond(413, limit == MAX_BODY_BYTES ? "body larger than 1 MiB" : "executable larger than 4 MiB",
                     ConnectionStats::REFUSED);
    phase_ = Phase::Body;
    phase_deadline_ = now + timeouts_.body_grace_us +
                      transfer_microseconds(head_.content_length, timeouts_.body_minimum_bytes_per_second);
    large_ = head_.head_length + head_.content_length > capacity_;
    if (large_) {
      if (!store_.open(head_.content_length))
        return respond(503, "no memory for the request body now; retry later", ConnectionStats::REFUSED);
      // Everything after the head is body here: the body does not fit the buffer, so it is longer.
      usize leftover = buffered_ - head_.head_length;
      if (leftover > 0 && !store_.write(0, reinterpret_cast<const u8*>(buffer_ + head_.head_length), leftover))
        return respond(503, "no memory for the request body now; retry later", ConnectionStats::REFUSED);
      body_received_ = leftover;
      buffered_ = head_.head_length;
    }
  }
  if (phase_ == Phase::Body) {
    u64 have = large_ ? body_received_ : buffered_ - head_.head_length;
    if (have >= head_.content_length) {
      phase_ = Phase::Ready;
      phase_deadline_ = 0;
      Event event;
      event.kind = Event::Ready;
      return event;
    }
    Event event;
    if (head_.expect_continue && !continue_sent_) {
      continue_sent_ = true;
      event.send_continue = true;
    }
    return event;
  }
  return Event{};
}

Event RequestAssembler::peer_closed(u64) {
  switch (phase_) {
    case Phase::Idle: return close(ConnectionStats::PEER_CLOSED);
    case Phase::Head: return close(ConnectionStats::MID_REQUEST);
    // The client closed its sending side before the body was complete: a truncated upload.
    case Phase::Body: return respond(400, "body shorter than Content-Length", ConnectionStats::MID_REQUEST);
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
      return respond(408, "request body not complete within its deadline (10 s plus 1 s per 16 KiB)",
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
  usize consumed = head_.head_length + (large_ ? 0 : static_cast<usize>(head_.content_length));
  if (consumed > buffered_) consumed = buffered_;
  memmove(buffer_, buffer_ + consumed, buffered_ - consumed);
  buffered_ -= consumed;
  large_ = false;
  body_received_ = 0;
  continue_sent_ = false;
  head_ = RequestHead{};
  phase_ = Phase::Idle;
  phase_deadline_ = now + timeouts_.idle_us;
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
