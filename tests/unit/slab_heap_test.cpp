// SlabHeap: classes, zeroing, alignment, misuse, and that every page goes back to its source once
// its blocks are all freed, over a fake page source (the real FrameAllocator on host memory).
#include "lib/slab_heap.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "lib/frame_allocator.hpp"

using klib::Error;
using klib::FrameAllocator;
using klib::PAGE_SIZE;
using klib::SlabHeap;
using klib::SlabPage;
using klib::u64;
using klib::u8;
using klib::usize;

namespace {

constexpr usize PAGES = 512;

// Host memory standing in for physical memory: "physical" address p is memory + p.
struct SlabHeapOverFakeMemory : ::testing::Test {
  u8* memory = static_cast<u8*>(std::aligned_alloc(PAGE_SIZE, PAGES * PAGE_SIZE));
  std::vector<u64> bitmap = std::vector<u64>(FrameAllocator::bitmap_words_for(PAGES));
  std::vector<SlabPage> descriptors = std::vector<SlabPage>(PAGES);
  FrameAllocator frames;
  SlabHeap heap;
  std::set<u8*> pages_out;  // Pages the heap holds, as the source sees them.
  usize limit = PAGES;      // The source runs dry after this many pages out.

  static u8* take(void* context) {
    auto& self = *static_cast<SlabHeapOverFakeMemory*>(context);
    if (self.pages_out.size() >= self.limit) return nullptr;
    auto frame = self.frames.allocate();
    if (!frame) return nullptr;
    u8* page = self.memory + frame.value();
    // Pages arrive dirty, as frames do in the kernel: the heap must zero what it hands out.
    std::memset(page, 0xa5, PAGE_SIZE);
    EXPECT_TRUE(self.pages_out.insert(page).second);
    return page;
  }
  static void give_back(void* context, u8* page) {
    auto& self = *static_cast<SlabHeapOverFakeMemory*>(context);
    EXPECT_EQ(self.pages_out.erase(page), 1u);
    EXPECT_TRUE(self.frames.free(static_cast<u64>(page - self.memory)).ok());
    std::memset(page, 0x5a, PAGE_SIZE);  // A use after the page went back would read this.
  }

  void SetUp() override {
    frames.init(0, PAGES, bitmap.data());
    frames.release_range(0, PAGES * PAGE_SIZE);
    heap.init(memory, PAGES, descriptors.data(), {take, give_back, this});
  }
  void TearDown() override { std::free(memory); }
};

bool all_zero(const void* block, usize bytes) {
  auto* data = static_cast<const u8*>(block);
  for (usize i = 0; i < bytes; ++i)
    if (data[i] != 0) return false;
  return true;
}

}  // namespace

TEST(SlabHeapClasses, RoundUpToPowersOfTwoFrom64ToAPage) {
  EXPECT_EQ(SlabHeap::allocation_size(0), 0u);
  EXPECT_EQ(SlabHeap::allocation_size(1), 64u);
  EXPECT_EQ(SlabHeap::allocation_size(64), 64u);
  EXPECT_EQ(SlabHeap::allocation_size(65), 128u);
  EXPECT_EQ(SlabHeap::allocation_size(2049), 4096u);
  EXPECT_EQ(SlabHeap::allocation_size(4096), 4096u);
  EXPECT_EQ(SlabHeap::allocation_size(4097), 0u);
}

TEST_F(SlabHeapOverFakeMemory, BlocksAreZeroedAlignedAndDistinct) {
  std::vector<std::pair<u8*, usize>> blocks;
  for (usize size = 64; size <= PAGE_SIZE; size *= 2) {
    for (int i = 0; i < 70; ++i) {
      auto* block = static_cast<u8*>(heap.allocate(size));
      ASSERT_NE(block, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % size, 0u);
      EXPECT_TRUE(all_zero(block, size));
      std::memset(block, 0xee, size);  // Dirty it: a reused block must come back zeroed.
      blocks.push_back({block, size});
    }
  }
  std::set<u8*> distinct;
  for (auto& [block, size] : blocks) EXPECT_TRUE(distinct.insert(block).second);
  // Free every other one, allocate again: the reused blocks are zeroed.
  for (usize i = 0; i < blocks.size(); i += 2) ASSERT_TRUE(heap.free(blocks[i].first, blocks[i].second).ok());
  for (usize i = 0; i < blocks.size(); i += 2) {
    blocks[i].first = static_cast<u8*>(heap.allocate(blocks[i].second));
    ASSERT_NE(blocks[i].first, nullptr);
    EXPECT_TRUE(all_zero(blocks[i].first, blocks[i].second));
  }
  for (auto& [block, size] : blocks) ASSERT_TRUE(heap.free(block, size).ok());
  EXPECT_EQ(heap.pages_held(), 0u);
  EXPECT_EQ(heap.bytes_in_use(), 0u);
  EXPECT_TRUE(pages_out.empty());
  EXPECT_EQ(frames.free_frames(), PAGES);
}

