// The image trees image_bench deploys, page-aligned: the Python image's (images/python/
// build-rootfs) and the linux scenario's (user/tests/linux/make-image-tree, with fs_ops).
.section .rodata
.balign 4096
.global python_tree_image
.global python_tree_image_end
python_tree_image:
    .incbin PYTHON_TREE_PATH
python_tree_image_end:
.balign 4096
.global files_tree_image
.global files_tree_image_end
files_tree_image:
    .incbin FILES_TREE_PATH
files_tree_image_end:
.section .note.GNU-stack, "", @progbits
