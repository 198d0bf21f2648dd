// libsys's SlotAllocator on the host: slots come out in order from the hint, wrap around, never
// twice until freed, never outside [first, limit); its own bitmap covers INLINE_SLOTS, a caller's
// bitmap covers up to MAX_SLOTS (65,536, the kernel's largest space); free_count is exact.
#include "sys/slots.hpp"

#include <gtest/gtest.h>

#include <vector>

using sys::Error;
using sys::SlotAllocator;
using sys::u64;

TEST(SlotAllocator, HandsOutEachSlotOnceInOrderThenNotFound) {
  SlotAllocator slots(64, 200);
  EXPECT_EQ(slots.free_count(), 136u);
  for (u64 expected = 64; expected < 200; ++expected) EXPECT_EQ(slots.allocate().value(), expected);
  EXPECT_EQ(slots.free_count(), 0u);
  EXPECT_EQ(slots.allocate().error(), Error::NotFound);
  slots.free(130);
  slots.free(65);
  EXPECT_EQ(slots.free_count(), 2u);
  // The hint wrapped to the start: 65 first, then 130.
  EXPECT_EQ(slots.allocate().value(), 65u);
  EXPECT_EQ(slots.allocate().value(), 130u);
  EXPECT_EQ(slots.allocate().error(), Error::NotFound);
}

TEST(SlotAllocator, FreesOutsideTheRangeChangeNothing) {
  SlotAllocator slots(10, 20);
  slots.free(5);
  slots.free(20);
  slots.free(~u64{0});
  EXPECT_EQ(slots.free_count(), 10u);
  EXPECT_EQ(slots.allocate().value(), 10u);
}

TEST(SlotAllocator, AnEmptyOrInvertedRangeHasNothing) {
  SlotAllocator empty(30, 30);
  EXPECT_EQ(empty.allocate().error(), Error::NotFound);
  EXPECT_EQ(empty.free_count(), 0u);
  SlotAllocator inverted(30, 10);
  EXPECT_EQ(inverted.allocate().error(), Error::NotFound);
  EXPECT_EQ(inverted.free_count(), 0u);
}

TEST(SlotAllocator, ItsOwnBitmapCoversInlineSlotsFromFirst) {
  // A range high in the space (a manager worker's) needs no bits below it.
  SlotAllocator high(62976, 62976 + 160);
  EXPECT_EQ(high.free_count(), 160u);
  EXPECT_EQ(high.allocate().value(), 62976u);
  SlotAllocator clamped(100, 100000);
  EXPECT_EQ(clamped.free_count(), SlotAllocator::INLINE_SLOTS);
  for (u64 index = 0; index < SlotAllocator::INLINE_SLOTS; ++index) ASSERT_TRUE(clamped.allocate().ok());
  EXPECT_EQ(clamped.allocate().error(), Error::NotFound);
}

TEST(SlotAllocator, ACallersBitmapCoversTheLargestSpace) {
  std::vector<u64> bitmap(SlotAllocator::bitmap_words(SlotAllocator::MAX_SLOTS), 0);
  EXPECT_EQ(bitmap.size(), 1024u);
  SlotAllocator slots(64, 70000, bitmap.data(), bitmap.size());  // Clamped to MAX_SLOTS.
  EXPECT_EQ(slots.free_count(), SlotAllocator::MAX_SLOTS - 64);
  for (u64 index = 64; index < SlotAllocator::MAX_SLOTS; ++index) {
    ASSERT_EQ(slots.allocate().value(), index);
  }
  EXPECT_EQ(slots.allocate().error(), Error::NotFound);
  EXPECT_EQ(slots.free_count(), 0u);
  // Holes far apart, in words of their own and at a word's edges, come back from the hint on.
  for (u64 slot : {u64{65535}, u64{64}, u64{127}, u64{128}, u64{40000}}) slots.free(slot);
  EXPECT_EQ(slots.free_count(), 5u);
  for (u64 expected : {u64{64}, u64{127}, u64{128}, u64{40000}, u64{65535}})
    EXPECT_EQ(slots.allocate().value(), expected);
  EXPECT_EQ(slots.allocate().error(), Error::NotFound);
  // A caller's bitmap shorter than the range clamps the range to it.
  u64 short_bitmap[2] = {};
  SlotAllocator short_range(1000, 5000, short_bitmap, 2);
  EXPECT_EQ(short_range.free_count(), 128u);
}

TEST(SlotAllocator, TheHintSkipsFullWordsAndWraps) {
  SlotAllocator slots(0, 256);
  for (u64 index = 0; index < 256; ++index) ASSERT_TRUE(slots.allocate().ok());
  slots.free(3);
  slots.free(250);
  slots.free(1);  // The hint is at 0 (it wrapped): 1 comes first, then 3, then 250.
  EXPECT_EQ(slots.allocate().value(), 1u);
  EXPECT_EQ(slots.allocate().value(), 3u);
  EXPECT_EQ(slots.allocate().value(), 250u);
  slots.free(2);  // Behind the hint (251): found after wrapping.
  EXPECT_EQ(slots.allocate().value(), 2u);
  EXPECT_EQ(slots.free_count(), 0u);
}
