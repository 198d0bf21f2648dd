// IntrusiveList: a doubly linked list threaded through a ListNode member of its elements.
// Invariant: a node is in at most one list at a time; a node outside any list points to itself
// (linked() is false), so unlinking twice is harmless and membership costs no allocation.
#pragma once

#include <cstddef>

#include "lib/types.hpp"

namespace klib {

struct ListNode {
  ListNode* next = this;
  ListNode* previous = this;
  bool linked() const { return next != this; }
  void unlink() {
    next->previous = previous;
    previous->next = next;
    next = previous = this;
  }
};

template <typename T, ListNode T::*Member> class IntrusiveList {
 public:
  IntrusiveList() = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const { return head_.next == &head_; }
  void push_back(T& element) { insert_before(head_, node_of(element)); }
  void push_front(T& element) { insert_before(*head_.next, node_of(element)); }
  T* front() { return empty() ? nullptr : element_of(head_.next); }
  T* pop_front() {
    if (empty()) return nullptr;
    ListNode* node = head_.next;
    node->unlink();
    return element_of(node);
  }
  static void remove(T& element) { node_of(element).unlink(); }
  static bool contains_any(const T& element) { return (element.*Member).linked(); }
  // Inserts element before the first existing element for which goes_before(element, existing) is true.
  template <typename Less> void insert_sorted(T& element, Less goes_before) {
    ListNode* cursor = head_.next;
    while (cursor != &head_ && !goes_before(element, *element_of(cursor))) cursor = cursor->next;
    insert_before(*cursor, node_of(element));
  }

  class Iterator {
   public:
    explicit Iterator(ListNode* node) : node_(node) {}
    T& operator*() const { return *element_of(node_); }
    Iterator& operator++() {
      node_ = node_->next;
      return *this;
    }
    bool operator!=(const Iterator& other) const { return node_ != other.node_; }

   private:
    ListNode* node_;
  };
  Iterator begin() { return Iterator(head_.next); }
  Iterator end() { return Iterator(&head_); }

 private:
  static ListNode& node_of(T& element) { return element.*Member; }
  static T* element_of(ListNode* node) {
    // Recover the element from its member's address (offsetof does not apply to member pointers).
    const T* probe = nullptr;
    auto offset = reinterpret_cast<uptr>(&(probe->*Member));
    return reinterpret_cast<T*>(reinterpret_cast<uptr>(node) - offset);
  }
  static void insert_before(ListNode& position, ListNode& node) {
    node.next = &position;
    node.previous = position.previous;
    position.previous->next = &node;
    position.previous = &node;
  }

  ListNode head_;
};

}  // namespace klib