// Exactly as many pages as the live blocks need when allocated in order: 64 blocks of 64 bytes
// share one page, 2 of 2 KiB, and a 4 KiB block is a page of its own.
TEST_F(SlabHeapOverFakeMemory, PacksBlocksIntoPagesAndReturnsEachPageWithItsLastBlock) {
  std::vector<void*> small;
  for (int i = 0; i < 128; ++i) small.push_back(heap.allocate(64));
  EXPECT_EQ(heap.pages_held(), 2u);
  void* half = heap.allocate(2048);
  void* other_half = heap.allocate(2048);
  void* whole = heap.allocate(4096);
  EXPECT_EQ(heap.pages_held(), 4u);
  EXPECT_EQ(heap.bytes_in_use(), 128u * 64 + 2 * 2048 + 4096);
  ASSERT_TRUE(heap.free(whole, 4096).ok());
  EXPECT_EQ(heap.pages_held(), 3u);
  EXPECT_EQ(heap.bytes_in_use(), 128u * 64 + 2 * 2048);
  ASSERT_TRUE(heap.free(half, 2048).ok());
  EXPECT_EQ(heap.pages_held(), 3u);
  EXPECT_EQ(heap.partial_pages(5), 1u);
  ASSERT_TRUE(heap.free(other_half, 2048).ok());
  EXPECT_EQ(heap.pages_held(), 2u);
  EXPECT_EQ(heap.partial_pages(5), 0u);
  for (int i = 0; i < 63; ++i) ASSERT_TRUE(heap.free(small[static_cast<usize>(i)], 64).ok());
  EXPECT_EQ(heap.pages_held(), 2u);  // Block 63 still lives in the first page.
  ASSERT_TRUE(heap.free(small[63], 64).ok());
  EXPECT_EQ(heap.pages_held(), 1u);
  for (int i = 64; i < 128; ++i) ASSERT_TRUE(heap.free(small[static_cast<usize>(i)], 64).ok());
  EXPECT_EQ(heap.pages_held(), 0u);
  EXPECT_EQ(frames.free_frames(), PAGES);
}

// A partly used page is filled before a new page is taken.
TEST_F(SlabHeapOverFakeMemory, PrefersPartlyUsedPages) {
  std::vector<void*> blocks;
  for (int i = 0; i < 32 * 4; ++i) blocks.push_back(heap.allocate(128));  // Four full pages.
  EXPECT_EQ(heap.pages_held(), 4u);
  // One hole in each of pages 1 and 3.
  ASSERT_TRUE(heap.free(blocks[40], 128).ok());
  ASSERT_TRUE(heap.free(blocks[100], 128).ok());
  EXPECT_EQ(heap.partial_pages(1), 2u);
  void* first = heap.allocate(128);
  void* second = heap.allocate(128);
  EXPECT_EQ(heap.pages_held(), 4u);
  EXPECT_EQ(heap.partial_pages(1), 0u);
  EXPECT_EQ(std::set<void*>({first, second}), std::set<void*>({blocks[40], blocks[100]}));
}

TEST_F(SlabHeapOverFakeMemory, RefusesMisuseWithoutChangingAnything) {
  void* block = heap.allocate(256);
  ASSERT_NE(block, nullptr);
  void* neighbour = heap.allocate(256);
  auto* bytes = static_cast<u8*>(block);
  EXPECT_EQ(heap.free(bytes + 64, 256).error(), Error::InvalidArgument);    // Inside a block.
  EXPECT_EQ(heap.free(block, 128).error(), Error::InvalidArgument);         // Wrong class.
  EXPECT_EQ(heap.free(block, 8192).error(), Error::InvalidArgument);        // No class at all.
  EXPECT_EQ(heap.free(bytes + PAGE_SIZE, 256).error(), Error::InvalidArgument);  // A page not the heap's.
  u8 outside[64];
  EXPECT_EQ(heap.free(outside, 64).error(), Error::InvalidArgument);        // Outside the region.
  EXPECT_EQ(heap.pages_held(), 1u);
  ASSERT_TRUE(heap.free(block, 256).ok());
  EXPECT_EQ(heap.free(block, 256).error(), Error::InvalidArgument);         // Twice.
  EXPECT_EQ(heap.pages_held(), 1u);
  ASSERT_TRUE(heap.free(neighbour, 256).ok());
  EXPECT_EQ(heap.pages_held(), 0u);
  EXPECT_EQ(heap.allocate(0), nullptr);
  EXPECT_EQ(heap.allocate(4097), nullptr);
}

