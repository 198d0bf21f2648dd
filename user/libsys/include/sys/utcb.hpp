// Access to the calling thread's UTCB. Invariant: the kernel keeps the UTCB's own address at
// %gs:0 for every thread, so this works on any thread without knowing where its UTCB lives.
#pragma once

#include "sys/types.hpp"

namespace sys {

inline abi::Utcb* utcb() {
  u64 address;
  asm volatile("mov %%gs:0, %0" : "=r"(address));
  return reinterpret_cast<abi::Utcb*>(address);
}

}  // namespace sys
