/* The native function runtime's C interface: input, output, log, nested invocation, exit.
   Invariant: usable from C and C++; every call is safe from the function's one thread at any time
   after the runtime started it, and none of them can write outside the output area. */
#ifndef METTEAGLE_FUNCTION_FUNCTION_H
#define METTEAGLE_FUNCTION_FUNCTION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A C function defines this entry instead of the C++ function_main; it returns the exit code. */
int metteagle_function_main(void);

/* The invocation. */
const void* function_input_data(void);
size_t function_input_size(void);
uint64_t function_invocation_id(void);
uint64_t function_depth(void);                 /* 0 for a top-level invocation. */
const char* function_name(void);

/* The output area. The output's size is the number of bytes the function wrote (or set); bytes
   beyond the capacity are dropped but still counted, so the manager reports OUTPUT_TOO_LARGE. */
void* function_output_data(void);
size_t function_output_capacity(void);
size_t function_output_size(void);
void function_output_set_size(size_t size);
int function_output_write(const void* bytes, size_t length);  /* 0 when everything fit, else -1. */
int function_output_printf(const char* format, ...) __attribute__((format(printf, 1, 2)));

/* Log lines go to the manager in EVENT_LOG messages of at most LOG_BYTES bytes each. */
void function_log(const char* text, size_t length);
void function_logf(const char* format, ...) __attribute__((format(printf, 1, 2)));

/* A nested invocation of the same tenant's function `name` with inline input and output (at most
   448 bytes each). Returns the manager's Status (0 = OK); `result` (optional) receives the words. */
struct function_invocation_result {
  uint64_t exit_code;
  uint64_t output_size;
  uint64_t create_ticks;
  uint64_t load_ticks;
  uint64_t run_ticks;
  uint64_t teardown_ticks;
  uint64_t invocation_id;
  uint64_t detail;
};
uint32_t function_invoke(const char* name, const void* input, size_t input_size, void* output,
                         size_t output_capacity, struct function_invocation_result* result);

/* Ends the invocation with `code` (EVENT_EXIT); the manager tears the task down. */
__attribute__((noreturn)) void function_exit(int code);

/* Capability slots for functions that create kernel objects themselves (8 .. 63); the heap uses
   the same allocator. Returns 0 when none is free. */
uint64_t function_allocate_slot(void);
void function_free_slot(uint64_t slot);

#ifdef __cplusplus
}
#endif

#endif
