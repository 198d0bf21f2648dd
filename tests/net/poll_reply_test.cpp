// The Poll answer's layout (net/socket.hpp) on the host: what PollReplyBuilder writes,
// read_poll_reply reads back (entries, deliveries at their offsets, the all-pending flag, in the
// answer or in the client's delivery area), and a confused server's answer is refused rather than
// read out of bounds.
#include "net/socket.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using net::u64;
using net::u8;
using net::PollReplyBuilder;
using net::PollResult;

std::string text_of(const PollResult::Delivery& delivery) {
  return std::string(reinterpret_cast<const char*>(delivery.bytes), delivery.length);
}

void put_text(u8* target, const std::string& text) { std::memcpy(target, text.data(), text.size()); }

TEST(PollReply, EntriesAndDeliveriesComeBackInOrder) {
  PollReplyBuilder reply;
  ASSERT_TRUE(reply.add(7, net::POLL_READABLE));
  ASSERT_TRUE(reply.add(9, net::POLL_WRITABLE));
  ASSERT_TRUE(reply.add(11, net::POLL_READABLE));
  std::string first = "GET /a HTTP/1.1\r\n\r\n";  // 19 bytes: padded to 24.
  std::string third = "POST /function/empty HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
  put_text(reply.deliver(0, first.size(), true), first);
  put_text(reply.deliver(2, third.size(), false), third);
  sys::Message message;
  reply.finish(message, true);

  PollResult result;
  ASSERT_TRUE(net::read_poll_reply(message, result).ok());
  EXPECT_TRUE(result.woken);
  ASSERT_EQ(result.count, 3u);
  EXPECT_EQ(result.handle(0), 7u);
  EXPECT_EQ(result.events(0), net::POLL_READABLE | net::POLL_DELIVERED);
  EXPECT_EQ(result.events(1), net::POLL_WRITABLE);
  EXPECT_EQ(result.events(2), net::POLL_READABLE | net::POLL_DELIVERED);
  EXPECT_EQ(text_of(result.delivery(0)), first);
  EXPECT_TRUE(result.delivery(0).all);
  EXPECT_EQ(result.delivery(1).length, 0u);
  EXPECT_EQ(text_of(result.delivery(2)), third);
  EXPECT_FALSE(result.delivery(2).all);
}

TEST(PollReply, DeliveriesStopWhereTheMessageIsFull) {
  PollReplyBuilder reply;
  ASSERT_TRUE(reply.add(1, net::POLL_READABLE));
  ASSERT_TRUE(reply.add(2, net::POLL_READABLE));
  // One entry word each, then the first delivery takes all the room there is.
  u64 room = reply.delivery_room();
  EXPECT_EQ(room, (net::POLL_MAX_READY - 2 - 1) * 8);
  EXPECT_LT(room, net::RECEIVE_BYTES);  // A client with RECEIVE_BYTES of room takes any delivery.
  std::memset(reply.deliver(0, room, false), 'x', room);
  EXPECT_EQ(reply.delivery_room(), 0u);
  EXPECT_FALSE(reply.add(3, net::POLL_READABLE));  // No entry after the deliveries.
  sys::Message message;
  reply.finish(message, false);
  PollResult result;
  ASSERT_TRUE(net::read_poll_reply(message, result).ok());
  EXPECT_EQ(result.delivery(0).length, room);
  EXPECT_EQ(result.delivery(1).length, 0u);
  EXPECT_EQ(result.events(1), net::POLL_READABLE);
}

TEST(PollReply, AnAnswerWithoutDeliveriesIsTheEntriesAlone) {
  PollReplyBuilder reply;
  for (u64 handle = 0; handle < net::POLL_MAX_READY; ++handle) ASSERT_TRUE(reply.add(handle, net::POLL_READABLE));
  EXPECT_FALSE(reply.add(99, net::POLL_READABLE));
  EXPECT_EQ(reply.delivery_room(), 0u);
  sys::Message message;
  reply.finish(message, false);
  EXPECT_EQ(message.word_count(), 2 + net::POLL_MAX_READY);
  PollResult result;
  ASSERT_TRUE(net::read_poll_reply(message, result).ok());
  EXPECT_EQ(result.count, net::POLL_MAX_READY);
  EXPECT_EQ(result.handle(61), 61u);
}

// A hand-made answer: flags, count, entries, then raw words.
sys::Message answer_of(std::initializer_list<u64> words) {
  sys::Message message;
  u64 count = 0;
  for (u64 word : words) message.words[count++] = word;
  message.set_words(0, count);
  return message;
}

constexpr u64 DELIVERED_READABLE = (net::POLL_READABLE | net::POLL_DELIVERED) << net::POLL_EVENT_SHIFT;

