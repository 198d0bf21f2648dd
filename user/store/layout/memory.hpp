// store::MemorySource and store::Vector: where the store's in-memory structures live. The guest
// backs a MemorySource with a lazily committed arena (heap.hpp), host tests with malloc.
// Invariant: a Vector holds only trivially copyable elements, owns exactly `capacity` elements of
// memory from its source, and never fails silently: every growth reports whether it happened.
#pragma once

#include <type_traits>

#include "abi/types.hpp"

namespace store {

using metteagle::abi::i64;
using metteagle::abi::u16;
using metteagle::abi::u32;
using metteagle::abi::u64;
using metteagle::abi::u8;
using metteagle::abi::usize;

class MemorySource {
 public:
  // At least `bytes` bytes aligned to 16, or nullptr when the source is exhausted.
  virtual void* allocate(u64 bytes) = 0;
  // Gives back what allocate(bytes) returned (the same byte count).
  virtual void release(void* block, u64 bytes) = 0;

 protected:
  ~MemorySource() = default;
};

inline void copy_bytes(void* target, const void* source, u64 length) {
  if (length != 0) __builtin_memcpy(target, source, length);  // An empty copy may name no memory.
}
inline void fill_bytes(void* target, u8 value, u64 length) { __builtin_memset(target, value, length); }
inline int compare_text(const char* left, const char* right) {
  while (*left != '\0' && *left == *right) {
    ++left;
    ++right;
  }
  return static_cast<int>(static_cast<u8>(*left)) - static_cast<int>(static_cast<u8>(*right));
}
inline u64 text_length(const char* text) {
  u64 length = 0;
  while (text[length] != '\0') ++length;
  return length;
}

template <typename T>
class Vector {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  explicit Vector(MemorySource& memory) : memory_(&memory) {}
  ~Vector() { reset(); }
  Vector(const Vector&) = delete;
  Vector& operator=(const Vector&) = delete;

  u64 size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return items_; }
  const T* data() const { return items_; }
  T& operator[](u64 index) { return items_[index]; }
  const T& operator[](u64 index) const { return items_[index]; }
  T& back() { return items_[size_ - 1]; }

  // Room for at least `count` elements; false when the source is exhausted (nothing changes).
  [[nodiscard]] bool reserve(u64 count) {
    if (count <= capacity_) return true;
    u64 capacity = capacity_ == 0 ? 8 : capacity_;
    while (capacity < count) capacity *= 2;
    auto* items = static_cast<T*>(memory_->allocate(capacity * sizeof(T)));
    if (items == nullptr) return false;
    if (size_ != 0) copy_bytes(items, items_, size_ * sizeof(T));
    if (items_ != nullptr) memory_->release(items_, capacity_ * sizeof(T));
    items_ = items;
    capacity_ = capacity;
    return true;
  }
  [[nodiscard]] bool push_back(const T& item) { return insert(size_, item); }
  [[nodiscard]] bool insert(u64 index, const T& item) {
    if (!reserve(size_ + 1)) return false;
    if (index < size_) __builtin_memmove(items_ + index + 1, items_ + index, (size_ - index) * sizeof(T));
    items_[index] = item;
    ++size_;
    return true;
  }
  void erase(u64 index) {
    if (index + 1 < size_) __builtin_memmove(items_ + index, items_ + index + 1, (size_ - index - 1) * sizeof(T));
    --size_;
  }
  void pop_back() { --size_; }
  void clear() { size_ = 0; }
  // Gives the memory back.
  void reset() {
    if (items_ != nullptr) memory_->release(items_, capacity_ * sizeof(T));
    items_ = nullptr;
    size_ = capacity_ = 0;
  }

 private:
  MemorySource* memory_;
  T* items_ = nullptr;
  u64 size_ = 0;
  u64 capacity_ = 0;
};

}  // namespace store
