// The executables the benchmark client deploys: the empty native function, the Linux baseline's
// empty program (a static glibc executable), the static Go "hello, world" the Linux guest also runs,
// and the image tree of the Linux guest's fork_exec_wait with its empty program (page-aligned).
.section .rodata
.balign 16
.global empty_function_image
.global empty_function_image_end
empty_function_image:
    .incbin EMPTY_FUNCTION_PATH
empty_function_image_end:

.balign 16
.global linux_empty_image
.global linux_empty_image_end
linux_empty_image:
    .incbin LINUX_EMPTY_PATH
linux_empty_image_end:

.balign 16
.global go_hello_image
.global go_hello_image_end
go_hello_image:
    .incbin GO_HELLO_PATH
go_hello_image_end:

.balign 4096
.global fork_exec_tree_image
.global fork_exec_tree_image_end
fork_exec_tree_image:
    .incbin FORK_EXEC_TREE_PATH
fork_exec_tree_image_end:
