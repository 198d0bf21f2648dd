/* The part of <string.h> lwIP uses; implemented by user/runtime (mem*, strlen) and net's libc.cpp. */
#ifndef METTEAGLE_NET_STRING_H
#define METTEAGLE_NET_STRING_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
void* memcpy(void* destination, const void* source, size_t length);
void* memset(void* destination, int value, size_t length);
void* memmove(void* destination, const void* source, size_t length);
int memcmp(const void* left, const void* right, size_t length);
size_t strlen(const char* text);
int strncmp(const char* left, const char* right, size_t length);
#ifdef __cplusplus
}
#endif
#endif
