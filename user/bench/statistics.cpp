// Benchmark statistics and result lines; see statistics.hpp.
#include "statistics.hpp"

#include "print.hpp"

namespace bench {

u64 tenths_of_nanoseconds(u64 ticks, u64 operations, u64 tsc_hertz) {
  // ticks * 1e10 / hertz overflows; megahertz keeps the product small (error < 0.1 %).
  u64 megahertz = tsc_hertz / 1'000'000;
  if (megahertz == 0 || operations == 0) return 0;
  return ticks * 10'000 / megahertz / operations;
}

void report(sys::Console console, const char* metric, u64* samples, u64 count) {
  for (u64 i = 1; i < count; ++i) {
    u64 value = samples[i];
    u64 j = i;
    for (; j > 0 && samples[j - 1] > value; --j) samples[j] = samples[j - 1];
    samples[j] = value;
  }
  u64 median = count % 2 == 1 ? samples[count / 2] : (samples[count / 2 - 1] + samples[count / 2]) / 2;
  u64 rank = (99 * count + 99) / 100;  // Nearest rank, 1-based: ceil(0.99 n).
  u64 p99 = samples[rank - 1];
  sys::printf(console, "BENCH %s ns min=%lu.%lu median=%lu.%lu p99=%lu.%lu n=%lu\n", metric, samples[0] / 10,
              samples[0] % 10, median / 10, median % 10, p99 / 10, p99 % 10, count);
}

void report_error(sys::Console console, const char* metric, const char* reason) {
  sys::printf(console, "BENCH-ERROR %s %s\n", metric, reason);
}

}  // namespace bench
