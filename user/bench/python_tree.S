// The Python image's packed tree (images/python/build-rootfs), page-aligned, for python_bench.
.section .rodata
.balign 4096
.global python_tree_image
.global python_tree_image_end
python_tree_image:
    .incbin PYTHON_TREE_PATH
python_tree_image_end:
.section .note.GNU-stack, "", @progbits
