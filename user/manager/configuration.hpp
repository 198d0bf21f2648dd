// The manager's configuration: the tenant quotas and what it keeps for itself, from an optional
// data module (`file=<name>` in its boot configuration, docs/BOOT.md), else the defaults.
// Invariant: every value is checked before use; a file with an unknown word or a bad value is
// refused as a whole (the defaults stay) with the reason printed.
#pragma once

#include "registry.hpp"

namespace manager {

struct ManagerConfiguration {
  ShareLimits share;
  u64 reserve_bytes = 16ull << 20;  // Kept from the pool for the manager itself.
};

// Parses `text` (words `key=value`, separated by blanks or newlines, `#` to the end of a line);
// false with `error` (a static message) and `column` set when a word is wrong.
bool parse_configuration(const char* text, usize length, ManagerConfiguration& configuration, const char*& error,
                         usize& column);

// The configuration from the boot file, or the defaults when there is none or it is invalid.
ManagerConfiguration read_configuration(sys::Console console);

}  // namespace manager
