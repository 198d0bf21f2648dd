// Boot configuration parser: one pass over space-separated words, each checked on its own.
// Invariant: never reads past the line's NUL and never writes past a field's capacity.
#include "boot_config.hpp"

namespace root {
namespace {

using metteagle::abi::DebugConsoleRight;
using metteagle::abi::EndpointRight;
using metteagle::abi::rights_of;

struct Word {
  const char* start;
  usize length;
};

bool equals(Word word, const char* text) {
  usize index = 0;
  for (; index < word.length; ++index)
    if (text[index] == '\0' || text[index] != word.start[index]) return false;
  return text[index] == '\0';
}

bool starts_with(Word word, const char* prefix, Word& rest) {
  usize index = 0;
  for (; prefix[index] != '\0'; ++index)
    if (index >= word.length || word.start[index] != prefix[index]) return false;
  rest = Word{word.start + index, word.length - index};
  return true;
}

bool is_name_character(char character) {
  return (character >= 'a' && character <= 'z') || (character >= 'A' && character <= 'Z') ||
         (character >= '0' && character <= '9') || character == '_' || character == '-' || character == '.';
}

bool copy_name(Word word, char (&target)[MAX_NAME_LENGTH + 1]) {
  if (word.length == 0 || word.length > MAX_NAME_LENGTH) return false;
  for (usize index = 0; index < word.length; ++index) {
    if (!is_name_character(word.start[index])) return false;
    target[index] = word.start[index];
  }
  target[word.length] = '\0';
  return true;
}

bool parse_number(Word word, u64& value) {
  if (word.length == 0) return false;
  value = 0;
  for (usize index = 0; index < word.length; ++index) {
    char digit = word.start[index];
    if (digit < '0' || digit > '9') return false;
    if (__builtin_mul_overflow(value, u64{10}, &value) ||
        __builtin_add_overflow(value, static_cast<u64>(digit - '0'), &value))
      return false;
  }
  return true;
}

// A size in bytes with an optional K, M or G suffix (powers of 1024).
bool parse_size(Word word, u64& bytes) {
  if (word.length == 0) return false;
  u64 multiplier = 1;
  char last = word.start[word.length - 1];
  if (last == 'K' || last == 'M' || last == 'G') {
    multiplier = last == 'K' ? u64{1} << 10 : last == 'M' ? u64{1} << 20 : u64{1} << 30;
    --word.length;
  }
  u64 count;
  return parse_number(word, count) && !__builtin_mul_overflow(count, multiplier, &bytes);
}

// Rights written as names joined by '+', e.g. "send+receive"; each name at most once.
template <usize Count>
bool parse_rights(Word word, const char* const (&names)[Count], const u32 (&bits)[Count], u32& rights) {
  rights = 0;
  usize start = 0;
  while (start <= word.length) {
    usize end = start;
    while (end < word.length && word.start[end] != '+') ++end;
    Word part{word.start + start, end - start};
    bool known = false;
    for (usize index = 0; index < Count; ++index) {
      if (!equals(part, names[index])) continue;
      if ((rights & bits[index]) != 0) return false;
      rights |= bits[index];
      known = true;
    }
    if (!known) return false;
    start = end + 1;
  }
  return true;
}

constexpr const char* ENDPOINT_RIGHT_NAMES[] = {"send", "receive", "grant"};
constexpr u32 ENDPOINT_RIGHT_BITS[] = {rights_of(EndpointRight::Send), rights_of(EndpointRight::Receive),
                                       rights_of(EndpointRight::Grant)};
constexpr const char* CONSOLE_RIGHT_NAMES[] = {"write", "exit"};
constexpr u32 CONSOLE_RIGHT_BITS[] = {rights_of(DebugConsoleRight::Write), rights_of(DebugConsoleRight::Exit)};

// The default name: the path's last component without a trailing ".elf", cut to the limit.
void default_name(const char* path, char (&name)[MAX_NAME_LENGTH + 1]) {
  const char* base = path;
  for (const char* cursor = path; *cursor != '\0'; ++cursor)
    if (*cursor == '/') base = cursor + 1;
  usize length = 0;
  while (base[length] != '\0') ++length;
  if (length > 4 && base[length - 4] == '.' && base[length - 3] == 'e' && base[length - 2] == 'l' &&
      base[length - 1] == 'f')
    length -= 4;
  usize kept = 0;
  for (usize index = 0; index < length && kept < MAX_NAME_LENGTH; ++index)
    name[kept++] = is_name_character(base[index]) ? base[index] : '_';
  name[kept] = '\0';
  if (kept == 0) {
    name[0] = '?';
    name[1] = '\0';
  }
}

bool fail(ConfigError& error, const char* reason, const char* line, Word word) {
  error = ConfigError{reason, static_cast<usize>(word.start - line)};
  return false;
}

// Handles one word after the path; returns false with `error` set when it is invalid.
bool apply_word(const char* line, Word word, ProgramConfig& config, bool& named, ConfigError& error) {
  Word value{};
  if (equals(word, "task")) {
    if (config.give_task) return fail(error, "'task' given twice", line, word);
    config.give_task = true;
  } else if (equals(word, "thread")) {
    if (config.give_thread) return fail(error, "'thread' given twice", line, word);
    config.give_thread = true;
  } else if (equals(word, "console") || starts_with(word, "console=", value)) {
    if (config.give_console) return fail(error, "'console' given twice", line, word);
    config.give_console = true;
    config.console_rights = rights_of(DebugConsoleRight::Write);
    if (value.start != nullptr && !parse_rights(value, CONSOLE_RIGHT_NAMES, CONSOLE_RIGHT_BITS, config.console_rights))
      return fail(error, "console rights must be write and/or exit joined by '+'", line, word);
  } else if (equals(word, "platform")) {
    if (config.give_platform) return fail(error, "'platform' given twice", line, word);
    config.give_platform = true;
  } else if (equals(word, "rtc")) {
    if (config.give_rtc) return fail(error, "'rtc' given twice", line, word);
    config.give_rtc = true;
  } else if (equals(word, "observe")) {
    if (config.factory_observe) return fail(error, "'observe' given twice", line, word);
    config.factory_observe = true;
  } else if (starts_with(word, "name=", value)) {
    if (named) return fail(error, "'name=' given twice", line, word);
    if (!copy_name(value, config.name))
      return fail(error, "a name has 1 to 15 characters from [A-Za-z0-9_.-]", line, word);
    named = true;
  } else if (starts_with(word, "slots=", value)) {
    if (!parse_number(value, config.capability_slots) || config.capability_slots < MIN_CAPABILITY_SLOTS ||
        config.capability_slots > MAX_CAPABILITY_SLOTS)
      return fail(error, "slots must be a number from 128 to 65536", line, word);
  } else if (starts_with(word, "factory=", value)) {
    if (config.factory_quota != 0 || config.factory_percent != 0) return fail(error, "'factory=' given twice", line, word);
    if (value.length > 1 && value.start[value.length - 1] == '%') {
      // A share of the memory free when the root starts the program (the manager's pool follows
      // the guest's memory instead of a constant).
      --value.length;
      if (!parse_number(value, config.factory_percent) || config.factory_percent < 1 ||
          config.factory_percent > MAX_FACTORY_PERCENT)
        return fail(error, "a factory share must be a percentage from 1% to 90%", line, word);
    } else if (!parse_size(value, config.factory_quota) || config.factory_quota == 0 ||
               config.factory_quota > MAX_FACTORY_QUOTA) {
      return fail(error, "factory quota must be a size such as 65536, 64K, 1M or 1G (at most 1024G), or a percentage",
                  line, word);
    }
  } else if (equals(word, "data")) {
    if (config.is_data) return fail(error, "'data' given twice", line, word);
    config.is_data = true;
  } else if (starts_with(word, "file=", value)) {
    if (config.give_file) return fail(error, "'file=' given twice", line, word);
    if (!copy_name(value, config.file))
      return fail(error, "a file name has 1 to 15 characters from [A-Za-z0-9_.-]", line, word);
    config.give_file = true;
  } else if (starts_with(word, "endpoint=", value)) {
    if (config.endpoint_count == MAX_PROGRAM_ENDPOINTS) return fail(error, "more than 8 endpoints", line, word);
    EndpointGrant& grant = config.endpoints[config.endpoint_count];
    usize colon = 0;
    while (colon < value.length && value.start[colon] != ':') ++colon;
    if (!copy_name(Word{value.start, colon}, grant.name))
      return fail(error, "an endpoint name has 1 to 15 characters from [A-Za-z0-9_.-]", line, word);
    grant.rights = rights_of(EndpointRight::Send);
    if (colon < value.length &&
        !parse_rights(Word{value.start + colon + 1, value.length - colon - 1}, ENDPOINT_RIGHT_NAMES,
                      ENDPOINT_RIGHT_BITS, grant.rights))
      return fail(error, "endpoint rights must be send, receive and/or grant joined by '+'", line, word);
    for (usize index = 0; index < config.endpoint_count; ++index) {
      Word earlier{config.endpoints[index].name, 0};
      while (earlier.start[earlier.length] != '\0') ++earlier.length;
      if (equals(earlier, grant.name)) return fail(error, "the same endpoint is named twice", line, word);
    }
    ++config.endpoint_count;
  } else {
    return fail(error, "unknown word (see docs/BOOT.md)", line, word);
  }
  return true;
}

}  // namespace

bool parse_boot_config(const char* line, ProgramConfig& config, ConfigError& error) {
  config = ProgramConfig{};
  config.capability_slots = DEFAULT_CAPABILITY_SLOTS;
  const char* cursor = line;
  bool have_path = false;
  bool named = false;
  usize first_capability_word = 0;  // Column of the first word that gives a capability (0 = none).
  while (true) {
    while (*cursor == ' ' || *cursor == '\t') ++cursor;
    if (*cursor == '\0') break;
    Word word{cursor, 0};
    while (cursor[word.length] != '\0' && cursor[word.length] != ' ' && cursor[word.length] != '\t') ++word.length;
    cursor += word.length;
    if (!have_path) {
      if (word.length > MAX_PATH_LENGTH) return fail(error, "the path is too long", line, word);
      for (usize index = 0; index < word.length; ++index) config.path[index] = word.start[index];
      config.path[word.length] = '\0';
      have_path = true;
      continue;
    }
    if (!apply_word(line, word, config, named, error)) return false;
    Word ignored{};
    if (first_capability_word == 0 && !equals(word, "data") && !starts_with(word, "name=", ignored))
      first_capability_word = static_cast<usize>(word.start - line);
  }
  // A data module is never started, so a capability word on it is surely a mistake.
  if (config.is_data && first_capability_word != 0) {
    error = ConfigError{"a data module takes no word but name=", first_capability_word};
    return false;
  }
  if (!have_path) {
    error = ConfigError{"the command line is empty", 0};
    return false;
  }
  if (config.factory_observe && config.factory_quota == 0 && config.factory_percent == 0) {
    error = ConfigError{"'observe' is a right of the factory: it needs factory=<size>", 0};
    return false;
  }
  if (!named) default_name(config.path, config.name);
  return true;
}

}  // namespace root
