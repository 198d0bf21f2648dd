/* A function's entry point: the manager starts its thread here with rdi = FUNCTION_CONTEXT_ADDRESS.
   Invariant: the only function code that runs before a valid call frame exists; it never returns
   (function_runtime_start ends the invocation with EVENT_EXIT). */

#include "constructors.inc"

    .section .text.start, "ax"
    .global _start
    .type _start, @function
_start:
    START_WITH_CONSTRUCTORS
    call function_runtime_start
    ud2
    .size _start, . - _start

/* user/runtime/runtime.cpp ends a program's thread here on a pure virtual call; in a function
   that is an abnormal end, reported to the manager as a failed exit. */
    .global metteagle_exit_thread
    .type metteagle_exit_thread, @function
metteagle_exit_thread:
    and $-16, %rsp
    call abort
    ud2
    .size metteagle_exit_thread, . - metteagle_exit_thread

    .section .note.GNU-stack, "", @progbits
