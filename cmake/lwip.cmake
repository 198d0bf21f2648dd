# lwIP for the net server: Debian's `lwip` source package (2.1.3), fetched at build time by
# scripts/fetch-lwip into ${LWIP_SOURCE_DIR} (never committed, downloaded once per build tree),
# compiled freestanding with the user-program flags and our lwipopts.h / arch/cc.h.
# Invariant: only the NO_SYS core, IPv4 and Ethernet are built; no sockets, no netconn, no threads.

set(LWIP_SOURCE_DIR ${CMAKE_BINARY_DIR}/third_party/lwip)
set(LWIP_FETCH_SCRIPT ${CMAKE_SOURCE_DIR}/scripts/fetch-lwip)

set(LWIP_SOURCE_FILES
  src/core/def.c
  src/core/inet_chksum.c
  src/core/init.c
  src/core/ip.c
  src/core/mem.c
  src/core/memp.c
  src/core/netif.c
  src/core/pbuf.c
  src/core/raw.c
  src/core/stats.c
  src/core/sys.c
  src/core/tcp.c
  src/core/tcp_in.c
  src/core/tcp_out.c
  src/core/timeouts.c
  src/core/udp.c
  src/core/ipv4/etharp.c
  src/core/ipv4/icmp.c
  src/core/ipv4/ip4.c
  src/core/ipv4/ip4_addr.c
  src/core/ipv4/ip4_frag.c
  src/netif/ethernet.c)
list(TRANSFORM LWIP_SOURCE_FILES PREPEND ${LWIP_SOURCE_DIR}/ OUTPUT_VARIABLE LWIP_SOURCES)

# C flags for third-party code in user mode: the same code generation as our programs (see
# USER_FLAGS in user/CMakeLists.txt, minus the C++-only ones), but without -Werror: lwIP's own
# warnings are not ours to fix. Our code keeps the strict warnings.
set(LWIP_C_FLAGS -ffreestanding -mno-red-zone -mgeneral-regs-only -fno-stack-protector -fno-pic -fno-pie
    -fno-asynchronous-unwind-tables -fno-omit-frame-pointer -ffunction-sections -fdata-sections -O2
    -fno-strict-aliasing -w)

# metteagle_lwip_library(<target> <port directory>): the static lwIP library for a program whose
# port directory holds lwipopts.h, arch/cc.h and the libc headers lwIP includes.
function(metteagle_lwip_library target port_directory)
  # No DEPENDS: the fetch runs only while a source file is missing, so a built tree never
  # downloads again.
  add_custom_command(
    OUTPUT ${LWIP_SOURCES}
    COMMAND ${LWIP_FETCH_SCRIPT} ${LWIP_SOURCE_DIR}
    COMMENT "Fetching lwIP from Debian's source package (once per build tree)"
    VERBATIM)
  add_library(${target} STATIC ${LWIP_SOURCES})
  target_include_directories(${target} SYSTEM PUBLIC
    ${port_directory}/include
    ${port_directory}/libc
    ${LWIP_SOURCE_DIR}/src/include)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:${LWIP_C_FLAGS}>)
endfunction()
