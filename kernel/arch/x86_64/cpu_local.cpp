// Per-CPU block, syscall MSRs and the initial stacks of new threads.
#include "arch/x86_64/cpu_local.hpp"

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"

extern "C" void syscall_entry();
extern "C" void user_entry_trampoline();
extern "C" void kernel_entry_trampoline();

namespace arch {
namespace {
constexpr u32 MSR_EFER = 0xc0000080;
constexpr u32 MSR_STAR = 0xc0000081;
constexpr u32 MSR_LSTAR = 0xc0000082;
constexpr u32 MSR_SFMASK = 0xc0000084;
constexpr u32 MSR_FS_BASE = 0xc0000100;
constexpr u32 MSR_GS_BASE = 0xc0000101;
constexpr u32 MSR_KERNEL_GS_BASE = 0xc0000102;
constexpr u64 EFER_SYSCALL_ENABLE = 1;
// Cleared on entry: trap, interrupt enable, direction, alignment check.
constexpr u64 SYSCALL_FLAG_MASK = 0x100 | 0x200 | 0x400 | 0x40000;
}  // namespace

void set_tss_kernel_stack(u32 cpu_index, u64 stack_top);  // descriptors.cpp

void cpu_local_init(CpuLocal& cpu, u32 index) {
  cpu.self = &cpu;
  cpu.index = index;
  write_msr(MSR_GS_BASE, reinterpret_cast<u64>(&cpu));
  write_msr(MSR_KERNEL_GS_BASE, 0);
  write_msr(MSR_FS_BASE, 0);
  cpu.fs_base = 0;
  write_msr(MSR_EFER, read_msr(MSR_EFER) | EFER_SYSCALL_ENABLE);
  // SYSCALL loads CS 0x08 / SS 0x10; SYSRET loads CS 0x18 + 16 = 0x28 and SS 0x18 + 8 = 0x20 (RPL 3).
  write_msr(MSR_STAR, (u64{0x18} << 48) | (u64{0x08} << 32));
  write_msr(MSR_LSTAR, reinterpret_cast<u64>(&syscall_entry));
  write_msr(MSR_SFMASK, SYSCALL_FLAG_MASK);
}

void set_thread_context(u64 kernel_stack_top, u64 user_gs_base, u64 fs_base) {
  CpuLocal& cpu = this_cpu();
  cpu.kernel_stack_top = kernel_stack_top;
  set_tss_kernel_stack(cpu.index, kernel_stack_top);
  // In the kernel KERNEL_GS_BASE holds the user's value, swapped in on the way out.
  write_msr(MSR_KERNEL_GS_BASE, user_gs_base);
  if (cpu.fs_base != fs_base) set_fs_base(fs_base);
}

void set_fs_base(u64 fs_base) {
  CpuLocal& cpu = this_cpu();
  if (cpu.fs_base == fs_base) return;
  cpu.fs_base = fs_base;
  write_msr(MSR_FS_BASE, fs_base);
}

u64 prepare_user_entry_stack(u64 stack_top) {
  auto* slot = reinterpret_cast<u64*>(stack_top - sizeof(TrapFrame));
  *--slot = reinterpret_cast<u64>(&user_entry_trampoline);
  for (int i = 0; i < 6; ++i) *--slot = 0;  // rbp, rbx, r12-r15 for switch_context.
  return reinterpret_cast<u64>(slot);
}

u64 prepare_kernel_entry_stack(u64 stack_top, void (*entry)()) {
  auto* slot = reinterpret_cast<u64*>(stack_top);
  *--slot = reinterpret_cast<u64>(&kernel_entry_trampoline);
  *--slot = 0;                             // rbp
  *--slot = 0;                             // rbx
  *--slot = 0;                             // r12
  *--slot = 0;                             // r13
  *--slot = 0;                             // r14
  *--slot = reinterpret_cast<u64>(entry);  // r15: the trampoline calls it.
  return reinterpret_cast<u64>(slot);
}

}  // namespace arch
