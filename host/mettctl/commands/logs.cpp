// logs: GET /system/logs?name={name}; the text goes to stdout unchanged.
#include "commands.hpp"

namespace mettctl {

int run_logs(Gateway& gateway, std::string const& name, Io& io) {
  Result<std::string> checked_name = decode_function_name(name);
  if (!checked_name.ok()) return report(io, checked_name.failure());

  // The unreserved-only encoding is valid in a query value as well as in a path segment.
  Result<Response> response = gateway.get("/system/logs?name=" + encode_path_segment(name));
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (answer.status != 200) return report(io, unexpected_status(answer, "logs " + name));
  io.out.write(answer.body.data(), static_cast<std::streamsize>(answer.body.size()));
  io.out.flush();
  return to_int(ExitCode::Ok);
}

}  // namespace mettctl
