// invoke: POST /function/{name} with the input as the body; the output goes to stdout unchanged.
// A 500 or 504 is the function's own failure (exit 1, the JSON error on stderr); any other
// non-200 status is a platform failure (exit 125).
#include <array>

#include "commands.hpp"

namespace mettctl {
namespace {

struct InvokeRequest {
  std::string name;
  std::string input;
};

// The headers --verbose prints, in this order, when the gateway sent them.
constexpr std::array<char const*, 6> verbose_headers{
    "X-Call-Id",           "X-Duration-Seconds",     "X-Phase-Create-Ticks",
    "X-Phase-Load-Ticks", "X-Phase-Run-Ticks",      "X-Phase-Teardown-Ticks",
};

[[nodiscard]] Result<InvokeRequest> decode_invoke(InvokeOptions const& options, Io& io) {
  Result<std::string> name = decode_function_name(options.name);
  if (!name.ok()) return name.failure();
  if (options.data && options.file) return usage_failure("--data and --file exclude each other");
  if (options.data) return InvokeRequest{name.value(), *options.data};
  if (options.file) {
    Result<std::string> input = read_file(*options.file, "input file");
    if (!input.ok()) return input.failure();
    return InvokeRequest{name.value(), std::move(input.value())};
  }
  if (io.stdin_is_terminal) io.err << "mettctl: reading the input from stdin (end it with Ctrl-D)\n";
  std::optional<std::string> input = read_stream(io.in);
  if (!input) return usage_failure("cannot read the input from stdin");
  return InvokeRequest{name.value(), std::move(*input)};
}

void print_verbose(Response const& response, Io& io) {
  io.err << "Status: " << response.status << '\n';
  for (char const* name : verbose_headers) {
    if (auto value = response.header(name)) io.err << name << ": " << *value << '\n';
  }
}

}  // namespace

int run_invoke(Gateway& gateway, InvokeOptions const& options, Io& io) {
  Result<InvokeRequest> request = decode_invoke(options, io);
  if (!request.ok()) return report(io, request.failure());

  std::string const what = "invoke " + request.value().name;
  Result<Response> response =
      gateway.post("/function/" + encode_path_segment(request.value().name), {}, request.value().input);
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (options.verbose) print_verbose(answer, io);

  if (answer.status == 200) {
    io.out.write(answer.body.data(), static_cast<std::streamsize>(answer.body.size()));
    io.out.flush();
    return to_int(ExitCode::Ok);
  }
  if (answer.status == 500 || answer.status == 504) {
    auto json = parse_json(answer.body);
    if (!json || !json->is_object() || !json->contains("error") || !json->at("error").is_string()) {
      return report(io, malformed_response(answer, what, "expected a JSON {\"error\": ...} body"));
    }
    io.err << json->dump() << '\n';
    return to_int(ExitCode::FunctionFailed);
  }
  return report(io, unexpected_status(answer, what));
}

}  // namespace mettctl
