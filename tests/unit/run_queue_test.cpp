// RunQueue: highest priority first, FIFO within a priority, removal keeps the bitmap and the size exact.
#include "lib/run_queue.hpp"

#include <gtest/gtest.h>

namespace {
struct Thread {
  int id;
  klib::ListNode node;
};
using Queue = klib::RunQueue<Thread, &Thread::node>;
}  // namespace

TEST(RunQueue, HighestPriorityFirstThenFifo) {
  Thread a{1, {}}, b{2, {}}, c{3, {}}, d{4, {}};
  Queue queue;
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.pop_highest(), nullptr);
  queue.push_back(a, 5);
  queue.push_back(b, 63);
  queue.push_back(c, 5);
  queue.push_back(d, 0);
  EXPECT_EQ(queue.highest_priority(), 63u);
  EXPECT_EQ(queue.pop_highest(), &b);
  EXPECT_EQ(queue.pop_highest(), &a);
  EXPECT_EQ(queue.pop_highest(), &c);
  EXPECT_EQ(queue.pop_highest(), &d);
  EXPECT_TRUE(queue.empty());
}

TEST(RunQueue, PushFrontKeepsTheTurn) {
  Thread a{1, {}}, b{2, {}};
  Queue queue;
  queue.push_back(a, 7);
  queue.push_front(b, 7);
  EXPECT_EQ(queue.pop_highest(), &b);
}

TEST(RunQueue, RemoveClearsTheLevelOnlyWhenEmpty) {
  Thread a{1, {}}, b{2, {}}, c{3, {}};
  Queue queue;
  queue.push_back(a, 9);
  queue.push_back(b, 9);
  queue.push_back(c, 2);
  queue.remove(a, 9);
  EXPECT_TRUE(queue.has_at_least(9));
  queue.remove(b, 9);
  EXPECT_FALSE(queue.has_at_least(9));
  EXPECT_TRUE(queue.has_at_least(2));
  EXPECT_FALSE(queue.has_at_least(3));
  EXPECT_EQ(queue.pop_highest(), &c);
  EXPECT_TRUE(queue.empty());
}

TEST(RunQueue, SizeCountsEveryWayInAndOut) {
  Thread a{1, {}}, b{2, {}}, c{3, {}};
  Queue queue;
  EXPECT_EQ(queue.size(), 0u);
  queue.push_back(a, 4);
  queue.push_front(b, 4);
  queue.push_back(c, 30);
  EXPECT_EQ(queue.size(), 3u);
  queue.remove(a, 4);
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_EQ(queue.pop_highest(), &c);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.pop_highest(), &b);
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.pop_highest(), nullptr);
  EXPECT_EQ(queue.size(), 0u);
}
