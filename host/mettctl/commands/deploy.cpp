// deploy: POST /system/functions with the ELF as the body and the configuration in the
// X-Function-Config header. Options not given are left out, so the gateway's defaults apply.
#include <cstdint>
#include <limits>

#include "../units.hpp"
#include "commands.hpp"

namespace mettctl {
namespace {

struct DeployRequest {
  std::string name;
  std::string executable;
  std::string config;  // the X-Function-Config header value: ASCII-only JSON
};

constexpr std::uint64_t count_limit = std::numeric_limits<std::uint32_t>::max();

// Adds field = parse(text) to the configuration when the option was given.
template <typename Parse>
[[nodiscard]] std::optional<Failure> add_field(nlohmann::json& config, std::string_view field, std::string_view option,
                                               std::optional<std::string> const& text, Parse parse,
                                               bool zero_allowed) {
  if (!text) return std::nullopt;
  Result<std::uint64_t> value = parse(*text);
  if (!value.ok()) return usage_failure(std::string(option) + ": " + value.failure().message);
  if (!zero_allowed && value.value() == 0) return usage_failure(std::string(option) + " must be greater than zero");
  config[std::string(field)] = value.value();
  return std::nullopt;
}

[[nodiscard]] Result<DeployRequest> decode_deploy(DeployOptions const& options) {
  Result<std::string> name = decode_function_name(options.name);
  if (!name.ok()) return name.failure();

  nlohmann::json config = {{"name", name.value()}};
  auto count = [](std::string_view text) { return parse_count(text, count_limit); };
  for (auto failure : {add_field(config, "memory", "--memory", options.memory, parse_size, false),
                       add_field(config, "timeout_ms", "--timeout", options.timeout, parse_duration_ms, false),
                       add_field(config, "max_output", "--max-output", options.max_output, parse_size, true),
                       add_field(config, "max_depth", "--max-depth", options.max_depth, count, true),
                       add_field(config, "cpus", "--cpus", options.cpus, parse_cpu_list, true)}) {
    if (failure) return *failure;
  }
  if (options.console) config["console"] = true;
  if (options.linux_executable) config["linux"] = true;
  if (!options.arguments.empty()) config["args"] = options.arguments;
  if (options.image) {
    // An image function: the store's image holds the program; no executable is sent.
    if (!options.executable.empty()) return usage_failure("deploy takes either FILE or --image, not both");
    if (options.image->empty()) return usage_failure("--image: the image name is empty");
    config["image"] = *options.image;
    if (!options.environment.empty()) config["env"] = options.environment;
  } else if (!options.environment.empty()) {
    return usage_failure("--env is for functions deployed from an image (--image)");
  } else if (options.executable.empty()) {
    return usage_failure("deploy needs FILE (an ELF executable) or --image NAME:TAG");
  }
  for (std::string const& entry : options.environment)
    if (entry.find('=') == std::string::npos || entry.front() == '=')
      return usage_failure("--env '" + entry + "': expected KEY=VALUE");

  std::string header;
  try {
    // ensure_ascii: a header value must be ASCII; non-ASCII names travel as \u escapes.
    header = config.dump(-1, ' ', /*ensure_ascii=*/true);
  } catch (nlohmann::json::type_error const&) {
    return usage_failure("the function name is not valid UTF-8");
  }

  if (options.image) return DeployRequest{name.value(), std::string(), std::move(header)};
  Result<std::string> executable = read_file(options.executable, "executable");
  if (!executable.ok()) return executable.failure();
  if (executable.value().empty()) return usage_failure("the executable '" + options.executable + "' is empty");
  return DeployRequest{name.value(), std::move(executable.value()), std::move(header)};
}

}  // namespace

int run_deploy(Gateway& gateway, DeployOptions const& options, Io& io) {
  Result<DeployRequest> request = decode_deploy(options);
  if (!request.ok()) return report(io, request.failure());

  std::string const what = "deploy " + request.value().name;
  Result<Response> response =
      gateway.post("/system/functions", {{"X-Function-Config", request.value().config}}, request.value().executable);
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (answer.status != 201) return report(io, unexpected_status(answer, what));

  auto json = parse_json(answer.body);
  if (!json || !json->is_object() || !json->contains("name") || !json->at("name").is_string()) {
    return report(io, malformed_response(answer, what, "expected {\"name\": \"...\"}"));
  }
  io.out << json->at("name").get<std::string>() << '\n';
  return to_int(ExitCode::Ok);
}

}  // namespace mettctl
