// The gateway's per-function tables (user/gateway/function_table.hpp, metrics.hpp, catalog.hpp):
// thousands of functions in one tenant and in several, every series and entry found, the bounds
// exact, deletes giving the room back, and memory that runs out refusing rather than failing.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "catalog.hpp"
#include "function_table.hpp"
#include "metrics.hpp"
#include "openfaas.hpp"
#include "table_memory.hpp"

namespace gateway {
namespace {

using Table = FunctionTable<u64>;

std::string name_of(usize index) { return "fn-" + std::to_string(index); }

struct TableWithMemory {
  std::unique_ptr<HeapTableMemory> memory = heap_table_memory(sizeof(Table::Entry));
  std::unique_ptr<Table> table = std::make_unique<Table>();
  explicit TableWithMemory(usize bound) { table->configure(memory.get(), bound); }
};

TEST(FunctionTable, TenThousandFunctionsOfOneTenant) {
  TableWithMemory held(MAX_FUNCTION_ENTRIES);
  Table& table = *held.table;
  EXPECT_EQ(table.limit(1), MANAGER_FUNCTION_QUOTA);  // Its quota: the manager's, 10,000.
  TableRefusal why = TableRefusal::None;
  for (usize index = 0; index < 10000; ++index) {
    Table::Entry* entry = table.insert(1, name_of(index).c_str(), why);
    ASSERT_NE(entry, nullptr) << index;
    entry->value = index * 7;
  }
  EXPECT_EQ(table.count(1), 10000u);
  EXPECT_EQ(table.total(), 10000u);
  EXPECT_EQ(table.insert(1, "one-more", why), nullptr);
  EXPECT_EQ(why, TableRefusal::Tenant);
  // Memory was backed chunk by chunk, as far as the entries made needed.
  EXPECT_EQ(held.memory->backed(), ((10000 + Table::CHUNK_ENTRIES - 1) / Table::CHUNK_ENTRIES) *
                                       Table::CHUNK_ENTRIES * sizeof(Table::Entry));
  for (usize index = 0; index < 10000; ++index) {
    const Table::Entry* entry = table.find(1, name_of(index).c_str());
    ASSERT_NE(entry, nullptr) << index;
    EXPECT_EQ(entry->value, index * 7);
    EXPECT_EQ(table.find(2, name_of(index).c_str()), nullptr);  // Another tenant's name.
  }
  // Every other one deleted (the index shifts runs back): the rest are all still found.
  for (usize index = 0; index < 10000; index += 2) table.erase(*table.find(1, name_of(index).c_str()));
  EXPECT_EQ(table.count(1), 5000u);
  for (usize index = 0; index < 10000; ++index) {
    const Table::Entry* entry = table.find(1, name_of(index).c_str());
    if (index % 2 == 0) {
      EXPECT_EQ(entry, nullptr) << index;
    } else {
      ASSERT_NE(entry, nullptr) << index;
      EXPECT_EQ(entry->value, index * 7);
    }
  }
  // Their room comes back, to this tenant and to another, without backing more memory.
  usize backed = held.memory->backed();
  for (usize index = 0; index < 2500; ++index) ASSERT_NE(table.insert(1, ("again-" + name_of(index)).c_str(), why), nullptr);
  for (usize index = 0; index < 2500; ++index) ASSERT_NE(table.insert(2, name_of(index).c_str(), why), nullptr);
  EXPECT_EQ(table.total(), 10000u);
  EXPECT_EQ(held.memory->backed(), backed);
  usize found = 0;
  table.for_each([&](const Table::Entry&) { ++found; });
  EXPECT_EQ(found, 10000u);
}

// With quotas adding up to more than the bound, each tenant gets the smaller of its quota and an
// equal share of what is left (max-min fair): none can take another's, a small quota is kept whole.
TEST(FunctionTable, SharesOfTheBound) {
  TableWithMemory held(3000);
  Table& table = *held.table;
  table.set_quota(1, 10000);
  table.set_quota(2, 10000);
  table.set_quota(3, 1000);
  table.set_quota(4, 200);
  EXPECT_EQ(table.bound(), 3000u);
  // 21,200 asked for: tenant 4 keeps its 200 (below 3000 / 4); 2800 / 3 = 933 for tenant 3 (below
  // its 1000); 1867 for tenants 1 and 2: 933, and the remainder's 934 to the last.
  EXPECT_EQ(table.limit(4), 200u);
  EXPECT_EQ(table.limit(3), 933u);
  EXPECT_EQ(table.limit(1), 933u);
  EXPECT_EQ(table.limit(2), 934u);
  TableRefusal why = TableRefusal::None;
  for (u32 tenant = 1; tenant <= 4; ++tenant) {
    usize made = 0;
    while (table.insert(tenant, name_of(made).c_str(), why) != nullptr) ++made;
    EXPECT_EQ(why, TableRefusal::Tenant) << tenant;
    EXPECT_EQ(made, table.limit(tenant)) << tenant;
  }
  EXPECT_EQ(table.total(), 3000u);
  for (u32 tenant = 1; tenant <= 4; ++tenant)
    for (usize index = 0; index < table.limit(tenant); ++index)
      ASSERT_NE(table.find(tenant, name_of(index).c_str()), nullptr) << tenant << " " << index;
}

// Quotas within the bound: the bound itself refuses the function that would go over it.
TEST(FunctionTable, TheGatewayBoundAnswersExactly) {
  TableWithMemory held(1000);
  Table& table = *held.table;
  table.set_quota(1, 600);
  table.set_quota(2, 600);  // 1,200 asked for: shares 500 each.
  EXPECT_EQ(table.limit(1), 500u);
  TableWithMemory loose(1000);
  loose.table->set_quota(1, 600);
  loose.table->set_quota(2, 300);  // 900: each its quota.
  TableRefusal why = TableRefusal::None;
  for (usize index = 0; index < 600; ++index) ASSERT_NE(loose.table->insert(1, name_of(index).c_str(), why), nullptr);
  for (usize index = 0; index < 300; ++index) ASSERT_NE(loose.table->insert(2, name_of(index).c_str(), why), nullptr);
  // A third tenant's quota (the manager's) makes the quotas add up to more than the bound: 300 for
  // tenant 2, then (1000 - 300) / 2 = 350 each; tenant 1 keeps the 600 it took before tenant 3
  // had a quota (here only: the gateway sets every key's at boot) but gets no more.
  loose.table->set_quota(3, 0);
  EXPECT_EQ(loose.table->limit(3), 350u);
  EXPECT_EQ(loose.table->limit(1), 350u);
  EXPECT_EQ(loose.table->insert(1, "more", why), nullptr);
  EXPECT_EQ(why, TableRefusal::Tenant);
  for (usize index = 0; index < 100; ++index) ASSERT_NE(loose.table->insert(3, name_of(index).c_str(), why), nullptr);
  EXPECT_EQ(loose.table->total(), 1000u);
  EXPECT_EQ(loose.table->insert(3, "over", why), nullptr);
  EXPECT_EQ(why, TableRefusal::Gateway);
  loose.table->erase(*loose.table->find(1, name_of(0).c_str()));
  EXPECT_NE(loose.table->insert(3, "over", why), nullptr);
}

TEST(FunctionTable, MemoryThatRunsOutRefuses) {
  TableWithMemory held(MAX_FUNCTION_ENTRIES);
  held.memory->set_budget(2 * Table::CHUNK_ENTRIES * sizeof(Table::Entry));
  Table& table = *held.table;
  TableRefusal why = TableRefusal::None;
  for (usize index = 0; index < 2 * Table::CHUNK_ENTRIES; ++index)
    ASSERT_NE(table.insert(1, name_of(index).c_str(), why), nullptr);
  EXPECT_EQ(table.insert(1, "third-chunk", why), nullptr);
  EXPECT_EQ(why, TableRefusal::Memory);
  EXPECT_EQ(table.count(1), 2 * Table::CHUNK_ENTRIES);
  EXPECT_EQ(table.find(1, "third-chunk"), nullptr);
  held.memory->set_budget(MAX_FUNCTION_ENTRIES * sizeof(Table::Entry));
  EXPECT_NE(table.insert(1, "third-chunk", why), nullptr);
  EXPECT_NE(table.find(1, name_of(0).c_str()), nullptr);  // Earlier entries stay where they were.
}

TEST(FunctionTable, BoundFromTheFactory) {
  // A quarter of the factory, in whole functions, at most MAX_FUNCTION_ENTRIES.
  EXPECT_EQ(function_bound(32ull << 20, 2000), (8ull << 20) / 2000);
  EXPECT_EQ(function_bound(160ull << 20, 2000), MAX_FUNCTION_ENTRIES);
  EXPECT_EQ(function_bound(0, 2000), 0u);
  EXPECT_EQ(function_bound(160ull << 20, 0), 0u);
  // The gateway's own figures (test.keys scenarios: factory=32M; config/system.boot: 160M).
  usize per_function = Metrics::ENTRY_BYTES + Catalog::ENTRY_BYTES;
  std::printf("one function's state: %zu bytes (series %zu, catalog %zu); bound at 32 MiB: %zu, at 160 MiB: %zu\n",
              per_function, Metrics::ENTRY_BYTES, Catalog::ENTRY_BYTES, function_bound(32ull << 20, per_function),
              function_bound(160ull << 20, per_function));
  EXPECT_GE(function_bound(160ull << 20, per_function), 10000u);
}

// Metrics for 1,200 functions of one tenant and 300 of each of three more: every series found
// with its own figures, on the tenant's page and in its log.
TEST(FunctionTable, MetricsOfThousandsOfFunctions) {
  auto memory = heap_table_memory(Metrics::ENTRY_BYTES);
  auto metrics = std::make_unique<Metrics>();
  metrics->configure(memory.get(), MAX_FUNCTION_ENTRIES);
  bool made = false;
  for (usize index = 0; index < 1200; ++index) {
    ASSERT_EQ(metrics->reserve(1, name_of(index).c_str(), made), TableRefusal::None);
    EXPECT_TRUE(made);
    metrics->open(1, name_of(index).c_str());
  }
  for (u32 tenant = 2; tenant <= 4; ++tenant)
    for (usize index = 0; index < 300; ++index) metrics->open(tenant, name_of(index).c_str());
  EXPECT_EQ(metrics->series_count(1), 1200u);
  EXPECT_EQ(metrics->series_total(), 2100u);
  for (usize index = 0; index < 1200; ++index) {
    SeriesTicket ticket = metrics->begin(1, name_of(index).c_str());
    ASSERT_NE(ticket.slot, SeriesTicket::NONE) << index;
    for (usize call = 0; call <= index % 3; ++call) {
      InvocationRecord record;
      record.call_id = index * 10 + call;
      ASSERT_TRUE(metrics->record_invocation(ticket, record));
    }
  }
  std::vector<char> storage(8ull << 20);  // The whole page in one go, for the test.
  Buffer page(storage.data(), storage.size());
  metrics->render(page, 1);
  ASSERT_FALSE(page.overflowed());
  std::string text(page.data(), page.size());
  for (usize index = 0; index < 1200; ++index) {
    std::string line = "metteagle_invocations_total{function=\"" + name_of(index) + "\",tenant=\"1\"} " +
                       std::to_string(index % 3 + 1) + "\n";
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(text.find("tenant=\"2\""), std::string::npos);  // Only its own.
  Buffer log(storage.data(), storage.size());
  metrics->render_log(1, name_of(1199).c_str(), log);
  EXPECT_EQ(std::string(log.data(), log.size()),  // 1199 % 3 + 1 = 3 invocations.
            "call=11990 status=OK exit_code=0 output_bytes=0 duration_seconds=0.000000\n"
            "call=11991 status=OK exit_code=0 output_bytes=0 duration_seconds=0.000000\n"
            "call=11992 status=OK exit_code=0 output_bytes=0 duration_seconds=0.000000\n");
  EXPECT_EQ(metrics->series_refused(1), 0u);
  // Deleting gives the room back: the count drops and a new function gets a series.
  for (usize index = 0; index < 600; ++index) metrics->forget(1, name_of(index).c_str());
  EXPECT_EQ(metrics->series_count(1), 600u);
  EXPECT_EQ(metrics->series_total(), 1500u);
}

// The catalog of 1,100 OpenFaaS functions of one tenant and 200 of another: every entry found
// with its own image and labels; a reserved entry shows no metadata until it is recorded.
TEST(FunctionTable, CatalogOfThousandsOfFunctions) {
  auto memory = heap_table_memory(Catalog::ENTRY_BYTES);
  auto catalog = std::make_unique<Catalog>();
  catalog->configure(memory.get(), MAX_FUNCTION_ENTRIES);
  auto record = [&](u32 tenant, usize index) {
    std::string json = R"({"service": ")" + name_of(index) + R"(", "image": "img-)" + std::to_string(index) +
                       R"(", "labels": {"n": ")" + std::to_string(tenant) + R"("}})";
    FunctionDeployment deployment;
    const char* error = nullptr;
    ASSERT_TRUE(parse_function_deployment(Slice{json.data(), json.size()}, deployment, error)) << error;
    ASSERT_TRUE(catalog->record(tenant, deployment)) << index;
  };
  for (usize index = 0; index < 1100; ++index) record(1, index);
  for (usize index = 0; index < 200; ++index) record(2, index);
  EXPECT_EQ(catalog->count(1), 1100u);
  EXPECT_EQ(catalog->count(2), 200u);
  CatalogEntry entry;
  for (usize index = 0; index < 1100; ++index) {
    ASSERT_TRUE(catalog->find(1, name_of(index).c_str(), entry)) << index;
    EXPECT_EQ(std::string(entry.image), "img-" + std::to_string(index));
    EXPECT_STREQ(entry.labels, R"({"n":"1"})");
  }
  ASSERT_TRUE(catalog->find(2, name_of(199).c_str(), entry));
  EXPECT_STREQ(entry.labels, R"({"n":"2"})");
  bool made = false;
  EXPECT_EQ(catalog->reserve(2, "reserved", made), TableRefusal::None);
  EXPECT_TRUE(made);
  EXPECT_FALSE(catalog->find(2, "reserved", entry));
  EXPECT_EQ(catalog->count(2), 201u);
  catalog->forget(2, "reserved");
  for (usize index = 0; index < 1100; ++index) catalog->forget(1, name_of(index).c_str());
  EXPECT_EQ(catalog->count(1), 0u);
  EXPECT_EQ(catalog->count(2), 200u);
  EXPECT_FALSE(catalog->find(1, name_of(5).c_str(), entry));
}

}  // namespace
}  // namespace gateway
