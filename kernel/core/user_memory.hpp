// UserPointer<T> and UserSpan<T>: typed user addresses, the only way kernel code reaches user memory.
// Invariant: a const T names memory the kernel only reads (copy_in), a mutable T memory it only
// writes (copy_out); every copy checks that the range lies below USER_SPACE_END without wrapping
// and goes through checked_copy, so an unmapped page yields an error, never a kernel fault, and no
// raw user address is ever dereferenced.
#pragma once

#include <type_traits>

#include "abi/syscall.hpp"
#include "arch/x86_64/platform.hpp"
#include "lib/result.hpp"

namespace kernel {
using namespace klib;

// True when [address, address + length) lies in user space (below USER_SPACE_END, no wrap).
inline bool user_range_valid(u64 address, u64 length) {
  return address < metteagle::abi::USER_SPACE_END && length <= metteagle::abi::USER_SPACE_END - address;
}

// count elements of T from a user address: const T to read them in, mutable T to write them out.
template <typename T> class UserSpan {
  static_assert(std::is_trivially_copyable_v<T>, "only plain values cross the user boundary");
  using Element = std::remove_const_t<T>;

 public:
  UserSpan(u64 address, u64 count) : address_(address), count_(count) {}

  u64 address() const { return address_; }
  u64 count() const { return count_; }
  // The whole span lies in user space (its pages may still be unmapped: the copy finds out).
  bool in_user_space() const { return count_ <= ~u64{0} / sizeof(T) && user_range_valid(address_, count_ * sizeof(T)); }
  // Elements [first, first + count) of this span; the caller keeps them within it.
  UserSpan subspan(u64 first, u64 count) const { return UserSpan(address_ + first * sizeof(T), count); }

  // Reads the span into destination (count() elements): InvalidArgument when any byte is
  // outside user space or unmapped (a prefix may have been copied).
  [[nodiscard]] Result<void> copy_in(Element* destination) const requires std::is_const_v<T> {
    if (!in_user_space()) return metteagle::abi::Error::InvalidArgument;
    if (checked_copy(destination, reinterpret_cast<const void*>(address_), count_ * sizeof(T)) != 0)
      return metteagle::abi::Error::InvalidArgument;
    return {};
  }

  // Writes count() elements from source into the span, with the same checks.
  [[nodiscard]] Result<void> copy_out(const Element* source) const requires(!std::is_const_v<T>) {
    if (!in_user_space()) return metteagle::abi::Error::InvalidArgument;
    if (checked_copy(reinterpret_cast<void*>(address_), source, count_ * sizeof(T)) != 0)
      return metteagle::abi::Error::InvalidArgument;
    return {};
  }

 private:
  u64 address_;
  u64 count_;
};

// One T at a user address: a span of one.
template <typename T> class UserPointer {
 public:
  explicit UserPointer(u64 address) : span_(address, 1) {}
  u64 address() const { return span_.address(); }
  [[nodiscard]] Result<void> copy_in(std::remove_const_t<T>& destination) const requires std::is_const_v<T> {
    return span_.copy_in(&destination);
  }
  [[nodiscard]] Result<void> copy_out(const std::remove_const_t<T>& source) const requires(!std::is_const_v<T>) {
    return span_.copy_out(&source);
  }

 private:
  UserSpan<T> span_;
};

}  // namespace kernel
