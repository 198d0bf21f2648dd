// System-call entry and exit, and the context switch.
// On `syscall` the CPU leaves user rip in rcx and rflags in r11 and masks IF; we build the same
// TrapFrame as an interrupt (vector 256 marks a system call) on the current thread's kernel stack.

#include "arch/x86_64/trap_frame.inc"

.set SYSCALL_VECTOR, 256
.set USER_CODE_SELECTOR, 0x2b
.set USER_DATA_SELECTOR, 0x23

.text
.global syscall_entry
syscall_entry:
    swapgs
    mov %rsp, %gs:16
    mov %gs:8, %rsp
    pushq $USER_DATA_SELECTOR
    pushq %gs:16
    pushq %r11
    pushq $USER_CODE_SELECTOR
    pushq %rcx
    pushq $0
    pushq $SYSCALL_VECTOR
    PUSH_GENERAL_REGISTERS
    mov %rsp, %rdi
    cld
    call syscall_dispatch
.global syscall_return
syscall_return:
    // sysretq to a non-canonical rcx raises #GP in ring 0 on Intel CPUs after rsp is already the
    // user's (CVE-2012-0217). The kernel checks every rip it stores (on_return_to_user ends a
    // thread whose rip is outside usable user space); should one still be above the lower half,
    // the return goes through iretq, whose fault would arrive on the kernel stack instead.
    // A frame whose error code is not 0 asks for an exact return too: PersonalityReturn resuming
    // an interrupted program, whose rcx and r11 sysretq would overwrite.
    mov 17*8(%rsp), %rcx        // The frame's rip: above 15 registers, the vector and error code.
    shr $47, %rcx
    or 16*8(%rsp), %rcx
    jnz trap_return
    POP_GENERAL_REGISTERS
    add $16, %rsp
    popq %rcx
    add $8, %rsp
    popq %r11
    popq %rsp
    swapgs
    sysretq

// switch_context(u64* save, u64 new_rsp)
.global switch_context
switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

// First run of a user thread: its TrapFrame is right above; leave through the trap exit.
.global user_entry_trampoline
user_entry_trampoline:
    call kernel_lock_release_for_new_thread
    jmp trap_return

// First run of a kernel thread: entry function in r15 (see prepare_kernel_entry_stack).
.global kernel_entry_trampoline
kernel_entry_trampoline:
    call *%r15
1:  hlt
    jmp 1b
