// Host tests of the gateway's connection state machine (user/gateway/connection.hpp): requests
// arriving byte by byte, pipelined requests each with its own head and body, the head, body and
// idle deadlines on a fake clock, the size limits, large bodies passed to a store, 100-continue,
// the peer closing in each phase, and the connection counters' /metrics text. GoogleTest under
// ASan/UBSan.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "api.hpp"
#include "connection.hpp"

namespace gateway {
namespace {

constexpr u64 SECOND = 1'000'000;

// A BodyWindow over a vector; may refuse to open or to back more bytes.
class FakeWindow final : public BodyWindow {
 public:
  u8* open(u64 capacity, bool whole) override {
    ++opens;
    exact = whole;
    if (refuse) return nullptr;
    bytes.assign(capacity, 0xee);  // Not zero: the assembler must not rely on fresh pages.
    reserved = 0;
    return bytes.data();
  }
  bool reserve(u64 count) override {
    if (count > bytes.size() || count > reserve_limit) return false;
    if (count > reserved) reserved = count;
    return true;
  }
  void release() override { ++releases; }
  std::vector<u8> bytes;
  u64 reserved = 0;
  u64 reserve_limit = ~u64{0};
  int opens = 0;
  int releases = 0;
  bool refuse = false;
  bool exact = false;  // The last open() was for a body of known length.
};

// The gateway's limits as they were before max_body_mib= (1 MiB bodies, 4 MiB executables), and
// an early answer to Expect: 100-continue the test sets.
class FixedPolicy final : public RequestPolicy {
 public:
  u64 body_limit(const RequestHead& head) const override {
    if (stream_piece(head) != 0) return 16ull << 20;
    return deploy(head) ? 4ull << 20 : 1ull << 20;
  }
  // An image push streams in 64 KiB pieces (the gateway's are 4 MiB).
  u64 stream_piece(const RequestHead& head) const override {
    return head.method.equals("POST") && head.path.equals("/system/images") ? 64 * 1024 : 0;
  }
  const char* body_limit_message(const RequestHead& head) const override {
    return deploy(head) ? "executable larger than 4 MiB" : "body larger than 1 MiB";
  }
  u32 screen(const RequestHead&, const char*& message) const override {
    ++screened;
    message = refusal_message;
    return refusal;
  }
  static bool deploy(const RequestHead& head) {
    return head.method.equals("POST") && head.path.equals("/system/functions");
  }
  u32 refusal = 0;
  const char* refusal_message = nullptr;
  mutable int screened = 0;
};

// A connection with a buffer of `capacity` bytes.
struct Fixture {
  explicit Fixture(usize capacity = 12 * 1024)
      : buffer(capacity), assembler(buffer.data(), capacity, ConnectionTimeouts{}, store, policy) {}

  // Copies `text` into the receive space (at most the room offered) and reports it received.
  Event deliver(u64 now, const std::string& text) {
    EXPECT_LE(text.size(), assembler.receive_room());
    std::memcpy(assembler.receive_space(), text.data(), text.size());
    return assembler.received(now, text.size());
  }
  // Delivers `text` in pieces of at most `piece` bytes (and the room offered); the last event.
  Event deliver_all(u64 now, const std::string& text, usize piece) {
    Event event;
    usize offset = 0;
    while (offset < text.size()) {
      usize room = assembler.receive_room();
      if (room == 0) break;
      usize take = std::min({piece, room, text.size() - offset});
      event = deliver(now, text.substr(offset, take));
      offset += take;
      if (event.kind != Event::NeedMore) break;
    }
    delivered = offset;
    return event;
  }
  std::string body() const {
    return std::string(reinterpret_cast<const char*>(assembler.body()), assembler.body_length());
  }

