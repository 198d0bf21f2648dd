/* The personality's two ways in. _start: the manager starts the function's thread here with
   rdi = FUNCTION_CONTEXT_ADDRESS. personality_syscall_entry: the kernel enters here for every
   `syscall` of the Linux program (registers saved in Utcb::personality_registers, rsp = the top of
   personality_stack). Invariant: both run on personality_stack, which the Linux program never uses;
   the handler always leaves through the native PersonalityReturn. */

    .section .text.start, "ax"
    .global _start
    .type _start, @function
_start:
    lea personality_stack_top(%rip), %rsp
    xor %ebp, %ebp
    call personality_start
    ud2
    .size _start, . - _start

    .text
    .global personality_syscall_entry
    .type personality_syscall_entry, @function
personality_syscall_entry:
    cld
    and $-16, %rsp
    xor %ebp, %ebp
    call personality_handle_syscall
    mov $38, %eax              /* Syscall::PersonalityReturn: resume the program. */
    syscall
    ud2
    .size personality_syscall_entry, . - personality_syscall_entry

    .bss
    .balign 16
    .global personality_stack_top
personality_stack:
    .skip 32768
personality_stack_top:

    .section .note.GNU-stack, "", @progbits
