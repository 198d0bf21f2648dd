// The gateway's window budget (user/gateway/window_budget.hpp): each tenant's guarantee holds
// whatever another tenant takes, the shared half goes first come first served, refunds give back
// exactly what was borrowed, and unknown tenants get nothing; its /metrics families show a tenant
// only its own series and count every refusal.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>


#include "metrics.hpp"
#include "window_budget.hpp"

namespace gateway {
namespace {

// Three keys' tenants and tenant 0 over 1,600 pages: guarantees of 100 each, 1,200 shared.
struct Budget : ::testing::Test {
  TenantSlots slots;
  WindowBudget budget;
  void SetUp() override {
    const u32 tenants[] = {1, 2, 9};
    ASSERT_TRUE(slots.configure(tenants, 3));
    budget.configure(1600, slots);
  }
};

TEST_F(Budget, GuaranteeIsAnEqualPartOfAQuarter) {
  EXPECT_EQ(budget.guarantee(), 100u);
  EXPECT_EQ(budget.shared(), 1200u);
}

TEST_F(Budget, OneTenantTakesItsGuaranteeAndTheSharedHalfThenNoMore) {
  EXPECT_TRUE(budget.charge(1, 1300));
  EXPECT_EQ(budget.borrowed(), 1200u);
  EXPECT_FALSE(budget.charge(1, 1));
  EXPECT_EQ(budget.used(1), 1300u);
}

TEST_F(Budget, AnotherTenantStillGetsItsWholeGuaranteeAfterAnAttack) {
  ASSERT_TRUE(budget.charge(1, 1300));
  EXPECT_TRUE(budget.charge(2, 100));
  EXPECT_TRUE(budget.charge(0, 100));
  EXPECT_TRUE(budget.charge(9, 60));
  EXPECT_TRUE(budget.charge(9, 40));
  // Beyond its guarantee, nothing is left to borrow.
  EXPECT_FALSE(budget.charge(2, 1));
  EXPECT_EQ(budget.used(2), 100u);
}

TEST_F(Budget, RefusedChargeTakesNothing) {
  ASSERT_TRUE(budget.charge(1, 1250));
  EXPECT_FALSE(budget.charge(2, 200));  // 100 of guarantee + 100 borrowed; 50 are free.
  EXPECT_EQ(budget.used(2), 0u);
  EXPECT_EQ(budget.borrowed(), 1150u);
  EXPECT_TRUE(budget.charge(2, 150));
  EXPECT_EQ(budget.borrowed(), 1200u);
}

TEST_F(Budget, RefundsGiveBackBorrowedPagesFirst) {
  ASSERT_TRUE(budget.charge(1, 300));  // 100 guaranteed, 200 borrowed.
  budget.refund(1, 150);
  EXPECT_EQ(budget.used(1), 150u);
  EXPECT_EQ(budget.borrowed(), 50u);
  budget.refund(1, 150);
  EXPECT_EQ(budget.used(1), 0u);
  EXPECT_EQ(budget.borrowed(), 0u);
  // A refund of more than is held gives back only what is held.
  budget.refund(1, 10);
  EXPECT_EQ(budget.used(1), 0u);
  EXPECT_EQ(budget.borrowed(), 0u);
}

TEST_F(Budget, UnknownTenantGetsNothing) {
  EXPECT_FALSE(budget.charge(3, 1));
  EXPECT_EQ(budget.used(3), 0u);
}

std::string page_of(const WindowBudget& budget, u32 tenant) {
  std::string storage(1 << 16, '\0');
  Buffer output(storage.data(), storage.size());
  RowCursor rows;
  EXPECT_TRUE(budget.render(output, tenant, rows, storage.size()));
  return std::string(output.data(), output.size());
}

// The operator's page of a budget of thousands of tenants, in pieces of at most `budget` bytes
// (and one row beyond), is the page rendered whole.
TEST(WindowBudget, PageInPiecesIsThePageWhole) {
  auto slots = std::make_unique<TenantSlots>();
  std::vector<u32> tenants;
  for (u32 tenant = 1; tenant <= MAX_KEYS; ++tenant) tenants.push_back(tenant);
  ASSERT_TRUE(slots->configure(tenants.data(), tenants.size()));
  auto budget = std::make_unique<WindowBudget>();
  budget->configure(100000, *slots);
  ASSERT_TRUE(budget->charge(4096, 7));
  std::string whole(1 << 20, '\0');
  Buffer all(whole.data(), whole.size());
  RowCursor rows;
  ASSERT_TRUE(budget->render(all, ALL_TENANTS, rows, whole.size()));
  whole.resize(all.size());
  EXPECT_NE(whole.find("\nmetteagle_window_bytes{tenant=\"4096\"} 28672\n"), std::string::npos);
  std::string pieces;
  rows = RowCursor{};
  for (int piece = 0;; ++piece) {
    ASSERT_LT(piece, 1000);
    std::string storage(2000 + 200, '\0');
    Buffer output(storage.data(), storage.size());
    bool done = budget->render(output, ALL_TENANTS, rows, 2000);
    ASSERT_FALSE(output.overflowed());
    ASSERT_LE(output.size(), 2000u + 200);
    pieces.append(output.data(), output.size());
    if (done) break;
  }
  EXPECT_EQ(pieces, whole);
}

TEST_F(Budget, MetricsCountRefusalsAndShowATenantOnlyItsOwnSeries) {
  ASSERT_TRUE(budget.charge(1, 1300));
  EXPECT_FALSE(budget.charge(1, 1));
  EXPECT_FALSE(budget.charge(2, 101));
  ASSERT_TRUE(budget.charge(2, 3));
  EXPECT_EQ(budget.refused(1), 1u);
  EXPECT_EQ(budget.refused(2), 1u);
  EXPECT_EQ(budget.refused(9), 0u);
  EXPECT_EQ(page_of(budget, 2),
            "# HELP metteagle_window_bytes Bytes of the gateway's window memory the tenant's bodies, outputs, logs, "
            "async jobs and envProcess texts hold now.\n"
            "# TYPE metteagle_window_bytes gauge\n"
            "metteagle_window_bytes{tenant=\"2\"} 12288\n"
            "# HELP metteagle_window_refused_total Window memory refused (503 for a window): the tenant's guarantee "
            "and the free shared part could not hold it.\n"
            "# TYPE metteagle_window_refused_total counter\n"
            "metteagle_window_refused_total{tenant=\"2\"} 1\n"
            "# HELP metteagle_window_guarantee_bytes Bytes of window memory each tenant is guaranteed whatever the "
            "others hold.\n"
            "# TYPE metteagle_window_guarantee_bytes gauge\n"
            "metteagle_window_guarantee_bytes 409600\n");
  std::string operator_page = page_of(budget, ALL_TENANTS);
  for (const char* line : {"metteagle_window_bytes{tenant=\"0\"} 0\n", "metteagle_window_bytes{tenant=\"1\"} 5324800\n",
                           "metteagle_window_bytes{tenant=\"9\"} 0\n", "metteagle_window_refused_total{tenant=\"1\"} 1\n",
                           "metteagle_window_shared_bytes 4915200\n", "metteagle_window_borrowed_bytes 4915200\n"})
    EXPECT_NE(operator_page.find(line), std::string::npos) << line;
}

TEST(WindowBudget, OddPagesGoToTheSharedPart) {
  TenantSlots slots;
  WindowBudget budget;
  const u32 tenants[] = {5, 7};
  ASSERT_TRUE(slots.configure(tenants, 2));
  budget.configure(101, slots);
  EXPECT_EQ(budget.guarantee(), 8u);  // 101 / 4 / 3.
  EXPECT_EQ(budget.shared(), 77u);    // 101 − 3 × 8.
  EXPECT_TRUE(budget.charge(7, 85));
  EXPECT_FALSE(budget.charge(7, 1));
}

}  // namespace
}  // namespace gateway
