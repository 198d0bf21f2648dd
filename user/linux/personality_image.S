/* The Linux personality image inside manager.elf: deploy.cpp prepares its segments once.
   LINUX_PERSONALITY_IMAGE is the path of linux_personality.elf (set by user/CMakeLists.txt). */
    .section .rodata.linux_personality, "a"
    .balign 16
    .global linux_personality_image
linux_personality_image:
    .incbin LINUX_PERSONALITY_IMAGE
    .global linux_personality_image_end
linux_personality_image_end:
    .section .note.GNU-stack, "", @progbits