TEST(PollReply, AConfusedServersAnswerIsRefused) {
  PollResult result;
  // More entries than words.
  EXPECT_EQ(net::read_poll_reply(answer_of({0, 3, 1, 2}), result).error(), sys::Error::InvalidArgument);
  // A delivered entry without its length word.
  EXPECT_EQ(net::read_poll_reply(answer_of({0, 1, 5 | DELIVERED_READABLE}), result).error(), sys::Error::InvalidArgument);
  // A length of 0, a length past the words carried, unknown bits in the length word.
  EXPECT_EQ(net::read_poll_reply(answer_of({0, 1, 5 | DELIVERED_READABLE, 0}), result).error(), sys::Error::InvalidArgument);
  EXPECT_EQ(net::read_poll_reply(answer_of({0, 1, 5 | DELIVERED_READABLE, 9, 0}), result).error(), sys::Error::InvalidArgument);
  EXPECT_EQ(net::read_poll_reply(answer_of({0, 1, 5 | DELIVERED_READABLE, 1 | u64{1} << 40, 0}), result).error(),
            sys::Error::InvalidArgument);
  // The same with a length that fits: read.
  ASSERT_TRUE(net::read_poll_reply(answer_of({0, 1, 5 | DELIVERED_READABLE, 8 | net::POLL_DELIVERED_ALL, 0x6867666564636261}), result).ok());
  EXPECT_EQ(text_of(result.delivery(0)), "abcdefgh");
  EXPECT_TRUE(result.delivery(0).all);
}

// With a delivery area (AttachRequest): every ready connection's bytes, however many entries, each at
// most RECEIVE_BYTES; the answer carries the entries alone and the flag saying where the bytes are.
TEST(PollReply, DeliveriesInTheAreaCarryEveryEntrysBytes) {
  constexpr u64 AREA = 32 * 1024;
  static u8 area[AREA];
  PollReplyBuilder reply;
  for (u64 handle = 0; handle < net::POLL_MAX_READY; ++handle) ASSERT_TRUE(reply.add(handle, net::POLL_READABLE));
  reply.deliver_into(area, AREA);
  EXPECT_EQ(reply.delivery_room(), net::RECEIVE_BYTES);  // Capped: a client's room for one is RECEIVE_BYTES.
  for (u64 entry = 0; entry < net::POLL_MAX_READY; ++entry) {
    std::string request = "POST /function/f" + std::to_string(entry) + " HTTP/1.1\r\n\r\n";
    put_text(reply.deliver(entry, request.size(), entry % 2 == 0), request);
  }
  sys::Message message;
  reply.finish(message, false);
  EXPECT_EQ(message.word_count(), 2 + net::POLL_MAX_READY);  // No delivery in the message.
  EXPECT_GT(reply.area_used(), 0u);

  PollResult result;
  // Without its area a client cannot read such an answer.
  EXPECT_EQ(net::read_poll_reply(message, result).error(), sys::Error::InvalidArgument);
  ASSERT_TRUE(net::read_poll_reply(message, result, area, AREA).ok());
  EXPECT_FALSE(result.woken);
  ASSERT_EQ(result.count, net::POLL_MAX_READY);
  for (u64 entry = 0; entry < net::POLL_MAX_READY; ++entry) {
    EXPECT_EQ(result.events(entry), net::POLL_READABLE | net::POLL_DELIVERED);
    EXPECT_EQ(text_of(result.delivery(entry)), "POST /function/f" + std::to_string(entry) + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(result.delivery(entry).all, entry % 2 == 0);
  }
}

TEST(PollReply, DeliveriesStopWhereTheAreaIsFull) {
  constexpr u64 AREA = 1024;
  static u8 area[AREA];
  PollReplyBuilder reply;
  ASSERT_TRUE(reply.add(1, net::POLL_READABLE));
  ASSERT_TRUE(reply.add(2, net::POLL_READABLE));
  ASSERT_TRUE(reply.add(3, net::POLL_READABLE));
  reply.deliver_into(area, AREA);
  std::memset(reply.deliver(0, net::RECEIVE_BYTES, false), 'a', net::RECEIVE_BYTES);
  u64 room = reply.delivery_room();  // What is left after a word and 504 bytes, less the next word.
  EXPECT_EQ(room, AREA - 8 - net::RECEIVE_BYTES - 8);
  std::memset(reply.deliver(1, room, true), 'b', room);
  EXPECT_EQ(reply.delivery_room(), 0u);
  sys::Message message;
  reply.finish(message, false);
  PollResult result;
  ASSERT_TRUE(net::read_poll_reply(message, result, area, AREA).ok());
  EXPECT_EQ(result.delivery(0).length, net::RECEIVE_BYTES);
  EXPECT_EQ(result.delivery(1).length, room);
  EXPECT_EQ(result.delivery(1).bytes[room - 1], 'b');
  EXPECT_EQ(result.delivery(2).length, 0u);
  EXPECT_EQ(result.events(2), net::POLL_READABLE);
  // An area smaller than the server wrote into is a confused server.
  EXPECT_EQ(net::read_poll_reply(message, result, area, 512).error(), sys::Error::InvalidArgument);
}

}  // namespace
