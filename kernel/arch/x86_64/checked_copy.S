// checked_copy(destination, source, length): copies bytes and returns 0, or returns the number of
// bytes left uncopied when an access faults. The page-fault handler recognizes a fault at
// checked_copy_access and resumes at checked_copy_fault, so the kernel can touch user memory
// (or probe any address) without trusting it.
.text
.global checked_copy
.global checked_copy_access
.global checked_copy_fault
checked_copy:
    mov %rdx, %rcx
checked_copy_access:
    rep movsb
    xor %eax, %eax
    ret
checked_copy_fault:
    mov %rcx, %rax
    ret
