/* Program and thread entry points: set up a C++-ready stack, run constructors, call the program's
   main, then end the thread. Invariant: the only code in a user program that runs before a valid
   call frame exists. Syscall numbers come from abi/syscall.hpp (ThreadExit = 13). */

#include "constructors.inc"
#define SYSCALL_THREAD_EXIT 13

    .section .text.start, "ax"
    .global _start
    .type _start, @function
/* The creator passes one argument in rdi (the root task: the RootBootInfo address; a child: the
   number of endpoint capabilities it was given). It must survive the constructors. */
_start:
    START_WITH_CONSTRUCTORS
    call metteagle_main
    jmp metteagle_exit_thread
    .size _start, . - _start

    .global metteagle_thread_entry
    .type metteagle_thread_entry, @function
/* Entry of further threads started with sys::start_thread: rdi points at their ThreadLaunch block. */
metteagle_thread_entry:
    xor %ebp, %ebp
    and $-16, %rsp
    call metteagle_thread_main
    jmp metteagle_exit_thread
    .size metteagle_thread_entry, . - metteagle_thread_entry

    .global metteagle_exit_thread
    .type metteagle_exit_thread, @function
/* ThreadExit does not return; if a kernel bug made it return, trap rather than run on. */
metteagle_exit_thread:
    mov $SYSCALL_THREAD_EXIT, %eax
    xor %edi, %edi
    syscall
    ud2
    .size metteagle_exit_thread, . - metteagle_exit_thread

    .section .note.GNU-stack, "", @progbits
