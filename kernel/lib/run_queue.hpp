// RunQueue: one FIFO per priority and a bitmap of the non-empty ones, so the highest-priority
// ready element is found with one bit scan.
// Invariant: bit p of mask_ is set exactly when queue p is non-empty; size_ counts the elements.
#pragma once

#include "lib/intrusive_list.hpp"
#include "lib/types.hpp"

namespace klib {

template <typename T, ListNode T::*Member, u32 Levels = 64> class RunQueue {
  static_assert(Levels <= 64, "the bitmap is one word");

 public:
  using Queue = IntrusiveList<T, Member>;

  bool empty() const { return mask_ == 0; }
  u32 size() const { return size_; }
  void push_back(T& element, u32 priority) {
    ++size_;
    queues_[priority].push_back(element);
    mask_ |= u64{1} << priority;
  }
  // For an element that keeps its turn (preempted before its slice ran out).
  void push_front(T& element, u32 priority) {
    ++size_;
    queues_[priority].push_front(element);
    mask_ |= u64{1} << priority;
  }
  // The first element of the highest non-empty priority, or null.
  T* pop_highest() {
    if (mask_ == 0) return nullptr;
    u32 priority = highest_priority();
    T* element = queues_[priority].pop_front();
    if (queues_[priority].empty()) mask_ &= ~(u64{1} << priority);
    --size_;
    return element;
  }
  void remove(T& element, u32 priority) {
    --size_;
    Queue::remove(element);
    if (queues_[priority].empty()) mask_ &= ~(u64{1} << priority);
  }
  // Whether anything of at least this priority waits.
  bool has_at_least(u32 priority) const { return (mask_ >> priority) != 0; }
  u32 highest_priority() const { return 63 - static_cast<u32>(__builtin_clzll(mask_)); }

 private:
  Queue queues_[Levels];
  u64 mask_ = 0;
  u32 size_ = 0;
};

}  // namespace klib
