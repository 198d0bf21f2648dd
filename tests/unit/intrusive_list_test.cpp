// IntrusiveList: order, removal from anywhere, sorted insertion, and the unlinked-node invariant.
#include "lib/intrusive_list.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {
struct Item {
  int value;
  klib::ListNode node;
};
using List = klib::IntrusiveList<Item, &Item::node>;

std::vector<int> values(List& list) {
  std::vector<int> result;
  for (Item& item : list) result.push_back(item.value);
  return result;
}
}  // namespace

TEST(IntrusiveList, PushPopAndOrder) {
  Item a{1, {}}, b{2, {}}, c{3, {}};
  List list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.pop_front(), nullptr);
  list.push_back(a);
  list.push_back(b);
  list.push_front(c);
  EXPECT_EQ(values(list), (std::vector<int>{3, 1, 2}));
  EXPECT_EQ(list.pop_front(), &c);
  EXPECT_FALSE(c.node.linked());
  EXPECT_EQ(values(list), (std::vector<int>{1, 2}));
}

TEST(IntrusiveList, RemoveFromMiddleAndTwiceIsHarmless) {
  Item a{1, {}}, b{2, {}}, c{3, {}};
  List list;
  list.push_back(a);
  list.push_back(b);
  list.push_back(c);
  List::remove(b);
  List::remove(b);
  EXPECT_EQ(values(list), (std::vector<int>{1, 3}));
  EXPECT_FALSE(List::contains_any(b));
  EXPECT_TRUE(List::contains_any(a));
}

TEST(IntrusiveList, SortedInsertionIsStable) {
  Item items[] = {{5, {}}, {1, {}}, {3, {}}, {3, {}}, {9, {}}};
  List list;
  for (Item& item : items) list.insert_sorted(item, [](const Item& x, const Item& y) { return x.value < y.value; });
  EXPECT_EQ(values(list), (std::vector<int>{1, 3, 3, 5, 9}));
  EXPECT_EQ(&*++list.begin(), &items[2]);  // Equal keys keep insertion order.
}
