// The gateway's HTTP/1.1 request-head parser: pure, freestanding, host-tested (tests/gateway).
// Invariant: a head is accepted only when every byte of it was checked against the grammar
// (RFC 9112 subset: CRLF line ends, token methods and header names, origin-form targets, no
// obsolete line folding, one body length: Content-Length or Transfer-Encoding: chunked, never both); anything else is Invalid, and no Slice points outside the input.
#pragma once

#include "text.hpp"

namespace gateway {

constexpr usize MAX_HEAD_BYTES = 8192;         // Request line + headers (docs/API.md).
// Request and response bodies: 32 MiB unless the key file's max_body_mib= says otherwise (1-128).
constexpr u64 DEFAULT_BODY_LIMIT = 32ull << 20;
constexpr u64 MAX_BODY_LIMIT = 128ull << 20;
// An executable (POST /system/functions): the manager's limit (manager::MAX_EXECUTABLE_BYTES).
constexpr u64 MAX_DEPLOY_BODY_BYTES = 16ull << 20;
constexpr usize MAX_HEADERS = 64;
constexpr usize MAX_METHOD_BYTES = 16;

enum class ParseStatus {
  Incomplete,  // No complete head yet, and nothing wrong with the bytes so far.
  Complete,    // head.head_length bytes hold a valid head.
  Invalid,     // Not HTTP/1.x as we accept it: answer 400 and close (head.error says why).
  TooLarge,    // No complete head within MAX_HEAD_BYTES: answer 431 and close.
};

struct Header {
  Slice name;
  Slice value;
};

struct RequestHead {
  Slice method;
  Slice target;  // As sent: path and query.
  Slice path;
  Slice query;   // After '?', without it.
  u64 version_minor = 1;
  Header headers[MAX_HEADERS];
  usize header_count = 0;
  bool has_content_length = false;
  u64 content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
  bool chunked = false;  // Transfer-Encoding: chunked (the body's length comes with it).
  usize head_length = 0;
  const char* error = nullptr;
  u32 error_status = 400;  // The status of an Invalid head: 400, or 501 for an unknown transfer coding.

  // The first header named `name` (case-insensitive), or an empty Slice with data == nullptr.
  Slice header(const char* name) const;
};

ParseStatus parse_request_head(const char* bytes, usize size, RequestHead& head);

// The value of `name` in a query string ("a=1&name=echo"), or a null Slice. No percent-decoding:
// every value the API takes (function names) is plain ASCII.
Slice query_parameter(Slice query, const char* name);

}  // namespace gateway
