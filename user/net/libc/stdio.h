/* lwIP includes <stdio.h> in a few files but, with LWIP_DEBUG off and our own LWIP_PLATFORM_DIAG,
   calls nothing from it. */
#ifndef METTEAGLE_NET_STDIO_H
#define METTEAGLE_NET_STDIO_H
#include <stddef.h>
#endif
