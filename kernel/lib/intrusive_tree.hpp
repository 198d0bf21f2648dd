// IntrusiveTree: an AVL tree ordered by a u64 key member, threaded through a TreeNode member of
// its elements, with O(log n) insertion, removal and ordered lookups (floor, lower bound, next).
// Invariants: keys are unique; for every node the heights of its two subtrees differ by at most
// one and `height` is one more than the larger; a node outside any tree is unlinked() (its parent
// pointer points to itself), so membership costs no allocation and can be checked.
#pragma once

#include "lib/types.hpp"

namespace klib {

struct TreeNode {
  TreeNode* left = nullptr;
  TreeNode* right = nullptr;
  TreeNode* parent = this;  // Null for the root; `this` while outside any tree.
  i32 height = 0;
  bool linked() const { return parent != this; }
};

template <typename T, TreeNode T::*Member, u64 T::*Key>
class IntrusiveTree {
 public:
  IntrusiveTree() = default;
  IntrusiveTree(const IntrusiveTree&) = delete;
  IntrusiveTree& operator=(const IntrusiveTree&) = delete;

  bool empty() const { return root_ == nullptr; }
  usize size() const { return size_; }
  i32 tree_height() const { return height(root_); }

  // Inserts element, whose key no element of the tree may have (returns false, unchanged, if one does).
  bool insert(T& element) {
    TreeNode& node = node_of(element);
    u64 key = element.*Key;
    TreeNode* parent = nullptr;
    TreeNode** link = &root_;
    while (*link != nullptr) {
      parent = *link;
      u64 existing = key_of(parent);
      if (key == existing) return false;
      link = key < existing ? &parent->left : &parent->right;
    }
    node.left = node.right = nullptr;
    node.parent = parent;
    node.height = 1;
    *link = &node;
    ++size_;
    rebalance_from(parent);
    return true;
  }

  // Removes element, which must be in this tree.
  void remove(T& element) {
    TreeNode& node = node_of(element);
    TreeNode* start;
    if (node.left == nullptr || node.right == nullptr) {
      TreeNode* child = node.left != nullptr ? node.left : node.right;
      if (child != nullptr) child->parent = node.parent;
      replace_child(node.parent, &node, child);
      start = node.parent;
    } else {
      // The successor (leftmost of the right subtree, which has no left child) takes node's place.
      TreeNode* successor = node.right;
      while (successor->left != nullptr) successor = successor->left;
      if (successor->parent != &node) {
        TreeNode* successor_parent = successor->parent;
        successor_parent->left = successor->right;
        if (successor->right != nullptr) successor->right->parent = successor_parent;
        successor->right = node.right;
        node.right->parent = successor;
        start = successor_parent;
      } else {
        start = successor;
      }
      successor->left = node.left;
      node.left->parent = successor;
      successor->parent = node.parent;
      replace_child(node.parent, &node, successor);
      successor->height = node.height;
    }
    node.left = node.right = nullptr;
    node.parent = &node;
    node.height = 0;
    --size_;
    rebalance_from(start);
  }

  // The element with the smallest key, or null.
  T* first() const { return root_ == nullptr ? nullptr : element_of(leftmost(root_)); }
  // The element with the largest key <= key, or null.
  T* floor(u64 key) const {
    TreeNode* best = nullptr;
    for (TreeNode* cursor = root_; cursor != nullptr;) {
      if (key_of(cursor) <= key) {
        best = cursor;
        cursor = cursor->right;
      } else {
        cursor = cursor->left;
      }
    }
    return best == nullptr ? nullptr : element_of(best);
  }
  // The element with the smallest key >= key, or null.
  T* lower_bound(u64 key) const {
    TreeNode* best = nullptr;
    for (TreeNode* cursor = root_; cursor != nullptr;) {
      if (key_of(cursor) >= key) {
        best = cursor;
        cursor = cursor->left;
      } else {
        cursor = cursor->right;
      }
    }
    return best == nullptr ? nullptr : element_of(best);
  }
  // The element after element in key order, or null.
  static T* next(T& element) {
    TreeNode* node = &node_of(element);
    if (node->right != nullptr) return element_of(leftmost(node->right));
    while (node->parent != nullptr && node->parent->right == node) node = node->parent;
    return node->parent == nullptr ? nullptr : element_of(node->parent);
  }

