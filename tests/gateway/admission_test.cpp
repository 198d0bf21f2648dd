// The gateway's admission (user/gateway/admission.hpp) at scale: every one of MAX_KEYS tenants is
// found through its slot and held to its own limits, a tenant without a key or slot is refused, a
// tenant's queue keeps arrival order whatever the other tenants queue in between, expired() drops
// the oldest waiting request of all tenants first, and connection indexes outside the connection
// table (or already waiting) are refused.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "admission.hpp"
#include "metrics.hpp"
#include "tenants.hpp"

namespace gateway {
namespace {

using Decision = TenantAdmission::Decision;

// Both tables are large (every possible slot): on the heap, not the test's stack.
struct Admission : ::testing::Test {
  std::unique_ptr<TenantSlots> slots = std::make_unique<TenantSlots>();
  std::unique_ptr<TenantAdmission> admission = std::make_unique<TenantAdmission>();
  std::vector<ApiKey> keys;

  // One key per tenant, each with `limit` and `queue`; the slots and the table from them.
  void configure(const std::vector<u32>& tenants, u32 limit, u32 queue, usize capacity) {
    keys.clear();
    for (u32 tenant : tenants) {
      ApiKey key{"key-admission-1", tenant, limit};
      key.queue_limit = queue;
      keys.push_back(key);
    }
    ASSERT_TRUE(slots->configure(keys.data(), keys.size()));
    admission->configure(*slots, keys.data(), keys.size(), capacity);
  }
};

// Key i names tenant 10 + 15 i (spread over the tenant numbers), limit 1 + i % 3, queue i % 2.
u32 tenant_of(usize index) { return static_cast<u32>(10 + 15 * index); }
u32 limit_of(usize index) { return static_cast<u32>(1 + index % 3); }
u32 queue_of(usize index) { return static_cast<u32>(index % 2); }

// MAX_KEYS tenants, each found in its own entry: each runs exactly its limit, queues exactly its
// queue=, and is refused beyond; a key beyond the slots (the 4097th) and tenants no key names get
// nothing.
TEST_F(Admission, EveryOfMaxKeysTenantsHasItsOwnLimits) {
  ASSERT_EQ(MAX_KEYS, 4096u);
  for (usize index = 0; index <= MAX_KEYS; ++index) {
    ApiKey key{"key-admission-1", tenant_of(index), limit_of(index)};
    key.queue_limit = queue_of(index);
    keys.push_back(key);
  }
  // The slots hold the first MAX_KEYS keys' tenants; the table is given all 4097 keys.
  ASSERT_TRUE(slots->configure(keys.data(), MAX_KEYS));
  ASSERT_EQ(slots->count(), MAX_KEYS + 1);
  // So large a capacity that the kept slots (at most MAX_KEYS) never hold anyone back.
  constexpr usize CAPACITY = 100000;
  admission->configure(*slots, keys.data(), keys.size(), CAPACITY);
  u32 total = 0;
  for (usize index = 0; index < MAX_KEYS; ++index) {
    u32 tenant = tenant_of(index);
    ASSERT_EQ(admission->running_limit(tenant), limit_of(index)) << tenant;
    ASSERT_EQ(admission->queue_limit(tenant), queue_of(index)) << tenant;
    // Running requests are not tracked by connection: one index serves them all.
    for (u32 started = 0; started < limit_of(index); ++started)
      ASSERT_EQ(admission->arrive(tenant, 0, index), Decision::Run) << tenant;
    total += limit_of(index);
    u32 connection = static_cast<u32>(index % 200);
    if (queue_of(index) == 1) {
      ASSERT_EQ(admission->arrive(tenant, connection, index), Decision::Queued) << tenant;
      ASSERT_EQ(admission->arrive(tenant, connection + 1, index), Decision::Rejected) << tenant;
      // Dropped at once, so that the connection index is free again for the next tenants.
      u32 dropped = 0;
      u32 dropped_tenant = 0;
      ASSERT_TRUE(admission->expired(index, dropped, dropped_tenant)) << tenant;
      ASSERT_EQ(dropped, connection);
      ASSERT_EQ(dropped_tenant, tenant);
    } else {
      ASSERT_EQ(admission->arrive(tenant, connection, index), Decision::Rejected) << tenant;
    }
  }
  EXPECT_EQ(admission->running_total(), total);
  for (usize index = 0; index < MAX_KEYS; ++index) {
    u32 tenant = tenant_of(index);
    ASSERT_EQ(admission->running(tenant), limit_of(index)) << tenant;
    ASSERT_EQ(admission->admitted(tenant), limit_of(index)) << tenant;
    ASSERT_EQ(admission->rejected(tenant), 1u) << tenant;
    ASSERT_EQ(admission->queued_total(tenant), queue_of(index)) << tenant;
    ASSERT_EQ(admission->dropped(tenant), queue_of(index)) << tenant;
    ASSERT_EQ(admission->queued(tenant), 0u) << tenant;
  }
  // The 4097th key's tenant has no slot, tenant 0 and tenant 11 no key: refused, uncounted.
  for (u32 unknown : {tenant_of(MAX_KEYS), 0u, 11u, MAX_SUB_TENANT, MAX_SUB_TENANT + 1}) {
    EXPECT_EQ(admission->arrive(unknown, 1, 0), Decision::Rejected) << unknown;
    EXPECT_EQ(admission->running_limit(unknown), 0u) << unknown;
    EXPECT_EQ(admission->rejected(unknown), 0u) << unknown;
  }
  EXPECT_EQ(admission->running_total(), total);
  // Each finish frees its own tenant's slot only.
  for (usize index = 0; index < MAX_KEYS; ++index)
    for (u32 finished = 0; finished < limit_of(index); ++finished) admission->finish(tenant_of(index));
  EXPECT_EQ(admission->running_total(), 0u);
  u32 next = 0;
  EXPECT_FALSE(admission->next(next));
  EXPECT_EQ(admission->arrive(tenant_of(MAX_KEYS - 1), 7, 0), Decision::Run);
  EXPECT_EQ(admission->running(tenant_of(MAX_KEYS - 1)), 1u);
}

// With MAX_KEYS tenants the kept slots stop at half the capacity: the last key's tenant, idle,
// still starts its first request at once while the first holds the other half.
TEST_F(Admission, MaxKeysTenantsKeepAtMostHalfTheCapacity) {
  std::vector<u32> tenants;
  for (usize index = 0; index < MAX_KEYS; ++index) tenants.push_back(tenant_of(index));
  configure(tenants, 64, 1, 12);
  for (u32 started = 0; started < 6; ++started) EXPECT_EQ(admission->arrive(tenant_of(0), 0, 0), Decision::Run);
  EXPECT_EQ(admission->arrive(tenant_of(0), 3, 0), Decision::Queued);  // 6 free, kept for the idle.
  EXPECT_EQ(admission->arrive(tenant_of(MAX_KEYS - 1), 4, 0), Decision::Run);
  EXPECT_EQ(admission->running_total(), 7u);
  admission->finish(tenant_of(0));
  u32 next = 0;
  EXPECT_FALSE(admission->next(next));  // 6 free again: all kept.
  admission->finish(tenant_of(MAX_KEYS - 1));
  ASSERT_TRUE(admission->next(next));  // 7 free, 6 kept: the first tenant's queued one starts.
  EXPECT_EQ(next, 3u);
  EXPECT_EQ(admission->running(tenant_of(0)), 6u);
  EXPECT_EQ(admission->running_total(), 6u);
}

// Each tenant's queue hands its requests on in its own arrival order, however the tenants'
// arrivals interleave, and expired() and next() taking from the same queues keep both orders.
TEST_F(Admission, QueuesKeepEachTenantsArrivalOrderAcrossInterleavedTenants) {
  configure({1, 2, 3}, 1, 64, 3);
  for (u32 tenant = 1; tenant <= 3; ++tenant) ASSERT_EQ(admission->arrive(tenant, 255, 0), Decision::Run);
  // 60 connections over the three tenants in an uneven pattern: 1 1 2 3 1 2 ...
  const u32 pattern[] = {1, 1, 2, 3, 1, 2, 3, 3, 2, 1, 2, 1};
  std::vector<u32> expected[4];
  for (u32 connection = 0; connection < 60; ++connection) {
    u32 tenant = pattern[connection % 12];
    ASSERT_EQ(admission->arrive(tenant, connection, connection), Decision::Queued) << connection;
    expected[tenant].push_back(connection);
  }
  EXPECT_EQ(admission->queued(1), 25u);
  EXPECT_EQ(admission->queued(2), 20u);
  EXPECT_EQ(admission->queued(3), 15u);
  // Tenants finish in turn 2, 3, 1, 2, ...: each freed slot goes to the same tenant's oldest
  // (the others are at their limit of 1).
  std::vector<u32> taken[4];
  for (usize round = 0; round < 60;) {
    for (u32 tenant : {2u, 3u, 1u}) {
      if (taken[tenant].size() == expected[tenant].size()) continue;
      admission->finish(tenant);
      u32 next = 0;
      ASSERT_TRUE(admission->next(next));
      taken[tenant].push_back(next);
      EXPECT_FALSE(admission->next(next));
      ++round;
    }
  }
  for (u32 tenant = 1; tenant <= 3; ++tenant) {
    EXPECT_EQ(taken[tenant], expected[tenant]) << tenant;
    EXPECT_EQ(admission->queued(tenant), 0u);
    EXPECT_EQ(admission->running(tenant), 1u);
    EXPECT_EQ(admission->admitted(tenant), 1 + expected[tenant].size());
  }
  // Again, with the oldest ones dropped in between: the rest still comes in order.
  for (u32 connection = 0; connection < 12; ++connection)
    ASSERT_EQ(admission->arrive(pattern[connection], connection, 100 + connection), Decision::Queued);
  u32 connection = 0;
  u32 tenant = 0;
  ASSERT_TRUE(admission->expired(101, connection, tenant));
  EXPECT_EQ(connection, 0u);
  EXPECT_EQ(tenant, 1u);
  admission->finish(1);
  u32 next = 0;
  ASSERT_TRUE(admission->next(next));
  EXPECT_EQ(next, 1u);  // Tenant 1's second, now its oldest.
  ASSERT_TRUE(admission->expired(102, connection, tenant));
  EXPECT_EQ(connection, 2u);  // Connection 1, older, has left the arrival order with next().
  EXPECT_EQ(tenant, 2u);
  EXPECT_FALSE(admission->expired(102, connection, tenant));  // Connection 3 waits since 103.
  admission->finish(2);
  ASSERT_TRUE(admission->next(next));
  EXPECT_EQ(next, 5u);
  admission->finish(1);
  ASSERT_TRUE(admission->next(next));
  EXPECT_EQ(next, 4u);
}

// expired() takes the oldest waiting request of all tenants first, whichever tenant it belongs
// to, one per call, and only those that waited past the deadline; next() taking one from the
// middle of the arrival order leaves that order intact.
TEST_F(Admission, ExpiredTakesTheOldestOfAllTenants) {
  configure({4, 5, 6}, 1, 8, 3);
  for (u32 tenant = 4; tenant <= 6; ++tenant) ASSERT_EQ(admission->arrive(tenant, 0, 0), Decision::Run);
  struct Arrival {
    u32 tenant;
    u32 connection;
    u64 now;
  } const arrivals[] = {{5, 20, 100}, {4, 10, 200}, {6, 30, 300}, {4, 11, 400}, {5, 21, 500}, {6, 31, 600}};
  for (const Arrival& arrival : arrivals)
    ASSERT_EQ(admission->arrive(arrival.tenant, arrival.connection, arrival.now), Decision::Queued);
  u32 connection = 0;
  u32 tenant = 0;
  EXPECT_FALSE(admission->expired(99, connection, tenant));
  ASSERT_TRUE(admission->expired(250, connection, tenant));
  EXPECT_EQ(connection, 20u);
  EXPECT_EQ(tenant, 5u);
  ASSERT_TRUE(admission->expired(250, connection, tenant));
  EXPECT_EQ(connection, 10u);
  EXPECT_EQ(tenant, 4u);
  EXPECT_FALSE(admission->expired(250, connection, tenant));
  // Tenant 6's oldest (30, the oldest of all now) goes to a thread instead.
  admission->finish(6);
  u32 next = 0;
  ASSERT_TRUE(admission->next(next));
  EXPECT_EQ(next, 30u);
  const u32 rest[][2] = {{11, 4}, {21, 5}, {31, 6}};
  for (const auto& expected : rest) {
    ASSERT_TRUE(admission->expired(1000, connection, tenant));
    EXPECT_EQ(connection, expected[0]);
    EXPECT_EQ(tenant, expected[1]);
  }
  EXPECT_FALSE(admission->expired(1000, connection, tenant));
  EXPECT_EQ(admission->dropped(4), 2u);
  EXPECT_EQ(admission->dropped(5), 2u);
  EXPECT_EQ(admission->dropped(6), 1u);
  for (u32 waiting = 4; waiting <= 6; ++waiting) EXPECT_EQ(admission->queued(waiting), 0u);
  // The dropped connections may wait again.
  EXPECT_EQ(admission->arrive(4, 10, 2000), Decision::Queued);
  ASSERT_TRUE(admission->expired(2000, connection, tenant));
  EXPECT_EQ(connection, 10u);
  EXPECT_EQ(tenant, 4u);
}

// Only connection indexes of the connection table can wait: one beyond it is refused (and
// counted) even when a slot is free, as is one already waiting; all MAX_CONNECTION_LIMIT
// connections may wait at once.
TEST_F(Admission, RefusesConnectionsOutsideTheTableOrAlreadyWaiting) {
  configure({1, 2, 3, 4}, 1, 64, 4);
  EXPECT_EQ(admission->arrive(1, static_cast<u32>(MAX_CONNECTION_LIMIT), 0), Decision::Rejected);
  EXPECT_EQ(admission->arrive(1, 0xffffffff, 0), Decision::Rejected);
  EXPECT_EQ(admission->rejected(1), 2u);
  EXPECT_EQ(admission->running(1), 0u);
  EXPECT_EQ(admission->admitted(1), 0u);
  EXPECT_EQ(admission->running_total(), 0u);
  for (u32 tenant = 1; tenant <= 4; ++tenant)
    ASSERT_EQ(admission->arrive(tenant, static_cast<u32>(MAX_CONNECTION_LIMIT - 1), 0), Decision::Run);
  // Every connection index waits, 64 per tenant, in arrival order over the tenants.
  for (u32 connection = 0; connection < MAX_CONNECTION_LIMIT; ++connection)
    ASSERT_EQ(admission->arrive(1 + connection % 4, connection, connection), Decision::Queued) << connection;
  EXPECT_EQ(admission->arrive(1, 7, 1000), Decision::Rejected);  // Already waiting (and the queue is full).
  for (u32 tenant = 1; tenant <= 4; ++tenant) EXPECT_EQ(admission->queued(tenant), 64u);
  EXPECT_EQ(admission->rejected(1), 3u);
  // A queue with room does not take a connection already waiting in another tenant's queue.
  u32 connection = 0;
  u32 tenant = 0;
  ASSERT_TRUE(admission->expired(0, connection, tenant));
  EXPECT_EQ(connection, 0u);
  EXPECT_EQ(tenant, 1u);
  EXPECT_EQ(admission->arrive(1, 1, 1000), Decision::Rejected);  // Connection 1 waits for tenant 2.
  EXPECT_EQ(admission->queued(1), 63u);
  EXPECT_EQ(admission->rejected(1), 4u);
  for (u32 expected = 1; expected < MAX_CONNECTION_LIMIT; ++expected) {
    ASSERT_TRUE(admission->expired(1000, connection, tenant));
    ASSERT_EQ(connection, expected);
    ASSERT_EQ(tenant, 1 + expected % 4);
  }
  EXPECT_FALSE(admission->expired(1000, connection, tenant));
}

// A tenant with a slot but no key, and tenant 0 (slot 0, no key), are refused like unknown ones
// and never rendered; /metrics lists the others in the key file's order.
TEST_F(Admission, OnlyKeyedTenantsHaveEntriesRenderedInKeyFileOrder) {
  const u32 tenants[] = {9, 2, 7, 5};
  ASSERT_TRUE(slots->configure(tenants, 4));
  ApiKey keyed[] = {{"key-nine-1234", 9, 2}, {"key-two-12345", 2, 3}, {"key-five-1234", 5, 1}};
  admission->configure(*slots, keyed, 3, 6);
  EXPECT_EQ(admission->arrive(7, 1, 0), Decision::Rejected);
  EXPECT_EQ(admission->arrive(0, 2, 0), Decision::Rejected);
  EXPECT_EQ(admission->running_limit(7), 0u);
  EXPECT_EQ(admission->arrive(2, 3, 0), Decision::Run);
  EXPECT_EQ(admission->arrive(2, 4, 0), Decision::Run);
  char text[8192];
  Buffer page(text, sizeof text);
  { RowCursor rows; EXPECT_TRUE(admission->render(page, 0xffffffff, rows, ~usize{0})); }
  std::string rendered(page.data(), page.size());
  EXPECT_NE(rendered.find("# TYPE metteagle_invocations_in_flight gauge\n"
                          "metteagle_invocations_in_flight{tenant=\"9\"} 0\n"
                          "metteagle_invocations_in_flight{tenant=\"2\"} 2\n"
                          "metteagle_invocations_in_flight{tenant=\"5\"} 0\n#"),
            std::string::npos)
      << rendered;
  EXPECT_NE(rendered.find("# TYPE metteagle_concurrency_limit gauge\n"
                          "metteagle_concurrency_limit{tenant=\"9\"} 2\n"
                          "metteagle_concurrency_limit{tenant=\"2\"} 3\n"
                          "metteagle_concurrency_limit{tenant=\"5\"} 1\n#"),
            std::string::npos)
      << rendered;
  EXPECT_EQ(rendered.find("tenant=\"7\""), std::string::npos);
  EXPECT_EQ(rendered.find("tenant=\"0\""), std::string::npos);
  page.clear();
  { RowCursor rows; EXPECT_TRUE(admission->render(page, 7, rows, ~usize{0})); }
  std::string none(page.data(), page.size());
  EXPECT_EQ(none.find("{tenant="), std::string::npos) << none;
  // Configured again with the workers' limits: the same tenants, fresh figures.
  admission->configure_control(*slots, keyed, 3, 4, 100);
  EXPECT_EQ(admission->running(2), 0u);
  EXPECT_EQ(admission->running_limit(9), 4u);
  EXPECT_EQ(admission->queue_limit(5), TenantAdmission::MAX_QUEUE);
  EXPECT_EQ(admission->running_limit(7), 0u);
}

}  // namespace
}  // namespace gateway