  FakeWindow store;
  FixedPolicy policy;
  std::vector<char> buffer;
  RequestAssembler assembler;
  usize delivered = 0;
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
  EXPECT_EQ(big_body.policy.screened, 0);

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

TEST(RequestAssembler, LargeBodyGoesToTheWindowAndPipelinedBytesWait) {
  Fixture connection(MAX_HEAD_BYTES + 1 + 100);
  connection.assembler.start(0);
  std::string body;
  for (int index = 0; index < 10000; ++index) body += static_cast<char>('a' + index % 26);
  std::string head = "POST /function/echo HTTP/1.1\r\nContent-Length: 10000\r\n\r\n";
  ASSERT_EQ(connection.deliver(1, head + body.substr(0, 10)).kind, Event::NeedMore);
  EXPECT_EQ(connection.store.opens, 1);
  EXPECT_TRUE(connection.store.exact);
  EXPECT_EQ(connection.store.bytes.size(), 10000u);
  EXPECT_TRUE(connection.assembler.body_in_window());
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
  EXPECT_EQ(std::string(connection.store.bytes.begin(), connection.store.bytes.end()), body);
  EXPECT_EQ(connection.body(), body);
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

std::string chunked_head(const std::string& path = "/function/echo") {
  return "POST " + path + " HTTP/1.1\r\nAuthorization: Bearer k\r\nTransfer-Encoding: chunked\r\n\r\n";
}

TEST(ChunkedBody, DecodedWhateverTheArrival) {
  // Sizes in either case, extensions (token and quoted values, blanks around ';' and '='), a
  // trailer section; then a pipelined request.
  std::string wire = chunked_head() + "5\r\nhello\r\n" + "1A;name=value ; quoted=\"a \\\"b\\\" ;c\"\r\n" +
                     std::string(26, 'x') + "\r\n" + "b ; flag\r\n world, end\r\n" +
                     "0\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n" + "GET /healthz HTTP/1.1\r\n\r\n";
  std::string expected = "hello" + std::string(26, 'x') + " world, end";
  for (usize piece : {usize{1}, usize{2}, usize{3}, usize{7}, usize{64}, usize{4096}}) {
    Fixture connection;
    connection.assembler.start(0);
    Event event = connection.deliver_all(1, wire, piece);
    ASSERT_EQ(event.kind, Event::Ready) << "pieces of " << piece;
    EXPECT_TRUE(connection.assembler.head().chunked);
    EXPECT_EQ(connection.body(), expected) << "pieces of " << piece;
    EXPECT_EQ(connection.assembler.body_length(), expected.size());
    EXPECT_FALSE(connection.assembler.body_in_window());
    EXPECT_EQ(connection.store.opens, 0);
    // The rest of what was delivered is the next request, answered next with its own head.
    std::string rest = wire.substr(connection.delivered);
    event = connection.assembler.finish_request(2);
    if (event.kind != Event::Ready) event = connection.deliver(3, rest);
    ASSERT_EQ(event.kind, Event::Ready) << "pieces of " << piece;
    EXPECT_TRUE(connection.assembler.head().path.equals("/healthz"));
    EXPECT_FALSE(connection.assembler.head().chunked);
    EXPECT_EQ(connection.assembler.body_length(), 0u);
  }
}

TEST(ChunkedBody, AnEmptyBodyIsTheLastChunkAlone) {
  Fixture connection;
  connection.assembler.start(0);
  ASSERT_EQ(connection.deliver(1, chunked_head() + "0\r\n\r\n").kind, Event::Ready);
  EXPECT_EQ(connection.assembler.body_length(), 0u);
  EXPECT_EQ(connection.assembler.finish_request(2).kind, Event::NeedMore);
  EXPECT_EQ(connection.assembler.buffered(), 0u);
}

TEST(ChunkedBody, MalformedChunkingIs400WithItsReason) {
  const std::pair<std::string, std::string> cases[] = {
      {"x\r\n", "chunk size is not a hexadecimal number"},
      {"\r\n", "chunk size is not a hexadecimal number"},
      {"-5\r\n", "chunk size is not a hexadecimal number"},
      {"5x\r\n", "bad character after a chunk size"},
      {"5 x\r\n", "bad character after a chunk size"},
      {"5\rx", "chunk-size line not ended by CRLF"},
      {"5\nhello", "bad character after a chunk size"},
      {"5;\r\n", "chunk extension without a name"},
      {"5;a=\r\n", "chunk extension without a value after '='"},
      {"5;a b\r\n", "bad character after a chunk extension name"},
      {"5;a=b c\r\n", "bad character after a chunk extension value"},
      {"5;a=\"b\x01\"\r\n", "bad character in a quoted chunk extension value"},
      {"5;a@\r\n", "bad character in a chunk extension name"},
      {"5\r\nhelloX\r\n", "chunk data not followed by CRLF (longer than its size)"},
      {"5\r\nhello\rX", "chunk data not followed by CRLF (longer than its size)"},
      {"0\r\nBad Trailer: x\r\n\r\n", "malformed trailer field (a name and ':' expected)"},
      {"0\r\nX: a\x01\r\n\r\n", "bad character in a trailer field"},
      {"0\r\nX: a\rb", "trailer field not ended by CRLF"},
      {"0\r\n\rX", "chunked body not ended by CRLF"},
      {"1;" + std::string(5000, 'a') + "\r\n", "chunk-size line (with its extensions) longer than 4096 bytes"},
      {"0\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", "chunked trailer section longer than 8192 bytes"},
  };
  for (const auto& [body, reason] : cases) {
    Fixture connection(64 * 1024);
    connection.assembler.start(0);
    Event event = connection.deliver_all(1, chunked_head() + body, 1000);
    ASSERT_EQ(event.kind, Event::Respond) << body.substr(0, 40);
    EXPECT_EQ(event.status, 400u) << body.substr(0, 40);
    EXPECT_EQ(std::string(event.message), reason) << body.substr(0, 40);
    EXPECT_EQ(event.reason, ConnectionStats::REFUSED);
    EXPECT_EQ(connection.assembler.phase(), Phase::Done);
  }
}

TEST(ChunkedBody, TooLargeIs413AtTheChunkSizeBeforeItsData) {
  // 1 MiB + 1 announced in one chunk: refused at the size line, no data read.
  Fixture connection;
  connection.assembler.start(0);
  Event event = connection.deliver(1, chunked_head() + "100001\r\n");
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 413u);
  EXPECT_STREQ(event.message, "body larger than 1 MiB");
  EXPECT_EQ(connection.store.opens, 0);
  // A huge size is refused at the digit that takes it over the limit, without overflow.
  Fixture huge;
  huge.assembler.start(0);
  event = huge.deliver(1, chunked_head() + "fffffffffffffffffffffffffffffff");
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 413u);
  // Within the limit chunk by chunk, beyond it in all: refused at the chunk that crosses it.
  Fixture many;
  many.assembler.start(0);
  std::string chunk = "80000\r\n" + std::string(0x80000, 'z') + "\r\n";  // 512 KiB.
  event = many.deliver_all(1, chunked_head() + chunk + chunk + "1\r\n", 4096);
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 413u);
  EXPECT_STREQ(event.message, "body larger than 1 MiB");
  EXPECT_EQ(many.assembler.body_length(), 1u << 20);
}

TEST(ChunkedBody, LargeBodyMovesToTheWindowAndThePipelinedRequestComesBack) {
  Fixture connection(MAX_HEAD_BYTES + 1 + 2048);
  connection.assembler.start(0);
  std::string expected;
  std::string wire = chunked_head();
  for (int index = 0; index < 40; ++index) {
    std::string data(1000 + index, static_cast<char>('a' + index % 26));
    expected += data;
    char size[16];
    std::snprintf(size, sizeof size, "%x", static_cast<unsigned>(data.size()));
    wire += std::string(size) + "\r\n" + data + "\r\n";
  }
  wire += "0\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n";
  Event event = connection.deliver_all(1, wire, 504);
  ASSERT_EQ(event.kind, Event::Ready);
  EXPECT_EQ(connection.store.opens, 1);
  EXPECT_FALSE(connection.store.exact);  // Its length was unknown: the limit and a buffer's worth.
  EXPECT_EQ(connection.store.bytes.size(), (1u << 20) + MAX_HEAD_BYTES + 1 + 2048);
  EXPECT_TRUE(connection.assembler.body_in_window());
  EXPECT_EQ(connection.body(), expected);
  // Nothing but the body is left in the window (the window may become a function's input): the
  // bytes of the next request that followed the body there, and the framing decoded in place.
  const u8* after = connection.assembler.body() + expected.size();
  usize window_left = connection.store.bytes.size() - expected.size();
  for (usize index = 0; index < window_left; ++index)
    ASSERT_TRUE(after[index] == 0 || after[index] == 0xee) << "at " << index;
  std::string rest = wire.substr(connection.delivered);
  int releases = connection.store.releases;
  event = connection.assembler.finish_request(2);
  EXPECT_EQ(connection.store.releases, releases + 1);  // The window goes with its request.
  if (event.kind != Event::Ready) event = connection.deliver(3, rest);
  ASSERT_EQ(event.kind, Event::Ready);
  EXPECT_TRUE(connection.assembler.head().path.equals("/metrics"));
  EXPECT_FALSE(connection.assembler.body_in_window());
}

TEST(ChunkedBody, NoMemoryForTheWindowIs503) {
  Fixture connection(MAX_HEAD_BYTES + 1 + 1024);
  connection.store.refuse = true;
  connection.assembler.start(0);
  Event event = connection.deliver_all(1, chunked_head() + "4000\r\n" + std::string(0x4000, 'a'), 504);
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 503u);
  // Backing refused part way: also 503, never a write beyond what was backed.
  Fixture partial(MAX_HEAD_BYTES + 1 + 1024);
  partial.store.reserve_limit = 70 * 1024;
  partial.assembler.start(0);
  event = partial.deliver_all(1, chunked_head() + "20000\r\n" + std::string(0x20000, 'a'), 504);
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 503u);
  EXPECT_LE(partial.assembler.body_length(), 70u * 1024);
}

