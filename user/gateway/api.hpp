// The HTTP API of docs/API.md over the container manager: routing, API keys, the mapping of
// manager statuses to HTTP statuses, JSON bodies and the gateway's metrics. Pure: the manager is
// reached through a Backend, so the whole mapping is host-tested with a fake one (tests/gateway).
// Invariant: every request gets exactly one Response, and every error Response carries a JSON
// body {"error": ...}; bodies are built in bounded buffers, and an overflow becomes a 500. One
// Gateway per worker thread (its own storage); what the workers share is in GatewayShared, whose
// members lock themselves.
#pragma once

#include "admission.hpp"
#include "async.hpp"
#include "catalog.hpp"
#include "config.hpp"
#include "connection.hpp"
#include "http.hpp"
#include "images.hpp"
#include "invoke_limits.hpp"
#include "logs.hpp"
#include "manager/protocol.hpp"
#include "metrics.hpp"
#include "records.hpp"
#include "sys/body.hpp"
#include "window_budget.hpp"

namespace gateway {

// One manager reply, as the Backend got it.
// A NameRequest (REMOVE, DESCRIBE) for `name`.
manager::NameRequest name_request(const char* name);

struct ManagerReply {
  bool delivered = false;  // False when the IPC itself failed (then status is meaningless).
  // Not delivered because no manager worker took the request within the call's send timeout
  // (nothing was sent, so no answer can come later).
  bool timed_out = false;
  u32 status = manager::STATUS_INTERNAL_ERROR;
  // INVOKE: where the function's log tail starts in the InvokeReply (protocol.hpp), in bytes; 0
  // when there is none.
  u64 log_offset = 0;
  u64 word_count = 0;
  u64 words[metteagle::abi::MESSAGE_WORDS] = {};
  // The reply's body: a copy, not a view of `words` (reading them through another struct type would
  // break the aliasing rules); what the reply did not carry reads as zero.
  template <sys::MessageBody Body>
  Body body() const {
    Body fields;
    sys::load_body(words, word_count, fields);
    return fields;
  }
  // Sets the status and the body (a backend's or a test's answer).
  template <sys::MessageBody Body>
  void set_body(u32 answer_status, const Body& fields, u64 bytes = sizeof(Body)) {
    status = answer_status;
    word_count = sys::store_body(words, fields, bytes);
  }
  manager::InvocationResult result() const { return body<manager::InvokeReply>().result; }
  u64 detail() const { return body<manager::DetailReply>().detail; }
};

// How long a request may wait for a manager worker to take it (the send phase of the call). The
// kernel's IpcCall has no timeout for the reply phase: once taken, the gateway waits for the answer,
// which the manager's own deadline enforcement bounds (docs/NETWORK.md, Gateway).
constexpr u64 CONTROL_SEND_TIMEOUT_NS = 30'000'000'000;  // DEPLOY, REMOVE, LIST, DESCRIBE.
constexpr u64 INVOKE_SEND_MARGIN_NS = 5'000'000'000;     // INVOKE: the function's timeout plus this.

// A body: its bytes, readable by the caller, and, when they lie in a Memory object (a request
// body in its connection's window), that object's handle, so the backend can hand the object on
// (as an invocation's input) instead of copying the bytes.
struct Payload {
  const u8* bytes = nullptr;
  u64 length = 0;
  u64 memory = 0;  // 0: the bytes are in ordinary memory only.
  // An invocation's request environment (INVOKE word 6): NUL-terminated "KEY=value" strings.
  const char* environment = nullptr;
  u64 environment_bytes = 0;
  // A streamed body (RequestPolicy::stream_piece): these bytes start at `offset` of the whole
  // body, and `partial` says more follow; `stream` is the connection's image import state.
  bool partial = false;
  u64 offset = 0;
  ImageStream* stream = nullptr;
};

// An output window's bytes up to this many are read out of it (read_output) rather than mapped
// and sent from it: the buffers that take a response body inline have room for them.
constexpr u64 READ_OUTPUT_BYTES = 2048;

// Where an invocation's output goes when it may be larger than the worker's output buffer: a
// Memory object the manager writes and the connection later sends from, without a copy.
class OutputWindow {
 public:
  // A window of `capacity` bytes: its handle for the backend, 0 when there is no room now.
  virtual u64 open_output(u64 capacity) = 0;
  // Its first `length` bytes, backed and readable, or nullptr when they cannot be.
  virtual const u8* output_bytes(u64 length) = 0;
  // Its first `length` bytes copied to `target` (a small output: the window need not be mapped).
  virtual bool read_output(u8* target, u64 length) = 0;
  // A writable window of `capacity` bytes, backed whole, lent to the image store for an
  // import's pieces (`selector`: its Memory); nullptr when there is none.
  virtual u8* staging(u64, u64&) { return nullptr; }

