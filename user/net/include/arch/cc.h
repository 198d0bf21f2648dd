/* lwIP's compiler and platform port for MettEagle user mode: freestanding x86-64, little-endian.
   Invariant: only the C library pieces in user/net/libc are assumed (see libc.cpp). */
#ifndef METTEAGLE_LWIP_ARCH_CC_H
#define METTEAGLE_LWIP_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BYTE_ORDER LITTLE_ENDIAN

/* No <inttypes.h> or <ctype.h> in a freestanding build; lwIP then uses its own definitions. */
#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H 1
#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "zu"

void lwip_port_diagnostic(const char* format, ...);
void lwip_port_assert(const char* message, const char* file, int line);
unsigned int lwip_port_random(void);

#define LWIP_PLATFORM_DIAG(arguments) \
  do {                                \
    lwip_port_diagnostic arguments;   \
  } while (0)
#define LWIP_PLATFORM_ASSERT(message) lwip_port_assert((message), __FILE__, __LINE__)
#define LWIP_RAND() lwip_port_random()

#ifdef __cplusplus
}
#endif

#endif
