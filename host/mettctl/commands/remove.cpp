// rm: DELETE /system/functions/{name}; prints the name when the gateway answers 200.
#include "commands.hpp"

namespace mettctl {

int run_remove(Gateway& gateway, std::string const& name, Io& io) {
  Result<std::string> checked_name = decode_function_name(name);
  if (!checked_name.ok()) return report(io, checked_name.failure());

  Result<Response> response = gateway.remove("/system/functions/" + encode_path_segment(name));
  if (!response.ok()) return report(io, response.failure());
  if (response.value().status != 200) return report(io, unexpected_status(response.value(), "rm " + name));
  io.out << name << '\n';
  return to_int(ExitCode::Ok);
}

}  // namespace mettctl
