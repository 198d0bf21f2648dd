// Command line: the CLI11 definition of mettctl's global options and verbs, and the dispatch.
#include "cli.hpp"

#include <exception>
#include <optional>

// GCC 12 reports a null dereference inside libstdc++'s std::string when CLI11 instantiates a
// vector<string> option (--arg); it is a known false positive of -Wnull-dereference.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include "units.hpp"

namespace mettctl {
namespace {

// The text of an option when it was given on the command line (or through its environment variable).
[[nodiscard]] std::optional<std::string> given(CLI::Option const* option, std::string const& text) {
  if (option->count() == 0) return std::nullopt;
  return text;
}

struct Parsed {
  std::string gateway_url{default_gateway_url};
  std::string key{default_key};
  std::string request_timeout = "60s";
  bool json = false;

  DeployOptions deploy;
  InvokeOptions invoke;
  ImagePushOptions image_push;
  std::string name;  // describe, rm, logs
  bool follow = false;  // logs --follow
};

[[nodiscard]] int dispatch(CLI::App const& app, Parsed const& parsed, Io& io) {
  CLI::App const* command = app.get_subcommands().at(0);  // require_subcommand(1) holds.
  std::string const& verb = command->get_name();

  Result<std::uint64_t> timeout_ms = parse_duration_ms(parsed.request_timeout);
  if (!timeout_ms.ok()) return report(io, usage_failure("--request-timeout: " + timeout_ms.failure().message));
  if (timeout_ms.value() == 0) return report(io, usage_failure("--request-timeout must be greater than zero"));

  std::optional<std::string> key;
  if (!parsed.key.empty()) key = parsed.key;
  // Every request needs a key (docs/API.md; /metrics shows the key's tenant, or everything for an
  // operator key); only an explicitly empty one is missing.
  if (!key) {
    return report(io, usage_failure("empty API key: pass --key KEY or set METTCTL_KEY"));
  }

  Result<Gateway> gateway = Gateway::open(GatewaySettings{parsed.gateway_url, key, timeout_ms.value()});
  if (!gateway.ok()) return report(io, gateway.failure());

  if (verb == "deploy") return run_deploy(gateway.value(), parsed.deploy, io);
  if (verb == "invoke") return run_invoke(gateway.value(), parsed.invoke, io);
  if (verb == "ls") return run_list(gateway.value(), parsed.json, io);
  if (verb == "describe") return run_describe(gateway.value(), parsed.name, parsed.json, io);
  if (verb == "rm") return run_remove(gateway.value(), parsed.name, io);
  if (verb == "version") return run_version(gateway.value(), io);
  if (verb == "logs") return run_logs(gateway.value(), parsed.name, parsed.follow, parsed.json, io);
  if (verb == "image") {
    std::string const& image_verb = command->get_subcommands().at(0)->get_name();
    if (image_verb == "push") return run_image_push(gateway.value(), parsed.image_push, io);
    if (image_verb == "ls") return run_image_list(gateway.value(), parsed.json, io);
    return run_image_remove(gateway.value(), parsed.name, io);
  }
  return run_metrics(gateway.value(), io);
}

[[nodiscard]] int parse_and_run(std::vector<std::string> const& arguments, Io& io) {
  CLI::App app{"mettctl: deploy, invoke and inspect functions on a MettEagle gateway (docs/METTCTL.md)", "mettctl"};
  app.require_subcommand(1);
  app.fallthrough();  // Global options may also follow the verb: `mettctl ls --json`.

  Parsed parsed;
  app.add_option("--gateway", parsed.gateway_url, "gateway URL, http://HOST[:PORT]")
      ->type_name("URL")
      ->envname("METTCTL_GATEWAY")
      ->capture_default_str();
  app.add_option("--key", parsed.key, "API key (sent as Authorization: Bearer KEY)")
      ->type_name("KEY")
      ->capture_default_str()
      ->envname("METTCTL_KEY");
  app.add_flag("--json", parsed.json, "machine-readable output for ls, describe and logs");
  app.add_option("--request-timeout", parsed.request_timeout, "how long to wait for the gateway's answer")
      ->type_name("DURATION")
      ->capture_default_str();

  std::string memory, timeout, max_output, max_depth, cpus;
  CLI::App* deploy = app.add_subcommand("deploy", "deploy an ELF executable as a function");
  deploy->add_option("name", parsed.deploy.name, "function name")->type_name("NAME")->required();
  deploy->add_option("executable", parsed.deploy.executable, "path of the ELF executable (not with --image)")
      ->type_name("FILE");
  CLI::Option* memory_option = deploy->add_option("--memory", memory, "memory limit: BYTES or 16M, 1G, ...")->type_name("SIZE");
  CLI::Option* timeout_option = deploy->add_option("--timeout", timeout, "run-time limit: 500ms, 5s, 1m, ...")->type_name("DURATION");
  CLI::Option* max_output_option = deploy->add_option("--max-output", max_output, "output limit: BYTES or 1M, ...")->type_name("SIZE");
  CLI::Option* max_depth_option = deploy->add_option("--max-depth", max_depth, "call-depth limit (whole number)")->type_name("N");
  CLI::Option* cpus_option = deploy->add_option("--cpus", cpus, "CPUs it may run on, as docker's --cpuset-cpus: 0,2-3 (default: any)")->type_name("LIST");
  deploy->add_flag("--console", parsed.deploy.console, "let the function write to the console");
  deploy->add_flag("--linux", parsed.deploy.linux_executable,
                   "the executable is an unmodified static Linux program (docs/LINUX.md)");
  deploy->add_option("--arg", parsed.deploy.arguments, "an argument of the Linux program (argv[1..]; repeatable)");
  std::string image_name;
  CLI::Option* image_option =
      deploy->add_option("--image", image_name, "deploy from this image of the store (NAME:TAG)")->type_name("NAME:TAG");
  deploy->add_option("--env", parsed.deploy.environment, "KEY=VALUE added to the image's environment (repeatable)")
      ->type_name("KEY=VALUE");

  std::string data, file;
  CLI::App* invoke = app.add_subcommand("invoke", "run a function; input from --data, --file or stdin");
  invoke->add_option("name", parsed.invoke.name, "function name")->type_name("NAME")->required();
  CLI::Option* data_option = invoke->add_option("--data", data, "the input, as given")->type_name("STRING");
  CLI::Option* file_option = invoke->add_option("--file", file, "read the input from this file")->type_name("PATH");
  data_option->excludes(file_option);
  invoke->add_flag("--verbose,-v", parsed.invoke.verbose, "print the call id, duration and phases to stderr");

  app.add_subcommand("ls", "list the functions");
  for (auto [verb, help] : {std::pair{"describe", "show a function's configuration and counters"},
                            std::pair{"rm", "remove a function"}}) {
    app.add_subcommand(verb, help)->add_option("name", parsed.name, "function name")->type_name("NAME")->required();
  }
  CLI::App* logs = app.add_subcommand("logs", "print a function's recent log lines (stderr, failures, results)");
  logs->add_option("name", parsed.name, "function name")->type_name("NAME")->required();
  logs->add_flag("--follow,-f", parsed.follow, "keep printing new lines as the gateway streams them until interrupted");
  app.add_subcommand("metrics", "print the gateway's Prometheus metrics");
  app.add_subcommand("version", "print mettctl's version, then the gateway's (GET /system/info)");

  std::string push_name;
  CLI::App* image = app.add_subcommand("image", "push, list and remove images (OCI or docker archives)");
  image->require_subcommand(1);
  CLI::App* push = image->add_subcommand("push", "import an image archive into the store");
  push->add_option("file", parsed.image_push.file, "the archive (oci-archive or docker-archive, plain or gzip)")
      ->type_name("FILE.tar")
      ->required();
  CLI::Option* push_name_option =
      push->add_option("--name", push_name, "the image's name (else the archive's own)")->type_name("NAME:TAG");
  image->add_subcommand("ls", "list the images");
  image->add_subcommand("rm", "remove an image")->add_option("name", parsed.name, "image name")->type_name("NAME:TAG")->required();

  // CLI11 parses argv-style input; argv[0] is the program name.
  std::vector<char const*> argv{"mettctl"};
  for (std::string const& argument : arguments) argv.push_back(argument.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (CLI::ParseError const& error) {
    // --help and --help-all exit 0 with the help on stdout; every other parse error is a usage error.
    int code = app.exit(error, io.out, io.err);
    return code == 0 ? to_int(ExitCode::Ok) : to_int(ExitCode::Usage);
  }

  parsed.deploy.memory = given(memory_option, memory);
  parsed.deploy.timeout = given(timeout_option, timeout);
  parsed.deploy.max_output = given(max_output_option, max_output);
  parsed.deploy.max_depth = given(max_depth_option, max_depth);
  parsed.deploy.cpus = given(cpus_option, cpus);
  parsed.invoke.data = given(data_option, data);
  parsed.invoke.file = given(file_option, file);
  parsed.deploy.image = given(image_option, image_name);
  parsed.image_push.name = given(push_name_option, push_name);
  return dispatch(app, parsed, io);
}

}  // namespace

int run_cli(std::vector<std::string> const& arguments, Io& io) {
  try {
    return parse_and_run(arguments, io);
  } catch (std::exception const& error) {
    // Nothing is expected to throw here; if something does, it is still a clean platform error.
    return report(io, platform_failure(std::string("internal error: ") + error.what()));
  }
}

}  // namespace mettctl

#pragma GCC diagnostic pop
