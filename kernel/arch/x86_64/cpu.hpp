// Thin wrappers over x86-64 instructions; the only place generic code gets CPU intrinsics from.
#pragma once

#include "lib/types.hpp"

namespace arch {
using namespace klib;

inline void out8(u16 port, u8 value) { asm volatile("outb %0, %1" ::"a"(value), "Nd"(port)); }
inline u8 in8(u16 port) {
  u8 value;
  asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}
inline void out16(u16 port, u16 value) { asm volatile("outw %0, %1" ::"a"(value), "Nd"(port)); }
inline void out32(u16 port, u32 value) { asm volatile("outl %0, %1" ::"a"(value), "Nd"(port)); }
inline u16 in16(u16 port) {
  u16 value;
  asm volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}
inline u32 in32(u16 port) {
  u32 value;
  asm volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}
inline u64 read_msr(u32 msr) {
  u32 low, high;
  asm volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
  return (u64{high} << 32) | low;
}
inline void write_msr(u32 msr, u64 value) {
  asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<u32>(value)), "d"(static_cast<u32>(value >> 32)));
}
inline u64 read_tsc() {
  u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (u64{high} << 32) | low;
}
inline u64 read_cr2() {
  u64 value;
  asm volatile("mov %%cr2, %0" : "=r"(value));
  return value;
}
inline u64 read_cr3() {
  u64 value;
  asm volatile("mov %%cr3, %0" : "=r"(value));
  return value;
}
inline void write_cr3(u64 value) { asm volatile("mov %0, %%cr3" ::"r"(value) : "memory"); }
inline void invalidate_page(u64 address) { asm volatile("invlpg (%0)" ::"r"(address) : "memory"); }
inline void enable_interrupts() { asm volatile("sti" ::: "memory"); }
inline void disable_interrupts() { asm volatile("cli" ::: "memory"); }
inline void halt() { asm volatile("hlt" ::: "memory"); }
inline void wait_for_interrupt() { asm volatile("sti; hlt; cli" ::: "memory"); }
// Halts until an interrupt of the highest priority class (vectors 0xf0-0xff) comes: the task
// priority (CR8) holds every other one pending in the local APIC until interrupts are on again.
inline void halt_until_urgent_interrupt() {
  asm volatile("mov %0, %%cr8; sti; hlt; cli; mov %1, %%cr8" ::"r"(u64{0xe}), "r"(u64{0}) : "memory");
}
inline void pause() { asm volatile("pause"); }
inline bool interrupts_enabled() {
  u64 flags;
  asm volatile("pushfq; pop %0" : "=r"(flags));
  return (flags & (1 << 9)) != 0;
}
struct CpuidResult {
  u32 eax, ebx, ecx, edx;
};
inline CpuidResult cpuid(u32 leaf, u32 subleaf = 0) {
  CpuidResult result;
  asm volatile("cpuid"
               : "=a"(result.eax), "=b"(result.ebx), "=c"(result.ecx), "=d"(result.edx)
               : "a"(leaf), "c"(subleaf));
  return result;
}

// Zeroes bytes (a multiple of 8) at an 8-byte aligned address with one string instruction.
inline void zero_words(void* destination, usize bytes) {
  usize count = bytes / 8;
  asm volatile("rep stosq" : "+D"(destination), "+c"(count) : "a"(u64{0}) : "memory");
}
// Copies bytes (a multiple of 8) between 8-byte aligned addresses.
inline void copy_words(void* destination, const void* source, usize bytes) {
  usize count = bytes / 8;
  asm volatile("rep movsq" : "+D"(destination), "+S"(source), "+c"(count)::"memory");
}

// The x87/SSE register image of FXSAVE: 512 bytes, 16-byte aligned. The kernel itself uses no
// such registers (-mgeneral-regs-only); user threads' are switched with them.
constexpr usize EXTENDED_STATE_BYTES = 512;
inline void save_extended_state(void* area) { asm volatile("fxsave64 (%0)" ::"r"(area) : "memory"); }
inline void load_extended_state(const void* area) { asm volatile("fxrstor64 (%0)" ::"r"(area) : "memory"); }
// The state a new thread starts with: x87 control word 0x37f, MXCSR 0x1f80 (all exceptions masked).
inline void initial_extended_state(void* area) {
  auto* bytes = static_cast<u8*>(area);
  for (usize i = 0; i < EXTENDED_STATE_BYTES; ++i) bytes[i] = 0;
  bytes[0] = 0x7f;
  bytes[1] = 0x03;
  bytes[24] = 0x80;
  bytes[25] = 0x1f;
}

inline u64 stack_pointer() {
  u64 value;
  asm volatile("mov %%rsp, %0" : "=r"(value));
  return value;
}

[[noreturn]] inline void halt_forever() {
  for (;;) asm volatile("cli; hlt");
}

}  // namespace arch
