// Fuzz target: the root task's boot configuration parser (user/root/boot_config.cpp), which reads
// each boot module's command line. Beyond not crashing: an accepted configuration is within every
// limit of docs/BOOT.md and, written back as a command line, parses to the same configuration; a
// refused line names a column inside the line.
#include <cstring>
#include <string>

#include "boot_config.hpp"
#include "check.hpp"

using namespace root;
using metteagle::abi::DebugConsoleRight;
using metteagle::abi::EndpointRight;
using metteagle::abi::rights_of;

namespace {

constexpr u32 CONSOLE_RIGHTS = rights_of(DebugConsoleRight::Write) | rights_of(DebugConsoleRight::Exit);
constexpr u32 ENDPOINT_RIGHTS =
    rights_of(EndpointRight::Send) | rights_of(EndpointRight::Receive) | rights_of(EndpointRight::Grant);

bool is_name(const char* name) {
  usize length = std::strlen(name);
  if (length == 0 || length > MAX_NAME_LENGTH) return false;
  for (usize index = 0; index < length; ++index) {
    char c = name[index];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
          c == '-'))
      return false;
  }
  return true;
}

void check_accepted(const ProgramConfig& config) {
  FUZZ_CHECK(std::memchr(config.path, '\0', sizeof config.path) != nullptr && config.path[0] != '\0');
  FUZZ_CHECK(std::memchr(config.name, '\0', sizeof config.name) != nullptr && config.name[0] != '\0');
  FUZZ_CHECK(config.capability_slots >= MIN_CAPABILITY_SLOTS && config.capability_slots <= MAX_CAPABILITY_SLOTS);
  FUZZ_CHECK(config.factory_quota <= MAX_FACTORY_QUOTA);
  FUZZ_CHECK(config.endpoint_count <= MAX_PROGRAM_ENDPOINTS);
  if (config.give_console) FUZZ_CHECK(config.console_rights != 0 && (config.console_rights & ~CONSOLE_RIGHTS) == 0);
  for (usize index = 0; index < config.endpoint_count; ++index) {
    FUZZ_CHECK(is_name(config.endpoints[index].name));
    FUZZ_CHECK(config.endpoints[index].rights != 0 && (config.endpoints[index].rights & ~ENDPOINT_RIGHTS) == 0);
    for (usize other = 0; other < index; ++other)
      FUZZ_CHECK(std::strcmp(config.endpoints[other].name, config.endpoints[index].name) != 0);
  }
  if (config.give_file) FUZZ_CHECK(is_name(config.file));
  if (config.is_data)
    FUZZ_CHECK(!config.give_task && !config.give_thread && !config.give_console && !config.give_platform &&
               config.factory_quota == 0 && config.endpoint_count == 0 && !config.give_file);
}

std::string joined_rights(u32 rights, const char* const* names, usize count) {
  std::string text;
  for (usize bit = 0; bit < count; ++bit) {
    if ((rights & (1u << bit)) == 0) continue;
    if (!text.empty()) text += '+';
    text += names[bit];
  }
  return text;
}

std::string write_config(const ProgramConfig& config) {
  static const char* const console_names[] = {"write", "exit"};
  static const char* const endpoint_names[] = {"send", "receive", "grant"};
  std::string line = config.path;
  if (is_name(config.name)) line += std::string(" name=") + config.name;
  if (config.is_data) return line + " data";
  if (config.capability_slots != DEFAULT_CAPABILITY_SLOTS) line += " slots=" + std::to_string(config.capability_slots);
  if (config.give_task) line += " task";
  if (config.give_thread) line += " thread";
  if (config.give_console) line += " console=" + joined_rights(config.console_rights, console_names, 2);
  if (config.give_platform) line += " platform";
  if (config.factory_quota != 0) line += " factory=" + std::to_string(config.factory_quota);
  for (usize index = 0; index < config.endpoint_count; ++index)
    line += std::string(" endpoint=") + config.endpoints[index].name + ":" +
            joined_rights(config.endpoints[index].rights, endpoint_names, 3);
  if (config.give_file) line += std::string(" file=") + config.file;
  return line;
}

void check_same(const ProgramConfig& a, const ProgramConfig& b) {
  FUZZ_CHECK(std::strcmp(a.path, b.path) == 0 && std::strcmp(a.name, b.name) == 0);
  FUZZ_CHECK(a.capability_slots == b.capability_slots && a.factory_quota == b.factory_quota);
  FUZZ_CHECK(a.give_task == b.give_task && a.give_thread == b.give_thread && a.give_platform == b.give_platform);
  FUZZ_CHECK(a.give_console == b.give_console && (!a.give_console || a.console_rights == b.console_rights));
  FUZZ_CHECK(a.endpoint_count == b.endpoint_count);
  for (usize index = 0; index < a.endpoint_count; ++index)
    FUZZ_CHECK(std::strcmp(a.endpoints[index].name, b.endpoints[index].name) == 0 &&
               a.endpoints[index].rights == b.endpoints[index].rights);
  FUZZ_CHECK(a.is_data == b.is_data && a.give_file == b.give_file);
  if (a.give_file) FUZZ_CHECK(std::strcmp(a.file, b.file) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A command line is a C string: the parser sees the bytes up to the first NUL.
  std::string line(reinterpret_cast<const char*>(data), size);
  line.resize(std::strlen(line.c_str()));
  ProgramConfig config;
  ConfigError error{};
  if (!parse_boot_config(line.c_str(), config, error)) {
    FUZZ_CHECK(error.reason != nullptr);
    FUZZ_CHECK(error.column <= line.size());
    return 0;
  }
  check_accepted(config);
  std::string written = write_config(config);
  ProgramConfig again;
  ConfigError again_error{};
  FUZZ_CHECK(parse_boot_config(written.c_str(), again, again_error));
  check_same(config, again);
  return 0;
}
