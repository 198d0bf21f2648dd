// lwIP's platform hooks for the net server: the millisecond clock (the TSC, at the rate ThreadSelf
// reports), diagnostics and assertions on the debug console, and a small random source.
// Invariant: sys_now() is monotonic; it wraps only after 2^32 ms, as lwIP expects.
#include <cstdarg>

#include "lwip/arch.h"
#include "lwip/sys.h"
#include "print.hpp"
#include "sys/sys.hpp"

namespace {

sys::u64 tsc_per_millisecond = 0;
sys::u64 random_state = 0;

sys::u64 read_timestamp() {
  sys::u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (sys::u64{high} << 32) | low;
}

}  // namespace

namespace net {

// Called once before lwIP starts: the TSC rate and a seed that differs from boot to boot.
void port_initialize() {
  sys::ThreadSelfInfo self = sys::thread_self();
  tsc_per_millisecond = self.tsc_hertz / 1000;
  if (tsc_per_millisecond == 0) tsc_per_millisecond = 1'000'000;  // Assume 1 GHz rather than divide by 0.
  random_state = self.timestamp | 1;
}

sys::u64 milliseconds_now() { return read_timestamp() / tsc_per_millisecond; }

}  // namespace net

extern "C" {

[[noreturn]] void metteagle_exit_thread();

u32_t sys_now(void) { return static_cast<u32_t>(net::milliseconds_now()); }

void lwip_port_diagnostic(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  sys::vprintf(sys::Console(sys::CONSOLE), format, arguments);
  va_end(arguments);
}

void lwip_port_assert(const char* message, const char* file, int line) {
  sys::printf(sys::Console(sys::CONSOLE), "net: lwIP assertion \"%s\" failed at %s:%d\n", message, file, line);
  // Stop rather than run on with the stack's state broken.
  metteagle_exit_thread();
}

// xorshift64*: lwIP wants unpredictable-enough initial sequence numbers and ports, not crypto.
unsigned int lwip_port_random(void) {
  random_state ^= random_state >> 12;
  random_state ^= random_state << 25;
  random_state ^= random_state >> 27;
  return static_cast<unsigned int>((random_state * 0x2545f4914f6cdd1dULL) >> 32);
}

}  // extern "C"
