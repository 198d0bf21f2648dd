// Gateway: the HTTP client of the gateway API, over cpp-httplib (see gateway.hpp).
#include "gateway.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
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

// Reads from `socket` until `done(received)` or the peer closes or `deadline` passes.
template <typename Done>
void receive_until(int socket, std::string& received, std::chrono::steady_clock::time_point deadline, Done done) {
  char buffer[4096];
  while (!done(received) && received.size() < (1u << 20)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd waiting{socket, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) return;
    ssize_t got = ::recv(socket, buffer, sizeof buffer, 0);
    if (got <= 0) return;
    received.append(buffer, static_cast<std::size_t>(got));
  }
}

// The answer a gateway gives from a request's head alone (413 over its body limit, 401, 404), asked
// with "Expect: 100-continue" so that no body is sent: nullopt when it wants the body (100
// Continue) or when no answer comes. Used after a send failed, because the gateway answers such a
// request at once and closes, and the answer was lost with the connection.
[[nodiscard]] std::optional<Response> early_answer(std::string const& base, std::optional<std::string> const& key,
                                                    std::string const& path, httplib::Headers const& headers,
                                                    std::uint64_t length, std::string_view content_type) {
  constexpr std::string_view prefix = "http://";
  if (!base.starts_with(prefix)) return std::nullopt;  // https: cpp-httplib's TLS only.
  std::string authority = base.substr(prefix.size());
  std::size_t colon = authority.rfind(':');
  std::string host = authority.substr(0, colon);
  std::string port = authority.substr(colon + 1);
  if (host.starts_with('[')) host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &addresses) != 0) return std::nullopt;
  int socket = -1;
  for (addrinfo* address = addresses; address != nullptr && socket < 0; address = address->ai_next) {
    socket = ::socket(address->ai_family, address->ai_socktype, address->ai_protocol);
    if (socket >= 0 && ::connect(socket, address->ai_addr, address->ai_addrlen) != 0) {
      ::close(socket);
      socket = -1;
    }
  }
  ::freeaddrinfo(addresses);
  if (socket < 0) return std::nullopt;
  std::string head = "POST " + path + " HTTP/1.1\r\nHost: " + authority + "\r\nContent-Type: " +
                     std::string(content_type) + "\r\nContent-Length: " + std::to_string(length) +
                     "\r\nExpect: 100-continue\r\nConnection: close\r\n";
  if (key) head += "Authorization: Bearer " + *key + "\r\n";
  for (auto const& [name, value] : headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  std::optional<Response> answer;
  if (::send(socket, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size())) {
    std::string received;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    receive_until(socket, received, deadline,
                  [](std::string const& text) { return text.find("\r\n\r\n") != std::string::npos; });
    std::size_t end = received.find("\r\n\r\n");
    int status = 0;
    if (end != std::string::npos && received.starts_with("HTTP/1.") && received.size() > 12)
      status = std::atoi(received.substr(9, 3).c_str());
    if (status >= 200) {
      Response response;
      response.status = status;
      std::size_t length_at = std::string::npos;
      std::size_t line = received.find("\r\n") + 2;
      while (line < end) {
        std::size_t next = received.find("\r\n", line);
        std::string field = received.substr(line, next - line);
        std::size_t separator = field.find(':');
        if (separator != std::string::npos) {
          std::string name = field.substr(0, separator);
          std::string value = field.substr(separator + 1);
          value.erase(0, value.find_first_not_of(' '));
          response.headers.emplace(name, value);
          std::string lower = name;
          std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
          if (lower == "content-length") length_at = static_cast<std::size_t>(std::strtoull(value.c_str(), nullptr, 10));
        }
        line = next + 2;
      }
      std::size_t wanted = length_at == std::string::npos ? 0 : std::min<std::size_t>(length_at, 1u << 16);
      receive_until(socket, received, deadline,
                    [&](std::string const& text) { return text.size() >= end + 4 + wanted; });
      response.body = received.substr(end + 4, wanted);
      answer = std::move(response);
    }
  }
  ::close(socket);
  return answer;
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

Gateway::Gateway(std::string url, std::unique_ptr<httplib::Client> client, std::optional<std::string> key)
    : url_(std::move(url)), client_(std::move(client)), key_(std::move(key)) {}

Result<Gateway> Gateway::open(GatewaySettings const& settings) {
  Result<std::string> base = normalize_gateway_url(settings.url);
  if (!base.ok()) return base.failure();
  // A gateway that answers before reading a body (413) closes the connection under the body being
  // sent: that must be a send error to handle, not a signal that ends mettctl silently.
  std::signal(SIGPIPE, SIG_IGN);

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
  return Gateway(base.value(), std::move(client), settings.key);
}

Result<Response> Gateway::finish(httplib::Result result, std::string_view method, std::string const& path) {
  if (!result) {
    return platform_failure(std::string(method) + " " + url_ + path + ": " + describe_transport_error(result.error()));
  }
  return Response{result->status, std::move(result->body), std::move(result->headers)};
}

Result<Response> Gateway::get(std::string const& path) { return finish(client_->Get(path), "GET", path); }

Result<Response> Gateway::post(std::string const& path, httplib::Headers const& headers, std::string const& body) {
  constexpr std::string_view type = "application/octet-stream";
  httplib::Result result = client_->Post(path, headers, body, std::string(type));
  // The gateway may have answered from the head alone (a body over its limit: 413) and closed
  // while the body was still going out; ask again without the body to learn its answer.
  if (!result && !body.empty() && (result.error() == httplib::Error::Write || result.error() == httplib::Error::Read)) {
    if (auto answer = early_answer(url_, key_, path, headers, body.size(), type)) return std::move(*answer);
  }
  return finish(std::move(result), "POST", path);
}

Result<Response> Gateway::get_stream(std::string const& path, std::function<bool(std::string_view)> const& receive) {
  int status = 0;
  std::string refused;
  httplib::Result result = client_->Get(
      path,
      [&](httplib::Response const& response) {
        status = response.status;
        return true;
      },
      [&](char const* data, std::size_t length) {
        if (status != 200) {
          if (refused.size() < (1u << 16)) refused.append(data, length);
          return true;
        }
        return receive(std::string_view(data, length));
      });
  if (!result) return finish(std::move(result), "GET", path);
  return Response{result->status, std::move(refused), std::move(result->headers)};
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
