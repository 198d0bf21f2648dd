// Error codes returned by every kernel operation; the single definition shared by kernel and user code.
// Invariant: values are stable ABI; a new error is appended, never renumbered.
#pragma once

#include "abi/types.hpp"

namespace metteagle::abi {

#define ABI_ERRORS(X)                                                                  \
  X(None, 0, "success")                                                                \
  X(InvalidCapability, 1, "the selector names no capability in the caller's space")    \
  X(WrongType, 2, "the capability names an object of another type")                    \
  X(NoRights, 3, "the capability lacks a right the operation needs")                   \
  X(InvalidArgument, 4, "an argument is out of range or malformed")                    \
  X(QuotaExceeded, 5, "the factory's quota cannot cover the request")                  \
  X(OutOfMemory, 6, "the kernel has no physical memory left")                          \
  X(Timeout, 7, "the operation's timeout expired")                                     \
  X(Busy, 8, "the object is in a state that does not allow the operation")             \
  X(NotFound, 9, "nothing matches the request")                                        \
  X(Unsupported, 10, "the operation is not implemented for this object or machine")    \
  X(Destroyed, 11, "the object was destroyed while the caller waited on it")          \
  X(SlotOccupied, 12, "the destination capability slot is not empty")                 \
  X(Interrupted, 13, "ThreadInterrupt ended the wait")

enum class Error : u64 {
#define ABI_ERROR_ENUM(name, value, text) name = value,
  ABI_ERRORS(ABI_ERROR_ENUM)
#undef ABI_ERROR_ENUM
};

constexpr const char* error_name(Error error) {
  switch (error) {
#define ABI_ERROR_NAME(name, value, text) \
  case Error::name:                       \
    return #name;
    ABI_ERRORS(ABI_ERROR_NAME)
#undef ABI_ERROR_NAME
  }
  return "Unknown";
}

}  // namespace metteagle::abi
