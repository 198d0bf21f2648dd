// The gateway's window budget (user/gateway/window_budget.hpp): each tenant's guarantee holds
// whatever another tenant takes, the shared half goes first come first served, refunds give back
// exactly what was borrowed, and unknown tenants get nothing.
#include <gtest/gtest.h>

#include "window_budget.hpp"

namespace gateway {
namespace {

// Three keys' tenants and tenant 0 over 1,600 pages: guarantees of 100 each, 1,200 shared.
struct Budget : ::testing::Test {
  WindowBudget budget;
  void SetUp() override {
    const u32 tenants[] = {0, 1, 2, 9};
    budget.configure(1600, tenants, 4);
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

TEST(WindowBudget, DuplicateTenantsCountOnceAndOddPagesGoToTheSharedPart) {
  WindowBudget budget;
  const u32 tenants[] = {0, 5, 5, 7};
  budget.configure(101, tenants, 4);
  EXPECT_EQ(budget.guarantee(), 8u);  // 101 / 4 / 3.
  EXPECT_EQ(budget.shared(), 77u);    // 101 − 3 × 8.
  EXPECT_TRUE(budget.charge(7, 85));
  EXPECT_FALSE(budget.charge(7, 1));
}

}  // namespace
}  // namespace gateway