 protected:
  ~OutputWindow() = default;
};

// The manager, as the gateway needs it. `sub_tenant` goes into label bits 16-31 of each request.
class Backend {
 public:
  // arguments: a Linux function's argv[1..] (NUL-terminated strings, argument_bytes in all).
  virtual ManagerReply deploy(u32 sub_tenant, const char* name, const Payload& image,
                              const manager::FunctionConfig& config, const char* arguments, u64 argument_bytes) = 0;
  // Input inline, in its own Memory object (input.memory) or copied into a fresh one (by size).
  // The output (at most output_capacity bytes) lands in the Memory object `output_memory` when
  // that is not 0 (an OutputWindow's), else in `output`; result().output_size says how much of it
  // there is. A request no manager worker takes within send_timeout_ns is not sent (timed_out).
  virtual ManagerReply invoke(u32 sub_tenant, const char* name, const Payload& input, u8* output,
                              u64 output_capacity, u64 output_memory, u64 send_timeout_ns) = 0;
  // REMOVE, LIST, DESCRIBE, CONFIGURE, STATS: the first `bytes` bytes of the request's body
  // (protocol.hpp); call() is the typed way to send one.
  virtual ManagerReply request(u32 sub_tenant, u32 kind, const void* body, u64 bytes) = 0;
  template <sys::MessageBody Body>
  ManagerReply call(u32 sub_tenant, u32 kind, const Body& body, u64 bytes = sizeof(Body)) {
    return request(sub_tenant, kind, &body, bytes < sizeof(Body) ? bytes : sizeof(Body));
  }
  // CONFIGURE and DEPLOY_IMAGE whose strings do not fit the message: the first `bytes` bytes of the
  // body, and `strings` in a Memory object of their own (capabilities[0], Read).
  virtual ManagerReply request_with_strings(u32 sub_tenant, u32 kind, const void* body, u64 bytes, const char* strings,
                                            u64 strings_bytes) = 0;
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
  bool body_in_window = false;  // `body` lies in the request's OutputWindow (send it from there).
  bool more = false;  // A streamed body's piece was taken: no answer yet, the body goes on.
  // GET /system/logs?follow=true: the body is the first chunk of a chunked stream that the
  // connection keeps open, sending the function's new lines (Gateway::follow_logs) until the
  // client closes or FOLLOW_LIMIT_US passes.
  bool follow = false;
  u32 follow_tenant = 0;
  char follow_name[manager::NAME_BYTES] = {};
  u64 follow_after = 0;  // The log sequence the stream goes on from.
  // GET /metrics: the body is the page, sent chunked in pieces of about PAGE_PIECE_BYTES that the
  // connection renders (Gateway::metrics_piece) each time the client has taken the last one.
  bool page = false;
  PageCursor page_cursor;
  // A page's framing (the connection decides): chunked to an HTTP/1.1 client, else no length at
  // all, the body ending when the connection closes (HTTP/1.0 knows no chunks).
  bool chunked = true;
};

// A /metrics piece's budget (one chunk), and what one unit of the page (a series, a family's
// head, one of the gateway's parts) takes at most beyond it: a piece never needs more than their
// sum, whatever the number of functions.
constexpr usize PAGE_PIECE_BYTES = 32 * 1024;
constexpr usize PAGE_UNIT_BYTES = 16 * 1024;

// How long one follow stream lasts at most (then its last chunk; mettctl asks again), and how
// often a quiet one sends an empty line so that clients and proxies do not time it out.
constexpr u64 FOLLOW_LIMIT_US = 600'000'000;
constexpr u64 FOLLOW_KEEPALIVE_US = 15'000'000;

const char* reason_phrase(u32 status);

// Writes the status line and headers of `response` into `output`.
void render_response_head(const Response& response, bool keep_alive, Buffer& output);

struct GatewayStorage {
  char* text;           // JSON and log bodies.
  usize text_capacity;
  u8* output;           // Invocation output.
  usize output_capacity;
  // A deploy's strings (arguments, environment, secret files: DeployStrings), too large for the
  // stack; nullptr: deploys take only what fits a message.
  char* strings = nullptr;
  usize strings_capacity = 0;
};
// What a deploy's strings take at most (protocol.hpp), with room for envProcess's words before them
// (at most its own bytes and a NUL: DEPLOY_ARGUMENT_ROOM).
constexpr usize DEPLOY_ARGUMENT_ROOM = MAX_ENV_PROCESS_BYTES + 1;
constexpr usize DEPLOY_STRINGS_BYTES =
    DEPLOY_ARGUMENT_ROOM + manager::MAX_STRINGS_BYTES + manager::MAX_SECRET_FILES_BYTES;

// A deploy's strings for the manager (protocol.hpp, CONFIGURE and DEPLOY_IMAGE): the arguments,
// the environment ("KEY=value") and the secret files, each a run of bytes (sent back to back).
struct DeployStrings {
  const char* arguments = nullptr;
  u64 argument_bytes = 0;
  const char* environment = nullptr;
  u64 environment_bytes = 0;
  const char* secrets = nullptr;
  u64 secret_bytes = 0;
  u64 total() const { return argument_bytes + environment_bytes + secret_bytes; }
};

// Where the event loop sends a complete request (Gateway::admission_of), and for which tenant.
struct AdmissionRoute {
  enum class Lane { Loop, Invocation, Control };
  Lane lane = Lane::Loop;
  u32 tenant = 0;  // The API key's tenant (Invocation and Control).
};

// State of the whole gateway, shared by the worker threads.
// The largest request bodies and invocation outputs, set at boot (the key file's max_body_mib=).
struct BodyLimits {
  u64 body = DEFAULT_BODY_LIMIT;  // A request body, and an invocation's output.
  char body_message[64] = {};     // "body larger than 32 MiB (the gateway's limit)"
  char executable_message[64] = {};
  void configure(u64 body_bytes);
};

// A Backend that forwards to another and, after every request that may change or remove a
// function (anything but INVOKE, LIST, DESCRIBE and STATS), answered or not, makes InvokeLimits
// forget what it kept: every Gateway reaches the manager through one.
class ChangeTracking final : public Backend {
 public:
  ChangeTracking(Backend& backend, InvokeLimits& limits) : backend_(backend), limits_(limits) {}
  ManagerReply deploy(u32 sub_tenant, const char* name, const Payload& image, const manager::FunctionConfig& config,
                      const char* arguments, u64 argument_bytes) override {
    ManagerReply reply = backend_.deploy(sub_tenant, name, image, config, arguments, argument_bytes);
    limits_.invalidate();
    return reply;
  }
  ManagerReply invoke(u32 sub_tenant, const char* name, const Payload& input, u8* output, u64 output_capacity,
                      u64 output_memory, u64 send_timeout_ns) override {
    return backend_.invoke(sub_tenant, name, input, output, output_capacity, output_memory, send_timeout_ns);
  }
  ManagerReply request(u32 sub_tenant, u32 kind, const void* body, u64 bytes) override {
    ManagerReply reply = backend_.request(sub_tenant, kind, body, bytes);
    if (may_change(kind)) limits_.invalidate();
    return reply;
  }
  ManagerReply request_with_strings(u32 sub_tenant, u32 kind, const void* body, u64 bytes, const char* strings,
                                    u64 strings_bytes) override {
    ManagerReply reply = backend_.request_with_strings(sub_tenant, kind, body, bytes, strings, strings_bytes);
    if (may_change(kind)) limits_.invalidate();
    return reply;
  }
  u64 now_microseconds() override { return backend_.now_microseconds(); }
  u64 ticks_to_microseconds(u64 ticks) override { return backend_.ticks_to_microseconds(ticks); }

