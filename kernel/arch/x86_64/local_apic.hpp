// The local APIC's registers (xAPIC, memory-mapped), shared by interrupt setup and SMP code.
#pragma once

#include "arch/x86_64/platform.hpp"

namespace arch::local_apic {

constexpr u64 PHYSICAL = 0xfee00000;
constexpr u32 ID = 0x20;
constexpr u32 EOI = 0xb0;
constexpr u32 SPURIOUS = 0xf0;
constexpr u32 ICR_LOW = 0x300;
constexpr u32 ICR_HIGH = 0x310;
constexpr u32 LVT_TIMER = 0x320;
constexpr u32 TIMER_INITIAL = 0x380;
constexpr u32 TIMER_CURRENT = 0x390;
constexpr u32 TIMER_DIVIDE = 0x3e0;

inline volatile u32& reg(u32 offset) {
  return *reinterpret_cast<volatile u32*>(physical_to_virtual(PHYSICAL + offset));
}

}  // namespace arch::local_apic
