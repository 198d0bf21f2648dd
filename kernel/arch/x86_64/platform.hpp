// The architecture interface generic kernel code calls; implemented in kernel/arch/x86_64/*.cpp.
#pragma once

#include "lib/types.hpp"

namespace arch {
using namespace klib;

// Register state saved on every trap; the layout matches entry.S.
struct TrapFrame {
  u64 r15, r14, r13, r12, r11, r10, r9, r8;
  u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
  u64 vector, error_code;
  u64 rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(TrapFrame) == 22 * 8);

enum Vector : u8 {
  VECTOR_DIVIDE = 0,
  VECTOR_BREAKPOINT = 3,
  VECTOR_INVALID_OPCODE = 6,
  VECTOR_DOUBLE_FAULT = 8,
  VECTOR_GENERAL_PROTECTION = 13,
  VECTOR_PAGE_FAULT = 14,
  VECTOR_FIRST_EXTERNAL = 32,
  VECTOR_TIMER = 32,
  VECTOR_SPURIOUS = 255,
};

// Console and machine exit.
void serial_init();
void serial_write(const char* text, usize length);
[[noreturn]] void qemu_exit(u8 code);

// Descriptor tables for the boot CPU: GDT with TSS (double-fault stack), IDT with every vector.
void cpu_tables_init(u32 cpu_index);

// Interrupt controllers: legacy PIC masked, local APIC enabled, TSC and APIC timer calibrated
// against PIT channel 0.
void interrupt_controller_init();
// The same for an application processor: its local APIC on, with the boot CPU's calibration.
void interrupt_controller_init_ap();
void timer_start_periodic(u32 hertz);
void end_of_interrupt();
extern u64 calibrated_tsc_hertz;  // Set once at boot, read on hot paths.
inline u64 tsc_hertz() { return calibrated_tsc_hertz; }
u64 timer_ticks();
u64 apic_timer_hertz();
void count_timer_tick();
// Handles the external interrupts that arrived while this CPU halted for the kernel lock; called
// once it holds the lock.
void run_deferred_interrupts();

// Memory: every physical address is reachable at physical_window_base + address. Until
// paging_init the boot map's higher-half window serves (first GiB only), then the direct map.
extern u64 physical_window_base;
inline u8* physical_to_virtual(u64 physical) { return reinterpret_cast<u8*>(physical + physical_window_base); }
// The physical address of a pointer into that window (a frame the kernel reaches there).
inline u64 virtual_to_physical(const void* address) { return reinterpret_cast<u64>(address) - physical_window_base; }
// Builds the kernel's own page tables (direct map of RAM and the local APIC page, kernel image
// with per-section rights), switches to them and drops the boot identity map.
void paging_init(u64 physical_memory_end, u64 (*allocate_frame)());
// Walks the current page tables; returns false when virtual is not mapped.
bool translate(u64 virtual_address, u64& physical, bool& writable, bool& executable);

// Writes a register dump of frame to the console.
void dump_frame(const TrapFrame& frame);
const char* vector_name(u64 vector);

}  // namespace arch

extern "C" klib::u64 checked_copy(void* destination, const void* source, klib::u64 length);
