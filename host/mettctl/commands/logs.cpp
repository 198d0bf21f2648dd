// logs: GET /system/logs?name={name}, OpenFaaS's JSON lines printed as "timestamp call text" lines
// (or, with --json, the lines as they came); --follow reads the gateway's follow=true stream as it
// comes, and asks again with since= the last time seen when the stream ends, printing only lines
// not printed yet, until interrupted or the gateway fails.
#include <set>
#include <sstream>
#include <tuple>

#include "commands.hpp"

namespace mettctl {
namespace {

using Seen = std::set<std::tuple<std::string, std::string, std::string>>;  // (timestamp, instance, text).

// Prints the lines of one answer that `seen` does not hold; keeps the latest timestamp. Lines whose
// timestamp is older than the latest are forgotten (since= will not return them again).
[[nodiscard]] std::optional<std::string> print_new(std::string const& body, bool json_output, Seen& seen,
                                                   std::string& latest, Io& io) {
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    auto entry = parse_json(line);
    if (!entry || !entry->is_object() || !(*entry)["timestamp"].is_string() || !(*entry)["instance"].is_string() ||
        !(*entry)["text"].is_string())
      return "a line is not a log message object (timestamp, instance, text)";
    auto key = std::make_tuple((*entry)["timestamp"].get<std::string>(), (*entry)["instance"].get<std::string>(),
                               (*entry)["text"].get<std::string>());
    if (!seen.insert(key).second) continue;
    if (std::get<0>(key) > latest) latest = std::get<0>(key);
    if (json_output) io.out << line << '\n';
    else io.out << std::get<0>(key) << ' ' << std::get<1>(key) << ' ' << std::get<2>(key) << '\n';
  }
  io.out.flush();
  return std::nullopt;
}

}  // namespace

int run_logs(Gateway& gateway, std::string const& name, bool follow, bool json_output, Io& io) {
  Result<std::string> checked_name = decode_function_name(name);
  if (!checked_name.ok()) return report(io, checked_name.failure());
  Seen seen;
  std::string latest;
  // The unreserved-only encoding is valid in a query value as well as in a path segment; the
  // timestamp's ':' is percent-encoded.
  std::string path = "/system/logs?name=" + encode_path_segment(name);
  if (!follow) {
    Result<Response> response = gateway.get(path);
    if (!response.ok()) return report(io, response.failure());
    Response const& answer = response.value();
    if (answer.status != 200) return report(io, unexpected_status(answer, "logs " + name));
    if (auto problem = print_new(answer.body, json_output, seen, latest, io))
      return report(io, malformed_response(answer, "logs " + name, *problem));
    return to_int(ExitCode::Ok);
  }
  // --follow: the gateway streams new lines (follow=true) until its bound, then mettctl asks
  // again from the last timestamp seen; lines seen already are not printed twice.
  for (;;) {
    std::string pending;
    std::optional<std::string> problem;
    std::string request = path + "&follow=true" + (latest.empty() ? "" : "&since=" + encode_path_segment(latest));
    Result<Response> response = gateway.get_stream(request, [&](std::string_view piece) {
      pending.append(piece);
      std::size_t end = pending.rfind('\n');
      if (end == std::string::npos) return true;
      problem = print_new(pending.substr(0, end + 1), json_output, seen, latest, io);
      pending.erase(0, end + 1);
      return !problem.has_value();
    });
    if (problem) return report(io, platform_failure("logs " + name + ": malformed stream from the gateway: " + *problem));
    if (!response.ok()) return report(io, response.failure());
    if (response.value().status != 200) return report(io, unexpected_status(response.value(), "logs " + name));
  }
}

}  // namespace mettctl
