// The empty function's executable, embedded so the benchmark client can deploy it.
.section .rodata
.balign 16
.global empty_function_image
.global empty_function_image_end
empty_function_image:
    .incbin EMPTY_FUNCTION_PATH
empty_function_image_end:
