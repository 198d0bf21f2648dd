// Host tests of the gateway's connection state machine (user/gateway/connection.hpp): requests
// arriving byte by byte, pipelined requests each with its own head and body, the head, body and
// idle deadlines on a fake clock, the size limits, large bodies passed to a store, 100-continue,
// the peer closing in each phase, and the connection counters' /metrics text. GoogleTest under
// ASan/UBSan.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "api.hpp"
#include "connection.hpp"

namespace gateway {
namespace {

constexpr u64 SECOND = 1'000'000;

// A BodyStore over a vector; may refuse to open.
class FakeStore final : public BodyStore {
 public:
  bool open(u64 length) override {
    ++opens;
    if (refuse) return false;
    bytes.assign(length, '\0');
    return true;
  }
  bool write(u64 offset, const u8* data, usize length) override {
    if (offset + length > bytes.size()) return false;
    std::memcpy(bytes.data() + offset, data, length);
    return true;
  }
  std::string bytes;
  int opens = 0;
  bool refuse = false;
};

// A connection with a buffer of `capacity` bytes and the gateway's real body limits.
struct Fixture {
  explicit Fixture(usize capacity = 12 * 1024)
      : buffer(capacity), assembler(buffer.data(), capacity, ConnectionTimeouts{}, store, &Gateway::body_limit) {}

  // Copies `text` into the receive space (at most the room offered) and reports it received.
  Event deliver(u64 now, const std::string& text) {
    EXPECT_LE(text.size(), assembler.receive_room());
    std::memcpy(assembler.receive_space(), text.data(), text.size());
    return assembler.received(now, text.size());
  }
  std::string body() const {
    return std::string(reinterpret_cast<const char*>(assembler.inline_body()), assembler.body_length());
  }

