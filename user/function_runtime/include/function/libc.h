/* The C library subset of the function runtime: memory and string functions, formatting and a
   heap. Invariant: malloc returns null (never faults) when the function's memory limit is
   reached; every block is 16-byte aligned. */
#ifndef METTEAGLE_FUNCTION_LIBC_H
#define METTEAGLE_FUNCTION_LIBC_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void* memcpy(void* destination, const void* source, size_t length);
void* memmove(void* destination, const void* source, size_t length);
void* memset(void* destination, int value, size_t length);
int memcmp(const void* left, const void* right, size_t length);
void* memchr(const void* bytes, int value, size_t length);

size_t strlen(const char* text);
size_t strnlen(const char* text, size_t limit);
int strcmp(const char* left, const char* right);
int strncmp(const char* left, const char* right, size_t limit);
char* strcpy(char* destination, const char* source);
char* strncpy(char* destination, const char* source, size_t limit);
char* strcat(char* destination, const char* source);
char* strchr(const char* text, int character);
char* strrchr(const char* text, int character);
char* strstr(const char* haystack, const char* needle);
char* strdup(const char* text);

int isdigit(int character);
int isspace(int character);
int isalpha(int character);
int toupper(int character);
int tolower(int character);
long strtol(const char* text, char** end, int base);
unsigned long strtoul(const char* text, char** end, int base);
int atoi(const char* text);

/* %% %c %s %d %i %u %x %X %p with flags '-', '0', '#', a width and l/ll/z (lib/format.hpp). */
int snprintf(char* buffer, size_t size, const char* format, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char* buffer, size_t size, const char* format, va_list arguments);

void* malloc(size_t size);
void free(void* block);
void* calloc(size_t count, size_t size);
void* realloc(void* block, size_t size);

void abort(void) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif
