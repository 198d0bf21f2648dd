/* The part of <stdlib.h> lwIP uses; implemented in user/net/libc.cpp. */
#ifndef METTEAGLE_NET_STDLIB_H
#define METTEAGLE_NET_STDLIB_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
long strtol(const char* text, char** end, int base);
int atoi(const char* text);
#ifdef __cplusplus
}
#endif
#endif
