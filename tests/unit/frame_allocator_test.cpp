// FrameAllocator: allocation, release, reservation, contiguity and misuse, over fake memory.
#include "lib/frame_allocator.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

using klib::Error;
using klib::FrameAllocator;
using klib::PAGE_SIZE;

namespace {
constexpr klib::u64 BASE = 0x100000;
constexpr klib::usize FRAMES = 200;  // Not a multiple of 64, to exercise the last bitmap word.

struct Fixture : ::testing::Test {
  std::vector<klib::u64> bitmap = std::vector<klib::u64>(FrameAllocator::bitmap_words_for(FRAMES));
  FrameAllocator allocator;
  void SetUp() override { allocator.init(BASE, FRAMES, bitmap.data()); }
};
}  // namespace

TEST_F(Fixture, StartsWithEverythingInUse) {
  EXPECT_EQ(allocator.free_frames(), 0u);
  EXPECT_EQ(allocator.allocate().error(), Error::OutOfMemory);
}

TEST_F(Fixture, HandsOutEachReleasedFrameOnceThenRunsOut) {
  allocator.release_range(BASE, BASE + FRAMES * PAGE_SIZE);
  EXPECT_EQ(allocator.free_frames(), FRAMES);
  std::set<klib::u64> seen;
  for (klib::usize i = 0; i < FRAMES; ++i) {
    auto frame = allocator.allocate();
    ASSERT_TRUE(frame.ok());
    EXPECT_EQ(frame.value() % PAGE_SIZE, 0u);
    EXPECT_GE(frame.value(), BASE);
    EXPECT_LT(frame.value(), BASE + FRAMES * PAGE_SIZE);
    EXPECT_TRUE(seen.insert(frame.value()).second);
  }
  EXPECT_EQ(allocator.allocate().error(), Error::OutOfMemory);
  EXPECT_EQ(allocator.free_frames(), 0u);
}

TEST_F(Fixture, ReleaseRoundsInwardAndClipsToRange) {
  allocator.release_range(BASE + 1, BASE + 3 * PAGE_SIZE - 1);  // Only the middle frame is whole.
  EXPECT_EQ(allocator.free_frames(), 1u);
  EXPECT_TRUE(allocator.is_free(BASE + PAGE_SIZE));
  allocator.release_range(0, ~klib::u64{0} - PAGE_SIZE);
  EXPECT_EQ(allocator.free_frames(), FRAMES);
}

TEST_F(Fixture, ReserveRoundsOutwardAndWins) {
  allocator.release_range(BASE, BASE + FRAMES * PAGE_SIZE);
  allocator.reserve_range(BASE + PAGE_SIZE + 1, BASE + 2 * PAGE_SIZE + 1);  // Touches frames 1 and 2.
  EXPECT_EQ(allocator.free_frames(), FRAMES - 2);
  EXPECT_FALSE(allocator.is_free(BASE + PAGE_SIZE));
  EXPECT_FALSE(allocator.is_free(BASE + 2 * PAGE_SIZE));
  EXPECT_TRUE(allocator.is_free(BASE + 3 * PAGE_SIZE));
}

TEST_F(Fixture, FreeRejectsForeignUnalignedAndDoubleFrees) {
  allocator.release_range(BASE, BASE + FRAMES * PAGE_SIZE);
  auto frame = allocator.allocate();
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(allocator.free(frame.value() + 8).error(), Error::InvalidArgument);
  EXPECT_EQ(allocator.free(BASE - PAGE_SIZE).error(), Error::InvalidArgument);
  EXPECT_EQ(allocator.free(BASE + FRAMES * PAGE_SIZE).error(), Error::InvalidArgument);
  EXPECT_TRUE(allocator.free(frame.value()).ok());
  EXPECT_EQ(allocator.free(frame.value()).error(), Error::InvalidArgument);
  EXPECT_EQ(allocator.free_frames(), FRAMES);
}

TEST_F(Fixture, FreedFramesAreReused) {
  allocator.release_range(BASE, BASE + 4 * PAGE_SIZE);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(allocator.allocate().ok());
  ASSERT_TRUE(allocator.free(BASE + 2 * PAGE_SIZE).ok());
  auto again = allocator.allocate();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), BASE + 2 * PAGE_SIZE);
}

TEST_F(Fixture, ContiguousRunsAreAlignedAndSkipHoles) {
  constexpr klib::u64 ALIGNMENT = 0x40000;  // 64 frames: candidate starts are frames 0, 64, 128, 192.
  allocator.release_range(BASE, BASE + FRAMES * PAGE_SIZE);
  allocator.reserve_range(BASE + 66 * PAGE_SIZE, BASE + 67 * PAGE_SIZE);  // A hole in the run at 64.
  auto first = allocator.allocate_contiguous(4, ALIGNMENT);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.value(), BASE);
  auto second = allocator.allocate_contiguous(4, ALIGNMENT);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.value(), BASE + 128 * PAGE_SIZE);
  auto third = allocator.allocate_contiguous(8, ALIGNMENT);  // Frame 192 has only 8 frames left.
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third.value(), BASE + 192 * PAGE_SIZE);
  EXPECT_EQ(allocator.allocate_contiguous(4, ALIGNMENT).error(), klib::Error::OutOfMemory);
  EXPECT_EQ(allocator.allocate_contiguous(0, PAGE_SIZE).error(), klib::Error::InvalidArgument);
  EXPECT_EQ(allocator.allocate_contiguous(1, 3 * PAGE_SIZE).error(), klib::Error::InvalidArgument);
  EXPECT_EQ(allocator.free_frames(), FRAMES - 1 - 16);
}

TEST_F(Fixture, ContiguousSearchStartsAtTheHintAndSkipsPastUsedFrames) {
  allocator.release_range(BASE, BASE + FRAMES * PAGE_SIZE);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(allocator.allocate().ok());  // Frames 0-9; hint at 10.
  auto run = allocator.allocate_contiguous(3, PAGE_SIZE);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run.value(), BASE + 10 * PAGE_SIZE);
  // A freed frame below the hint is found again: the hint moves back.
  ASSERT_TRUE(allocator.free(BASE + 2 * PAGE_SIZE).ok());
  ASSERT_TRUE(allocator.free(BASE + 3 * PAGE_SIZE).ok());
  auto low = allocator.allocate_contiguous(2, PAGE_SIZE);
  ASSERT_TRUE(low.ok());
  EXPECT_EQ(low.value(), BASE + 2 * PAGE_SIZE);
  // A run blocked by a used frame continues after it, never overlapping used frames.
  allocator.reserve_range(BASE + 20 * PAGE_SIZE, BASE + 21 * PAGE_SIZE);
  auto around = allocator.allocate_contiguous(8, PAGE_SIZE);
  ASSERT_TRUE(around.ok());
  EXPECT_EQ(around.value(), BASE + 21 * PAGE_SIZE);
  EXPECT_EQ(allocator.free_frames(), FRAMES - 10 - 3 - 1 - 8 + 2 - 2);
}
