// Commands: one function per mettctl verb, each in its own file under commands/. Invariant: a
// command first decodes its options (all checking, usage failures) and only then talks to the
// gateway; it returns the exit code and writes nothing to `out` on failure.
#pragma once

#include <string>
#include <vector>

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include "../gateway.hpp"
#include "../result.hpp"

namespace mettctl {

// Where a command reads input and writes output; the tests pass string streams.
struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  bool stdin_is_terminal = false;
};

// Prints "mettctl: <message>" to err and returns the failure's exit code.
[[nodiscard]] int report(Io& io, Failure const& failure);

struct DeployOptions {
  std::string name;
  std::string executable;  // path of the ELF file
  std::optional<std::string> memory;
  std::optional<std::string> timeout;
  std::optional<std::string> max_output;
  std::optional<std::string> max_depth;
  std::optional<std::string> cpus;
  bool console = false;
  bool linux_executable = false;  // An unmodified static Linux executable.
  std::vector<std::string> arguments;  // Its argv[1..] (--arg, repeatable).
  std::optional<std::string> image;    // Deploy from this image of the store (no executable then).
  std::vector<std::string> environment;  // --env KEY=VALUE (repeatable; image functions).
};

struct ImagePushOptions {
  std::string file;
  std::optional<std::string> name;  // NAME:TAG; else the archive's own name.
};

struct InvokeOptions {
  std::string name;
  std::optional<std::string> data;
  std::optional<std::string> file;
  bool verbose = false;
};

// Checks a function name before it goes into a path or a header: not empty, no control bytes.
[[nodiscard]] Result<std::string> decode_function_name(std::string const& name);

// Reads a whole file; an unreadable one is a usage failure (the command line named it).
[[nodiscard]] Result<std::string> read_file(std::string const& path, std::string_view what);

// Reads a stream to its end; nullopt when reading fails (not at the end).
[[nodiscard]] std::optional<std::string> read_stream(std::istream& in);

[[nodiscard]] int run_deploy(Gateway& gateway, DeployOptions const& options, Io& io);
[[nodiscard]] int run_invoke(Gateway& gateway, InvokeOptions const& options, Io& io);
[[nodiscard]] int run_list(Gateway& gateway, bool json, Io& io);
[[nodiscard]] int run_describe(Gateway& gateway, std::string const& name, bool json, Io& io);
[[nodiscard]] int run_remove(Gateway& gateway, std::string const& name, Io& io);
[[nodiscard]] int run_logs(Gateway& gateway, std::string const& name, bool follow, bool json_output, Io& io);
[[nodiscard]] int run_metrics(Gateway& gateway, Io& io);
[[nodiscard]] int run_version(Gateway& gateway, Io& io);
[[nodiscard]] int run_image_push(Gateway& gateway, ImagePushOptions const& options, Io& io);
[[nodiscard]] int run_image_list(Gateway& gateway, bool json, Io& io);
[[nodiscard]] int run_image_remove(Gateway& gateway, std::string const& name, Io& io);

}  // namespace mettctl
