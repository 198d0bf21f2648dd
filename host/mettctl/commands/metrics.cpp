// metrics: GET /metrics; the Prometheus text goes to stdout unchanged. Needs no API key.
#include "commands.hpp"

namespace mettctl {

int run_metrics(Gateway& gateway, Io& io) {
  Result<Response> response = gateway.get("/metrics");
  if (!response.ok()) return report(io, response.failure());
  Response const& answer = response.value();
  if (answer.status != 200) return report(io, unexpected_status(answer, "metrics"));
  io.out.write(answer.body.data(), static_cast<std::streamsize>(answer.body.size()));
  io.out.flush();
  return to_int(ExitCode::Ok);
}

}  // namespace mettctl
