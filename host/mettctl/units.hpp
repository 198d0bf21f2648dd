// Units: strict parsing of the sizes, durations and counts mettctl accepts on its command line.
// Invariant: a text is either parsed whole into an exact integer or rejected with a message that
// names the text and what a valid one looks like; nothing is rounded or silently truncated.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "result.hpp"

namespace mettctl {

// Bytes: a whole number optionally followed by K, M, G (or k, m, g, KiB, MiB, GiB), binary
// multiples: "16M" is 16777216. Rejects signs, spaces, fractions, unknown units and overflow.
[[nodiscard]] Result<std::uint64_t> parse_size(std::string_view text);

// Milliseconds: a number with a unit, one of ms, s, m (minutes), h: "500ms", "5s", "1.5s", "2m".
// A fraction is accepted only when the result is a whole number of milliseconds.
[[nodiscard]] Result<std::uint64_t> parse_duration_ms(std::string_view text);

// A plain whole number (digits only) no greater than maximum.
[[nodiscard]] Result<std::uint64_t> parse_count(std::string_view text, std::uint64_t maximum);

// A CPU list as docker's --cpuset-cpus takes it ("0,2-3", "1", "0-7"): CPUs 0-63, ranges low-high,
// comma-separated, no spaces; the mask with bit i set for CPU i ("0,2-3" is 13). A plain "0" is
// CPU 0 (mask 1); an empty list, a reversed or repeated range, or a CPU above 63 is refused.
[[nodiscard]] Result<std::uint64_t> parse_cpu_list(std::string_view text);

// "16M" when bytes is an exact binary multiple, else the plain number: for human-readable output.
[[nodiscard]] std::string format_size(std::uint64_t bytes);

}  // namespace mettctl
