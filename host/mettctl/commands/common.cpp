// Helpers shared by the commands: reporting failures, names and files from the command line.
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "commands.hpp"

namespace mettctl {

int report(Io& io, Failure const& failure) {
  io.err << "mettctl: " << failure.message << '\n';
  return to_int(failure.exit_code);
}

Result<std::string> decode_function_name(std::string const& name) {
  if (name.empty()) return usage_failure("the function name is empty");
  for (char character : name) {
    auto byte = static_cast<unsigned char>(character);
    if (byte < ' ' || byte == 0x7f) return usage_failure("the function name contains a control character");
  }
  return name;
}

Result<std::string> read_file(std::string const& path, std::string_view what) {
  std::string label = std::string(what) + " '" + path + "'";
  std::error_code error;
  auto status = std::filesystem::status(path, error);
  if (error) return usage_failure("cannot read " + label + ": " + error.message());
  if (!std::filesystem::is_regular_file(status)) return usage_failure("cannot read " + label + ": not a regular file");
  std::ifstream file(path, std::ios::binary);
  if (!file) return usage_failure("cannot open " + label + ": " + std::strerror(errno));
  std::optional<std::string> contents = read_stream(file);
  if (!contents) return usage_failure("cannot read " + label);
  return std::move(*contents);
}

std::optional<std::string> read_stream(std::istream& in) {
  std::string contents;
  std::array<char, 64 * 1024> buffer;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    contents.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return std::nullopt;
  return contents;
}

}  // namespace mettctl
