// Result<T>: a value or an abi::Error, the return type of every fallible kernel function.
// Invariant: a Result holds exactly one of the two; value() on an error is a programming bug.
#pragma once

#include <new>
#include <type_traits>
#include <utility>

#include "abi/error.hpp"

namespace klib {

using metteagle::abi::Error;

template <typename T> class [[nodiscard]] Result {
 public:
  static_assert(std::is_trivially_destructible_v<T>, "kernel results carry plain values");
  Result(T value) : has_value_(true) { new (&storage_.value) T(std::move(value)); }  // NOLINT: implicit by design
  Result(Error error) : has_value_(false) { storage_.error = error; }                // NOLINT: implicit by design

  bool ok() const { return has_value_; }
  explicit operator bool() const { return has_value_; }
  Error error() const { return has_value_ ? Error::None : storage_.error; }
  T& value() { return storage_.value; }
  const T& value() const { return storage_.value; }
  T* operator->() { return &storage_.value; }
  T& operator*() { return storage_.value; }

 private:
  union Storage {
    Storage() {}
    T value;
    Error error;
  } storage_;
  bool has_value_;
};

template <> class [[nodiscard]] Result<void> {
 public:
  Result() : error_(Error::None) {}
  Result(Error error) : error_(error) {}  // NOLINT: implicit by design
  bool ok() const { return error_ == Error::None; }
  explicit operator bool() const { return ok(); }
  Error error() const { return error_; }

 private:
  Error error_;
};

}  // namespace klib

// TRY(expression): evaluates a Result; returns its error from the enclosing function, else yields the value.
#define TRY(expression)                                \
  ({                                                   \
    auto try_result_ = (expression);                   \
    if (!try_result_.ok()) return try_result_.error(); \
    std::move(try_result_.value());                    \
  })
// TRY_VOID for Result<void>.
#define TRY_VOID(expression)                           \
  do {                                                 \
    auto try_result_ = (expression);                   \
    if (!try_result_.ok()) return try_result_.error(); \
  } while (0)
