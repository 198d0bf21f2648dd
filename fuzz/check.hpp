// What every fuzz target shares: FUZZ_CHECK, an invariant whose failure is a finding, reported and
// stopped like a crash so libFuzzer saves the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                       \
  do {                                                                                              \
    if (!(condition)) {                                                                             \
      std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #condition, __FILE__, __LINE__);      \
      std::abort();                                                                                 \
    }                                                                                               \
  } while (0)

// True when [inner, inner + inner_size) lies inside [outer, outer + outer_size).
inline bool lies_inside(const void* inner, std::size_t inner_size, const void* outer, std::size_t outer_size) {
  auto inner_start = reinterpret_cast<std::uintptr_t>(inner);
  auto outer_start = reinterpret_cast<std::uintptr_t>(outer);
  return inner_start >= outer_start && inner_size <= outer_size && inner_start - outer_start <= outer_size - inner_size;
}
