// Trap entry stubs: one per vector, each pushing (error code, vector) so every trap reaches
// trap_entry_common with the same TrapFrame layout (platform.hpp).

#include "arch/x86_64/trap_frame.inc"

.macro TRAP_STUB vector, has_error_code
.global trap_stub_\vector
trap_stub_\vector:
.if \has_error_code == 0
    pushq $0
.endif
    pushq $\vector
    jmp trap_entry_common
.endm

.text
.altmacro
.set vector, 0
.rept 256
    // Vectors 8, 10-14, 17, 21, 29 and 30 push an error code themselves.
    .if vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30
        TRAP_STUB %vector, 1
    .else
        TRAP_STUB %vector, 0
    .endif
    .set vector, vector + 1
.endr

trap_entry_common:
    PUSH_GENERAL_REGISTERS
    // Entered from user mode (CS RPL 3)? Then switch to the kernel's GS base.
    testb $3, 18*8(%rsp)
    jz 1f
    swapgs
1:  mov %rsp, %rdi
    cld
    call trap_dispatch
.global trap_return
trap_return:
    testb $3, 18*8(%rsp)
    jz 2f
    swapgs
2:
    POP_GENERAL_REGISTERS
    add $16, %rsp
    iretq

// Table of stub addresses for the IDT builder.
.macro STUB_ADDRESS vector
    .quad trap_stub_\vector
.endm

.section .rodata
.align 8
.global trap_stub_table
trap_stub_table:
.set vector, 0
.rept 256
    STUB_ADDRESS %vector
    .set vector, vector + 1
.endr