  static bool may_change(u32 kind) {
    kind = manager::request_kind(kind);
    return kind != manager::LIST && kind != manager::DESCRIBE && kind != manager::STATS && kind != manager::INVOKE;
  }

 private:
  Backend& backend_;
  InvokeLimits& limits_;
};

struct GatewayShared {
  GatewayShared(const ApiKey* key_table, usize count, u64 body_limit = DEFAULT_BODY_LIMIT)
      : keys(key_table), key_count(count) {
    key_index.build(key_table, count);
    (void)tenants.configure(key_table, count);  // parse_keys leaves keys and tenants distinct.
    admission.configure(tenants, key_table, count, INVOCATION_THREADS);
    control.configure_control(tenants, key_table, count, CONTROL_WORKERS, CONTROL_QUEUE);
    follows.configure(tenants);
    bodies.configure(body_limit);
    for (usize index = 0; index < count; ++index) {
      metrics.set_quota(key_table[index].sub_tenant, key_table[index].function_quota);
      catalog.set_quota(key_table[index].sub_tenant, key_table[index].function_quota);
    }
  }
  // Where the per-tenant state too large to hold for every key at once lives (main.cpp: spans of
  // the gateway's factory charged to each tenant's window budget; tests: the heap): the log
  // rings, the async job rings and the envProcess pools, each tenant's backed on its first use.
  // Once, before the workers run; until then no line is kept, no async job queued and no
  // envProcess fits.
  void configure_tenant_memory(SliceMemory* log_memory, SliceMemory* async_memory, SliceMemory* pool_memory) {
    logs.configure(tenants, log_memory);
    async.configure(tenants, async_memory);
    catalog.configure_pools(pool_memory, &tenants);
  }
  // What one function's state takes in the per-function tables (function_bound()).
  static constexpr usize FUNCTION_STATE_BYTES = Metrics::ENTRY_BYTES + Catalog::ENTRY_BYTES;
  // Where the per-function tables live (main.cpp: the gateway's factory; tests: the heap) and
  // how many functions they hold state for in all; once, before the workers run. Until then every
  // deploy is refused (507).
  void configure_tables(TableMemory* series, TableMemory* entries, usize bound) {
    metrics.configure(series, bound);
    catalog.configure(entries, bound);
  }
  // The threads that run admitted invocations (main.cpp), apart from the workers that answer
  // every other request: invocations running at once over all tenants. With the 4 workers, as
  // many as the manager's 16 workers, so a call the gateway makes never queues behind another
  // of its own at the manager.
  static constexpr usize INVOCATION_THREADS = 12;
  // The workers (main.cpp) that answer every request but invocations and GET /healthz: deploys,
  // listings, describes, image pushes, secrets, logs, /metrics ("control requests").
  static constexpr usize CONTROL_WORKERS = 4;
  // Control requests a tenant may have waiting for a worker (then 429).
  static constexpr u32 CONTROL_QUEUE = 64;
  const ApiKey* keys;  // Read-only once the workers run.
  usize key_count;
  KeyIndex key_index;    // Finds a request's key in O(1) (authenticate).
  TenantSlots tenants;   // Each key's tenant's slot in every per-tenant table.
  Metrics metrics;
  // Every tenant's invocations: running, limits, queues, 429s and 503s (the event loop admits).
  TenantAdmission admission;
  // Every tenant's control requests on the workers, the same way: each tenant's share of the
  // workers, its queue of CONTROL_QUEUE, 429s and 503s (the event loop admits).
  TenantAdmission control;
  BodyLimits bodies;
  ConnectionStats* connections = nullptr;  // The connection layer's counters, when it has them.
  WindowBudget* windows = nullptr;  // The window memory's shares per tenant (main.cpp), when it has them.
  Catalog catalog;  // OpenFaaS metadata of deployments (labels, annotations, ...).
  InvokeLimits invoke_limits;  // Each function's output limit and timeout, as last described.
  FunctionLogs logs;  // Functions' log lines per tenant (/system/logs).
  FollowStreams follows;  // Open /system/logs?follow=true streams per tenant.
  RecordIndex records;  // The current record in the image store of each deployed function.
  RecordIndex secrets;  // The current blob in the image store of each tenant's secret.
  // Asynchronous invocations (/async-function/): the jobs waiting, where their larger bodies wait
  // (null: the route answers 503), and how the async threads are woken for a new job.
  AsyncQueue async;
  AsyncInputs* async_inputs = nullptr;
  void (*async_wake)() = nullptr;
};

// How an asynchronous job's invocation ended: the response the synchronous call would have sent
// (its body in the runner's storage or OutputWindow) and how long it took.
struct AsyncRun {
  Response response;
  u64 duration_us = 0;
};

class Gateway final : public RequestPolicy {
 public:
  Gateway(Backend& backend, GatewayShared& shared, GatewayStorage storage)
      : tracked_(backend, shared.invoke_limits), backend_(tracked_), shared_(shared), storage_(storage) {}

  // Answers one complete request (head parsed, body received and decoded). `output`: where a
  // large invocation output goes (without one, only what fits the worker's output buffer).
  void handle(const RequestHead& head, const Payload& body, Response& response, OutputWindow* output = nullptr);
  // An error response with {"error": message}, for the connection layer (400, 413, 431, 408).
  void error(Response& response, u32 status, const char* message);
  // A refusal of the connection layer: error() plus the headers its status needs (401's
  // WWW-Authenticate).
  void refusal(Response& response, u32 status, const char* message);

  // RequestPolicy: the body limit of a request (a deploy's executable, or any other body) and the
  // early answer to "Expect: 100-continue" (no route 404, wrong method 405, no valid key 401, a
  // function name that cannot exist 404).
  u64 body_limit(const RequestHead& head) const override;
  const char* body_limit_message(const RequestHead& head) const override;
  u32 screen(const RequestHead& head, const char*& message) const override;
  u64 stream_piece(const RequestHead& head) const override;
  // Where the event loop sends a complete request (docs/NETWORK.md, "Fairness"): Loop, answered
  // there with handle(), needing neither a thread nor the manager (GET and HEAD /healthz, so that
  // it answers however busy the threads are, and every request without a valid key: its 401, 404
  // or 405, so that no such request takes a tenant's place); Invocation (/function/{name} with a
  // valid key: its tenant's invocation admission); Control (every other request with a valid key:
  // its tenant's control admission, in front of the workers).
  AdmissionRoute admission_of(const RequestHead& head) const;
  // 429 for a request its tenant's admission refused (invocations: its limit running and its
  // queue full; control requests: its queue full); 503 for one dropped after waiting in its
  // tenant's queue too long. Both with Retry-After.
  void over_admission(Response& response, AdmissionRoute::Lane lane, u32 tenant);
  void queue_timeout(Response& response, AdmissionRoute::Lane lane);

