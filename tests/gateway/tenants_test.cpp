// TenantSlots and TenantSlices (user/gateway/tenants.hpp): a dense slot for every key's tenant,
// found in O(1) for the most keys a key file may name, and per-tenant slices backed only on use.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "slice_memory.hpp"
#include "tenants.hpp"
#include "window_budget.hpp"

namespace gateway {
namespace {

std::vector<u32> tenants_from(u32 first, usize count) {
  std::vector<u32> tenants;
  for (usize index = 0; index < count; ++index) tenants.push_back(first + static_cast<u32>(index) * 13);
  return tenants;
}

TEST(TenantSlots, EveryKeysTenantHasItsOwnSlot) {
  auto slots = std::make_unique<TenantSlots>();
  std::vector<u32> tenants = tenants_from(7, MAX_KEYS);  // 7, 20, ..., 53,242: all distinct, below 65,536.
  ASSERT_TRUE(slots->configure(tenants.data(), tenants.size()));
  ASSERT_EQ(slots->count(), MAX_KEYS + 1);
  EXPECT_EQ(slots->slot_of(0), 0u);  // Requests without a key.
  EXPECT_EQ(slots->tenant_at(0), 0u);
  for (usize index = 0; index < tenants.size(); ++index) {
    ASSERT_EQ(slots->slot_of(tenants[index]), index + 1);
    EXPECT_EQ(slots->tenant_at(static_cast<u32>(index + 1)), tenants[index]);
  }
  EXPECT_EQ(slots->slot_of(8), TenantSlots::NONE);
  EXPECT_EQ(slots->slot_of(MAX_SUB_TENANT + 1), TenantSlots::NONE);
  EXPECT_EQ(slots->slot_of(0xffffffff), TenantSlots::NONE);
}

TEST(TenantSlots, BadTenantsLeaveOnlyTenantZero) {
  TenantSlots slots;
  const u32 twice[] = {5, 9, 5};
  EXPECT_FALSE(slots.configure(twice, 3));
  EXPECT_EQ(slots.count(), 1u);
  EXPECT_EQ(slots.slot_of(5), TenantSlots::NONE);
  EXPECT_EQ(slots.slot_of(0), 0u);
  const u32 zero[] = {3, 0};
  EXPECT_FALSE(slots.configure(zero, 2));
  EXPECT_EQ(slots.slot_of(3), TenantSlots::NONE);
  const u32 large[] = {MAX_SUB_TENANT + 1};
  EXPECT_FALSE(slots.configure(large, 1));
  const u32 good[] = {3, 65535};
  ASSERT_TRUE(slots.configure(good, 2));  // Configured again: the earlier tenants are gone.
  EXPECT_EQ(slots.slot_of(65535), 2u);
  EXPECT_EQ(slots.slot_of(5), TenantSlots::NONE);
}

TEST(TenantSlices, BackedOnFirstUseOnlyAsFarAsAsked) {
  TenantSlots slots;
  const u32 tenants[] = {1, 2, 3};
  ASSERT_TRUE(slots.configure(tenants, 3));
  LazySliceMemory memory(slots.count() * 3 * TenantSlices::PAGE_BYTES, 4);
  TenantSlices slices;
  EXPECT_FALSE(slices.prepare(2, 1));  // Not configured.
  slices.configure(&memory, &slots, 3 * TenantSlices::PAGE_BYTES - 100);  // Rounded up to 3 pages.
  EXPECT_EQ(slices.slice_bytes(), 3 * TenantSlices::PAGE_BYTES);
  EXPECT_EQ(slices.find(2, 1), nullptr);  // Nothing backed yet.
  ASSERT_TRUE(slices.prepare(2, 1));
  u8* two = slices.find(2, 1);
  EXPECT_EQ(two, memory.base() + 2 * 3 * TenantSlices::PAGE_BYTES);  // Slot 2's slice.
  EXPECT_EQ(memory.backed_pages(), 1u);
  EXPECT_EQ(slices.find(2, TenantSlices::PAGE_BYTES), two);
  EXPECT_EQ(slices.find(2, TenantSlices::PAGE_BYTES + 1), nullptr);  // find() takes nothing.
  EXPECT_TRUE(slices.prepare(2, TenantSlices::PAGE_BYTES));  // Within the backed page: no call.
  EXPECT_EQ(memory.calls(), 1u);
  EXPECT_TRUE(slices.prepare(2, 3 * TenantSlices::PAGE_BYTES));  // Two pages more.
  EXPECT_EQ(memory.backed_pages(), 3u);
  EXPECT_EQ(memory.calls(), 2u);
  EXPECT_EQ(slices.backed_bytes(2), 3 * TenantSlices::PAGE_BYTES);
  EXPECT_EQ(slices.find(2, 3 * TenantSlices::PAGE_BYTES), two);
  EXPECT_FALSE(slices.prepare(2, 3 * TenantSlices::PAGE_BYTES + 1));  // Beyond the slice.
  EXPECT_FALSE(slices.prepare(1, 2 * TenantSlices::PAGE_BYTES));  // The budget has one page left.
  EXPECT_EQ(slices.backed_bytes(1), 0u);  // A refusal backs nothing.
  EXPECT_EQ(slices.find(1, 1), nullptr);
  EXPECT_TRUE(slices.prepare(1, 10));
  EXPECT_NE(slices.find(1, 10), nullptr);
  EXPECT_FALSE(slices.prepare(3, 10));  // Budget spent: the others keep theirs.
  EXPECT_FALSE(slices.prepare(9, 1));  // No slot.
  EXPECT_EQ(slices.find(9, 1), nullptr);
  EXPECT_EQ(slices.find(0, 0), nullptr);  // Never backed: no slice even for 0 bytes.
  EXPECT_EQ(memory.backed_twice(), 0u);
}

// Threads preparing slices at once, several the same slice and each its own size: every page is
// backed (and charged) exactly once, and what prepare() said is backed is found backed.
TEST(TenantSlices, ThreadsPreparingTheSameSliceBackEachPageOnce) {
  constexpr u32 TENANTS = 4;
  constexpr usize SLICE_PAGES = 8;
  auto slots = numbered_slots(TENANTS);
  LazySliceMemory memory(slots->count() * SLICE_PAGES * TenantSlices::PAGE_BYTES, 1000);
  memory.delay(std::chrono::microseconds(200));
  TenantSlices slices;
  slices.configure(&memory, slots.get(), SLICE_PAGES * TenantSlices::PAGE_BYTES);
  constexpr int THREADS = 8;
  std::atomic<int> ready{0};
  std::atomic<int> not_found{0};
  std::vector<std::thread> threads;
  for (int thread = 0; thread < THREADS; ++thread) {
    threads.emplace_back([&, thread] {
      ready.fetch_add(1);
      while (ready.load() < THREADS) {
      }
      // Each thread asks every tenant for 1..8 pages, going up, from a different tenant first.
      for (usize pages = 1; pages <= SLICE_PAGES; ++pages) {
        for (u32 step = 0; step < TENANTS; ++step) {
          u32 tenant = 1 + (static_cast<u32>(thread) + step) % TENANTS;
          usize bytes = pages * TenantSlices::PAGE_BYTES - static_cast<usize>(thread);
          if (!slices.prepare(tenant, bytes) || slices.find(tenant, bytes) == nullptr) not_found.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(not_found.load(), 0);
  EXPECT_EQ(memory.backed_twice(), 0u);
  EXPECT_EQ(memory.backed_pages(), TENANTS * SLICE_PAGES);
  for (u32 tenant = 1; tenant <= TENANTS; ++tenant)
    EXPECT_EQ(slices.backed_bytes(tenant), SLICE_PAGES * TenantSlices::PAGE_BYTES);
  EXPECT_EQ(slices.backed_bytes(0), 0u);
}

// With the most keys a file may name, every tenant still gets a guarantee, and one tenant taking
// all it may leaves every other tenant its guarantee.
TEST(WindowBudget, ThousandsOfTenants) {
  auto slots = std::make_unique<TenantSlots>();
  std::vector<u32> tenants = tenants_from(1, MAX_KEYS);
  ASSERT_TRUE(slots->configure(tenants.data(), tenants.size()));
  auto budget = std::make_unique<WindowBudget>();
  budget->configure(4 * 4097 * 3 + 1000, *slots);
  EXPECT_EQ(budget->guarantee(), 3u);
  EXPECT_EQ(budget->shared(), 4097u * 9 + 1000);
  EXPECT_TRUE(budget->charge(tenants[100], 3 + budget->shared()));
  EXPECT_FALSE(budget->charge(tenants[100], 1));
  for (u32 tenant : tenants) {
    if (tenant == tenants[100]) continue;
    ASSERT_TRUE(budget->charge(tenant, 3)) << tenant;
    ASSERT_FALSE(budget->charge(tenant, 1)) << tenant;
  }
  EXPECT_TRUE(budget->charge(0, 3));
  EXPECT_FALSE(budget->charge(4, 1));  // 4 is no key's tenant (1, 14, 27, ...).
}

}  // namespace
}  // namespace gateway