  FakeStore store;
  std::vector<char> buffer;
  RequestAssembler assembler;
};

TEST(RequestAssembler, ByteByByteArrival) {
  Fixture connection;
  connection.assembler.start(0);
  std::string request = "POST /function/echo HTTP/1.1\r\nContent-Length: 5\r\nAuthorization: Bearer k\r\n\r\nhello";
  for (usize index = 0; index + 1 < request.size(); ++index) {
    Event event = connection.deliver(index, request.substr(index, 1));
    ASSERT_EQ(event.kind, Event::NeedMore) << "at byte " << index;
    EXPECT_FALSE(event.send_continue);
  }
  Event event = connection.deliver(request.size(), request.substr(request.size() - 1));
  ASSERT_EQ(event.kind, Event::Ready);
  EXPECT_EQ(connection.assembler.phase(), Phase::Ready);
  EXPECT_TRUE(connection.assembler.head().path.equals("/function/echo"));
  EXPECT_TRUE(connection.assembler.head().header("Authorization").equals("Bearer k"));
  EXPECT_EQ(connection.body(), "hello");
  EXPECT_EQ(connection.assembler.receive_room(), 0u);  // Nothing is read while a worker has it.
  EXPECT_EQ(connection.assembler.deadline(), 0u);
}

TEST(RequestAssembler, PipelinedRequestsEachGetTheirOwnHeadAndBody) {
  Fixture connection;
  connection.assembler.start(0);
  std::string first = "POST /function/a HTTP/1.1\r\nAuthorization: Bearer A\r\nContent-Length: 3\r\n\r\nAAA";
  std::string second = "POST /function/b HTTP/1.1\r\nAuthorization: Bearer B\r\nContent-Length: 2\r\n\r\nBB";
  std::string third = "GET /healthz HTTP/1.1\r\n\r\n";
  ASSERT_EQ(connection.deliver(1, first + second + third).kind, Event::Ready);
  EXPECT_TRUE(connection.assembler.head().path.equals("/function/a"));
  EXPECT_TRUE(connection.assembler.head().header("Authorization").equals("Bearer A"));
  EXPECT_EQ(connection.body(), "AAA");
  ASSERT_EQ(connection.assembler.finish_request(2).kind, Event::Ready);
  EXPECT_TRUE(connection.assembler.head().path.equals("/function/b"));
  EXPECT_TRUE(connection.assembler.head().header("Authorization").equals("Bearer B"));
  EXPECT_EQ(connection.body(), "BB");
  ASSERT_EQ(connection.assembler.finish_request(3).kind, Event::Ready);
  EXPECT_TRUE(connection.assembler.head().path.equals("/healthz"));
  EXPECT_EQ(connection.assembler.body_length(), 0u);
  EXPECT_EQ(connection.assembler.finish_request(4).kind, Event::NeedMore);
  EXPECT_EQ(connection.assembler.phase(), Phase::Idle);
  EXPECT_EQ(connection.assembler.buffered(), 0u);
  // Half of a fourth request stays for later, then completes.
  EXPECT_EQ(connection.deliver(5, "GET /metr").kind, Event::NeedMore);
  EXPECT_EQ(connection.deliver(6, "ics HTTP/1.1\r\n\r\n").kind, Event::Ready);
  EXPECT_TRUE(connection.assembler.head().path.equals("/metrics"));
}

TEST(RequestAssembler, TricklingHeadGets408AtItsDeadline) {
  Fixture connection;
  connection.assembler.start(0);
  std::string request = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
  u64 first_byte = 3 * SECOND;
  // One byte per second: each byte is progress, but the head's deadline is fixed at its first byte.
  for (usize index = 0; index < 10; ++index) {
    u64 now = first_byte + index * SECOND;
    ASSERT_EQ(connection.assembler.check_deadline(now).kind, Event::NeedMore);
    ASSERT_EQ(connection.deliver(now, request.substr(index, 1)).kind, Event::NeedMore);
  }
  EXPECT_EQ(connection.assembler.deadline(), first_byte + 10 * SECOND);
  EXPECT_EQ(connection.assembler.check_deadline(first_byte + 10 * SECOND - 1).kind, Event::NeedMore);
  Event expired = connection.assembler.check_deadline(first_byte + 10 * SECOND);
  ASSERT_EQ(expired.kind, Event::Respond);
  EXPECT_EQ(expired.status, 408u);
  EXPECT_EQ(expired.reason, ConnectionStats::HEAD_TIMEOUT);
  EXPECT_EQ(connection.assembler.phase(), Phase::Done);
  EXPECT_EQ(connection.assembler.receive_room(), 0u);
}

TEST(RequestAssembler, BodyDeadlineGrowsWithItsLength) {
  Fixture connection(64 * 1024);
  connection.assembler.start(0);
  // 32 KiB at 16 KiB/s: 2 s beyond the 10 s grace.
  ASSERT_EQ(connection.deliver(SECOND, "POST /function/echo HTTP/1.1\r\nContent-Length: 32768\r\n\r\nxy").kind,
            Event::NeedMore);
  EXPECT_EQ(connection.assembler.phase(), Phase::Body);
  EXPECT_EQ(connection.assembler.deadline(), SECOND + 12 * SECOND);
  EXPECT_EQ(connection.assembler.check_deadline(13 * SECOND - 1).kind, Event::NeedMore);
  Event expired = connection.assembler.check_deadline(13 * SECOND);
  ASSERT_EQ(expired.kind, Event::Respond);
  EXPECT_EQ(expired.status, 408u);
  EXPECT_EQ(expired.reason, ConnectionStats::BODY_TIMEOUT);
}

TEST(RequestAssembler, IdleConnectionClosesQuietlyAfterTheIdleTimeout) {
  Fixture connection;
  connection.assembler.start(2 * SECOND);
  EXPECT_EQ(connection.assembler.check_deadline(17 * SECOND - 1).kind, Event::NeedMore);
  Event idle = connection.assembler.check_deadline(17 * SECOND);
  ASSERT_EQ(idle.kind, Event::Close);
  EXPECT_EQ(idle.reason, ConnectionStats::IDLE_TIMEOUT);

  // After a response, the idle timeout counts from the response.
  Fixture served;
  served.assembler.start(0);
  ASSERT_EQ(served.deliver(SECOND, "GET /healthz HTTP/1.1\r\n\r\n").kind, Event::Ready);
  ASSERT_EQ(served.assembler.finish_request(40 * SECOND).kind, Event::NeedMore);
  EXPECT_EQ(served.assembler.deadline(), 55 * SECOND);
  EXPECT_EQ(served.assembler.check_deadline(55 * SECOND - 1).kind, Event::NeedMore);
  EXPECT_EQ(served.assembler.check_deadline(55 * SECOND).kind, Event::Close);
}

TEST(RequestAssembler, LimitsAreRefusedBeforeTheBody) {
  Fixture oversized_head;
  oversized_head.assembler.start(0);
  std::string head = "GET / HTTP/1.1\r\nX: " + std::string(MAX_HEAD_BYTES, 'a');
  Event event;
  for (usize offset = 0; offset < head.size() && event.kind == Event::NeedMore; offset += 500)
    event = oversized_head.deliver(1, head.substr(offset, 500));
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 431u);

  Fixture big_body;
  big_body.assembler.start(0);
  event = big_body.deliver(1, "POST /function/echo HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n");
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 413u);
  EXPECT_STREQ(event.message, "body larger than 1 MiB");
  EXPECT_EQ(big_body.store.opens, 0);

  Fixture big_executable;
  big_executable.assembler.start(0);
  event = big_executable.deliver(1, "POST /system/functions HTTP/1.1\r\nContent-Length: 4194305\r\n\r\n");
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 413u);
  EXPECT_STREQ(event.message, "executable larger than 4 MiB");

  Fixture garbage;
  garbage.assembler.start(0);
  event = garbage.deliver(1, "\x01");
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 400u);
  EXPECT_EQ(event.reason, ConnectionStats::REFUSED);
}

