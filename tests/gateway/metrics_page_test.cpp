// The /metrics page in pieces (Gateway::metrics_piece, Metrics::render_piece; docs/API.md,
// /metrics): whatever the budget, the pieces put together are byte for byte the page rendered in
// one go, for 0, 1 and 5,000+ functions of several tenants, on an operator's page and a tenant's;
// every piece stays within PAGE_PIECE_BYTES + PAGE_UNIT_BYTES; the page keeps the Prometheus text
// format (HELP and TYPE once per family, before its samples, each family's samples together) and
// has exactly one series set per function; and a page rendered while functions are deployed,
// deleted and invoked between its pieces stays well formed, leaves out what was deployed after it
// began, and shows each series (a histogram's every line) from one moment. GoogleTest under
// ASan/UBSan.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api.hpp"
#include "connection.hpp"
#include "table_memory.hpp"

namespace gateway {
namespace {

// A manager that answers only STATS (the page's manager figures), with fixed figures.
class StatsManager final : public Backend {
 public:
  ManagerReply deploy(u32, const char*, const Payload&, const manager::FunctionConfig&, const char*, u64) override {
    return {};
  }
  ManagerReply invoke(u32, const char*, const Payload&, u8*, u64, u64, u64) override { return {}; }
  ManagerReply request(u32, u32 kind, const void*, u64) override {
    ManagerReply reply;
    if (kind != manager::STATS) return reply;
    reply.delivered = true;
    manager::ManagerStats stats{};  // Only the figures the page shows matter here.
    stats.pool_free_bytes = 123456789;
    stats.machine_free_bytes = 987654321;
    reply.set_body(manager::STATUS_OK, stats);
    return reply;
  }
  ManagerReply request_with_strings(u32, u32, const void*, u64, const char*, u64) override { return {}; }
  u64 now_microseconds() override { return 0; }
  u64 ticks_to_microseconds(u64 ticks) override { return ticks; }
};

// Sixteen tenants (the most keys), the last an operator: every per-tenant part at its largest.
// Their function quotas add up to less than the tables' bound, so each may hold its quota.
constexpr ApiKey KEYS[] = {
    {"key-01", 1, 4, false, 0, 4000},  {"key-02", 2, 4, false, 0, 2000},  {"key-03", 3, 4, false, 0, 100},
    {"key-04", 4, 4, false, 0, 100},   {"key-05", 5, 4, false, 0, 100},   {"key-06", 6, 4, false, 0, 100},
    {"key-07", 7, 4, false, 0, 1000},  {"key-08", 8, 4, false, 0, 100},   {"key-09", 9, 4, false, 0, 100},
    {"key-10", 10, 4, false, 0, 100},  {"key-11", 11, 4, false, 0, 100},  {"key-12", 12, 4, false, 0, 100},
    {"key-13", 13, 4, false, 0, 100},  {"key-14", 14, 4, false, 0, 100},  {"key-15", 15, 4, false, 0, 100},
    {"key-16", 16, 4, true, 0, 200},
};
constexpr usize KEY_COUNT = sizeof KEYS / sizeof KEYS[0];

// The name of a tenant's function `index`: every fifth the longest a name may be (63 characters).
std::string function_name(usize index) {
  std::string name = "fn-" + std::to_string(index);
  if (index % 5 == 0) name += "-" + std::string(62 - name.size(), 'x');
  return name;
}

class MetricsPageTest : public ::testing::Test {
 protected:
  std::unique_ptr<GatewayShared> shared = std::make_unique<GatewayShared>(KEYS, KEY_COUNT);
  std::unique_ptr<HeapTableMemory> series_memory = heap_table_memory(Metrics::ENTRY_BYTES);
  std::unique_ptr<HeapTableMemory> catalog_memory = heap_table_memory(Catalog::ENTRY_BYTES);
  std::unique_ptr<ConnectionStats> connections = std::make_unique<ConnectionStats>();
  StatsManager manager;
  std::vector<char> text = std::vector<char>(4096);
  std::vector<u8> output = std::vector<u8>(4096);
  std::unique_ptr<Gateway> api;

