// Kernel console: printf to the serial port under a spinlock so lines from two CPUs do not interleave.
#include "core/console.hpp"

#include "arch/x86_64/platform.hpp"
#include "core/spinlock.hpp"
#include "lib/format.hpp"

namespace kernel {
namespace {
SpinLock console_lock;

void serial_sink(void*, const char* text, usize length) { arch::serial_write(text, length); }
}  // namespace

void vlog(const char* format, va_list arguments) {
  SpinLockGuard guard(console_lock);
  format_to_sink(serial_sink, nullptr, format, arguments);
}

void log(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  vlog(format, arguments);
  va_end(arguments);
}

}  // namespace kernel
