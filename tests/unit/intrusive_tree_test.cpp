// IntrusiveTree: ordered lookups and balance after every change, checked against std::map under
// randomized insertion and removal, plus the overlap query the kernel's mappings use.
#include "lib/intrusive_tree.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

namespace {
struct Item {
  klib::u64 key = 0;
  klib::u64 length = 1;
  klib::TreeNode node;
};
using Tree = klib::IntrusiveTree<Item, &Item::node, &Item::key>;

std::vector<klib::u64> keys_in_order(Tree& tree) {
  std::vector<klib::u64> keys;
  for (Item* item = tree.first(); item != nullptr; item = Tree::next(*item)) keys.push_back(item->key);
  return keys;
}

// The first item whose [key, key + length) overlaps [start, end), as the kernel finds it.
Item* first_overlapping(Tree& tree, klib::u64 start, klib::u64 end) {
  Item* item = tree.floor(start);
  if (item != nullptr && item->key + item->length > start) return item;
  item = tree.lower_bound(start);
  return item != nullptr && item->key < end ? item : nullptr;
}
}  // namespace

TEST(IntrusiveTree, EmptyTreeAnswersNothing) {
  Tree tree;
  EXPECT_TRUE(tree.empty());
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_EQ(tree.first(), nullptr);
  EXPECT_EQ(tree.floor(~klib::u64{0}), nullptr);
  EXPECT_EQ(tree.lower_bound(0), nullptr);
  EXPECT_TRUE(tree.valid());
}

TEST(IntrusiveTree, DuplicateKeysAreRefusedAndNodesTrackMembership) {
  Item a, b;
  a.key = b.key = 7;
  Tree tree;
  EXPECT_FALSE(a.node.linked());
  EXPECT_TRUE(tree.insert(a));
  EXPECT_TRUE(a.node.linked());
  EXPECT_FALSE(tree.insert(b));
  EXPECT_FALSE(b.node.linked());
  EXPECT_EQ(tree.size(), 1u);
  tree.remove(a);
  EXPECT_FALSE(a.node.linked());
  EXPECT_TRUE(tree.empty());
}

TEST(IntrusiveTree, AscendingInsertionStaysLogarithmic) {
  constexpr int COUNT = 1 << 14;
  std::vector<Item> items(COUNT);
  Tree tree;
  for (int index = 0; index < COUNT; ++index) {
    items[index].key = static_cast<klib::u64>(index) * 4096;
    ASSERT_TRUE(tree.insert(items[index]));
  }
  ASSERT_TRUE(tree.valid());
  // Ascending insertion into an AVL tree gives a perfectly balanced one: 2^14 nodes, 15 levels.
  EXPECT_EQ(tree.tree_height(), 15);
  EXPECT_EQ(tree.floor(4096 * 100 + 5)->key, 4096u * 100);
  EXPECT_EQ(tree.lower_bound(4096 * 100 + 5)->key, 4096u * 101);
  EXPECT_EQ(tree.lower_bound(4096u * COUNT), nullptr);
}

TEST(IntrusiveTree, RandomizedAgainstStdMap) {
  constexpr int POOL = 2000;
  constexpr int STEPS = 60000;
  std::mt19937_64 random(12345);
  std::vector<std::unique_ptr<Item>> pool;
  for (int index = 0; index < POOL; ++index) pool.push_back(std::make_unique<Item>());
  std::map<klib::u64, Item*> reference;
  Tree tree;
  for (int step = 0; step < STEPS; ++step) {
    Item& item = *pool[random() % POOL];
    if (item.node.linked()) {
      tree.remove(item);
      reference.erase(item.key);
    } else {
      item.key = random() % 5000 * 4096;
      bool expected = reference.find(item.key) == reference.end();
      ASSERT_EQ(tree.insert(item), expected);
      if (expected) reference[item.key] = &item;
    }
    ASSERT_EQ(tree.size(), reference.size());
    if (step % 97 == 0) {
      ASSERT_TRUE(tree.valid()) << "step " << step;
    }
    // Point queries at a random key.
    klib::u64 probe = random() % (5001 * 4096);
    auto upper = reference.upper_bound(probe);
    Item* floor = tree.floor(probe);
    Item* expected_floor = upper == reference.begin() ? nullptr : std::prev(upper)->second;
    EXPECT_EQ(floor, expected_floor);
    auto lower = reference.lower_bound(probe);
    EXPECT_EQ(tree.lower_bound(probe), lower == reference.end() ? nullptr : lower->second);
  }
  ASSERT_TRUE(tree.valid());
  std::vector<klib::u64> expected;
  for (auto& entry : reference) expected.push_back(entry.first);
  EXPECT_EQ(keys_in_order(tree), expected);
  // Empty it from the front, as task destruction does.
  while (Item* item = tree.first()) tree.remove(*item);
  EXPECT_TRUE(tree.empty());
  EXPECT_TRUE(tree.valid());
}

TEST(IntrusiveTree, RangeQueriesOfNonOverlappingIntervalsMatchALinearScan) {
  std::mt19937_64 random(777);
  std::vector<std::unique_ptr<Item>> items;
  std::map<klib::u64, Item*> reference;
  Tree tree;
  // Intervals of 1-8 units laid out with random gaps, never overlapping.
  klib::u64 cursor = 10;
  for (int index = 0; index < 3000; ++index) {
    cursor += random() % 4;
    auto item = std::make_unique<Item>();
    item->key = cursor;
    item->length = 1 + random() % 8;
    cursor += item->length;
    ASSERT_TRUE(tree.insert(*item));
    reference[item->key] = item.get();
    items.push_back(std::move(item));
  }
  for (int query = 0; query < 20000; ++query) {
    klib::u64 start = random() % (cursor + 20);
    klib::u64 end = start + 1 + random() % 40;
    Item* expected = nullptr;
    for (auto& entry : reference)
      if (entry.second->key < end && entry.second->key + entry.second->length > start) {
        expected = entry.second;
        break;
      }
    ASSERT_EQ(first_overlapping(tree, start, end), expected) << start << ".." << end;
    // Walking on in order visits exactly the overlapping intervals.
    std::vector<klib::u64> walked, scanned;
    for (Item* item = expected; item != nullptr && item->key < end; item = Tree::next(*item)) walked.push_back(item->key);
    for (auto& entry : reference)
      if (entry.second->key < end && entry.second->key + entry.second->length > start) scanned.push_back(entry.first);
    ASSERT_EQ(walked, scanned);
    // Remove a random interval now and then, so queries also meet the holes removal leaves.
    if (query % 10 == 0 && !reference.empty()) {
      auto victim = reference.lower_bound(random() % cursor);
      if (victim == reference.end()) victim = reference.begin();
      tree.remove(*victim->second);
      reference.erase(victim);
      ASSERT_TRUE(tree.valid());
    }
  }
}
