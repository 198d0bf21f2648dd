// Application-processor start code. The boot CPU copies the bytes between ap_trampoline_start and
// ap_trampoline_end to physical AP_TRAMPOLINE_BASE and fills in the data words at the end; each AP
// then runs it from real mode to long mode and jumps to ap_entry with its own stack.
// Invariant: the code uses only addresses computed relative to the copy, never its link address.

.set AP_TRAMPOLINE_BASE, 0x8000
#define AT(label) ((label) - ap_trampoline_start + AP_TRAMPOLINE_BASE)

#include "arch/x86_64/control_registers.inc"

.section .rodata
.global ap_trampoline_start
.global ap_trampoline_end
.code16
ap_trampoline_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl AT(ap_gdt_pointer)
    mov %cr0, %eax
    or $CR0_PE, %eax
    mov %eax, %cr0
    ljmpl $0x08, $AT(ap_protected_mode)

.code32
ap_protected_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $(CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    mov %eax, %cr4
    mov AT(ap_boot_page_table), %eax
    mov %eax, %cr3
    mov $EFER_MSR, %ecx
    rdmsr
    or $(EFER_LME | EFER_NXE | EFER_SCE), %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_WP | CR0_MP), %eax
    and $~CR0_EM, %eax
    mov %eax, %cr0
    ljmp $0x18, $AT(ap_long_mode)

.code64
ap_long_mode:
    xor %eax, %eax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    // Each AP takes the next index; its stack is ap_stacks[index].
    mov $1, %eax
    lock xadd %eax, AT(ap_next_index)
    mov %eax, %edi
    mov AT(ap_stacks)(, %rax, 8), %rsp
    // More CPUs answered than were expected: park the extra ones for good.
    test %rsp, %rsp
    jz 1f
    movabs AT(ap_entry_address), %rax
    jmp *%rax
1:  cli
    hlt
    jmp 1b

.align 16
ap_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    // 0x08 32-bit code
    .quad 0x00cf92000000ffff    // 0x10 data
    .quad 0x00209a0000000000    // 0x18 64-bit code
ap_gdt_end:
ap_gdt_pointer:
    .word ap_gdt_end - ap_gdt - 1
    .long AT(ap_gdt)
.align 8
.global ap_boot_page_table
ap_boot_page_table: .quad 0     // Physical root with an identity map of the first 2 MiB.
.global ap_entry_address
ap_entry_address:   .quad 0     // ap_main(u32 index) in the kernel's higher half.
.global ap_next_index
ap_next_index:      .long 1, 0  // Index 0 is the boot CPU.
.global ap_stacks
ap_stacks:          .fill 8, 8, 0
ap_trampoline_end:
