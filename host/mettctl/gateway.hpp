// Gateway: mettctl's HTTP client of the gateway API (docs/API.md). Invariant: every request
// carries the API key when one is set, and every request ends either in a Response (whatever its
// status) or in a platform Failure naming the gateway and what went wrong.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "result.hpp"

namespace mettctl {

inline constexpr std::string_view default_gateway_url = "http://127.0.0.1:8080";
// The first development key of the gateway's sample key file (config/gateway.keys, read at boot);
// a gateway booted with other keys needs --key or METTCTL_KEY.
inline constexpr std::string_view default_key = "dev-key-alpha";

struct GatewaySettings {
  std::string url;
  std::optional<std::string> key;
  std::uint64_t request_timeout_ms = 60'000;
};

struct Response {
  int status = 0;
  std::string body;
  httplib::Headers headers;  // case-insensitive names

  [[nodiscard]] std::optional<std::string> header(std::string const& name) const;
};

class Gateway {
 public:
  // Validates the URL ("http://host[:port]" or https) and the key; does not connect yet.
  [[nodiscard]] static Result<Gateway> open(GatewaySettings const& settings);

  [[nodiscard]] Result<Response> get(std::string const& path);
  [[nodiscard]] Result<Response> post(std::string const& path, httplib::Headers const& headers,
                                      std::string const& body);
  [[nodiscard]] Result<Response> remove(std::string const& path);
  // GET whose body is handed to `receive` piece by piece as it arrives (a chunked stream); the
  // Response then has the status and headers, and the body only when the status is not 200.
  [[nodiscard]] Result<Response> get_stream(std::string const& path,
                                            std::function<bool(std::string_view)> const& receive);
  // POST of `size` bytes read from `body` as they are sent (an image archive), never held whole.
  [[nodiscard]] Result<Response> post_stream(std::string const& path, std::uint64_t size, std::istream& body);

  [[nodiscard]] std::string const& url() const { return url_; }

 private:
  Gateway(std::string url, std::unique_ptr<httplib::Client> client, std::optional<std::string> key);
  [[nodiscard]] Result<Response> finish(httplib::Result result, std::string_view method, std::string const& path);

  std::string url_;
  std::unique_ptr<httplib::Client> client_;
  std::optional<std::string> key_;
};

// "scheme://host:port" from http(s)://HOST[:PORT][/], or a usage failure for anything else.
[[nodiscard]] Result<std::string> normalize_gateway_url(std::string_view url);

// A path segment with every byte outside RFC 3986's unreserved set percent-encoded.
[[nodiscard]] std::string encode_path_segment(std::string_view text);

// The body parsed as JSON, or nullopt when it is not JSON at all. Never throws.
[[nodiscard]] std::optional<nlohmann::json> parse_json(std::string const& body);

// The Failure for a response whose status is not the one the command expects: the gateway's
// {"error": ...} message when the body is well formed, else a description of the unexpected body.
[[nodiscard]] Failure unexpected_status(Response const& response, std::string_view request);

// The Failure for a response with the expected status but a body of the wrong shape.
[[nodiscard]] Failure malformed_response(Response const& response, std::string_view request, std::string_view why);

// A short, printable excerpt of a body for error messages (control bytes escaped, long bodies cut).
[[nodiscard]] std::string excerpt(std::string_view body);

}  // namespace mettctl