  // The image store behind /system/images (null: those routes answer 503).
  void set_image_store(ImageStore* images) { images_ = images; }
  // Ends the import of a request that will not be answered (its connection went away).
  void abandon_stream(ImageStream& stream);
  // Where deployed functions are kept (records.hpp; null: they are not kept across restarts).
  void set_record_store(RecordStore* records) { records_ = records; }
  // At boot, before any request: deploys every function the store has a record of (restore.cpp).
  // `report` gets one line per record that could not be restored (the boot goes on). Returns the
  // number restored.
  usize restore_functions(void (*report)(const char* line));

  // An async thread runs a job take() handed it: the invocation, as /function/{name} would have
  // (its output in `output` when larger than the thread's buffer). The job's input stays kept.
  void run_async(const AsyncJob& job, AsyncRun& run, OutputWindow* output);
  // The job has ended: its input is dropped, its log line kept ("async call=<id> status=<HTTP
  // status> callback=..."), the queue counts it. `callback`: what came of the callback in words.
  void finish_async(const AsyncJob& job, u32 status, AsyncQueue::Outcome outcome, const char* callback);

  Metrics& metrics() { return shared_.metrics; }
  TenantAdmission& admission() { return shared_.admission; }
  TenantAdmission& control() { return shared_.control; }
  // A follow stream's next lines (those after `after`, which moves on): as many as fit `output`.
  void follow_logs(u32 tenant, const char* name, u64& after, Buffer& output) const {
    shared_.logs.render_after(tenant, name, after, output);
  }
  // A follow stream answered (Response::follow) has ended, or was never started (HEAD).
  void end_follow(u32 tenant) { shared_.follows.leave(tenant); }
  // The next piece of a /metrics page (Response::page): whole units appended to `output` until it
  // holds `budget` bytes or more (at most PAGE_UNIT_BYTES beyond), or the piece has looked at
  // Metrics::SLOTS_PER_PIECE table slots (then it may be short, even empty); each lock held for
  // one piece at most. True when the page is complete (`output` may then have got nothing).
  bool metrics_piece(PageCursor& cursor, Buffer& output, usize budget) const;

