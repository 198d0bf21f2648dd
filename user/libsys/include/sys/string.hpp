// The C memory and string functions, declared once for every user program. Freestanding programs
// get them from kernel/lib/memory_functions.cpp (linked into each, see user/CMakeLists.txt);
// host builds of the same sources (unit tests, fuzz targets) from the C library.
// Invariant: nobody else declares these names.
#pragma once

#if __STDC_HOSTED__
#include <cstring>
#else
#include "sys/types.hpp"

extern "C" {
void* memcpy(void* destination, const void* source, sys::usize length);
void* memmove(void* destination, const void* source, sys::usize length);
void* memset(void* destination, int value, sys::usize length);
int memcmp(const void* left, const void* right, sys::usize length);
sys::usize strlen(const char* text);
}
#endif
