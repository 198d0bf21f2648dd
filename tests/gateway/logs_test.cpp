// Host tests of FunctionLogs and FollowStreams (user/gateway/logs.cpp) with thousands of tenants:
// each tenant's lines in its own slice, backed on its first line; a flood evicts only the
// flooder's lines; lines refused for memory are counted; follow streams bounded per tenant.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "logs.hpp"
#include "slice_memory.hpp"

namespace gateway {
namespace {

constexpr usize SLICE_PAGES = FunctionLogs::SLICE_BYTES / TenantSlices::PAGE_BYTES;

std::string rendered(const FunctionLogs& logs, u32 tenant, const char* name, u64* latest = nullptr,
                     usize capacity = 64 * 1024) {
  std::string page(capacity, '\0');
  Buffer text(page.data(), page.size());
  logs.render(tenant, name, 0, 0, text, latest);
  EXPECT_FALSE(text.overflowed());
  page.resize(text.size());
  return page;
}

usize lines(const std::string& page) { return static_cast<usize>(std::count(page.begin(), page.end(), '\n')); }

void append(FunctionLogs& logs, u32 tenant, const std::string& text, const char* name = "f") {
  logs.append(tenant, name, 1, 1'000'000, text.data(), text.size());
}

TEST(FunctionLogs, ThousandsOfTenantsKeepTheirOwnLines) {
  auto slots = numbered_slots(MAX_KEYS);
  auto memory = lazy_slice_memory(*slots, FunctionLogs::SLICE_BYTES);
  auto logs = std::make_unique<FunctionLogs>();
  logs->configure(*slots, memory.get());
  EXPECT_LE(FunctionLogs::RING_BYTES, FunctionLogs::SLICE_BYTES);
  EXPECT_EQ(FunctionLogs::SLICE_BYTES, 10 * TenantSlices::PAGE_BYTES);  // 128 lines of ~312 bytes.
  for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) append(*logs, tenant, "line of tenant " + std::to_string(tenant));
  EXPECT_EQ(memory->backed_pages(), MAX_KEYS * SLICE_PAGES);  // Tenant 0 never logged.
  EXPECT_EQ(memory->calls(), MAX_KEYS);
  // Tenant 17 floods: its ring keeps its newest 128 lines, every other tenant keeps its line.
  for (int index = 0; index < 1000; ++index) append(*logs, 17, "flood " + std::to_string(index) + "\n");
  EXPECT_EQ(memory->calls(), MAX_KEYS);  // Its ring was backed already.
  std::string flood = rendered(*logs, 17, "f");
  EXPECT_EQ(lines(flood), FunctionLogs::LINES_PER_TENANT);
  EXPECT_EQ(flood.find("tenant 17"), std::string::npos);
  EXPECT_EQ(flood.find("\"flood 871\""), std::string::npos);
  EXPECT_NE(flood.find("\"flood 872\""), std::string::npos);
  EXPECT_NE(flood.find("\"flood 999\""), std::string::npos);
  for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) {
    if (tenant == 17) continue;
    const std::string expected =
        "{\"name\": \"f\", \"namespace\": \"\", \"instance\": \"1\", \"timestamp\": \"1970-01-01T00:00:01.000000Z\", "
        "\"text\": \"line of tenant " + std::to_string(tenant) + "\"}\n";
    ASSERT_EQ(rendered(*logs, tenant, "f", nullptr, 1024), expected);
  }
  // The sequence is the gateway's: every line of every tenant took one.
  u64 latest = 0;
  EXPECT_EQ(rendered(*logs, 0, "f", &latest), "");
  EXPECT_EQ(latest, MAX_KEYS + 1000u);
  // Forgetting one tenant's function leaves the same name of other tenants alone.
  logs->forget(18, "f");
  EXPECT_EQ(rendered(*logs, 18, "f"), "");
  EXPECT_EQ(lines(rendered(*logs, 19, "f")), 1u);
  EXPECT_EQ(logs->dropped_total(), 0u);
}

