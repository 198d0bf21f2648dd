// Gateway: the HTTP client of the gateway API, over cpp-httplib (see gateway.hpp).
#include "gateway.hpp"

#include <algorithm>
#include <utility>

#include "units.hpp"

namespace mettctl {
namespace {

constexpr time_t connection_timeout_seconds = 5;

// An API key goes into a header: printable ASCII without spaces, so it cannot split the header.
[[nodiscard]] bool is_valid_key(std::string_view key) {
  if (key.empty()) return false;
  for (char character : key) {
    if (character <= ' ' || character > '~') return false;
  }
  return true;
}

[[nodiscard]] bool is_host_character(char character) {
  return (character >= 'A' && character <= 'Z') || (character >= 'a' && character <= 'z') ||
         (character >= '0' && character <= '9') || character == '.' || character == '-';
}

[[nodiscard]] bool is_ipv6_character(char character) {
  return (character >= 'A' && character <= 'F') || (character >= 'a' && character <= 'f') ||
         (character >= '0' && character <= '9') || character == ':' || character == '.';
}

// What went wrong, for someone who does not know cpp-httplib's error names.
[[nodiscard]] std::string describe_transport_error(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect to the gateway (is it running? see --gateway)";
    case httplib::Error::ConnectionTimeout:
      return "timed out connecting to the gateway";
    case httplib::Error::Read:
      return "no valid HTTP response (the connection closed, the answer was malformed, or none came within "
             "--request-timeout)";
    case httplib::Error::Write:
      return "cannot send the request (the connection closed or --request-timeout passed)";
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
      return "TLS failed: " + httplib::to_string(error);
    default:
      return httplib::to_string(error);
  }
}

}  // namespace

// cpp-httplib's Client takes "scheme://host:port" but reads anything it does not recognise as a
// host name, so the form is checked here first: scheme, host name or [IPv6 address], optional
// port, optional trailing slash, and nothing else (no path, query or user information).
Result<std::string> normalize_gateway_url(std::string_view url) {
  auto not_a_url = [&](std::string_view why) {
    return usage_failure("'" + std::string(url) + "' is not a gateway URL (" + std::string(why) +
                         "): expected http://HOST[:PORT], e.g. " + std::string(default_gateway_url));
  };
  std::string_view rest = url;
  std::string scheme;
  for (std::string_view candidate : {"http", "https"}) {
    if (rest.starts_with(std::string(candidate) + "://")) scheme = candidate;
  }
  if (scheme.empty()) return not_a_url("the scheme must be http:// or https://");
  rest.remove_prefix(scheme.size() + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);

  std::string_view host = rest;
  std::string_view port_text;
  if (rest.starts_with('[')) {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return not_a_url("unclosed [");
    host = rest.substr(0, close + 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return not_a_url("unexpected text after the host");
      port_text = after.substr(1);
      if (port_text.empty()) return not_a_url("empty port");
    }
    if (host.size() == 2 || !std::all_of(host.begin() + 1, host.end() - 1, is_ipv6_character)) {
      return not_a_url("bad IPv6 address");
    }
  } else {
    std::size_t colon = rest.find(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return not_a_url("empty port");
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_host_character)) {
      return not_a_url("the host may hold only letters, digits, '.' and '-'");
    }
  }

  std::uint64_t port = scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    Result<std::uint64_t> parsed = parse_count(port_text, 65535);
    if (!parsed.ok() || parsed.value() == 0) {
      return usage_failure("'" + std::string(url) + "' has a port outside 1-65535");
    }
    port = parsed.value();
  }
  return scheme + "://" + std::string(host) + ":" + std::to_string(port);
}

std::optional<std::string> Response::header(std::string const& name) const {
  auto found = headers.find(name);
  if (found == headers.end()) return std::nullopt;
  return found->second;
}

Gateway::Gateway(std::string url, std::unique_ptr<httplib::Client> client)
    : url_(std::move(url)), client_(std::move(client)) {}

