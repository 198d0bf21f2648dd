// HealthResponder: a tiny HTTP/1.1 responder on one TCP port, answering `GET /healthz` with
// `200 OK` and the body `ok`, anything else with 404 (or 400 when the request is malformed).
// It proves the path host -> virtio-net -> lwIP -> reply until the gateway takes the port.
// Invariant: each connection answers one request and is then closed by the server.
#pragma once

#include "sys/types.hpp"

namespace net {

// Starts listening on `port` on every address; false when lwIP refuses (port taken, no memory).
bool start_health_responder(sys::u16 port);

// Pure logic, unit-testable: the response for one complete request head.
struct HttpAnswer {
  const char* text;
  sys::usize length;
};
HttpAnswer answer_request(const char* head, sys::usize length);

}  // namespace net