TEST(ChunkedBody, DeadlineGrowsWithWhatArrivedAndPeerCloseIs400) {
  Fixture connection;
  connection.assembler.start(0);
  std::string head = chunked_head();
  ASSERT_EQ(connection.deliver(SECOND, head).kind, Event::NeedMore);
  EXPECT_EQ(connection.assembler.deadline(), SECOND + 10 * SECOND);
  ASSERT_EQ(connection.deliver(2 * SECOND, "4000\r\n" + std::string(0x1000, 'a')).kind, Event::NeedMore);
  // 4,102 bytes received at 16 KiB/s: a quarter second more (integer microseconds).
  EXPECT_EQ(connection.assembler.deadline(), SECOND + 10 * SECOND + 4102ull * 1'000'000 / 16384);
  Event late = connection.assembler.check_deadline(connection.assembler.deadline());
  ASSERT_EQ(late.kind, Event::Respond);
  EXPECT_EQ(late.status, 408u);
  EXPECT_STREQ(late.message, "chunked request body too slow (10 s plus 1 s per 16 KiB received)");
  EXPECT_EQ(late.reason, ConnectionStats::BODY_TIMEOUT);

  Fixture cut;
  cut.assembler.start(0);
  ASSERT_EQ(cut.deliver(1, head + "5\r\nhel").kind, Event::NeedMore);
  Event closed = cut.assembler.peer_closed(2);
  ASSERT_EQ(closed.kind, Event::Respond);
  EXPECT_EQ(closed.status, 400u);
  EXPECT_STREQ(closed.message, "chunked body cut short (no last chunk)");
}

