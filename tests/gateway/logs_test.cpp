// Host tests of FunctionLogs and FollowStreams (user/gateway/logs.cpp) with thousands of tenants:
// each tenant's lines in its own slice, backed on its first line; a flood evicts only the
// flooder's lines; lines refused for memory are counted, and shown in /metrics (a tenant its own
// row, the operator every tenant's, in pieces as whole); follow streams bounded per tenant.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "logs.hpp"
#include "metrics.hpp"
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
  memory->watch([&] { return logs->locked(); });
  EXPECT_LE(FunctionLogs::RING_BYTES, FunctionLogs::SLICE_BYTES);
  EXPECT_EQ(FunctionLogs::SLICE_BYTES, 10 * TenantSlices::PAGE_BYTES);  // 128 lines of ~312 bytes.
  for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) append(*logs, tenant, "line of tenant " + std::to_string(tenant));
  EXPECT_EQ(memory->backed_pages(), MAX_KEYS * SLICE_PAGES);  // Tenant 0 never logged.
  EXPECT_EQ(memory->calls(), MAX_KEYS);
  EXPECT_EQ(memory->calls_under_lock(), 0u);  // Each ring backed before the logs' lock was taken.
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
  memory.watch([&] { return logs->locked(); });
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
  EXPECT_EQ(memory.calls_under_lock(), 0u);  // Refused or not, asked outside the logs' lock.
  // Before configure, every line is dropped.
  auto unconfigured = std::make_unique<FunctionLogs>();
  append(*unconfigured, 1, "x\ny\n");
  EXPECT_EQ(unconfigured->dropped_total(), 2u);
  EXPECT_EQ(rendered(*unconfigured, 1, "f"), "");
}

// The logs' part of a /metrics page, in pieces of at least `budget` bytes (each piece ends at the
// first row that reaches it), as the gateway renders it; `pieces` gets how many it took.
std::string metrics_page(const FunctionLogs& logs, u32 tenant, usize budget = 1 << 20, usize* pieces = nullptr) {
  std::string page;
  RowCursor rows;
  std::string piece(budget + 1024, '\0');
  for (usize count = 1;; ++count) {
    Buffer text(piece.data(), piece.size());
    bool done = logs.render_metrics(text, tenant, rows, budget);
    EXPECT_FALSE(text.overflowed());
    page.append(text.data(), text.size());
    if (pieces != nullptr) *pieces = count;
    if (done || count > 100'000) return page;
  }
}

const std::string DROPPED_HEAD =
    "# HELP metteagle_log_lines_dropped_total Function log lines not kept: the tenant's log ring could not be "
    "backed (its window memory).\n"
    "# TYPE metteagle_log_lines_dropped_total counter\n";

TEST(FunctionLogs, MetricsShowEachTenantOnlyItsOwnDroppedLines) {
  auto slots = numbered_slots(3);
  LazySliceMemory memory(slots->count() * FunctionLogs::SLICE_BYTES, SLICE_PAGES);  // One ring.
  auto logs = std::make_unique<FunctionLogs>();
  EXPECT_EQ(metrics_page(*logs, ALL_TENANTS), DROPPED_HEAD);  // Not configured: no tenant's row.
  logs->configure(*slots, &memory);
  append(*logs, 1, "kept\n");
  append(*logs, 2, "a\nb\nc\n");
  append(*logs, 3, "d\ne");
  append(*logs, 99, "nobody\n");  // No slot: in no row.
  EXPECT_EQ(metrics_page(*logs, ALL_TENANTS),
            DROPPED_HEAD +
                "metteagle_log_lines_dropped_total{tenant=\"0\"} 0\n"
                "metteagle_log_lines_dropped_total{tenant=\"1\"} 0\n"
                "metteagle_log_lines_dropped_total{tenant=\"2\"} 3\n"
                "metteagle_log_lines_dropped_total{tenant=\"3\"} 2\n");
  EXPECT_EQ(metrics_page(*logs, 2), DROPPED_HEAD + "metteagle_log_lines_dropped_total{tenant=\"2\"} 3\n");
  EXPECT_EQ(metrics_page(*logs, 1), DROPPED_HEAD + "metteagle_log_lines_dropped_total{tenant=\"1\"} 0\n");
  EXPECT_EQ(metrics_page(*logs, 99), DROPPED_HEAD);
  // A budget of one byte: the head is one piece, then each row.
  usize pieces = 0;
  EXPECT_EQ(metrics_page(*logs, ALL_TENANTS, 1, &pieces), metrics_page(*logs, ALL_TENANTS));
  EXPECT_EQ(pieces, 5u);
}

// The operator's page of thousands of tenants, in pieces of ~2 KiB, is the page rendered whole.
TEST(FunctionLogs, MetricsOfThousandsOfTenantsInPiecesAsWhole) {
  auto slots = numbered_slots(MAX_KEYS);
  auto memory = lazy_slice_memory(*slots, FunctionLogs::SLICE_BYTES);
  memory->refuse(MAX_KEYS);
  auto logs = std::make_unique<FunctionLogs>();
  logs->configure(*slots, memory.get());
  for (u32 tenant = 1; tenant < MAX_KEYS; tenant += 7) append(*logs, tenant, "line\n");
  append(*logs, MAX_KEYS, "x\ny\n");
  std::string whole = metrics_page(*logs, ALL_TENANTS);
  EXPECT_EQ(static_cast<usize>(std::count(whole.begin(), whole.end(), '\n')), 2 + MAX_KEYS + 1);
  EXPECT_NE(whole.find("\nmetteagle_log_lines_dropped_total{tenant=\"1\"} 0\n"), std::string::npos);
  const std::string last = "\nmetteagle_log_lines_dropped_total{tenant=\"4096\"} 2\n";  // Refused: its 2 lines.
  EXPECT_EQ(whole.substr(whole.size() - last.size()), last);
  usize pieces = 0;
  EXPECT_EQ(metrics_page(*logs, ALL_TENANTS, 2000, &pieces), whole);
  EXPECT_GT(pieces, 100u);
  EXPECT_EQ(metrics_page(*logs, MAX_KEYS, 1), DROPPED_HEAD + "metteagle_log_lines_dropped_total{tenant=\"4096\"} 2\n");
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
