// Capability handles: a selector in the caller's capability space, typed by the object it names.
// Invariant: a handle is only a number; owning one grants nothing the kernel does not check, and
// typing it only saves a wrong-type round trip, it never replaces the kernel's check.
#pragma once

#include "sys/syscall.hpp"

namespace sys {

struct CapabilityInfo {
  ObjectType type;
  u32 rights;
  u64 badge;
};

class Capability {
 public:
  constexpr Capability() = default;
  constexpr explicit Capability(u64 selector) : selector_(selector) {}

  constexpr u64 selector() const { return selector_; }
  constexpr bool is_null() const { return selector_ == abi::NULL_SELECTOR; }

  [[nodiscard]] Result<CapabilityInfo> identify() const {
    SyscallRegisters registers;
    Error error = invoke(abi::Syscall::CapabilityIdentify, selector_, registers);
    if (error != Error::None) return error;
    return CapabilityInfo{static_cast<ObjectType>(registers.argument1), static_cast<u32>(registers.argument2),
                          registers.argument3};
  }
  // Copies into the empty slot `destination` with rights & rights_mask. A non-zero badge is set
  // on the copy of an unbadged endpoint capability (the kernel refuses to rebadge).
  [[nodiscard]] Result<void> copy_to(u64 destination, u32 rights_mask = abi::ALL_RIGHTS, u64 badge = 0) const {
    return as_result(invoke(abi::Syscall::CapabilityCopy, selector_, destination, rights_mask, badge));
  }
  // Empties the slot (CapabilityDelete); named `remove` because `delete` is a keyword.
  [[nodiscard]] Result<void> remove() const { return as_result(invoke(abi::Syscall::CapabilityDelete, selector_)); }
  [[nodiscard]] Result<void> revoke() const { return as_result(invoke(abi::Syscall::CapabilityRevoke, selector_)); }

 private:
  u64 selector_ = abi::NULL_SELECTOR;
};

// A handle whose object type is known statically; converting from an untyped handle is explicit.
template <ObjectType Type>
class TypedCapability : public Capability {
 public:
  static constexpr ObjectType TYPE = Type;
  using Capability::Capability;
};

}  // namespace sys