TEST(FunctionLogs, DroppedCountsLinesRefusedForMemory) {
  auto slots = numbered_slots(3);
  LazySliceMemory memory(slots->count() * FunctionLogs::SLICE_BYTES, SLICE_PAGES);  // One ring.
  auto logs = std::make_unique<FunctionLogs>();
  logs->configure(*slots, &memory);
  append(*logs, 1, "kept\n");
  append(*logs, 2, "a\nb\n\nc");  // Three lines (the empty one is no line), no memory for them.
  EXPECT_EQ(logs->dropped(1), 0u);
  EXPECT_EQ(logs->dropped(2), 3u);
  EXPECT_EQ(logs->dropped_total(), 3u);
  EXPECT_EQ(rendered(*logs, 2, "f"), "");
  EXPECT_EQ(lines(rendered(*logs, 1, "f")), 1u);
  // A line longer than LINE_BYTES is two lines, dropped as two.
  append(*logs, 3, std::string(FunctionLogs::LINE_BYTES + 1, 'x'));
  EXPECT_EQ(logs->dropped(3), 2u);
  // A tenant without a slot has no ring: its lines count in the total only.
  append(*logs, 99, "nobody\n");
  EXPECT_EQ(logs->dropped(99), 0u);
  EXPECT_EQ(logs->dropped_total(), 6u);
  // Reading or forgetting a tenant that never logged takes no memory.
  usize calls = memory.calls();
  logs->forget(3, "f");
  u64 after = 0;
  std::string page(4096, '\0');
  Buffer text(page.data(), page.size());
  logs->render_after(3, "f", after, text);
  EXPECT_EQ(text.size(), 0u);
  EXPECT_EQ(after, 0u);
  EXPECT_EQ(rendered(*logs, 3, "f"), "");
  EXPECT_EQ(memory.calls(), calls);
  // With room again, tenant 2's next lines are kept; the count stays.
  memory.set_budget(2 * SLICE_PAGES);
  append(*logs, 2, "later\n");
  EXPECT_EQ(logs->dropped(2), 3u);
  EXPECT_NE(rendered(*logs, 2, "f").find("\"later\""), std::string::npos);
  EXPECT_EQ(memory.backed_pages(), 2 * SLICE_PAGES);
  // Before configure, every line is dropped.
  auto unconfigured = std::make_unique<FunctionLogs>();
  append(*unconfigured, 1, "x\ny\n");
  EXPECT_EQ(unconfigured->dropped_total(), 2u);
  EXPECT_EQ(rendered(*unconfigured, 1, "f"), "");
}

TEST(FollowStreams, BoundPerTenantWithThousandsOfTenants) {
  auto slots = numbered_slots(MAX_KEYS);
  auto follows = std::make_unique<FollowStreams>();
  EXPECT_FALSE(follows->try_enter(1));  // Not configured: refused.
  follows->configure(*slots);
  for (u32 tenant = 0; tenant <= MAX_KEYS; ++tenant) {
    for (u32 stream = 0; stream < FollowStreams::PER_TENANT; ++stream) ASSERT_TRUE(follows->try_enter(tenant));
    ASSERT_FALSE(follows->try_enter(tenant));
  }
  EXPECT_FALSE(follows->try_enter(MAX_KEYS + 1));  // No slot: refused.
  follows->leave(MAX_KEYS + 1);                    // Ignored.
  EXPECT_EQ(follows->open(MAX_KEYS), FollowStreams::PER_TENANT);
  follows->leave(MAX_KEYS);
  EXPECT_EQ(follows->open(MAX_KEYS), FollowStreams::PER_TENANT - 1);
  EXPECT_EQ(follows->open(MAX_KEYS - 1), FollowStreams::PER_TENANT);
  EXPECT_TRUE(follows->try_enter(MAX_KEYS));
  EXPECT_FALSE(follows->try_enter(MAX_KEYS));
  for (u32 stream = 0; stream < FollowStreams::PER_TENANT + 2; ++stream) follows->leave(5);  // Never below 0.
  EXPECT_EQ(follows->open(5), 0u);
  EXPECT_TRUE(follows->try_enter(5));
  EXPECT_EQ(follows->open(5), 1u);
}

}  // namespace
}  // namespace gateway
