// The HTTP API of docs/API.md over the container manager: routing, API keys, the mapping of
// manager statuses to HTTP statuses, JSON bodies and the gateway's metrics. Pure: the manager is
// reached through a Backend, so the whole mapping is host-tested with a fake one (tests/gateway).
// Invariant: every request gets exactly one Response, and every error Response carries a JSON
// body {"error": ...}; bodies are built in bounded buffers, and an overflow becomes a 500. One
// Gateway per worker thread (its own storage); what the workers share is in GatewayShared, whose
// members lock themselves.
#pragma once

#include "config.hpp"
#include "http.hpp"
#include "limits.hpp"
#include "manager/protocol.hpp"
#include "metrics.hpp"

namespace gateway {

// One manager reply, as the Backend got it.
struct ManagerReply {
  bool delivered = false;  // False when the IPC itself failed (then status is meaningless).
  // Not delivered because no manager worker took the request within the call's send timeout
  // (nothing was sent, so no answer can come later).
  bool timed_out = false;
  u32 status = manager::STATUS_INTERNAL_ERROR;
  u64 word_count = 0;
  u64 words[metteagle::abi::MESSAGE_WORDS] = {};
  // A copy, not a view of `words`: reading them through another struct type would break the
  // aliasing rules (the compiler may then read them before the reply was stored).
  manager::InvocationResult result() const {
    manager::InvocationResult fields;
    __builtin_memcpy(&fields, words, sizeof fields);
    return fields;
  }
};

// How long a request may wait for a manager worker to take it (the send phase of the call). The
// kernel's IpcCall has no timeout for the reply phase: once taken, the gateway waits for the answer,
// which the manager's own deadline enforcement bounds (docs/NETWORK.md, Gateway).
constexpr u64 CONTROL_SEND_TIMEOUT_NS = 30'000'000'000;  // DEPLOY, REMOVE, LIST, DESCRIBE.
constexpr u64 INVOKE_SEND_MARGIN_NS = 5'000'000'000;     // INVOKE: the function's timeout plus this.

// The manager, as the gateway needs it. `sub_tenant` goes into label bits 16-31 of each request.
class Backend {
 public:
  // arguments: a Linux function's argv[1..] (NUL-terminated strings, argument_bytes in all).
  virtual ManagerReply deploy(u32 sub_tenant, const char* name, const u8* image, u64 size,
                              const manager::FunctionConfig& config, const char* arguments, u64 argument_bytes) = 0;
  // Input inline or in Memory (by size); the output (at most output_capacity bytes) lands in
  // `output`, and result().output_size says how much of it there is. A request no manager worker
  // takes within send_timeout_ns is not sent (timed_out).
  virtual ManagerReply invoke(u32 sub_tenant, const char* name, const u8* input, u64 input_size, u8* output,
                              u64 output_capacity, u64 send_timeout_ns) = 0;
  // REMOVE, LIST, DESCRIBE: `words` as protocol.hpp lays them out.
  virtual ManagerReply request(u32 sub_tenant, u32 kind, const u64* words, u64 word_count) = 0;
  virtual u64 now_microseconds() = 0;
  virtual u64 ticks_to_microseconds(u64 ticks) = 0;

 protected:
  ~Backend() = default;
};

struct Response {
  u32 status = 200;
  const char* content_type = "application/json";
  const char* body = nullptr;
  usize body_length = 0;
  char extra_headers[384] = {};  // Complete header lines ("X-Call-Id: 5\r\n").
  usize extra_length = 0;
  bool close = false;  // Close the connection after this response.
};

const char* reason_phrase(u32 status);

// Writes the status line and headers of `response` into `output`.
void render_response_head(const Response& response, bool keep_alive, Buffer& output);

struct GatewayStorage {
  char* text;           // JSON and log bodies.
  usize text_capacity;
  u8* output;           // Invocation output.
  usize output_capacity;
  // The /metrics page (else it goes to `output`): the worker's request-body buffer, unused by a
  // GET /metrics (which ignores its body).
  char* page = nullptr;
  usize page_capacity = 0;
};

// State of the whole gateway, shared by the worker threads.
struct GatewayShared {
  GatewayShared(const ApiKey* key_table, usize count) : keys(key_table), key_count(count) {
    limits.configure(key_table, count);
  }
  const ApiKey* keys;  // Read-only once the workers run.
  usize key_count;
  Metrics metrics;
  ConcurrencyLimits limits;
};

class Gateway {
 public:
  Gateway(Backend& backend, GatewayShared& shared, GatewayStorage storage)
      : backend_(backend), shared_(shared), storage_(storage) {}

  // Answers one complete request (head parsed, body of head.content_length bytes received).
  void handle(const RequestHead& head, const u8* body, u64 body_length, Response& response);
  // An error response with {"error": message}, for the connection layer (400, 413, 431, 408).
  void error(Response& response, u32 status, const char* message);
  // The status to answer a head that announces `content_length` before its body is read
  // (0 = read the body and go on): 413 beyond the request's limit (body_limit).
  static u32 check_body_size(const RequestHead& head);
  // MAX_DEPLOY_BODY_BYTES for a deploy (an executable), MAX_BODY_BYTES otherwise.
  static u64 body_limit(const RequestHead& head);

  Metrics& metrics() { return shared_.metrics; }

 private:
  void deploy(const ApiKey& key, const RequestHead& head, const u8* body, u64 body_length, Response& response);
  void list(u32 tenant, Response& response);
  void describe(u32 tenant, Slice name, Response& response);
  void remove(u32 tenant, Slice name, Response& response);
  void invoke(u32 tenant, Slice name, const u8* body, u64 body_length, Response& response);
  void logs(u32 tenant, const RequestHead& head, Response& response);
  void metrics_page(Response& response);
  void render_manager_stats(Buffer& text);
  void manager_error(Response& response, const ManagerReply& reply);
  // 429: the tenant has as many invocations in flight as its key's limit allows.
  void over_limit(u32 tenant, Response& response);
  // Appends one function's JSON object from a DESCRIBE reply.
  void append_function(Buffer& output, const char* name, const ManagerReply& described);
  void finish_json(Response& response, u32 status, const Buffer& body);
  ManagerReply describe_request(u32 tenant, const char* name);

  Backend& backend_;
  GatewayShared& shared_;
  GatewayStorage storage_;
};

}  // namespace gateway