  MetricsPageTest() {
    shared->configure_tables(series_memory.get(), catalog_memory.get(), MAX_FUNCTION_ENTRIES);
    shared->connections = connections.get();
    connections->accepted = 7;
    api = std::make_unique<Gateway>(manager, *shared, GatewayStorage{text.data(), text.size(), output.data(), output.size()});
  }

  Metrics& metrics() { return shared->metrics; }

  // `count` functions of `tenant`, each invoked (index % 4) times with figures of its own.
  void deploy(u32 tenant, usize count) {
    for (usize index = 0; index < count; ++index) {
      std::string name = function_name(index);
      metrics().open(tenant, name.c_str());
      SeriesTicket ticket = metrics().begin(tenant, name.c_str());
      ASSERT_NE(ticket.slot, SeriesTicket::NONE) << tenant << " " << name;
      for (usize call = 0; call < index % 4; ++call) invoke(ticket, index * 7 + call, call);
    }
  }
  void invoke(const SeriesTicket& ticket, u64 seed, usize call) {
    InvocationRecord record;
    record.status = call == 2 ? manager::STATUS_TIMEOUT : manager::STATUS_OK;
    record.duration_us = 300 + seed * 977 % 20'000'000;
    record.cold_start_us = seed * 131 % 3'000'000;
    record.has_phases = true;
    record.detail = call;
    ASSERT_TRUE(metrics().record_invocation(ticket, record));
  }

  // The page begun as the /metrics route begins it (its status, type and cursor): the operator's
  // key (ALL_TENANTS) or the tenant's own.
  PageCursor begin(u32 tenant) {
    std::string key = tenant == ALL_TENANTS ? "key-16" : KEYS[tenant - 1].key;
    std::string request = "GET /metrics HTTP/1.1\r\nAuthorization: Bearer " + key + "\r\n\r\n";
    RequestHead head;
    EXPECT_EQ(parse_request_head(request.data(), request.size(), head), ParseStatus::Complete);
    Response response;
    api->handle(head, Payload{}, response);
    EXPECT_EQ(response.status, 200u);
    EXPECT_TRUE(response.page);
    EXPECT_STREQ(response.content_type, "text/plain; version=0.0.4");
    EXPECT_EQ(response.body_length, 0u);
    EXPECT_EQ(response.page_cursor.tenant, tenant);
    return response.page_cursor;
  }

  // The page in one buffer without a budget (pieces end only where the table's slots do).
  std::string one_shot(PageCursor cursor) {
    std::vector<char> storage(64ull << 20);
    Buffer page(storage.data(), storage.size());
    while (!api->metrics_piece(cursor, page, ~usize{0}) && !page.overflowed()) {
    }
    EXPECT_FALSE(page.overflowed());
    return std::string(page.data(), page.size());
  }

