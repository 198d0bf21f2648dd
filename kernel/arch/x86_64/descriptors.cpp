// GDT, TSS and IDT of the boot CPU.
// Invariant: selector order is fixed by SYSCALL/SYSRET (kernel code, kernel data, user data
// with 32-bit code before it, user code), and the double fault runs on its own IST stack so a
// kernel stack overflow still reaches the panic handler.
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"

extern "C" const klib::u64 trap_stub_table[256];

namespace arch {
namespace {

struct [[gnu::packed]] TaskStateSegment {
  u32 reserved0;
  u64 rsp[3];
  u64 reserved1;
  u64 ist[7];
  u64 reserved2;
  u16 reserved3;
  u16 io_map_base;
};
static_assert(sizeof(TaskStateSegment) == 104);

struct [[gnu::packed]] DescriptorPointer {
  u16 limit;
  u64 base;
};

struct InterruptGate {
  u16 offset_low;
  u16 selector;
  u8 ist;
  u8 type_attributes;
  u16 offset_middle;
  u32 offset_high;
  u32 reserved;
};
static_assert(sizeof(InterruptGate) == 16);

constexpr u16 KERNEL_CODE_SELECTOR = 0x08;
constexpr u16 TSS_SELECTOR = 0x30;

// One GDT and TSS per CPU (a TSS holds that CPU's kernel stack and is marked busy when loaded);
// the IDT is shared.
constexpr usize MAX_CPUS = 8;
alignas(16) u64 gdts[MAX_CPUS][8];
alignas(16) TaskStateSegment tsses[MAX_CPUS];
alignas(16) InterruptGate idt[256];
alignas(16) u8 double_fault_stacks[MAX_CPUS][8192];
bool idt_ready = false;

void load_tables(u64* gdt) {
  DescriptorPointer gdt_pointer{sizeof(gdts[0]) - 1, reinterpret_cast<u64>(gdt)};
  asm volatile("lgdt %0" ::"m"(gdt_pointer));
  // Reload CS through a far return and the data segments with the new selectors.
  asm volatile(
      "pushq %0\n"
      "leaq 1f(%%rip), %%rax\n"
      "pushq %%rax\n"
      "lretq\n"
      "1:\n"
      "mov %1, %%ds\n"
      "mov %1, %%es\n"
      "mov %1, %%ss\n" ::"i"(KERNEL_CODE_SELECTOR),
      "r"(u16{0x10})
      : "rax", "memory");
  asm volatile("ltr %0" ::"r"(TSS_SELECTOR));
  DescriptorPointer idt_pointer{sizeof(idt) - 1, reinterpret_cast<u64>(idt)};
  asm volatile("lidt %0" ::"m"(idt_pointer));
}

void build_idt() {
  for (usize vector = 0; vector < 256; ++vector) {
    u64 handler = trap_stub_table[vector];
    InterruptGate& gate = idt[vector];
    gate.offset_low = static_cast<u16>(handler);
    gate.selector = KERNEL_CODE_SELECTOR;
    gate.ist = vector == VECTOR_DOUBLE_FAULT ? 1 : 0;
    // Present, interrupt gate; breakpoint is callable from ring 3 (DPL 3), the rest only by hardware.
    gate.type_attributes = vector == VECTOR_BREAKPOINT ? 0xee : 0x8e;
    gate.offset_middle = static_cast<u16>(handler >> 16);
    gate.offset_high = static_cast<u32>(handler >> 32);
    gate.reserved = 0;
  }
  idt_ready = true;
}

}  // namespace

void set_tss_kernel_stack(u32 cpu_index, u64 stack_top) { tsses[cpu_index].rsp[0] = stack_top; }

void cpu_tables_init(u32 cpu_index) {
  if (!idt_ready) build_idt();
  u64* gdt = gdts[cpu_index];
  TaskStateSegment& tss = tsses[cpu_index];
  gdt[0] = 0;
  gdt[1] = 0x00209a0000000000;  // 0x08 kernel code, 64-bit.
  gdt[2] = 0x0000920000000000;  // 0x10 kernel data.
  gdt[3] = 0x00cffa000000ffff;  // 0x18 user code, 32-bit (required slot for SYSRET; never used).
  gdt[4] = 0x0000f20000000000;  // 0x20 user data.
  gdt[5] = 0x0020fa0000000000;  // 0x28 user code, 64-bit.
  u64 tss_base = reinterpret_cast<u64>(&tss);
  u64 tss_limit = sizeof(tss) - 1;
  gdt[6] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) | (u64{0x89} << 40) | (((tss_base >> 24) & 0xff) << 56);
  gdt[7] = tss_base >> 32;
  tss.ist[0] = reinterpret_cast<u64>(double_fault_stacks[cpu_index] + sizeof(double_fault_stacks[cpu_index]));
  tss.io_map_base = sizeof(tss);  // No I/O bitmap: user code gets no port access through the TSS.
  load_tables(gdt);
}

}  // namespace arch
