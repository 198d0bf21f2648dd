// checked_copy(destination, source, length): copies bytes and returns 0, or returns the number of
// bytes left uncopied when an access faults. The page-fault handler recognizes a fault at
// checked_copy_access_words or checked_copy_access and resumes at the matching fixup
// (checked_copy_fault_words, checked_copy_fault), so the kernel can touch user memory (or probe
// any address) without trusting it. Eight bytes per iteration, then the last 0-7 one by one: QEMU
// TCG runs a rep string instruction one iteration at a time (docs/BENCHMARKS.md).
.text
.global checked_copy
.global checked_copy_access_words
.global checked_copy_fault_words
.global checked_copy_access
.global checked_copy_fault
checked_copy:
    mov %rdx, %rcx
    shr $3, %rcx
checked_copy_access_words:
    rep movsq
    mov %rdx, %rcx
    and $7, %rcx
checked_copy_access:
    rep movsb
    xor %eax, %eax
    ret
checked_copy_fault_words:
    // rcx whole words were not copied, nor the 0-7 bytes after them (length is still in rdx).
    shl $3, %rcx
    and $7, %rdx
    lea (%rcx, %rdx), %rcx
checked_copy_fault:
    mov %rcx, %rax
    ret
