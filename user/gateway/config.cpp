// The deploy-configuration JSON parser, name check and base64.
#include "config.hpp"

namespace gateway {
namespace {

struct Cursor {
  const char* data;
  usize size;
  usize index = 0;

  bool at_end() const { return index >= size; }
  char peek() const { return at_end() ? '\0' : data[index]; }
  void skip_space() {
    while (!at_end() && (data[index] == ' ' || data[index] == '\t' || data[index] == '\r' || data[index] == '\n'))
      ++index;
  }
  bool take(char expected) {
    skip_space();
    if (peek() != expected || at_end()) return false;
    ++index;
    return true;
  }
};

int hex_value(char character) {
  if (character >= '0' && character <= '9') return character - '0';
  if (character >= 'a' && character <= 'f') return character - 'a' + 10;
  if (character >= 'A' && character <= 'F') return character - 'A' + 10;
  return -1;
}

// A JSON string into `output` (capacity bytes, NUL-terminated). Escapes are decoded; \u escapes
// beyond ASCII and NUL are refused (no value the configuration takes needs them).
bool parse_string(Cursor& cursor, char* output, usize capacity, const char*& error) {
  if (!cursor.take('"')) {
    error = "expected a string";
    return false;
  }
  // Not even the terminating NUL fits (args that already fill their buffer exactly).
  if (capacity == 0) {
    error = "string too long";
    return false;
  }
  usize length = 0;
  for (;;) {
    if (cursor.at_end()) {
      error = "unterminated string";
      return false;
    }
    char character = cursor.data[cursor.index++];
    if (character == '"') break;
    if (static_cast<u8>(character) < 0x20) {
      error = "control character in a string";
      return false;
    }
    if (character == '\\') {
      if (cursor.at_end()) {
        error = "unterminated string";
        return false;
      }
      char escape = cursor.data[cursor.index++];
      switch (escape) {
        case '"': case '\\': case '/': character = escape; break;
        case 'b': character = '\b'; break;
        case 'f': character = '\f'; break;
        case 'n': character = '\n'; break;
        case 'r': character = '\r'; break;
        case 't': character = '\t'; break;
        case 'u': {
          int value = 0;
          for (int digit = 0; digit < 4; ++digit) {
            int nibble = cursor.at_end() ? -1 : hex_value(cursor.data[cursor.index++]);
            if (nibble < 0) {
              error = "bad \\u escape";
              return false;
            }
            value = value * 16 + nibble;
          }
          if (value == 0 || value >= 0x80) {
            error = "\\u escape outside ASCII";
            return false;
          }
          character = static_cast<char>(value);
          break;
        }
        default:
          error = "bad escape";
          return false;
      }
    }
    if (length + 1 >= capacity) {
      error = "string too long";
      return false;
    }
    output[length++] = character;
  }
  output[length] = '\0';
  return true;
}

// ["a", "b", ...] into NUL-terminated strings back to back (a Linux function's arguments).
bool parse_arguments(Cursor& cursor, char* output, usize capacity, u64& used, const char*& error) {
  used = 0;
  if (!cursor.take('[')) {
    error = "args must be an array of strings";
    return false;
  }
  if (cursor.take(']')) return true;
  for (;;) {
    if (!parse_string(cursor, output + used, capacity - used, error)) {
      if (error != nullptr && error[0] == 's') error = "args are longer than 383 bytes in all";
      return false;
    }
    used += text_length(output + used) + 1;
    if (cursor.take(',')) continue;
    if (cursor.take(']')) return true;
    error = "expected ',' or ']' in args";
    return false;
  }
}

bool parse_unsigned(Cursor& cursor, u64& value, const char*& error) {
  cursor.skip_space();
  usize start = cursor.index;
  while (!cursor.at_end() && cursor.peek() >= '0' && cursor.peek() <= '9') ++cursor.index;
  Slice digits{cursor.data + start, cursor.index - start};
  char next = cursor.peek();
  if (digits.empty() || next == '.' || next == 'e' || next == 'E' || (digits.size > 1 && digits.data[0] == '0') ||
      !parse_decimal(digits, value)) {
    error = "numbers must be non-negative integers below 10^19";
    return false;
  }
  return true;
}

bool parse_literal(Cursor& cursor, const char* word) {
  cursor.skip_space();
  usize length = text_length(word);
  if (cursor.size - cursor.index < length) return false;
  for (usize index = 0; index < length; ++index)
    if (cursor.data[cursor.index + index] != word[index]) return false;
  cursor.index += length;
  return true;
}

}  // namespace

bool is_function_name(Slice name) {
  if (name.size == 0 || name.size >= NAME_CAPACITY) return false;
  for (usize index = 0; index < name.size; ++index) {
    char c = name.data[index];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

bool parse_deploy_config(Slice json, DeployConfig& config, const char*& error) {
  config = DeployConfig{};
  Cursor cursor{json.data, json.size};
  if (!cursor.take('{')) {
    error = "the configuration must be a JSON object";
    return false;
  }
  cursor.skip_space();
  if (cursor.peek() == '}') {
    ++cursor.index;
  } else {
    for (;;) {
      char key[24];
      if (!parse_string(cursor, key, sizeof key, error)) return false;
      if (!cursor.take(':')) {
        error = "expected ':'";
        return false;
      }
      Slice name = Slice::of(key);
      struct NumberKey {
        const char* key;
        bool* seen;
        u64* value;
      } const numbers[] = {
          {"memory", &config.has_memory, &config.memory},
          {"timeout_ms", &config.has_timeout, &config.timeout_ms},
          {"max_output", &config.has_max_output, &config.max_output},
          {"max_depth", &config.has_max_depth, &config.max_depth},
          {"cpus", &config.has_cpus, &config.cpus},
      };
      bool known = false;
      for (const auto& number : numbers) {
        if (!name.equals(number.key)) continue;
        known = true;
        if (*number.seen) {
          error = "duplicate key";
          return false;
        }
        if (!parse_unsigned(cursor, *number.value, error)) return false;
        *number.seen = true;
      }
      if (name.equals("args")) {
        known = true;
        if (config.has_arguments) {
          error = "duplicate key";
          return false;
        }
        if (!parse_arguments(cursor, config.arguments, sizeof config.arguments, config.argument_bytes, error))
          return false;
        config.has_arguments = true;
      }
      if (name.equals("image")) {
        known = true;
        if (config.has_image) {
          error = "duplicate key";
          return false;
        }
        if (!parse_string(cursor, config.image, sizeof config.image, error) || config.image[0] == '\0') {
          error = "image must be an image reference of 1-100 characters";
          return false;
        }
        config.has_image = true;
      }
      if (name.equals("env")) {
        known = true;
        if (config.has_env) {
          error = "duplicate key";
          return false;
        }
        if (!parse_arguments(cursor, config.environment, sizeof config.environment, config.environment_bytes, error)) {
          error = "env must be an array of \"KEY=VALUE\" strings, at most 383 bytes in all";
          return false;
        }
        for (u64 at = 0; at < config.environment_bytes; at += text_length(config.environment + at) + 1) {
          const char* entry = config.environment + at;
          usize length = text_length(entry);
          usize equals = 0;
          while (equals < length && entry[equals] != '=') ++equals;
          if (equals == 0 || equals == length) {
            error = "env must be an array of \"KEY=VALUE\" strings, at most 383 bytes in all";
            return false;
          }
        }
        config.has_env = true;
      }
      if (name.equals("name")) {
        known = true;
        if (config.has_name) {
          error = "duplicate key";
          return false;
        }
        if (!parse_string(cursor, config.name, sizeof config.name, error)) return false;
        if (!is_function_name(Slice::of(config.name))) {
          error = "name must be 1-63 characters of [a-z0-9_-]";
          return false;
        }
        config.has_name = true;
      }
      struct BooleanKey {
        const char* key;
        bool* seen;
        bool* value;
      } const booleans[] = {
          {"console", &config.has_console, &config.console},
          {"linux", &config.has_linux, &config.linux_executable},
      };
      for (const auto& boolean : booleans) {
        if (!name.equals(boolean.key)) continue;
        known = true;
        if (*boolean.seen) {
          error = "duplicate key";
          return false;
        }
        *boolean.seen = true;
        if (parse_literal(cursor, "true")) {
          *boolean.value = true;
        } else if (parse_literal(cursor, "false")) {
          *boolean.value = false;
        } else {
          error = "console and linux must be true or false";
          return false;
        }
      }
      if (!known) {
        error = "unknown key (known: name, memory, timeout_ms, max_output, max_depth, cpus, console, linux, args, image, env)";
        return false;
      }
      if (cursor.take(',')) continue;
      if (cursor.take('}')) break;
      error = "expected ',' or '}'";
      return false;
    }
  }
  cursor.skip_space();
  if (!cursor.at_end()) {
    error = "trailing bytes after the object";
    return false;
  }
  if (!config.has_name) {
    error = "the configuration needs a name";
    return false;
  }
  return true;
}

bool decode_base64(Slice text, char* output, usize capacity, usize& length) {
  if (text.size % 4 != 0) return false;
  length = 0;
  for (usize index = 0; index < text.size; index += 4) {
    u32 group = 0;
    usize padding = 0;
    for (usize offset = 0; offset < 4; ++offset) {
      char c = text.data[index + offset];
      int value;
      if (c >= 'A' && c <= 'Z') value = c - 'A';
      else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
      else if (c >= '0' && c <= '9') value = c - '0' + 52;
      else if (c == '+') value = 62;
      else if (c == '/') value = 63;
      else if (c == '=' && index + 4 == text.size && offset >= 2) value = -1;
      else return false;
      if (value < 0) {
        ++padding;
      } else if (padding != 0) {
        return false;  // Data after padding.
      }
      group = (group << 6) | static_cast<u32>(value < 0 ? 0 : value);
    }
    usize bytes = 3 - padding;
    if (length + bytes > capacity) return false;
    for (usize byte = 0; byte < bytes; ++byte) output[length++] = static_cast<char>((group >> (16 - 8 * byte)) & 0xff);
  }
  return true;
}

}  // namespace gateway
