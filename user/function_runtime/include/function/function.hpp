// The native function runtime's C++ interface. A function defines
//   int function_main(const FunctionInput& input, FunctionOutput& output);
// and returns its exit code (0 = success); the runtime then reports the exit and output size.
// Invariant: these are thin views over the C interface (function.h); the runtime holds the state.
#pragma once

#include <cstdarg>

#include "function/function.h"
#include "function/libc.h"
#include "manager/protocol.hpp"
#include "sys/types.hpp"

namespace function {

using sys::u32;
using sys::u64;
using sys::u8;
using sys::usize;

// The invocation's input: read-only bytes, plus what the manager says about the invocation.
class FunctionInput {
 public:
  explicit FunctionInput(const manager::FunctionContext& context) : context_(context) {}
  const u8* data() const { return reinterpret_cast<const u8*>(context_.input_address); }
  const char* text() const { return reinterpret_cast<const char*>(context_.input_address); }  // Not NUL-terminated.
  usize size() const { return context_.input_size; }
  bool equals(const char* text) const;
  const manager::FunctionContext& context() const { return context_; }

 private:
  const manager::FunctionContext& context_;
};

// The output area, written in place. size() counts every byte written, also those past the
// capacity (which are dropped), so an overflowing function ends with OUTPUT_TOO_LARGE.
class FunctionOutput {
 public:
  u8* data() const { return static_cast<u8*>(function_output_data()); }
  usize capacity() const { return function_output_capacity(); }
  usize size() const { return function_output_size(); }
  void set_size(usize size) { function_output_set_size(size); }
  bool overflowed() const { return size() > capacity(); }
  // True when all bytes fit.
  bool write(const void* bytes, usize length) { return function_output_write(bytes, length) == 0; }
  bool write(const char* text) { return write(text, strlen(text)); }
  [[gnu::format(printf, 2, 3)]] bool print(const char* format, ...);
  bool vprint(const char* format, va_list arguments);
};

// Log text (sent to the manager as EVENT_LOG messages; printed only with GRANT_CONSOLE).
void log(const char* text, usize length);
inline void log(const char* text) { log(text, strlen(text)); }
[[gnu::format(printf, 1, 2)]] void logf(const char* format, ...);

struct NestedResult {
  manager::Status status;
  manager::InvocationResult result;
};
// Invokes the tenant's function `name` with inline input (at most INLINE_BYTES) and receives its
// inline output into output[0 .. output_capacity); the bytes received are result.output_size
// (clamped to output_capacity).
NestedResult invoke(const char* name, const void* input, usize input_size, void* output, usize output_capacity);

[[noreturn]] inline void exit(int code) { function_exit(code); }

}  // namespace function

// A function's source sees the API names without qualification.
using function::FunctionInput;
using function::FunctionOutput;
using function::u32;
using function::u64;
using function::u8;
using function::usize;

// The C++ entry point of a function; defined by the function (or metteagle_function_main in C).
int function_main(const FunctionInput& input, FunctionOutput& output);