TEST_F(SlabHeapOverFakeMemory, AnEmptySourceYieldsNullAndTheHeapRecovers) {
  limit = 3;
  std::vector<void*> blocks;
  for (int i = 0; i < 3; ++i) blocks.push_back(heap.allocate(4096));
  EXPECT_EQ(heap.allocate(4096), nullptr);
  EXPECT_EQ(heap.allocate(64), nullptr);  // No page for a new class either.
  ASSERT_TRUE(heap.free(blocks[0], 4096).ok());
  void* small = heap.allocate(64);
  EXPECT_NE(small, nullptr);
  ASSERT_TRUE(heap.free(small, 64).ok());
  for (usize i = 1; i < 3; ++i) ASSERT_TRUE(heap.free(blocks[i], 4096).ok());
  EXPECT_EQ(heap.pages_held(), 0u);
}

// Randomized churn across every class in patterns that fragment them (the kernel's replies,
// tasks and mappings): after each step the heap holds exactly the pages with a live block, no
// two live blocks overlap, and once everything is freed every page is back with its source.
TEST_F(SlabHeapOverFakeMemory, RandomChurnReturnsEveryPageWhoseBlocksAreAllFree) {
  std::mt19937_64 random(20261203);
  struct Live {
    usize size;
    u8 fill;
  };
  std::map<u8*, Live> live;
  for (int round = 0; round < 40; ++round) {
    // Grow with a bias towards one class per round, then free a random 70-100 %.
    usize favourite = usize{64} << (random() % SlabHeap::CLASS_COUNT);
    int grow = static_cast<int>(random() % 400);
    for (int i = 0; i < grow; ++i) {
      usize size = random() % 3 == 0 ? favourite : (usize{1} + random() % PAGE_SIZE);
      auto* block = static_cast<u8*>(heap.allocate(size));
      if (block == nullptr) {
        EXPECT_EQ(frames.free_frames(), 0u);  // Only an empty source may refuse.
        break;
      }
      usize reserved = SlabHeap::allocation_size(size);
      ASSERT_TRUE(all_zero(block, reserved));
      auto fill = static_cast<u8>(random() | 1);
      std::memset(block, fill, reserved);
      // No overlap with the neighbours in address order.
      auto after = live.lower_bound(block);
      if (after != live.end()) {
        ASSERT_LE(block + reserved, after->first);
      }
      if (after != live.begin()) {
        auto before = std::prev(after);
        ASSERT_LE(before->first + SlabHeap::allocation_size(before->second.size), block);
      }
      live[block] = {size, fill};
    }
    std::vector<u8*> order;
    for (auto& entry : live) order.push_back(entry.first);
    std::shuffle(order.begin(), order.end(), random);
    usize keep = order.size() * (random() % 31) / 100;
    for (usize i = keep; i < order.size(); ++i) {
      Live block = live[order[i]];
      // The contents survived every other allocation and free.
      for (usize byte = 0; byte < SlabHeap::allocation_size(block.size); ++byte) {
        ASSERT_EQ(order[i][byte], block.fill);
      }
      ASSERT_TRUE(heap.free(order[i], block.size).ok());
      live.erase(order[i]);
    }
    // The pages held are exactly the pages with a live block.
    std::set<u8*> live_pages;
    for (auto& entry : live)
      live_pages.insert(memory + (static_cast<usize>(entry.first - memory) / PAGE_SIZE) * PAGE_SIZE);
    ASSERT_EQ(live_pages, pages_out) << "round " << round;
    ASSERT_EQ(heap.pages_held(), pages_out.size());
    ASSERT_EQ(frames.free_frames(), PAGES - pages_out.size());
  }
  for (auto& [block, entry] : live) ASSERT_TRUE(heap.free(block, entry.size).ok());
  EXPECT_EQ(heap.pages_held(), 0u);
  EXPECT_TRUE(pages_out.empty());
  EXPECT_EQ(frames.free_frames(), PAGES);
  for (usize index = 0; index < SlabHeap::CLASS_COUNT; ++index) EXPECT_EQ(heap.partial_pages(index), 0u);
}
