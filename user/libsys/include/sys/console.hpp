// Console: the kernel's debug console (serial output and machine exit).
// Invariant: write() never reads past text + length; the kernel validates the range again.
#pragma once

#include "sys/capability.hpp"

namespace sys {

class Console : public TypedCapability<ObjectType::DebugConsole> {
 public:
  using TypedCapability::TypedCapability;

  // Register order per abi/syscall.hpp's parenthetical: a1 = address, a2 = length.
  [[nodiscard]] Result<void> write(const char* text, usize length) const {
    return as_result(invoke(abi::Syscall::DebugWrite, selector(), reinterpret_cast<u64>(text), length));
  }
  // Ends the machine with QEMU's isa-debug-exit; returns only on error.
  [[nodiscard]] Result<void> exit(u64 code) const {
    return as_result(invoke(abi::Syscall::DebugExit, selector(), code));
  }
};

}  // namespace sys