  // The page in pieces of `budget`, each checked against its bounds; `between` runs after each.
  // On an operator's page (here of tables with few freed slots) nearly every slot holds a series
  // of the page, so a piece ends only at its budget (never short) unless it is the last; a
  // tenant's page may end pieces short, where a piece has looked at Metrics::SLOTS_PER_PIECE
  // slots of other tenants.
  std::vector<std::string> pieces(PageCursor cursor, usize budget, const std::function<void(usize)>& between = {}) {
    bool all = cursor.tenant == ALL_TENANTS;
    std::vector<std::string> result;
    std::vector<char> storage(budget + PAGE_UNIT_BYTES);
    for (bool done = false; !done;) {
      Buffer piece(storage.data(), storage.size());
      done = api->metrics_piece(cursor, piece, budget);
      EXPECT_FALSE(piece.overflowed()) << "piece " << result.size();
      // A piece ends at its budget or at the page's end, never more than one unit beyond.
      if (!done && all) {
        EXPECT_GE(piece.size(), budget) << "piece " << result.size();
      }
      EXPECT_LT(piece.size(), budget + PAGE_UNIT_BYTES);
      result.emplace_back(piece.data(), piece.size());
      if (between) between(result.size());
    }
    return result;
  }
  static std::string joined(const std::vector<std::string>& parts) {
    std::string page;
    for (const auto& part : parts) page += part;
    return page;
  }
};

// Each family's name, in order, and its samples' lines; fails the test on a format violation:
// a HELP or TYPE twice or after the family's samples, a sample of a family without its TYPE
// before it, a family's samples not together, a line that is none of these.
struct ParsedPage {
  std::vector<std::string> families;
  std::map<std::string, std::vector<std::string>> samples;  // Family -> its sample lines.
};

ParsedPage parse_page(const std::string& page) {
  ParsedPage parsed;
  std::set<std::string> helped;
  std::string current;
  EXPECT_TRUE(page.empty() || page.back() == '\n');
  usize start = 0;
  while (start < page.size()) {
    usize end = page.find('\n', start);
    std::string line = page.substr(start, end - start);
    start = end + 1;
    if (line.rfind("# HELP ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice: " << name;
      EXPECT_EQ(parsed.samples.count(name), 0u) << "HELP after samples: " << name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      for (const auto& seen : parsed.families) EXPECT_NE(seen, name) << "TYPE twice: " << name;
      parsed.families.push_back(name);
      parsed.samples[name];
      current = name;
      continue;
    }
    std::string metric = line.substr(0, line.find_first_of("{ "));
    // A histogram's lines carry the family's name and a suffix.
    std::string family = metric;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string tail = suffix;
      if (metric.size() > tail.size() && metric.compare(metric.size() - tail.size(), tail.size(), tail) == 0 &&
          metric.substr(0, metric.size() - tail.size()) == current)
        family = current;
    }
    EXPECT_EQ(family, current) << "a sample outside its family: " << line;
    EXPECT_NE(line.find(' '), std::string::npos) << line;
    parsed.samples[current].push_back(line);
  }
  return parsed;
}

// The function label values of a family's samples, with how many lines each has.
std::map<std::string, usize> lines_per_function(const std::vector<std::string>& samples) {
  std::map<std::string, usize> count;
  for (const auto& line : samples) {
    usize at = line.find("{function=\"");
    if (at == std::string::npos) continue;
    usize end = line.find("\",tenant=\"", at);
    usize tenant_end = line.find('"', end + 10);
    count[line.substr(at + 11, end - at - 11) + "@" + line.substr(end + 10, tenant_end - end - 10)] += 1;
  }
  return count;
}

const char* const PER_FUNCTION_COUNTERS[] = {"metteagle_invocations_total", "metteagle_function_errors_total",
                                             "metteagle_function_timeouts_total",
                                             "metteagle_function_unsupported_syscalls_total"};
const char* const PER_FUNCTION_HISTOGRAMS[] = {"metteagle_function_cold_start_seconds",
                                               "metteagle_function_duration_seconds"};

// Every function of `expected` (name@tenant) has exactly one line in each counter family and one
// histogram (Metrics::BUCKETS + 1 buckets, a sum, a count) in each histogram family; no other.
void expect_one_series_set_each(const ParsedPage& page, const std::set<std::string>& expected) {
  for (const char* family : PER_FUNCTION_COUNTERS) {
    ASSERT_EQ(page.samples.count(family), 1u) << family;
    auto count = lines_per_function(page.samples.at(family));
    EXPECT_EQ(count.size(), expected.size()) << family;
    for (const auto& [function, lines] : count) {
      EXPECT_EQ(lines, 1u) << family << " " << function;
      EXPECT_EQ(expected.count(function), 1u) << family << " " << function;
    }
  }
  for (const char* family : PER_FUNCTION_HISTOGRAMS) {
    ASSERT_EQ(page.samples.count(family), 1u) << family;
    auto count = lines_per_function(page.samples.at(family));
    EXPECT_EQ(count.size(), expected.size()) << family;
    for (const auto& [function, lines] : count) {
      EXPECT_EQ(lines, Metrics::BUCKETS + 3) << family << " " << function;
      EXPECT_EQ(expected.count(function), 1u) << family << " " << function;
    }
  }
}

std::set<std::string> functions_of(const std::vector<std::pair<u32, usize>>& tenants, u32 only = ALL_TENANTS) {
  std::set<std::string> names;
  for (const auto& [tenant, count] : tenants)
    if (only == ALL_TENANTS || only == tenant)
      for (usize index = 0; index < count; ++index) names.insert(function_name(index) + "@" + std::to_string(tenant));
  return names;
}

// No functions: the families' heads, the per-tenant and the operator's parts, in pieces as whole.
TEST_F(MetricsPageTest, NoFunctions) {
  for (u32 tenant : {ALL_TENANTS, 3u}) {
    std::string page = one_shot(begin(tenant));
    for (usize budget : {usize{1}, usize{100}, PAGE_PIECE_BYTES}) EXPECT_EQ(joined(pieces(begin(tenant), budget)), page);
    ParsedPage parsed = parse_page(page);
    expect_one_series_set_each(parsed, {});
    bool all = tenant == ALL_TENANTS;
    EXPECT_EQ(page.find("metteagle_manager_free_bytes 123456789\n") != std::string::npos, all) << page;
    EXPECT_EQ(page.find("metteagle_connections_accepted_total 7\n") != std::string::npos, all) << page;
    EXPECT_EQ(page.find("metteagle_invocations_all_total 0\n") != std::string::npos, all) << page;
    EXPECT_NE(page.find("metteagle_concurrency_limit{tenant=\"3\"} 4\n"), std::string::npos) << page;
    EXPECT_EQ(page.find("tenant=\"2\"") == std::string::npos, !all) << page;
  }
}

TEST_F(MetricsPageTest, OneFunction) {
  deploy(2, 4);
  metrics().forget(2, function_name(0).c_str());
  metrics().forget(2, function_name(1).c_str());
  metrics().forget(2, function_name(2).c_str());  // Left: fn-3, invoked 3 times.
  for (u32 tenant : {ALL_TENANTS, 2u, 5u}) {
    std::string page = one_shot(begin(tenant));
    for (usize budget : {usize{1}, usize{2}, usize{333}, PAGE_PIECE_BYTES})
      EXPECT_EQ(joined(pieces(begin(tenant), budget)), page) << budget;
    expect_one_series_set_each(parse_page(page), tenant == 5 ? std::set<std::string>{} : std::set<std::string>{"fn-3@2"});
  }
  std::string page = one_shot(begin(2));
  EXPECT_NE(page.find("metteagle_invocations_total{function=\"fn-3\",tenant=\"2\"} 3\n"), std::string::npos) << page;
  EXPECT_NE(page.find("metteagle_function_timeouts_total{function=\"fn-3\",tenant=\"2\"} 1\n"), std::string::npos);
  // Details 0, 1 and 2; the timeout's (2) is no exit's count.
  EXPECT_NE(page.find("metteagle_function_unsupported_syscalls_total{function=\"fn-3\",tenant=\"2\"} 1\n"),
            std::string::npos);
  EXPECT_NE(page.find("metteagle_function_duration_seconds_count{function=\"fn-3\",tenant=\"2\"} 3\n"),
            std::string::npos);
}

// 5,300 functions over four tenants (the old page buffer held about 1,100): every budget gives
// the same bytes, every function has exactly one series set, and no piece needs more room than
// its budget and one unit.
TEST_F(MetricsPageTest, ThousandsOfFunctionsInSeveralTenants) {
  const std::vector<std::pair<u32, usize>> tenants = {{1, 3000}, {2, 1500}, {7, 700}, {16, 100}};
  for (const auto& [tenant, count] : tenants) deploy(tenant, count);
  EXPECT_EQ(metrics().series_total(), 5300u);
  std::string page = one_shot(begin(ALL_TENANTS));
  std::printf("operator's page of 5,300 functions: %zu bytes\n", page.size());
  EXPECT_GT(page.size(), 6ull << 20);  // Beyond the old 6 MiB page buffer.
  for (usize budget : {usize{1}, usize{4093}, PAGE_PIECE_BYTES}) {
    std::vector<std::string> parts = pieces(begin(ALL_TENANTS), budget);
    EXPECT_EQ(joined(parts), page) << budget;
    std::printf("budget %zu: %zu pieces\n", budget, parts.size());
  }
  ParsedPage parsed = parse_page(page);
  expect_one_series_set_each(parsed, functions_of(tenants));
  EXPECT_NE(page.find("metteagle_invocations_total{function=\"" + function_name(2999) + "\",tenant=\"1\"} 3\n"),
            std::string::npos);
  for (u32 tenant : {2u, 7u}) {
    std::string own = one_shot(begin(tenant));
    EXPECT_EQ(joined(pieces(begin(tenant), 1)), own);
    EXPECT_EQ(joined(pieces(begin(tenant), 10'007)), own);
    expect_one_series_set_each(parse_page(own), functions_of(tenants, tenant));
    EXPECT_EQ(own.find("tenant=\"1\""), std::string::npos);  // Only its own.
  }
}

// A tenant with one function among 5,000 of another: its page skips the others' slots a bounded
// number at a time (the lock let go between pieces), so it comes in more pieces than its bytes
// need, some empty, and still byte for byte as in one go.
TEST_F(MetricsPageTest, ATenantsPageAmongManyOthers) {
  deploy(1, 4000);
  deploy(2, 1000);
  deploy(3, 1);
  PageCursor cursor = begin(3);
  std::string page = one_shot(cursor);
  std::vector<std::string> parts = pieces(cursor, PAGE_PIECE_BYTES);
  EXPECT_EQ(joined(parts), page);
  expect_one_series_set_each(parse_page(page), {function_name(0) + "@3"});
  usize slots = 5001;
  usize looks = Metrics::FUNCTION_FAMILIES * ((slots + Metrics::SLOTS_PER_PIECE - 1) / Metrics::SLOTS_PER_PIECE);
  EXPECT_GE(parts.size(), looks);  // Each family's pass over the table, a share at a time.
  EXPECT_LT(page.size(), PAGE_PIECE_BYTES);  // One piece's worth of bytes.
}

// Between pieces, functions are deployed, deleted and invoked: the page stays well formed, shows
// none deployed after it began (not even in a slot a deleted one freed), shows a deleted one only
// in the families rendered before its delete, and each histogram is whole (its +Inf bucket is its
// count).
TEST_F(MetricsPageTest, ChangesBetweenPieces) {
  deploy(1, 400);
  deploy(2, 400);
  std::vector<std::string> parts = pieces(begin(ALL_TENANTS), 1000, [&](usize piece) {
    if (piece % 3 == 0) {
      std::string late = "late-" + std::to_string(piece);
      metrics().open(1, late.c_str());
    }
    if (piece % 7 == 0) metrics().forget(2, function_name(piece % 400).c_str());
    SeriesTicket ticket = metrics().begin(1, function_name(piece % 400).c_str());
    if (ticket.slot != SeriesTicket::NONE) invoke(ticket, piece, piece % 3);
  });
  std::string page = joined(parts);
  ParsedPage parsed = parse_page(page);
  EXPECT_EQ(page.find("late-"), std::string::npos);
  for (const char* family : PER_FUNCTION_HISTOGRAMS) {
    std::map<std::string, std::string> infinite;
    for (const auto& line : parsed.samples[family]) {
      usize labels = line.find("{function=\"");
      std::string value = line.substr(line.rfind(' ') + 1);
      if (line.find("le=\"+Inf\"") != std::string::npos) {
        infinite[line.substr(labels, line.find(",le=") - labels)] = value;
      } else if (line.find("_count{") != std::string::npos) {
        EXPECT_EQ(infinite[line.substr(labels, line.find('}') - labels)], value) << line;
      }
    }
  }
  // Tenant 1's functions were never deleted: one series set each.
  auto first = lines_per_function(parsed.samples["metteagle_invocations_total"]);
  auto last = lines_per_function(parsed.samples["metteagle_function_duration_seconds"]);
  for (usize index = 0; index < 400; ++index) {
    std::string function = function_name(index) + "@1";
    EXPECT_EQ(first[function], 1u) << function;
    EXPECT_EQ(last[function], Metrics::BUCKETS + 3) << function;
  }
}

}  // namespace
}  // namespace gateway
