// Trap entry stubs: one per vector, each pushing (error code, vector) so every trap reaches
// trap_entry_common with the same TrapFrame layout (platform.hpp).

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
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
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
2:  popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
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
