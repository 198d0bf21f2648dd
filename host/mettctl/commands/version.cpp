// version: mettctl's own version, then the gateway's (GET /system/info, OpenFaaS's shape) when one
// answers. The client's line never depends on a gateway; an unreachable or refusing gateway is
// said on stderr, and exits 125 as every platform failure does.
#include "commands.hpp"

#ifndef METTCTL_VERSION
#define METTCTL_VERSION "dev"
#endif
#ifndef METTCTL_COMMIT
#define METTCTL_COMMIT ""
#endif

namespace mettctl {

int run_version(Gateway& gateway, Io& io) {
  std::string commit = METTCTL_COMMIT;
  io.out << "mettctl " << METTCTL_VERSION << (commit.empty() ? "" : " (commit " + commit + ")") << '\n';
  io.out.flush();
  Result<Response> response = gateway.get("/system/info");
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (answer.status != 200) return report(io, unexpected_status(answer, "version"));
  auto info = parse_json(answer.body);
  auto text = [&](nlohmann::json const& object, char const* member) -> std::optional<std::string> {
    if (!object.is_object() || !object.contains(member) || !object.at(member).is_string()) return std::nullopt;
    return object.at(member).get<std::string>();
  };
  if (!info || !info->is_object() || !info->contains("provider") || !info->contains("version"))
    return report(io, malformed_response(answer, "version", "expected {\"provider\": ..., \"version\": ...}"));
  nlohmann::json const& provider = info->at("provider");
  nlohmann::json const& version = info->at("version");
  auto name = text(provider, "provider");
  auto orchestration = text(provider, "orchestration");
  auto release = text(version, "release");
  auto sha = text(version, "sha");
  if (!name || !orchestration || !release || !sha)
    return report(io, malformed_response(answer, "version", "provider.provider, provider.orchestration, "
                                                            "version.release and version.sha must be strings"));
  io.out << "gateway " << gateway.url() << ": " << *name << " " << *release << (sha->empty() ? "" : " (commit " + *sha + ")")
         << ", orchestration " << *orchestration << '\n';
  io.out.flush();
  return to_int(ExitCode::Ok);
}

}  // namespace mettctl