  // Checks every invariant (for tests): order, parent links, heights and balance.
  bool valid() const {
    usize counted = 0;
    return root_ == nullptr || (root_->parent == nullptr && check(root_, 0, ~u64{0}, counted) > 0 && counted == size_);
  }

 private:
  static TreeNode& node_of(T& element) { return element.*Member; }
  static T* element_of(TreeNode* node) {
    // Recover the element from its member's address (offsetof does not apply to member pointers).
    const T* probe = nullptr;
    auto offset = reinterpret_cast<uptr>(&(probe->*Member));
    return reinterpret_cast<T*>(reinterpret_cast<uptr>(node) - offset);
  }
  static u64 key_of(TreeNode* node) { return element_of(node)->*Key; }
  static i32 height(const TreeNode* node) { return node == nullptr ? 0 : node->height; }
  static void update_height(TreeNode* node) {
    i32 left = height(node->left), right = height(node->right);
    node->height = (left > right ? left : right) + 1;
  }
  static i32 balance(const TreeNode* node) { return node == nullptr ? 0 : height(node->left) - height(node->right); }
  static TreeNode* leftmost(TreeNode* node) {
    while (node->left != nullptr) node = node->left;
    return node;
  }

  void replace_child(TreeNode* parent, TreeNode* old_child, TreeNode* new_child) {
    if (parent == nullptr) root_ = new_child;
    else if (parent->left == old_child) parent->left = new_child;
    else parent->right = new_child;
  }

  // Rotations return the new root of the subtree, its heights updated.
  // Only called on the taller side, which is never empty; the checks keep the compiler's null
  // analysis (and a broken caller) from ever dereferencing null.
  TreeNode* rotate_left(TreeNode* node) {
    TreeNode* pivot = node->right;
    if (pivot == nullptr) return node;
    node->right = pivot->left;
    if (pivot->left != nullptr) pivot->left->parent = node;
    pivot->parent = node->parent;
    replace_child(node->parent, node, pivot);
    pivot->left = node;
    node->parent = pivot;
    update_height(node);
    update_height(pivot);
    return pivot;
  }
  TreeNode* rotate_right(TreeNode* node) {
    TreeNode* pivot = node->left;
    if (pivot == nullptr) return node;
    node->left = pivot->right;
    if (pivot->right != nullptr) pivot->right->parent = node;
    pivot->parent = node->parent;
    replace_child(node->parent, node, pivot);
    pivot->right = node;
    node->parent = pivot;
    update_height(node);
    update_height(pivot);
    return pivot;
  }

  // Restores heights and balance on the path from node up to the root (O(log n) steps).
  void rebalance_from(TreeNode* node) {
    while (node != nullptr) {
      update_height(node);
      i32 factor = balance(node);
      if (factor > 1) {
        if (balance(node->left) < 0) rotate_left(node->left);
        node = rotate_right(node);
      } else if (factor < -1) {
        if (balance(node->right) > 0) rotate_right(node->right);
        node = rotate_left(node);
      }
      node = node->parent;
    }
  }

  // Returns the subtree's height, or 0 if an invariant fails; keys must lie in [low, high].
  static i32 check(TreeNode* node, u64 low, u64 high, usize& counted) {
    u64 key = key_of(node);
    if (key < low || key > high) return 0;
    ++counted;
    i32 left = 1, right = 1;  // Placeholders for "valid" when a child is absent.
    i32 left_height = 0, right_height = 0;
    if (node->left != nullptr) {
      if (node->left->parent != node || key == 0) return 0;
      left = left_height = check(node->left, low, key - 1, counted);
    }
    if (node->right != nullptr) {
      if (node->right->parent != node || key == ~u64{0}) return 0;
      right = right_height = check(node->right, key + 1, high, counted);
    }
    if (left == 0 || right == 0) return 0;
    i32 difference = left_height - right_height;
    if (difference > 1 || difference < -1) return 0;
    i32 expected = (left_height > right_height ? left_height : right_height) + 1;
    return node->height == expected ? expected : 0;
  }

  TreeNode* root_ = nullptr;
  usize size_ = 0;
};

}  // namespace klib
