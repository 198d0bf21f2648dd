// OpenFaaS's FunctionDeployment, names, memory quantities and the watchdog's environment.
#include "openfaas.hpp"

#include "imagefs/import/json.hpp"

namespace gateway {
namespace {

using imagefs::JsonCursor;
using imagefs::JsonMember;
using imagefs::JsonType;
using imagefs::JsonValue;

bool is_lower_alphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A member that must be a String, decoded into `out`; absent is fine (found false).
const char* string_member(JsonValue object, const char* key, char* out, usize capacity, bool& found,
                          const char* wrong_type, const char* too_long) {
  JsonMember member = imagefs::json_member(object, key);
  found = member.found;
  if (member.duplicate) return "a member appears twice";
  if (!member.found) return nullptr;
  if (member.value.type != JsonType::String) return wrong_type;
  u64 length = 0;
  if (!imagefs::json_string(member.value, out, capacity, length)) return too_long;
  if (imagefs::json_string_has_nul(member.value)) return "strings may not hold NUL characters";
  return nullptr;
}

// A map of string values ({"k": "v"}) rendered as compact JSON into `out`; "{}" when absent.
const char* string_map(JsonValue object, const char* key, char* out, usize capacity, const char* wrong_type,
                       const char* too_large) {
  Buffer text(out, capacity - 1);
  text.append("{");
  JsonMember member = imagefs::json_member(object, key);
  if (member.duplicate) return "a member appears twice";
  if (member.found && member.value.type != JsonType::Null) {
    if (member.value.type != JsonType::Object) return wrong_type;
    JsonCursor cursor(member.value);
    JsonValue value;
    JsonValue name;
    bool first = true;
    char decoded[MAP_BYTES];
    while (cursor.next(value, &name)) {
      if (value.type != JsonType::String) return wrong_type;
      u64 length = 0;
      if (!first) text.append(",");
      first = false;
      if (!imagefs::json_string(name, decoded, sizeof decoded, length)) return too_large;
      text.append_json_string(decoded, length);
      text.append(":");
      if (!imagefs::json_string(value, decoded, sizeof decoded, length)) return too_large;
      text.append_json_string(decoded, length);
    }
  }
  text.append("}");
  if (text.overflowed()) return too_large;
  out[text.size()] = '\0';
  return nullptr;
}

constexpr const char* ENVIRONMENT_TOO_LARGE =
    "envVars and envProcess take more than 65536 bytes (64 KiB, KEY=value strings): the limit of a function's "
    "environment and arguments";

const char* memory_of(JsonValue object, const char* key, bool& found, u64& bytes, const char* problem) {
  JsonMember member = imagefs::json_member(object, key);
  found = false;
  if (member.duplicate) return "a member appears twice";
  if (!member.found || member.value.type == JsonType::Null) return nullptr;
  if (member.value.type != JsonType::Object) return problem;
  JsonMember memory = imagefs::json_member(member.value, "memory");
  if (memory.duplicate) return "a member appears twice";
  if (!memory.found) return nullptr;
  if (memory.value.type != JsonType::String) return problem;
  char text[32];
  u64 length = 0;
  if (!imagefs::json_string(memory.value, text, sizeof text, length) ||
      !parse_memory_quantity(Slice{text, static_cast<usize>(length)}, bytes))
    return problem;
  found = true;
  return nullptr;
}

}  // namespace

const char* dns_label_problem(Slice name) {
  if (name.size == 0 || name.size > DNS_LABEL_LENGTH) return "a function name must be 1 to 63 characters (a DNS label)";
  for (usize i = 0; i < name.size; ++i)
    if (!is_lower_alphanumeric(name.data[i]) && name.data[i] != '-')
      return "a function name may hold only a-z, 0-9 and '-' (a DNS label)";
  if (name.data[0] == '-' || name.data[name.size - 1] == '-')
    return "a function name must start and end with a letter or a digit (a DNS label)";
  return nullptr;
}

const char* secret_name_problem(Slice name) {
  if (name.size == 0 || name.size > DNS_LABEL_LENGTH) return "a secret name must be 1 to 63 characters (a DNS label)";
  for (usize i = 0; i < name.size; ++i)
    if (!is_lower_alphanumeric(name.data[i]) && name.data[i] != '-')
      return "a secret name may hold only a-z, 0-9 and '-' (a DNS label)";
  if (name.data[0] == '-' || name.data[name.size - 1] == '-')
    return "a secret name must start and end with a letter or a digit (a DNS label)";
  return nullptr;
}

bool parse_memory_quantity(Slice text, u64& bytes) {
  usize digits = 0;
  while (digits < text.size && text.data[digits] >= '0' && text.data[digits] <= '9') ++digits;
  u64 number = 0;
  if (digits == 0 || digits > 12 || !parse_decimal(text.prefix(digits), number)) return false;
  Slice unit = text.from(digits);
  u64 scale = 1;
  if (unit.empty()) scale = 1;
  else if (unit.equals("Ki")) scale = 1ull << 10;
  else if (unit.equals("Mi")) scale = 1ull << 20;
  else if (unit.equals("Gi")) scale = 1ull << 30;
  else if (unit.equals("k") || unit.equals("K")) scale = 1000;
  else if (unit.equals("M")) scale = 1000'000;
  else if (unit.equals("G")) scale = 1000'000'000;
  else return false;
  if (number > (1ull << 40) / scale) return false;
  bytes = number * scale;
  return true;
}

bool render_environment(const FunctionDeployment& deployment, char* out, usize capacity) {
  if (deployment.environment_bytes > capacity) return false;
  usize used = 0;
  if (deployment.variables.type == JsonType::Object) {
    JsonCursor cursor(deployment.variables);
    JsonValue value;
    JsonValue name;
    while (cursor.next(value, &name)) {
      u64 key_length = 0;
      u64 value_length = 0;
      // parse_function_deployment checked each and counted the bytes: they fit.
      if (!imagefs::json_string(name, out + used, capacity - used, key_length) ||
          used + key_length + 1 > capacity)
        return false;
      out[used + key_length] = '=';
      if (!imagefs::json_string(value, out + used + key_length + 1, capacity - used - key_length - 1, value_length))
        return false;
      used += key_length + 1 + value_length + 1;  // json_string wrote the NUL.
    }
  }
  if (deployment.env_process_bytes > 0) {
    // "fprocess=" and the value decoded in place after it (parse_function_deployment counted it).
    u64 length = 0;
    if (used + 9 + deployment.env_process_bytes + 1 > capacity) return false;
    __builtin_memcpy(out + used, "fprocess=", 9);
    if (!imagefs::json_string(deployment.env_process, out + used + 9, capacity - used - 9, length) ||
        length != deployment.env_process_bytes)
      return false;
    used += 9 + length + 1;
  }
  return used == deployment.environment_bytes;
}

bool env_process_text(const FunctionDeployment& deployment, char* out, usize capacity) {
  if (capacity == 0) return false;
  out[0] = '\0';
  if (deployment.env_process_bytes == 0) return true;
  u64 length = 0;
  return deployment.env_process_bytes < capacity && imagefs::json_string(deployment.env_process, out, capacity, length) &&
         length == deployment.env_process_bytes;
}

const char* rendered_env_process(const FunctionDeployment& deployment, const char* environment) {
  if (deployment.env_process_bytes == 0) return "";
  return environment + deployment.environment_bytes - deployment.env_process_bytes - 1;
}

bool split_env_process(const char* command, char* out, usize capacity, u64& bytes) {
  bytes = 0;
  usize at = 0;
  while (command[at] != '\0') {
    while (command[at] == ' ' || command[at] == '\t') ++at;
    if (command[at] == '\0') break;
    usize start = bytes;
    char quote = 0;
    while (command[at] != '\0' && (quote != 0 || (command[at] != ' ' && command[at] != '\t'))) {
      char c = command[at++];
      if (quote == 0 && (c == '\'' || c == '"')) {
        quote = c;
        continue;
      }
      if (quote != 0 && c == quote) {
        quote = 0;
        continue;
      }
      if (bytes + 1 >= capacity) return false;
      out[bytes++] = c;
    }
    if (quote != 0) return false;
    if (bytes == start) continue;  // An empty word ('') is left out: the manager takes no empty strings.
    if (bytes + 1 > capacity) return false;
    out[bytes++] = '\0';
  }
  return true;
}

bool parse_function_deployment(Slice json, FunctionDeployment& deployment, const char*& error) {
  deployment = FunctionDeployment{};
  imagefs::JsonParse parsed = imagefs::json_parse(json.data, json.size, 8);
  if (parsed.error != imagefs::JsonError::None) {
    error = "the body is not valid JSON (a FunctionDeployment object expected)";
    return false;
  }
  JsonValue root = parsed.root;
  if (root.type != JsonType::Object) {
    error = "the body must be a JSON object (a FunctionDeployment)";
    return false;
  }
  bool found = false;
  char service[DNS_LABEL_LENGTH + 2];
  if ((error = string_member(root, "service", service, sizeof service, found, "service must be a string",
                             "a function name must be 1 to 63 characters (a DNS label)")))
    return false;
  if (!found) {
    error = "service is required (the function's name)";
    return false;
  }
  if (const char* problem = dns_label_problem(Slice::of(service))) {
    error = problem;
    return false;
  }
  // dns_label_problem refuses names the manager cannot hold: this fits.
  (void)Slice::of(service).copy_to(deployment.service, sizeof deployment.service);
  if ((error = string_member(root, "image", deployment.image, sizeof deployment.image, found, "image must be a string",
                             "image is longer than 127 characters")))
    return false;
  if (!found || deployment.image[0] == '\0') {
    error = "image is required (a function uploaded before, or an image reference)";
    return false;
  }
  JsonMember env_process = imagefs::json_member(root, "envProcess");
  if (env_process.duplicate) {
    error = "a member appears twice";
    return false;
  }
  if (env_process.found) {
    if (env_process.value.type != JsonType::String) {
      error = "envProcess must be a string";
      return false;
    }
    if (imagefs::json_string_has_nul(env_process.value)) {
      error = "strings may not hold NUL characters";
      return false;
    }
    // Its bound is the environment's (below): fprocess=<envProcess> counts there.
    deployment.has_env_process = true;
    deployment.env_process = env_process.value;
    deployment.env_process_bytes = imagefs::json_string_length(env_process.value);
  }
  char ignored[128];
  if ((error = string_member(root, "namespace", ignored, sizeof ignored, found, "namespace must be a string",
                             "namespace is too long")))
    return false;
  if (found && ignored[0] != '\0') {
    error = "namespaces are not supported (each API key is its own tenant)";
    return false;
  }

  // envVars, then fprocess as the watchdog sees envProcess: checked and counted here, written by
  // render_environment.
  JsonMember variables = imagefs::json_member(root, "envVars");
  if (variables.duplicate) {
    error = "a member appears twice";
    return false;
  }
  u64 variable_count = 0;
  if (variables.found && variables.value.type != JsonType::Null) {
    if (variables.value.type != JsonType::Object) {
      error = "envVars must be an object of strings";
      return false;
    }
    deployment.variables = variables.value;
    JsonCursor cursor(variables.value);
    JsonValue value;
    JsonValue name;
    char key[128];
    while (cursor.next(value, &name)) {
      u64 key_length = 0;
      if (value.type != JsonType::String) {
        error = "envVars must be an object of strings";
        return false;
      }
      if (!imagefs::json_string(name, key, sizeof key, key_length) || key_length == 0 ||
          imagefs::json_string_has_nul(name)) {
        error = "an envVars name must be 1 to 127 characters";
        return false;
      }
      for (u64 i = 0; i < key_length; ++i)
        if (key[i] == '=') {
          error = "an envVars name may not hold '='";
          return false;
        }
      if (imagefs::json_string_has_nul(value)) {
        error = "strings may not hold NUL characters";
        return false;
      }
      deployment.environment_bytes += key_length + 1 + imagefs::json_string_length(value) + 1;
      if (++variable_count > MAX_ENV_VARIABLES) {
        error = "envVars: a function takes at most 1024 variables";
        return false;
      }
    }
  }
  if (deployment.env_process_bytes > 0) deployment.environment_bytes += 9 + deployment.env_process_bytes + 1;
  if (deployment.environment_bytes > manager::MAX_STRINGS_BYTES) {
    error = ENVIRONMENT_TOO_LARGE;
    return false;
  }

  if ((error = string_map(root, "labels", deployment.labels, sizeof deployment.labels,
                          "labels must be an object of strings", "labels take more than 255 bytes")))
    return false;
  if ((error = string_map(root, "annotations", deployment.annotations, sizeof deployment.annotations,
                          "annotations must be an object of strings", "annotations take more than 255 bytes")))
    return false;
  u64 requested = 0;
  if ((error = memory_of(root, "limits", deployment.has_memory, deployment.memory,
                         "limits must be an object like {\"memory\": \"128Mi\"}")))
    return false;
  if ((error = memory_of(root, "requests", found, requested, "requests must be an object like {\"memory\": \"128Mi\"}")))
    return false;

  JsonMember secrets = imagefs::json_member(root, "secrets");
  if (secrets.found && secrets.value.type != JsonType::Null) {
    if (secrets.value.type != JsonType::Array) {
      error = "secrets must be an array of names";
      return false;
    }
    JsonCursor cursor(secrets.value);
    JsonValue value;
    while (cursor.next(value)) {
      if (value.type != JsonType::String) {
        error = "secrets must be an array of names";
        return false;
      }
      if (deployment.secret_count == MAX_FUNCTION_SECRETS) {
        error = "secrets: a function may name at most 8";
        return false;
      }
      char* name = deployment.secrets[deployment.secret_count];
      u64 length = 0;
      if (!imagefs::json_string(value, name, SECRET_NAME_BYTES, length) ||
          secret_name_problem(Slice{name, static_cast<usize>(length)}) != nullptr) {
        error = "secrets: each name must be a DNS label (1 to 63 characters of a-z, 0-9 and '-')";
        return false;
      }
      for (usize i = 0; i < deployment.secret_count; ++i)
        if (Slice::of(deployment.secrets[i]).equals(name)) {
          error = "secrets: a name is given twice";
          return false;
        }
      ++deployment.secret_count;
    }
  }
  JsonMember read_only = imagefs::json_member(root, "readOnlyRootFilesystem");
  if (read_only.found && read_only.value.type != JsonType::Boolean && read_only.value.type != JsonType::Null) {
    error = "readOnlyRootFilesystem must be a boolean";
    return false;
  }
  JsonMember constraints = imagefs::json_member(root, "constraints");
  if (constraints.found && constraints.value.type != JsonType::Array && constraints.value.type != JsonType::Null) {
    error = "constraints must be an array of strings";
    return false;
  }
  error = nullptr;
  return true;
}

usize watchdog_environment(const RequestHead& head, Slice sub_path, char* out, usize capacity) {
  usize used = 0;
  // One variable, whole or not at all.
  auto add = [&](const char* prefix, Slice name, bool canonical, Slice value) {
    usize needed = text_length(prefix) + name.size + 1 + value.size + 1;
    if (needed > capacity - used) return;
    char* at = out + used;
    usize length = text_length(prefix);
    __builtin_memcpy(at, prefix, length);
    bool word_start = true;
    for (usize i = 0; i < name.size; ++i) {
      char c = name.data[i];
      if (canonical) {
        // Go's canonical header name: upper case at the start of each '-'-separated word.
        if (c >= 'a' && c <= 'z' && word_start) c = static_cast<char>(c - 'a' + 'A');
        else if (c >= 'A' && c <= 'Z' && !word_start) c = static_cast<char>(c - 'A' + 'a');
        word_start = c == '-';
        if (c == '-') c = '_';
      }
      at[length++] = c;
    }
    at[length++] = '=';
    for (usize i = 0; i < value.size; ++i) at[length++] = value.data[i] == '\0' ? ' ' : value.data[i];
    at[length++] = '\0';
    used += length;
  };
  add("Http_Method", Slice{}, false, head.method);
  add("Http_Path", Slice{}, false, sub_path.empty() ? Slice::of("/") : sub_path);
  if (!head.query.empty()) add("Http_Query", Slice{}, false, head.query);
  for (usize i = 0; i < head.header_count; ++i) {
    const Header& header = head.headers[i];
    if (header.name.equals_ignoring_case("Authorization")) continue;
    add("Http_", header.name, true, header.value);
  }
  return used;
}

void append_boot_time(Buffer& output, u64 microseconds) {
  u64 seconds = microseconds / 1'000'000;
  u64 days = seconds / 86400;
  u64 rest = seconds % 86400;
  // Days since 1970-01-01 as a civil date (the boot is the epoch; days stay small).
  u64 year = 1970;
  for (;;) {
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    u64 length = leap ? 366 : 365;
    if (days < length) break;
    days -= length;
    ++year;
  }
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const u64 month_days[12] = {31, leap ? 29u : 28u, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  u64 month = 0;
  while (month < 11 && days >= month_days[month]) days -= month_days[month++];
  auto two = [&](u64 value) {
    output.append_unsigned(value / 10);
    output.append_unsigned(value % 10);
  };
  output.append_unsigned(year);
  output.append("-");
  two(month + 1);
  output.append("-");
  two(days + 1);
  output.append("T");
  two(rest / 3600);
  output.append(":");
  two(rest / 60 % 60);
  output.append(":");
  two(rest % 60);
  output.append(".");
  u64 fraction = microseconds % 1'000'000;
  for (u64 divisor = 100'000; divisor > 0; divisor /= 10) output.append_unsigned(fraction / divisor % 10);
  output.append("Z");
}

}  // namespace gateway
