// Fuzz target: the gateway's deploy-configuration JSON parser and base64 decoder
// (user/gateway/config.cpp). Beyond not crashing: an accepted configuration has a valid name and
// arguments that fill exactly argument_bytes of their buffer, and written back as JSON it parses
// to the same configuration; any bytes encoded as base64 decode to themselves.
#include <cstring>
#include <string>

#include "check.hpp"
#include "config.hpp"

using namespace gateway;

namespace {

void append_json_string(std::string& out, const char* text, usize length) {
  out += '"';
  for (usize index = 0; index < length; ++index) {
    auto byte = static_cast<unsigned char>(text[index]);
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte < 0x20 || byte == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", byte);
      out += escape;
    } else {
      out += static_cast<char>(byte);
    }
  }
  out += '"';
}

std::string write_config(const DeployConfig& config) {
  std::string json = "{\"name\": ";
  append_json_string(json, config.name, std::strlen(config.name));
  auto number = [&](bool present, const char* key, u64 value) {
    if (present) json += std::string(", \"") + key + "\": " + std::to_string(value);
  };
  number(config.has_memory, "memory", config.memory);
  number(config.has_timeout, "timeout_ms", config.timeout_ms);
  number(config.has_max_output, "max_output", config.max_output);
  number(config.has_max_depth, "max_depth", config.max_depth);
  number(config.has_cpus, "cpus", config.cpus);
  if (config.has_console) json += std::string(", \"console\": ") + (config.console ? "true" : "false");
  if (config.has_linux) json += std::string(", \"linux\": ") + (config.linux_executable ? "true" : "false");
  if (config.has_arguments) {
    json += ", \"args\": [";
    for (u64 offset = 0; offset < config.argument_bytes;) {
      usize length = std::strlen(config.arguments + offset);
      if (offset > 0) json += ", ";
      append_json_string(json, config.arguments + offset, length);
      offset += length + 1;
    }
    json += "]";
  }
  json += "}";
  return json;
}

void check_accepted(const DeployConfig& config) {
  FUZZ_CHECK(config.has_name);
  FUZZ_CHECK(std::memchr(config.name, '\0', sizeof config.name) != nullptr);
  FUZZ_CHECK(is_function_name(Slice::of(config.name)));
  FUZZ_CHECK(config.argument_bytes <= sizeof config.arguments);
  if (!config.has_arguments) FUZZ_CHECK(config.argument_bytes == 0);
  // The arguments are NUL-terminated strings back to back, filling exactly argument_bytes.
  if (config.argument_bytes > 0) FUZZ_CHECK(config.arguments[config.argument_bytes - 1] == '\0');
}

void check_same(const DeployConfig& a, const DeployConfig& b) {
  FUZZ_CHECK(std::strcmp(a.name, b.name) == 0);
  FUZZ_CHECK(a.has_memory == b.has_memory && a.memory == b.memory);
  FUZZ_CHECK(a.has_timeout == b.has_timeout && a.timeout_ms == b.timeout_ms);
  FUZZ_CHECK(a.has_max_output == b.has_max_output && a.max_output == b.max_output);
  FUZZ_CHECK(a.has_max_depth == b.has_max_depth && a.max_depth == b.max_depth);
  FUZZ_CHECK(a.has_cpus == b.has_cpus && a.cpus == b.cpus);
  FUZZ_CHECK(a.has_console == b.has_console && a.console == b.console);
  FUZZ_CHECK(a.has_linux == b.has_linux && a.linux_executable == b.linux_executable);
  FUZZ_CHECK(a.has_arguments == b.has_arguments && a.argument_bytes == b.argument_bytes);
  FUZZ_CHECK(std::memcmp(a.arguments, b.arguments, a.argument_bytes) == 0);
}

std::string encode_base64(const uint8_t* data, size_t size) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t index = 0; index < size; index += 3) {
    uint32_t group = uint32_t{data[index]} << 16;
    if (index + 1 < size) group |= uint32_t{data[index + 1]} << 8;
    if (index + 2 < size) group |= data[index + 2];
    out += alphabet[(group >> 18) & 63];
    out += alphabet[(group >> 12) & 63];
    out += index + 1 < size ? alphabet[(group >> 6) & 63] : '=';
    out += index + 2 < size ? alphabet[group & 63] : '=';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Slice json{reinterpret_cast<const char*>(data), size};
  DeployConfig config;
  const char* error = nullptr;
  if (parse_deploy_config(json, config, error)) {
    check_accepted(config);
    std::string written = write_config(config);
    DeployConfig again;
    const char* again_error = nullptr;
    FUZZ_CHECK(parse_deploy_config(Slice{written.data(), written.size()}, again, again_error));
    check_same(config, again);
  } else {
    FUZZ_CHECK(error != nullptr);
  }

  std::string encoded = encode_base64(data, size);
  char decoded[512];
  usize length = 0;
  bool fits = size <= sizeof decoded;
  FUZZ_CHECK(decode_base64(Slice{encoded.data(), encoded.size()}, decoded, sizeof decoded, length) == fits);
  if (fits) FUZZ_CHECK(length == size && std::memcmp(decoded, data, size) == 0);
  return 0;
}