TEST(RequestAssembler, LargeBodyGoesToTheStoreAndPipelinedBytesWait) {
  Fixture connection(MAX_HEAD_BYTES + 1 + 100);
  connection.assembler.start(0);
  std::string body;
  for (int index = 0; index < 10000; ++index) body += static_cast<char>('a' + index % 26);
  std::string head = "POST /function/echo HTTP/1.1\r\nContent-Length: 10000\r\n\r\n";
  ASSERT_EQ(connection.deliver(1, head + body.substr(0, 10)).kind, Event::NeedMore);
  EXPECT_EQ(connection.store.opens, 1);
  EXPECT_FALSE(connection.assembler.body_inline());
  usize offset = 10;
  while (offset < body.size()) {
    usize room = connection.assembler.receive_room();
    ASSERT_GT(room, 0u);
    ASSERT_LE(room, body.size() - offset);  // Never more than the body: the next request waits.
    usize take = room < 77 ? room : 77;
    Event event = connection.deliver(2, body.substr(offset, take));
    offset += take;
    ASSERT_EQ(event.kind, offset == body.size() ? Event::Ready : Event::NeedMore);
  }
  EXPECT_EQ(connection.store.bytes, body);
  EXPECT_TRUE(connection.assembler.head().path.equals("/function/echo"));
  ASSERT_EQ(connection.assembler.finish_request(3).kind, Event::NeedMore);
  EXPECT_EQ(connection.assembler.buffered(), 0u);

  Fixture refused(MAX_HEAD_BYTES + 1 + 100);
  refused.store.refuse = true;
  refused.assembler.start(0);
  Event event = refused.deliver(1, head);
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 503u);
}

TEST(RequestAssembler, ExpectContinueIsAnsweredOnceAndOnlyWhenTheBodyIsMissing) {
  Fixture connection;
  connection.assembler.start(0);
  Event event = connection.deliver(1, "POST /function/echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  ASSERT_EQ(event.kind, Event::NeedMore);
  EXPECT_TRUE(event.send_continue);
  event = connection.deliver(2, "ab");
  ASSERT_EQ(event.kind, Event::NeedMore);
  EXPECT_FALSE(event.send_continue);
  ASSERT_EQ(connection.deliver(3, "cd").kind, Event::Ready);
  EXPECT_EQ(connection.body(), "abcd");

  Fixture whole;
  whole.assembler.start(0);
  event = whole.deliver(1, "POST /function/echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(event.kind, Event::Ready);
  EXPECT_FALSE(event.send_continue);
}

TEST(RequestAssembler, PeerClosingInEachPhase) {
  Fixture idle;
  idle.assembler.start(0);
  Event event = idle.assembler.peer_closed(1);
  EXPECT_EQ(event.kind, Event::Close);
  EXPECT_EQ(event.reason, ConnectionStats::PEER_CLOSED);

  Fixture head;
  head.assembler.start(0);
  ASSERT_EQ(head.deliver(1, "GET /hea").kind, Event::NeedMore);
  event = head.assembler.peer_closed(2);
  EXPECT_EQ(event.kind, Event::Close);
  EXPECT_EQ(event.reason, ConnectionStats::MID_REQUEST);

  Fixture body;
  body.assembler.start(0);
  ASSERT_EQ(body.deliver(1, "POST /function/echo HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc").kind, Event::NeedMore);
  event = body.assembler.peer_closed(2);
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 400u);
  EXPECT_STREQ(event.message, "body shorter than Content-Length");
}

TEST(ConnectionStats, RendersEveryCounter) {
  ConnectionStats stats;
  stats.limit = 256;
  stats.accepted = 5;
  stats.open = 4;
  stats.rejected = 1;
  stats.close(ConnectionStats::HEAD_TIMEOUT);
  stats.close(ConnectionStats::HEAD_TIMEOUT);
  stats.close(ConnectionStats::SEND_TIMEOUT);
  char storage[4096];
  Buffer text(storage, sizeof storage);
  stats.render(text);
  std::string page(text.data(), text.size());
  EXPECT_NE(page.find("\nmetteagle_connections_open 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("\nmetteagle_connections_limit 256\n"), std::string::npos);
  EXPECT_NE(page.find("\nmetteagle_connections_accepted_total 5\n"), std::string::npos);
  EXPECT_NE(page.find("\nmetteagle_connections_rejected_total 1\n"), std::string::npos);
  EXPECT_NE(page.find("\nmetteagle_connections_closed_total{reason=\"head_timeout\"} 2\n"), std::string::npos);
  EXPECT_NE(page.find("\nmetteagle_connections_closed_total{reason=\"send_timeout\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("\nmetteagle_connections_closed_total{reason=\"idle_timeout\"} 0\n"), std::string::npos);
}

}  // namespace
}  // namespace gateway