 private:
  void deploy(const ApiKey& key, const RequestHead& head, const Payload& body, Response& response);
  // A deploy's room in the gateway's per-function tables (its metrics series and, for an OpenFaaS
  // deploy, its catalog entry), reserved before the deploy is made and given back when the deploy
  // does not answer 2xx (the scope's end). When the gateway cannot hold the function, hold()
  // answers 507 naming the bound and the deploy must not be made.
  class FunctionRoom {
   public:
    FunctionRoom(GatewayShared& shared, u32 tenant, const char* name, const Response& response)
        : shared_(shared), tenant_(tenant), name_(name), response_(response) {}
    FunctionRoom(const FunctionRoom&) = delete;
    FunctionRoom& operator=(const FunctionRoom&) = delete;
    ~FunctionRoom();
    bool hold(Gateway& gateway, bool metadata, Response& response);

   private:
    GatewayShared& shared_;
    u32 tenant_;
    const char* name_;
    const Response& response_;
    bool series_made_ = false;
    bool entry_made_ = false;
  };
  // The 507 of a deploy the gateway's tables cannot hold (`limit`: the tenant's, `bound`: all).
  void no_function_room(Response& response, TableRefusal why, usize limit, usize bound, u64 quota);
  // The native deploy from its X-Function-Config text; `name_override` (a restore) replaces its name.
  void deploy_native(const ApiKey& key, Slice header, const Payload& body, Response& response,
                     const char* name_override = nullptr);
  void list(u32 tenant, Response& response);
  void describe(u32 tenant, Slice name, Response& response);
  void remove(u32 tenant, Slice name, Response& response);
  // head and sub_path: /function/{name}[sub_path] as the function's Http_* environment.
  void invoke(u32 tenant, Slice name, const Payload& body, Response& response, OutputWindow* output,
              const RequestHead* head = nullptr, Slice sub_path = {});
  // OpenFaaS's routes (faas_routes.cpp): deploy and update (PUT) with a FunctionDeployment, delete
  // with {"functionName": ...}, FunctionStatus, the provider's info, scale.
  static bool is_json_deployment(const RequestHead& head, const Payload& body);
  // `service_override` (a restore) replaces the deployment's service; `source_self` takes the
  // function's own executable (a restore's later layers) instead of resolving `image`.
  void faas_deploy(const ApiKey& key, const Payload& body, Response& response, bool replace,
                   const char* service_override = nullptr, bool source_self = false);
  void faas_deploy_from_store(const ApiKey& key, const FunctionDeployment& deployment, DeployStrings strings,
                              Response& response, bool replace);
  void faas_delete(u32 tenant, const Payload& body, Response& response);
  void faas_status(u32 tenant, Slice name, Response& response);
  void faas_info(Response& response);
  void faas_scale(u32 tenant, Slice name, const Payload& body, Response& response);
  // The OpenFaaS FunctionStatus members of a function (after "{\"name\": ..." has been written).
  void append_status_members(Buffer& output, u32 tenant, const char* name, const ManagerReply& described);
  void logs(u32 tenant, const RequestHead& head, Response& response);
  // POST /async-function/{name}[sub_path]: checks the callback URL, queues the job, 202 with its
  // X-Call-Id (async.hpp).
  void async_invoke(u32 tenant, Slice name, const RequestHead& head, Slice sub_path, const Payload& body,
                    Response& response);
  // Keeps an invocation's log lines: its stderr tail, the stdout of a failure, the result line.
  void record_logs(u32 tenant, const char* name, const ManagerReply& reply, const InvocationRecord& record,
                   const u8* failed_output, u64 failed_output_size);
  // Begins the /metrics page of `tenant` (ALL_TENANTS: an operator's), asking the manager for its
  // figures now; the loop renders the page in pieces (metrics_piece).
  void metrics_page(Response& response, u32 tenant);
  // The manager's pool and shares (STATS), asked for when an operator's page begins.
  bool manager_stats(manager::ManagerStats& stats);
  void manager_error(Response& response, const ManagerReply& reply);
  // 429: the tenant's asynchronous queue is full.
  void async_full(u32 tenant, Response& response);
  // SET_TENANT_QUOTA with the key's functions= (nothing without one).
  void send_quota(const ApiKey& key);
  // Appends one function's JSON object from a DESCRIBE reply.
  void append_function(Buffer& output, u32 tenant, const char* name, const ManagerReply& described);
  void finish_json(Response& response, u32 status, const Buffer& body);
  ManagerReply describe_request(u32 tenant, const char* name);
  // Images (images.cpp): push, list, remove, and deploy by image reference.
  void push_image(u32 tenant, const RequestHead& head, const Payload& body, Response& response, OutputWindow* window);
  void list_images(u32 tenant, Response& response);
  void remove_image(u32 tenant, Slice name, Response& response);
  // `has_arguments`: the arguments replace the image's Cmd; `replace`: an update in place of the
  // live function `name` (DEPLOY_IMAGE_REPLACE; 404 when there is none).
  void deploy_image(u32 tenant, const char* name, const char* image, bool has_arguments, const DeployStrings& strings,
                    const manager::FunctionConfig& config, Response& response, bool replace = false);
  // Sends CONFIGURE or DEPLOY_IMAGE: the body up to `inline_field`, with the strings there when they
  // fit `inline_capacity`, else in a Memory object (undelivered when they have no room).
  ManagerReply send_with_strings(u32 tenant, u32 kind, const void* body, char* inline_field, u64 inline_capacity,
                                 const DeployStrings& strings);
  void import_error(Response& response, const StoreReply& reply);
  void store_error(Response& response, const StoreReply& reply);