TEST(ExpectContinue, RefusedFromTheHeadWithoutReadingTheBody) {
  for (u32 status : {401u, 404u}) {
    Fixture connection;
    connection.policy.refusal = status;
    connection.policy.refusal_message = status == 401 ? "missing or unknown API key" : "no such route";
    connection.assembler.start(0);
    Event event = connection.deliver(1, "POST /function/echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    ASSERT_EQ(event.kind, Event::Respond);
    EXPECT_EQ(event.status, status);
    EXPECT_FALSE(event.send_continue);
    EXPECT_EQ(event.reason, ConnectionStats::REFUSED);
    EXPECT_EQ(connection.assembler.receive_room(), 0u);  // Not a byte of the body is read.
  }
  // 413 comes before the screen, from the announced length.
  Fixture large;
  large.assembler.start(0);
  Event event = large.deliver(1, "POST /function/echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n");
  ASSERT_EQ(event.kind, Event::Respond);
  EXPECT_EQ(event.status, 413u);
  EXPECT_EQ(large.policy.screened, 0);
  // Accepted: 100 Continue, chunked too.
  Fixture chunked;
  chunked.assembler.start(0);
  event = chunked.deliver(1, "POST /function/echo HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_EQ(event.kind, Event::NeedMore);
  EXPECT_TRUE(event.send_continue);
  EXPECT_EQ(chunked.policy.screened, 1);
  ASSERT_EQ(chunked.deliver(2, "2\r\nok\r\n0\r\n\r\n").kind, Event::Ready);
  EXPECT_EQ(chunked.body(), "ok");
  // Without Expect nothing is screened (the worker answers after the body).
  Fixture plain;
  plain.policy.refusal = 401;
  plain.assembler.start(0);
  EXPECT_EQ(plain.deliver(1, "POST /function/echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n").kind, Event::NeedMore);
  EXPECT_EQ(plain.policy.screened, 0);
}

TEST(RequestAssembler, NoWindowForARequestTheHeadRefuses) {
  // A body too large for the buffer is screened first, Expect or not: a client without a valid
  // key gets its 401 at once and no memory is given to its body.
  for (bool chunked_body : {false, true}) {
    Fixture connection(MAX_HEAD_BYTES + 1 + 1024);
    connection.policy.refusal = 401;
    connection.policy.refusal_message = "missing or unknown API key";
    connection.assembler.start(0);
    std::string head = chunked_body ? chunked_head() : "POST /function/echo HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
    std::string body = chunked_body ? "4000\r\n" + std::string(0x4000, 'a') : std::string(100000, 'a');
    Event event = connection.deliver_all(1, head + body, 504);
    ASSERT_EQ(event.kind, Event::Respond) << chunked_body;
    EXPECT_EQ(event.status, 401u);
    EXPECT_STREQ(event.message, "missing or unknown API key");
    EXPECT_EQ(connection.store.opens, 0);
    EXPECT_EQ(connection.policy.screened, 1);
  }
}

// Delivers a streamed request (and what follows it) in pieces of `piece` bytes, taking each
// Ready piece as a worker would; returns the pieces' sizes and the body put together.
std::vector<u64> stream(Fixture& connection, const std::string& request, usize piece, std::string& body) {
  std::vector<u64> pieces;
  usize offset = 0;
  u64 now = 0;
  Event event;
  while (offset < request.size() || event.kind == Event::Ready) {
    if (event.kind == Event::Ready) {
      EXPECT_EQ(connection.assembler.streamed_bytes(), body.size());
      body += connection.body();
      pieces.push_back(connection.assembler.body_length());
      if (!connection.assembler.partial()) return pieces;
      event = connection.assembler.continue_body(now);
      continue;
    }
    usize room = connection.assembler.receive_room();
    EXPECT_GT(room, 0u);
    if (room == 0) break;
    usize take = std::min({piece, room, request.size() - offset});
    event = connection.deliver(++now, request.substr(offset, take));
    offset += take;
    EXPECT_TRUE(event.kind == Event::NeedMore || event.kind == Event::Ready) << event.message;
  }
  return pieces;
}

TEST(StreamedBody, ContentLengthBodyArrivesInPiecesNeverWhole) {
  Fixture connection;
  connection.assembler.start(0);
  std::string payload;
  for (usize index = 0; index < 200000; ++index) payload += static_cast<char>('a' + index % 23);
  std::string request = "POST /system/images HTTP/1.1\r\nContent-Length: 200000\r\n\r\n" + payload +
                        "GET /healthz HTTP/1.1\r\n\r\n";
  std::string body;
  std::vector<u64> pieces = stream(connection, request, 7000, body);
  EXPECT_EQ(pieces, (std::vector<u64>{65536, 65536, 65536, 3392}));
  EXPECT_EQ(body, payload);
  EXPECT_EQ(connection.store.bytes.size(), 65536u);  // The window holds one piece, not the body.
  // The pipelined request behind the body is whole once the streamed one is answered.
  Event next = connection.assembler.finish_request(1000);
  std::string rest = request.substr(request.size() - 25);
  if (next.kind != Event::Ready) next = connection.deliver(1001, rest.substr(connection.assembler.buffered()));
  ASSERT_EQ(next.kind, Event::Ready);
  EXPECT_TRUE(connection.assembler.head().path.equals("/healthz"));
}

TEST(StreamedBody, ChunkedBodyArrivesInPiecesAndOtherRoutesStayWhole) {
  Fixture connection;
  connection.assembler.start(0);
  std::string payload;
  std::string chunked;
  for (usize index = 0; index < 150000; index += 9999) {
    std::string chunk;
    for (usize at = index; at < std::min<usize>(index + 9999, 150000); ++at) chunk += static_cast<char>('A' + at % 26);
    payload += chunk;
    char size[16];
    std::snprintf(size, sizeof size, "%zx", chunk.size());
    chunked += std::string(size) + "\r\n" + chunk + "\r\n";
  }
  std::string request = "POST /system/images HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + "0\r\n\r\n";
  std::string body;
  std::vector<u64> pieces = stream(connection, request, 5000, body);
  EXPECT_EQ(body, payload);
  ASSERT_GE(pieces.size(), 3u);
  for (usize index = 0; index + 1 < pieces.size(); ++index) EXPECT_GE(pieces[index], 65536u);
  EXPECT_LE(connection.store.bytes.size(), 65536u + 12 * 1024);

  // The same body to another route comes whole, in one Ready.
  Fixture whole;
  whole.assembler.start(0);
  std::string other = "POST /function/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + "0\r\n\r\n";
  std::string echoed;
  EXPECT_EQ(stream(whole, other, 5000, echoed), (std::vector<u64>{150000}));
  EXPECT_EQ(echoed, payload);
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
