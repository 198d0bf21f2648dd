// The manager's configuration; see configuration.hpp.
#include "configuration.hpp"

#include "print.hpp"

namespace manager {
namespace {

using namespace sys;

constexpr usize MAX_FILE_BYTES = 4096;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool same(const char* word, usize length, const char* key) {
  usize index = 0;
  for (; index < length && key[index] != '\0'; ++index)
    if (word[index] != key[index]) return false;
  return index == length && key[index] == '\0';
}

// A decimal number with an optional K, M or G suffix (powers of 1024), at most 2^40.
bool parse_number(const char* text, usize length, bool size, u64& value) {
  if (length == 0) return false;
  u64 shift = 0;
  if (size && (text[length - 1] == 'K' || text[length - 1] == 'M' || text[length - 1] == 'G')) {
    shift = text[length - 1] == 'K' ? 10 : text[length - 1] == 'M' ? 20 : 30;
    --length;
  }
  if (length == 0 || length > 12) return false;
  value = 0;
  for (usize index = 0; index < length; ++index) {
    if (text[index] < '0' || text[index] > '9') return false;
    value = value * 10 + static_cast<u64>(text[index] - '0');
  }
  value <<= shift;
  return value <= (u64{1} << 40);
}

}  // namespace

bool parse_configuration(const char* text, usize length, ManagerConfiguration& configuration, const char*& error,
                         usize& column) {
  ManagerConfiguration parsed;
  usize index = 0;
  while (index < length) {
    if (is_blank(text[index])) {
      ++index;
      continue;
    }
    if (text[index] == '#') {
      while (index < length && text[index] != '\n') ++index;
      continue;
    }
    usize start = index;
    while (index < length && !is_blank(text[index])) ++index;
    const char* word = text + start;
    usize word_length = index - start;
    usize equals = 0;
    while (equals < word_length && word[equals] != '=') ++equals;
    column = start;
    if (equals == word_length) {
      error = "a word without '='";
      return false;
    }
    const char* value_text = word + equals + 1;
    usize value_length = word_length - equals - 1;
    struct Key {
      const char* name;
      u64* field;
      bool size;
      u64 minimum;
      u64 maximum;
    } const keys[] = {
        {"tenant_memory", &parsed.share.memory_bytes, true, 0, u64{1} << 40},  // 0: the whole pool.
        {"tenant_storage", &parsed.share.storage_bytes, true, 64ull << 10, u64{1} << 40},
        {"tenant_invocations", &parsed.share.invocations, false, 1, 64},
        {"tenant_functions", &parsed.share.functions, false, 1, 1u << 20},
        {"tenants", &parsed.share.tenants, false, 1, 1u << 20},
        {"nested_budget", &parsed.share.nested_budget, false, 0, 1u << 20},
        {"reserve", &parsed.reserve_bytes, true, 4ull << 20, u64{1} << 40},
    };
    bool known = false;
    for (const Key& key : keys) {
      if (!same(word, equals, key.name)) continue;
      known = true;
      u64 value = 0;
      if (!parse_number(value_text, value_length, key.size, value) || value < key.minimum || value > key.maximum) {
        error = "a value out of range (docs/CONTAINERS.md, The pool and tenant quotas)";
        return false;
      }
      *key.field = value;
    }
    if (!known) {
      error = "an unknown word (docs/CONTAINERS.md, The pool and tenant quotas)";
      return false;
    }
  }
  configuration = parsed;
  return true;
}

ManagerConfiguration read_configuration(Console console) {
  ManagerConfiguration configuration;
  static char text[MAX_FILE_BYTES + 1];
  Memory file(BOOT_FILE);
  usize length = 0;
  bool ended = false;
  for (u64 offset = 0; offset < MAX_FILE_BYTES && !ended; offset += 4096) {
    if (!file.read(offset, text + offset, 4096).ok()) {
      if (offset == 0) return configuration;  // No file: the defaults.
      break;
    }
    for (u64 index = offset; index < offset + 4096 && !ended; ++index) {
      if (text[index] == '\0') ended = true;
      else length = index + 1;
    }
  }
  if (!ended) {
    printf(console, "manager: the configuration file is larger than %zu bytes; using the defaults\n", MAX_FILE_BYTES);
    return configuration;
  }
  const char* error = nullptr;
  usize column = 0;
  if (!parse_configuration(text, length, configuration, error, column)) {
    printf(console, "manager: bad configuration file: %s at byte %zu; using the defaults\n", error, column);
    return ManagerConfiguration{};
  }
  return configuration;
}

}  // namespace manager