Result<Gateway> Gateway::open(GatewaySettings const& settings) {
  Result<std::string> base = normalize_gateway_url(settings.url);
  if (!base.ok()) return base.failure();

  auto client = std::make_unique<httplib::Client>(base.value());
  if (!client->is_valid()) return usage_failure("'" + settings.url + "' is not a usable gateway URL");
  if (settings.key) {
    if (!is_valid_key(*settings.key)) {
      return usage_failure("the API key must be printable ASCII without spaces");
    }
    client->set_bearer_token_auth(*settings.key);
  }
  client->set_connection_timeout(connection_timeout_seconds, 0);
  auto timeout_seconds = static_cast<time_t>(settings.request_timeout_ms / 1000);
  auto timeout_microseconds = static_cast<time_t>((settings.request_timeout_ms % 1000) * 1000);
  client->set_read_timeout(timeout_seconds, timeout_microseconds);
  client->set_write_timeout(timeout_seconds, timeout_microseconds);
  // Paths are encoded here (encode_path_segment); the library must not encode them again.
  client->set_url_encode(false);
  client->set_follow_location(false);
  return Gateway(base.value(), std::move(client));
}

Result<Response> Gateway::finish(httplib::Result result, std::string_view method, std::string const& path) {
  if (!result) {
    return platform_failure(std::string(method) + " " + url_ + path + ": " + describe_transport_error(result.error()));
  }
  return Response{result->status, std::move(result->body), std::move(result->headers)};
}

Result<Response> Gateway::get(std::string const& path) { return finish(client_->Get(path), "GET", path); }

Result<Response> Gateway::post(std::string const& path, httplib::Headers const& headers, std::string const& body) {
  return finish(client_->Post(path, headers, body, "application/octet-stream"), "POST", path);
}

Result<Response> Gateway::remove(std::string const& path) { return finish(client_->Delete(path), "DELETE", path); }

Result<Response> Gateway::post_stream(std::string const& path, std::uint64_t size, std::istream& body) {
  std::vector<char> buffer(1 << 20);
  auto provide = [&body, &buffer](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
    body.seekg(static_cast<std::streamoff>(offset));
    std::size_t want = std::min(length, buffer.size());
    body.read(buffer.data(), static_cast<std::streamsize>(want));
    auto got = static_cast<std::size_t>(body.gcount());
    if (got == 0) return false;
    return sink.write(buffer.data(), got);
  };
  return finish(client_->Post(path, {}, static_cast<std::size_t>(size), provide, "application/x-tar"), "POST", path);
}

std::string encode_path_segment(std::string_view text) {
  constexpr std::string_view hex = "0123456789ABCDEF";
  std::string encoded;
  for (char character : text) {
    auto byte = static_cast<unsigned char>(character);
    bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') ||
                      byte == '-' || byte == '.' || byte == '_' || byte == '~';
    if (unreserved) {
      encoded += character;
    } else {
      encoded += '%';
      encoded += hex[byte >> 4];
      encoded += hex[byte & 0xf];
    }
  }
  return encoded;
}

std::optional<nlohmann::json> parse_json(std::string const& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

std::string excerpt(std::string_view body) {
  constexpr std::size_t limit = 200;
  std::string text;
  for (char character : body.substr(0, limit)) {
    auto byte = static_cast<unsigned char>(character);
    if (byte == '\\') {
      text += "\\\\";
    } else if (byte >= ' ' && byte <= '~') {
      text += character;
    } else {
      constexpr std::string_view hex = "0123456789abcdef";
      text += "\\x";
      text += hex[byte >> 4];
      text += hex[byte & 0xf];
    }
  }
  if (body.size() > limit) text += "... (" + std::to_string(body.size()) + " bytes)";
  return body.empty() ? "an empty body" : "\"" + text + "\"";
}

Failure unexpected_status(Response const& response, std::string_view request) {
  std::string prefix = std::string(request) + ": gateway answered " + std::to_string(response.status);
  auto json = parse_json(response.body);
  if (json && json->is_object() && json->contains("error") && (*json)["error"].is_string()) {
    std::string message = prefix + ": " + (*json)["error"].get<std::string>();
    if (json->contains("elf_status")) message += " (elf_status " + (*json)["elf_status"].dump() + ")";
    return platform_failure(std::move(message));
  }
  return platform_failure(prefix + " with " + excerpt(response.body) + ", not a JSON {\"error\": ...} body");
}

Failure malformed_response(Response const& response, std::string_view request, std::string_view why) {
  return platform_failure(std::string(request) + ": malformed response from the gateway (status " +
                          std::to_string(response.status) + "): " + std::string(why) + "; body " +
                          excerpt(response.body));
}

}  // namespace mettctl