  // Persistence (restore.cpp). save_record writes the function's new record, made of a native
  // deploy (`config` and `executable`), or the current record of `base` (the function whose
  // executable it took), then `layer` (a FunctionDeployment), and drops the one it replaces; false
  // with `why` when it could not be made durable. keep_deploy() calls it after a successful deploy
  // and undoes a create that could not be kept (503); forget_record() removes a function's record.
  bool save_record(u32 tenant, bool console, const char* name, Slice config, const Payload* executable,
                   const char* base, Slice layer, const char*& why);
  void keep_deploy(u32 tenant, bool console, const char* name, Slice config, const Payload* executable,
                   const char* base, Slice layer, bool replace, Response& response);
  bool forget_record(u32 tenant, const char* name);
  bool restore_one(const char* record, u32 tenant, const char* name, u64 sequence, void (*report)(const char* line));
  // /system/secrets (secrets.cpp): list (names only), create, update, delete; the boot's index of
  // what the store keeps.
  void secrets(u32 tenant, const RequestHead& head, const Payload& body, Response& response);
  void restore_secrets(void (*report)(const char* line));
  // The secret files of the secrets a deployment names (protocol.hpp's entries, their current
  // values read from the store) into out[0, capacity): their bytes; false with a 400 naming the
  // first secret the tenant does not have, or a 503 when the store fails.
  bool secret_files(u32 tenant, const FunctionDeployment& deployment, char* out, usize capacity, u64& bytes,
                    Response& response);

  ChangeTracking tracked_;
  Backend& backend_;  // tracked_: the manager, as every request reaches it.
  GatewayShared& shared_;
  GatewayStorage storage_;
  ImageStore* images_ = nullptr;
  RecordStore* records_ = nullptr;
  bool restoring_ = false;  // Replaying records at boot: nothing is written back.
};

}  // namespace gateway
