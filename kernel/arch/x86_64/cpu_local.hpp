// Per-CPU data the entry code reaches through %gs; the field offsets are used by assembly.
// Invariant: while the CPU runs kernel code, GS_BASE points at its CpuLocal; while it runs user
// code, KERNEL_GS_BASE does (swapgs on every crossing), and kernel_stack_top is the top of the
// current thread's kernel stack (also in the TSS as rsp0).
#pragma once

#include <cstddef>

#include "lib/types.hpp"

namespace arch {
using namespace klib;

struct CpuLocal {
  CpuLocal* self;
  u64 kernel_stack_top;
  u64 user_rsp_scratch;
  u32 index;
  u32 reserved;
  void* current_thread;  // Generic code's current thread.
  u64 active_root;       // The page-table root in CR3 (kept by address_space_activate).
  u64 fs_base;           // The FS base MSR's value (kept by set_fs_base).
};
static_assert(offsetof(CpuLocal, kernel_stack_top) == 8);
static_assert(offsetof(CpuLocal, user_rsp_scratch) == 16);

// Installs cpu as this CPU's per-CPU block and enables the syscall instruction.
void cpu_local_init(CpuLocal& cpu, u32 index);
inline CpuLocal& this_cpu() {
  CpuLocal* cpu;
  asm volatile("mov %%gs:0, %0" : "=r"(cpu));
  return *cpu;
}
// Prepares entry to a thread: its kernel stack top for traps and syscalls, its user GS base and
// its FS base (written only when it differs from what the CPU has).
void set_thread_context(u64 kernel_stack_top, u64 user_gs_base, u64 fs_base);
void set_fs_base(u64 fs_base);

// Saves callee-saved registers and the stack pointer into *save, continues on new_rsp.
extern "C" void switch_context(u64* save, u64 new_rsp);
// Builds the initial kernel stack of a thread so switch_context to the returned rsp enters user
// mode with the registers in the TrapFrame at stack_top.
u64 prepare_user_entry_stack(u64 stack_top);
// Same for a kernel thread (idle): switch_context to it calls entry().
u64 prepare_kernel_entry_stack(u64 stack_top, void (*entry)());

}  // namespace arch
