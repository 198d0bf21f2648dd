// Boot entry: multiboot1 header, 32-bit trampoline into long mode, jump to the higher half.
// Invariant: until kernel_main runs, only the identity map of the first GiB and the
// higher-half map of the same GiB exist; both use 2 MiB pages built here from .boot data.

#include "arch/x86_64/layout.hpp"

.set MULTIBOOT_MAGIC,      0x1BADB002
// Bit 1: memory map, bit 16: address fields valid (QEMU loads ELF64 only with them).
.set MULTIBOOT_FLAGS,      (1 << 1) | (1 << 16)
.set MULTIBOOT_CHECKSUM,   -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)

#include "arch/x86_64/control_registers.inc"
.set PTE_PRESENT_WRITE, 0x3
.set PTE_LARGE, 0x80

.section .boot.header, "a"
.align 8
multiboot_header:
    .long MULTIBOOT_MAGIC
    .long MULTIBOOT_FLAGS
    .long MULTIBOOT_CHECKSUM
    .long multiboot_header          // header_addr (physical: .boot is linked at its load address)
    .long __load_start              // load_addr
    .long __load_end_phys           // load_end_addr
    .long __bss_end_phys            // bss_end_addr
    .long boot_entry32              // entry_addr

.section .boot.text, "ax"
.code32
.global boot_entry32
boot_entry32:
    cli
    cld
    mov $boot_stack_top, %esp
    // Keep the multiboot magic and info pointer for kernel_main (EDI/ESI survive to 64-bit).
    mov %eax, %edi
    mov %ebx, %esi

    // PML4[0] and PML4[511] -> the two PDPTs; both PDPTs point at one PD mapping 0..1 GiB.
    mov $boot_pdpt_low, %eax
    or $PTE_PRESENT_WRITE, %eax
    mov %eax, boot_pml4
    mov $boot_pdpt_high, %eax
    or $PTE_PRESENT_WRITE, %eax
    mov %eax, boot_pml4 + 511 * 8
    mov $boot_pd, %eax
    or $PTE_PRESENT_WRITE, %eax
    mov %eax, boot_pdpt_low
    mov %eax, boot_pdpt_high + 510 * 8

    mov $boot_pd, %ebx
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $(PTE_PRESENT_WRITE | PTE_LARGE), %eax
    mov %eax, (%ebx, %ecx, 8)
    inc %ecx
    cmp $512, %ecx
    jne 1b

    mov %cr4, %eax
    or $(CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $EFER_MSR, %ecx
    rdmsr
    or $(EFER_LME | EFER_NXE), %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PE | CR0_PG | CR0_WP | CR0_MP), %eax
    and $~CR0_EM, %eax
    mov %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $boot_entry64

.code64
boot_entry64:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    movabs $higher_half_entry, %rax
    jmp *%rax

.section .boot.data, "aw"
.align 16
boot_gdt:
    .quad 0
    .quad 0x00209A0000000000        // 64-bit code, ring 0
    .quad 0x0000920000000000        // data, ring 0
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

// Progbits, not nobits: the multiboot loader copies one contiguous file range, so a hole here
// would shift every later section.
.section .boot.bss, "aw", @progbits
.align 4096
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096
boot_stack:     .skip 4096
boot_stack_top:

.section .text
.global higher_half_entry
higher_half_entry:
    movabs $kernel_boot_stack_top, %rsp
    xor %ebp, %ebp
    // kernel_main(u32 magic, u32 info_physical) — arguments already in EDI and ESI.
    call kernel_main
2:  cli
    hlt
    jmp 2b

.section .bss
.align 16
.global kernel_boot_stack_top
kernel_boot_stack:
    .skip KERNEL_BOOT_STACK_SIZE
kernel_boot_stack_top:
