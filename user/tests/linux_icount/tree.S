// The benchmark's image tree (user/bench/CMakeLists.txt, fork_exec_tree): the Linux guest's
// fork_exec_wait, empty and pipe_roundtrip programs, page-aligned as image functions need.
.section .rodata
.balign 4096
.global fork_exec_tree_image
.global fork_exec_tree_image_end
fork_exec_tree_image:
    .incbin FORK_EXEC_TREE_PATH
fork_exec_tree_image_end:
.section .note.GNU-stack, "", @progbits
