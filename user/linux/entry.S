/* The personality's ways in. _start: the manager starts the function's thread here with
   rdi = FUNCTION_CONTEXT_ADDRESS. personality_thread_entry: clone starts each further thread here
   with rdi = its entry in the thread table. personality_fork_entry: fork starts a new process's
   thread here, on its copy of personality_stack (process.cpp). personality_syscall_entry: the kernel enters here for
   every `syscall` of the Linux program, and when a ThreadInterrupt finds the thread in the program
   (registers saved in Utcb::personality_registers, rsp = the top of the calling thread's
   personality stack). personality_timer_entry: the timer thread (timers.cpp).
   personality_watcher_entry: the signal watcher (signals.cpp). Invariant: each thread runs them on its own
   personality stack (personality_stack for the first), which the Linux program never uses; the
   handler always leaves through the native PersonalityReturn. */

    .section .text.start, "ax"
    .global _start
    .type _start, @function
_start:
    lea personality_stack_top(%rip), %rsp
    xor %ebp, %ebp
    call personality_start
    ud2
    .size _start, . - _start

    .global personality_thread_entry
    .type personality_thread_entry, @function
personality_thread_entry:
    and $-16, %rsp
    xor %ebp, %ebp
    call personality_thread_start
    ud2
    .size personality_thread_entry, . - personality_thread_entry

    .global personality_fork_entry
    .type personality_fork_entry, @function
personality_fork_entry:
    and $-16, %rsp
    xor %ebp, %ebp
    call personality_fork_start
    ud2
    .size personality_fork_entry, . - personality_fork_entry

    .global personality_supervisor_entry
    .type personality_supervisor_entry, @function
personality_supervisor_entry:
    and $-16, %rsp
    xor %ebp, %ebp
    call personality_supervisor_start
    ud2
    .size personality_supervisor_entry, . - personality_supervisor_entry

    .global personality_timer_entry
    .type personality_timer_entry, @function
personality_timer_entry:
    and $-16, %rsp
    xor %ebp, %ebp
    call personality_timer_start
    ud2
    .size personality_timer_entry, . - personality_timer_entry

    .global personality_watcher_entry
    .type personality_watcher_entry, @function
personality_watcher_entry:
    and $-16, %rsp
    xor %ebp, %ebp
    call personality_watcher_start
    ud2
    .size personality_watcher_entry, . - personality_watcher_entry

    .global personality_crash_entry
    .type personality_crash_entry, @function
personality_crash_entry:
    and $-16, %rsp
    xor %ebp, %ebp
    cld
    call personality_crash_start
    ud2
    .size personality_crash_entry, . - personality_crash_entry

    .text
    .global personality_syscall_entry
    .type personality_syscall_entry, @function
personality_syscall_entry:
    cld
    and $-16, %rsp
    xor %ebp, %ebp
    /* rdi: the saved registers, rsi: why (abi::PERSONALITY_ENTRY_SYSCALL or _INTERRUPT). */
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
