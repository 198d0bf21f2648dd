// The API's routes and the status mapping of docs/API.md.
#include "api.hpp"

#include "openfaas.hpp"

namespace gateway {
namespace {

using manager::Status;

constexpr u64 MAX_TIMEOUT_MS = 3'600'000;  // One hour; longer is surely a mistake.
constexpr usize MAX_LISTED = 128;
constexpr u64 LIST_ROUNDS = 64;  // Bounded, whatever the manager's counts say.

void add_header(Response& response, const char* name, u64 value) {
  Buffer line(response.extra_headers + response.extra_length, sizeof response.extra_headers - response.extra_length);
  line.append(name);
  line.append(": ");
  line.append_unsigned(value);
  line.append("\r\n");
  if (!line.overflowed()) response.extra_length += line.size();
}

void add_seconds_header(Response& response, const char* name, u64 microseconds) {
  Buffer line(response.extra_headers + response.extra_length, sizeof response.extra_headers - response.extra_length);
  line.append(name);
  line.append(": ");
  line.append_seconds(microseconds);
  line.append("\r\n");
  if (!line.overflowed()) response.extra_length += line.size();
}

void add_text_header(Response& response, const char* line_text) {
  Buffer line(response.extra_headers + response.extra_length, sizeof response.extra_headers - response.extra_length);
  line.append(line_text);
  if (!line.overflowed()) response.extra_length += line.size();
}

}  // namespace

manager::NameRequest name_request(const char* name) {
  manager::NameRequest request;
  manager::pack_name(name, request.name);
  return request;
}

const char* reason_phrase(u32 status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

void render_response_head(const Response& response, bool keep_alive, Buffer& output) {
  output.append("HTTP/1.1 ");
  output.append_unsigned(response.status);
  output.append(" ");
  output.append(reason_phrase(response.status));
  output.append("\r\nServer: metteagle-gateway\r\nContent-Type: ");
  output.append(response.content_type);
  if (response.page) {
    // Its length is known only at its end: chunked, or (HTTP/1.0) ended by the close.
    output.append(response.chunked ? "\r\nTransfer-Encoding: chunked\r\n" : "\r\n");
  } else {
    output.append("\r\nContent-Length: ");
    output.append_unsigned(response.body_length);
    output.append("\r\n");
  }
  output.append(response.extra_headers, response.extra_length);
  output.append(keep_alive && !response.close ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
}

void BodyLimits::configure(u64 body_bytes) {
  body = body_bytes;
  Buffer text(body_message, sizeof body_message - 1);
  text.append("body larger than ");
  text.append_unsigned(body_bytes >> 20);
  text.append(" MiB (the gateway's limit)");
  body_message[text.overflowed() ? 0 : text.size()] = '\0';
  Buffer executable(executable_message, sizeof executable_message - 1);
  executable.append("executable larger than ");
  executable.append_unsigned(MAX_DEPLOY_BODY_BYTES >> 20);
  executable.append(" MiB");
  executable_message[executable.overflowed() ? 0 : executable.size()] = '\0';
}

namespace {

enum class Route { Health, Metrics, Functions, Function, Invoke, AsyncInvoke, Logs, FunctionStatus, Info, Scale, Images, Image, Secrets };

struct RouteMatch {
  bool found = false;
  Route route = Route::Health;
  Slice name;
  Slice sub_path;  // /function/{name}/sub/path: "/sub/path".
  bool allowed = false;
  const char* allow = "";
};

// Whether a sub-path holds a "." or ".." segment, written out or percent-encoded (%2e). Such a
// path is never taken as a function's: /function/mine/../secret must not look like a call of
// "mine", nor reach "secret".
bool has_dot_segment(Slice path) {
  while (path.size > 0) {
    path = path.from(1);  // The segment's leading '/'.
    Slice segment = path.prefix(path.find('/'));
    path = path.from(segment.size);
    usize dots = 0;
    bool only_dots = segment.size > 0;
    for (usize i = 0; i < segment.size && only_dots;) {
      if (segment.data[i] == '.') {
        ++dots, ++i;
      } else if (segment.size - i >= 3 && segment.data[i] == '%' && segment.data[i + 1] == '2' &&
                 (segment.data[i + 2] == 'e' || segment.data[i + 2] == 'E')) {
        ++dots, i += 3;
      } else {
        only_dots = false;
      }
    }
    if (only_dots && dots <= 2) return true;
  }
  return false;
}

// The route of a request and whether its method is one the route takes (HEAD wherever GET).
RouteMatch match_route(const RequestHead& head) {
  constexpr const char FUNCTIONS[] = "/system/functions/";
  constexpr const char INVOKE[] = "/function/";
  constexpr const char ASYNC_INVOKE[] = "/async-function/";
  constexpr const char STATUS[] = "/system/function/";
  constexpr const char SCALE[] = "/system/scale-function/";
  constexpr const char IMAGES[] = "/system/images/";
  Slice path = head.path;
  bool get = head.method.equals("GET") || head.method.equals("HEAD");
  bool post = head.method.equals("POST");
  bool del = head.method.equals("DELETE");
  bool put = head.method.equals("PUT");
  RouteMatch match;
  match.found = true;
  if (path.equals("/healthz")) {
    match.route = Route::Health, match.allowed = get, match.allow = "GET, HEAD";
  } else if (path.equals("/metrics")) {
    match.route = Route::Metrics, match.allowed = get, match.allow = "GET, HEAD";
  } else if (path.equals("/system/functions")) {
    match.route = Route::Functions, match.allowed = get || post || put || del;
    match.allow = "GET, HEAD, POST, PUT, DELETE";
  } else if (path.starts_with(FUNCTIONS) && path.size > sizeof FUNCTIONS - 1) {
    match.route = Route::Function, match.allowed = get || del, match.allow = "GET, HEAD, DELETE";
    match.name = path.from(sizeof FUNCTIONS - 1);
  } else if ((path.starts_with(INVOKE) && path.size > sizeof INVOKE - 1) ||
             (path.starts_with(ASYNC_INVOKE) && path.size > sizeof ASYNC_INVOKE - 1)) {
    // Any method, as OpenFaaS's gateway passes it on; the function sees it as Http_Method.
    bool async = path.starts_with(ASYNC_INVOKE);
    match.route = async ? Route::AsyncInvoke : Route::Invoke, match.allowed = true;
    Slice rest = path.from(async ? sizeof ASYNC_INVOKE - 1 : sizeof INVOKE - 1);
    usize slash = rest.find('/');
    match.name = rest.prefix(slash);
    match.sub_path = rest.from(slash);
    if (has_dot_segment(match.sub_path)) match.name = Slice{};  // Names no function: 404.

  } else if (path.starts_with(STATUS) && path.size > sizeof STATUS - 1) {
    match.route = Route::FunctionStatus, match.allowed = get, match.allow = "GET, HEAD";
    match.name = path.from(sizeof STATUS - 1);
  } else if (path.starts_with(SCALE) && path.size > sizeof SCALE - 1) {
    match.route = Route::Scale, match.allowed = post, match.allow = "POST";
    match.name = path.from(sizeof SCALE - 1);
  } else if (path.equals("/system/info")) {
    match.route = Route::Info, match.allowed = get, match.allow = "GET, HEAD";
  } else if (path.equals("/system/logs")) {
    match.route = Route::Logs, match.allowed = get, match.allow = "GET, HEAD";
  } else if (path.equals("/system/secrets")) {
    match.route = Route::Secrets, match.allowed = get || post || put || del;
    match.allow = "GET, HEAD, POST, PUT, DELETE";
  } else if (path.equals("/system/images")) {
    match.route = Route::Images, match.allowed = get || post, match.allow = "GET, HEAD, POST";
  } else if (path.starts_with(IMAGES) && path.size > sizeof IMAGES - 1) {
    match.route = Route::Image, match.allowed = del, match.allow = "DELETE";
    match.name = path.from(sizeof IMAGES - 1);
  } else {
    match.found = false;
  }
  return match;
}

}  // namespace

u64 Gateway::body_limit(const RequestHead& head) const {
  if (stream_piece(head) != 0) return MAX_IMAGE_ARCHIVE_BYTES;
  if (head.path.starts_with("/async-function/")) return ASYNC_BODY_LIMIT;
  bool deploy = head.method.equals("POST") && head.path.equals("/system/functions");
  return deploy ? MAX_DEPLOY_BODY_BYTES : shared_.bodies.body;
}

const char* Gateway::body_limit_message(const RequestHead& head) const {
  if (stream_piece(head) != 0) return "image archive larger than 16 GiB (the gateway's limit)";
  if (head.path.starts_with("/async-function/")) return "body larger than 1 MiB (the limit of asynchronous invocations)";
  bool deploy = head.method.equals("POST") && head.path.equals("/system/functions");
  return deploy ? shared_.bodies.executable_message : shared_.bodies.body_message;
}

// An image push streams its archive to the store in pieces; every other body comes whole.
u64 Gateway::stream_piece(const RequestHead& head) const {
  return head.method.equals("POST") && head.path.equals("/system/images") ? IMAGE_PIECE_BYTES : 0;
}

u32 Gateway::screen(const RequestHead& head, const char*& message) const {
  RouteMatch match = match_route(head);
  if (!match.found) {
    message = "no such route";
    return 404;
  }
  // A wrong method is answered after the body (405 needs its Allow header); open routes need no key.
  if (!match.allowed || match.route == Route::Health) return 0;
  const ApiKey* key = nullptr;
  Slice authorization = head.header("Authorization");
  if (authorization.data == nullptr || !authenticate(authorization, shared_.key_index, key)) {
    message = "missing or unknown API key";
    return 401;
  }
  if ((match.route == Route::Invoke || match.route == Route::AsyncInvoke || match.route == Route::Function || match.route == Route::FunctionStatus ||
       match.route == Route::Scale) &&
      !is_function_name(match.name)) {
    message = "no such function";
    return 404;
  }
  return 0;
}

AdmissionRoute Gateway::admission_of(const RequestHead& head) const {
  AdmissionRoute route;
  RouteMatch match = match_route(head);
  // handle() answers these before it looks at a key: 404, 405, /healthz.
  if (!match.found || !match.allowed || match.route == Route::Health) return route;
  const ApiKey* key = nullptr;
  Slice authorization = head.header("Authorization");
  if (authorization.data == nullptr || !authenticate(authorization, shared_.key_index, key))
    return route;  // 401.
  route.lane = match.route == Route::Invoke ? AdmissionRoute::Lane::Invocation : AdmissionRoute::Lane::Control;
  route.tenant = key->sub_tenant;
  return route;
}

void Gateway::over_admission(Response& response, AdmissionRoute::Lane lane, u32 tenant) {
  bool control = lane == AdmissionRoute::Lane::Control;
  TenantAdmission& admission = control ? shared_.control : shared_.admission;
  u32 queue = admission.queue_limit(tenant);
  Buffer text(storage_.text, storage_.text_capacity);
  if (control) {
    text.append("{\"error\": \"too many requests waiting: this API key's tenant has ");
    text.append_unsigned(queue);
    text.append(" requests waiting for the gateway's ");
    text.append_unsigned(GatewayShared::CONTROL_WORKERS);
    text.append(" workers already; retry later\", \"queue\": ");
    text.append_unsigned(queue);
  } else {
    u32 limit = admission.running_limit(tenant);
    text.append("{\"error\": \"too many invocations in flight: this API key's tenant may run ");
    text.append_unsigned(limit);
    text.append(" at a time and queue ");
    text.append_unsigned(queue);
    text.append(" more\", \"limit\": ");
    text.append_unsigned(limit);
    text.append(", \"queue\": ");
    text.append_unsigned(queue);
  }
  text.append("}\n");
  finish_json(response, 429, text);
  if (response.status == 429) add_text_header(response, "Retry-After: 1\r\n");
}

void Gateway::queue_timeout(Response& response, AdmissionRoute::Lane lane) {
  error(response, 503, lane == AdmissionRoute::Lane::Control
                           ? "the request waited in its tenant's queue for a worker too long; nothing was done"
                           : "the invocation waited in its tenant's queue too long; it did not run");
  add_text_header(response, "Retry-After: 1\r\n");
}

void Gateway::send_quota(const ApiKey& key) {
  if (key.function_quota == 0) return;
  // The key's own quota, below the manager's: sent before each deploy, as the manager forgets an
  // idle tenant's (protocol.hpp, SET_TENANT_QUOTA). A failure leaves the manager's own quota.
  (void)backend_.call(key.sub_tenant, manager::SET_TENANT_QUOTA, manager::TenantQuotaRequest{key.function_quota, 0});
}

void Gateway::refusal(Response& response, u32 status, const char* message) {
  error(response, status, message);
  if (status == 401) add_text_header(response, "WWW-Authenticate: Bearer realm=\"metteagle\"\r\n");
}

void Gateway::finish_json(Response& response, u32 status, const Buffer& body) {
  if (body.overflowed()) {
    error(response, 500, "response too large for the gateway's buffer");
    return;
  }
  response.status = status;
  response.content_type = "application/json";
  response.body = body.data();
  response.body_length = body.size();
}

void Gateway::error(Response& response, u32 status, const char* message) {
  Buffer body(storage_.text, storage_.text_capacity);
  body.append("{\"error\": ");
  body.append_json_string(message);
  body.append("}\n");
  response.status = status;
  response.content_type = "application/json";
  response.body = body.data();
  response.body_length = body.size();
}

void Gateway::manager_error(Response& response, const ManagerReply& reply) {
  if (reply.timed_out)
    return error(response, 503, "the container manager took no request for 30 s (all its workers are busy)");
  if (!reply.delivered) return error(response, 502, "the container manager did not answer");
  switch (reply.status) {
    case manager::STATUS_BAD_REQUEST: return error(response, 400, "the manager refused the request as malformed");
    case manager::STATUS_NOT_FOUND: return error(response, 404, "no such function");
    case manager::STATUS_NAME_TAKEN: return error(response, 409, "a function of that name exists");
    case manager::STATUS_BUSY: return error(response, 429, "over the concurrency limit");
    case manager::STATUS_QUOTA_EXCEEDED: return error(response, 503, "the manager is out of room");
    case manager::STATUS_TENANT_BUSY:
      // The tenant's own quota of the manager, held by its own running invocations; others are
      // unaffected, and it frees up as they end.
      error(response, 429, "tenant memory quota in use: this tenant's running invocations hold its quota of the "
                           "manager's memory or invocations; retry when they end");
      return add_text_header(response, "Retry-After: 1\r\n");
    case manager::STATUS_TENANT_FUNCTION_LIMIT: {
      Buffer body(storage_.text, storage_.text_capacity);
      body.append("{\"error\": \"function quota reached: this tenant may have ");
      body.append_unsigned(reply.detail());
      body.append(" functions; delete one first\", \"quota\": ");
      body.append_unsigned(reply.detail());
      body.append("}\n");
      return finish_json(response, 507, body);
    }
    case manager::STATUS_STORAGE_EXCEEDED:
      return error(response, 507, "the tenant's storage quota for functions is used up; delete a function first");
    case manager::STATUS_NO_TENANT_SHARE:
      return error(response, 503, "the manager holds as many tenants as it may");
    case manager::STATUS_NO_CAPACITY:
      // Outside an invocation (whose answer says which limit did not fit): a deploy the pool, the
      // arena or the capability slots cannot hold now.
      error(response, 507, "the manager has no room to store another function now");
      return add_text_header(response, "Retry-After: 1\r\n");
    case manager::STATUS_LIMIT_TOO_LARGE: {
      Buffer body(storage_.text, storage_.text_capacity);
      body.append("{\"error\": \"memory limit too large: no invocation can ever be admitted with it; the "
                  "largest is ");
      body.append_unsigned(reply.detail() >> 20);
      body.append(" MiB (the manager's pool and tenant quota)\", \"largest_bytes\": ");
      body.append_unsigned(reply.detail());
      body.append("}\n");
      return finish_json(response, 400, body);
    }
    case manager::STATUS_OUT_OF_MEMORY: return error(response, 503, "the machine is out of memory");
    default: break;
  }
  Buffer body(storage_.text, storage_.text_capacity);
  body.append("{\"error\": \"the manager failed\", \"status\": ");
  body.append_json_string(status_name(reply.status));
  body.append(", \"detail\": ");
  body.append_unsigned(reply.result().detail);
  body.append("}\n");
  finish_json(response, 500, body);
}

void Gateway::handle(const RequestHead& head, const Payload& body, Response& response, OutputWindow* output) {
  response = Response{};
  RouteMatch match = match_route(head);
  if (!match.found) return error(response, 404, "no such route");
  Route route = match.route;
  Slice name = match.name;
  bool post = head.method.equals("POST");
  bool get = head.method.equals("GET") || head.method.equals("HEAD");
  if (!match.allowed) {
    error(response, 405, "method not allowed");
    Buffer line(response.extra_headers, sizeof response.extra_headers);
    line.append("Allow: ");
    line.append(match.allow);
    line.append("\r\n");
    response.extra_length = line.size();
    return;
  }
  if (route == Route::Health) {
    response.content_type = "text/plain";
    response.body = "ok";
    response.body_length = 2;
    return;
  }

  const ApiKey* key = nullptr;
  Slice authorization = head.header("Authorization");
  if (authorization.data == nullptr || !authenticate(authorization, shared_.key_index, key)) {
    error(response, 401, "missing or unknown API key");
    add_text_header(response, "WWW-Authenticate: Bearer realm=\"metteagle\"\r\n");
    return;
  }
  u32 tenant = key->sub_tenant;
  switch (route) {
    // An operator key (the key file's console flag) sees every series; any other key its own.
    case Route::Metrics: return metrics_page(response, key->console ? ALL_TENANTS : tenant);
    case Route::Functions:
      // OpenFaaS's JSON FunctionDeployment, or the native executable with X-Function-Config.
      if (post && head.header("X-Function-Config").data == nullptr && is_json_deployment(head, body))
        return faas_deploy(*key, body, response, false);
      if (post) return deploy(*key, head, body, response);
      if (head.method.equals("PUT")) return faas_deploy(*key, body, response, true);
      if (head.method.equals("DELETE")) return faas_delete(tenant, body, response);
      return list(tenant, response);
    case Route::FunctionStatus: return faas_status(tenant, name, response);
    case Route::Info: return faas_info(response);
    case Route::Scale: return faas_scale(tenant, name, body, response);
    case Route::Function:
      if (get) return describe(tenant, name, response);
      return remove(tenant, name, response);
    case Route::Invoke: return invoke(tenant, name, body, response, output, &head, match.sub_path);
    case Route::AsyncInvoke: return async_invoke(tenant, name, head, match.sub_path, body, response);
    case Route::Logs: return logs(tenant, head, response);
    case Route::Images:
      if (post) return push_image(tenant, head, body, response, output);
      return list_images(tenant, response);
    case Route::Image: return remove_image(tenant, name, response);
    case Route::Secrets: return secrets(tenant, head, body, response);
    default: return error(response, 500, "unrouted request");
  }
}

Gateway::FunctionRoom::~FunctionRoom() {
  if (response_.status >= 200 && response_.status < 300) return;
  if (series_made_) shared_.metrics.forget(tenant_, name_);
  if (entry_made_) shared_.catalog.forget(tenant_, name_);
}

bool Gateway::FunctionRoom::hold(Gateway& gateway, bool metadata, Response& response) {
  u64 quota = 0;
  for (usize index = 0; index < shared_.key_count; ++index)
    if (shared_.keys[index].sub_tenant == tenant_) quota = shared_.keys[index].function_quota;
  if (quota == 0) quota = MANAGER_FUNCTION_QUOTA;
  TableRefusal why = shared_.metrics.reserve(tenant_, name_, series_made_);
  if (why != TableRefusal::None) {
    gateway.no_function_room(response, why, shared_.metrics.limit(tenant_), shared_.metrics.bound(), quota);
    return false;
  }
  if (!metadata) return true;
  why = shared_.catalog.reserve(tenant_, name_, entry_made_);
  if (why != TableRefusal::None) {
    gateway.no_function_room(response, why, shared_.catalog.limit(tenant_), shared_.catalog.bound(), quota);
    return false;  // The destructor gives the series back (the answer is not 2xx).
  }
  return true;
}

void Gateway::no_function_room(Response& response, TableRefusal why, usize limit, usize bound, u64 quota) {
  Buffer body(storage_.text, storage_.text_capacity);
  if (bound == 0) {
    body.append("{\"error\": \"the gateway holds state for at most 0 functions: it had no memory for its "
                "per-function tables at boot\", \"bound\": 0");
  } else if (why == TableRefusal::Tenant && limit == quota) {
    // The tenant's own quota, as the manager would have answered it.
    body.append("{\"error\": \"function quota reached: this tenant may have ");
    body.append_unsigned(quota);
    body.append(" functions; delete one first\", \"quota\": ");
    body.append_unsigned(quota);
  } else if (why == TableRefusal::Tenant) {
    body.append("{\"error\": \"the gateway holds state for at most ");
    body.append_unsigned(bound);
    body.append(" functions, of which this tenant's share is ");
    body.append_unsigned(limit);
    body.append(" (all tenants' quotas add up to more, so each gets an equal share or its whole quota "
                "when smaller); delete one first\", \"limit\": ");
    body.append_unsigned(limit);
    body.append(", \"bound\": ");
    body.append_unsigned(bound);
  } else if (why == TableRefusal::Gateway) {
    body.append("{\"error\": \"the gateway holds state for at most ");
    body.append_unsigned(bound);
    body.append(" functions (a quarter of its memory) and holds that many; delete a function first\", \"bound\": ");
    body.append_unsigned(bound);
  } else {
    body.append("{\"error\": \"the gateway's memory cannot hold another function's state now (its bound is ");
    body.append_unsigned(bound);
    body.append(" functions)\", \"bound\": ");
    body.append_unsigned(bound);
    add_text_header(response, "Retry-After: 1\r\n");
  }
  body.append("}\n");
  finish_json(response, 507, body);
}

void Gateway::deploy(const ApiKey& key, const RequestHead& head, const Payload& body, Response& response) {
  Slice header = head.header("X-Function-Config");
  if (header.data == nullptr) return error(response, 400, "missing X-Function-Config header (JSON configuration)");
  deploy_native(key, header, body, response);
}

void Gateway::deploy_native(const ApiKey& key, Slice header, const Payload& body, Response& response,
                            const char* name_override) {
  u32 tenant = key.sub_tenant;
  send_quota(key);
  DeployConfig parsed;
  const char* why = nullptr;
  if (!parse_deploy_config(header, parsed, why)) {
    char message[160];
    Buffer text(message, sizeof message - 1);
    text.append("bad X-Function-Config: ");
    text.append(why);
    message[text.overflowed() ? 0 : text.size()] = '\0';
    return error(response, 400, message);
  }
  if (name_override != nullptr && !Slice::of(name_override).copy_to(parsed.name, sizeof parsed.name))
    return error(response, 400, "the function name does not fit");
  // The shared console is the operator's: a tenant may not print there (nor forge its lines).
  if (parsed.console && !key.console)
    return error(response, 403,
                 "\"console\": true needs an operator key (the key file's console flag); this API key has none");
  if (parsed.has_env && !parsed.has_image) return error(response, 400, "env is for image functions (\"image\")");
  if (!parsed.has_image && body.length == 0) return error(response, 400, "the body must hold the ELF executable");
  if (parsed.has_image && body.length != 0)
    return error(response, 400, "a function deployed from an image takes no body (the image holds the program)");
  if (parsed.has_timeout && (parsed.timeout_ms == 0 || parsed.timeout_ms > MAX_TIMEOUT_MS))
    return error(response, 400, "timeout_ms must be 1 to 3600000");
  FunctionRoom room(shared_, tenant, parsed.name, response);
  if (!room.hold(*this, false, response)) return;
  manager::FunctionConfig config = manager::DEFAULT_CONFIG;
  if (parsed.has_memory) config.memory_limit_bytes = parsed.memory;
  if (parsed.has_timeout) config.timeout_nanoseconds = parsed.timeout_ms * 1'000'000;
  if (parsed.has_max_output) config.max_output_bytes = parsed.max_output;
  if (parsed.has_max_depth) config.max_nesting_depth = parsed.max_depth;
  if (parsed.has_cpus) config.cpu_mask = parsed.cpus;
  config.grants = parsed.console ? manager::GRANT_CONSOLE : 0;
  config.flags = parsed.linux_executable ? manager::FUNCTION_FLAG_LINUX : 0;
  if (parsed.has_image) {
    deploy_image(tenant, parsed.name, parsed.image, parsed.has_arguments,
                 DeployStrings{parsed.arguments, parsed.argument_bytes, parsed.environment, parsed.environment_bytes,
                               nullptr, 0},
                 config, response);
    if (response.status == 201) keep_deploy(tenant, key.console, parsed.name, header, nullptr, nullptr, {}, false, response);
    return;
  }
  if (parsed.has_arguments && !parsed.linux_executable)
    return error(response, 400, "args are for Linux executables (\"linux\": true)");
  ManagerReply reply = backend_.deploy(tenant, parsed.name, body, config, parsed.arguments,
                                       parsed.argument_bytes);
  if (reply.delivered && reply.status == manager::STATUS_OK) {
    shared_.metrics.open(tenant, parsed.name);  // A fresh function starts with fresh figures.
    shared_.logs.forget(tenant, parsed.name);
    shared_.catalog.forget(tenant, parsed.name);
    Buffer text(storage_.text, storage_.text_capacity);
    text.append("{\"name\": ");
    text.append_json_string(parsed.name);
    text.append("}\n");
    finish_json(response, 201, text);
    return keep_deploy(tenant, key.console, parsed.name, header, &body, nullptr, {}, false, response);
  }
  if (reply.delivered && reply.status == manager::STATUS_BAD_EXECUTABLE) {
    Buffer text(storage_.text, storage_.text_capacity);
    text.append("{\"error\": \"executable rejected\", \"elf_status\": ");
    text.append_unsigned(reply.detail());
    text.append("}\n");
    return finish_json(response, 422, text);
  }
  if (reply.delivered && reply.status == manager::STATUS_BAD_REQUEST)
    return error(response, 400, "configuration rejected by the manager (limits: docs/CONTAINERS.md)");
  if (reply.delivered && reply.status == manager::STATUS_QUOTA_EXCEEDED) {
    Buffer text(storage_.text, storage_.text_capacity);
    text.append("{\"error\": \"the executable's writable and zero-filled segments need more than its memory limit\", "
                "\"needed\": ");
    text.append_unsigned(reply.detail());
    text.append("}\n");
    return finish_json(response, 400, text);
  }
  manager_error(response, reply);
}

ManagerReply Gateway::describe_request(u32 tenant, const char* name) {
  return backend_.call(tenant, manager::DESCRIBE, name_request(name));
}

void Gateway::append_function(Buffer& output, u32 tenant, const char* name, const ManagerReply& described) {
  auto fields = described.body<manager::DescribeReply>();
  output.append("{\"name\": ");
  output.append_json_string(name);
  output.append(", \"size\": ");
  output.append_unsigned(fields.executable_size);
  output.append(", \"memory\": ");
  output.append_unsigned(fields.config.memory_limit_bytes);
  output.append(", \"timeout_ms\": ");
  output.append_unsigned(fields.config.timeout_nanoseconds / 1'000'000);
  output.append(", \"cpus\": ");
  output.append_unsigned(fields.config.cpu_mask);
  output.append(", \"max_output\": ");
  output.append_unsigned(fields.config.max_output_bytes);
  output.append(", \"max_depth\": ");
  output.append_unsigned(fields.config.max_nesting_depth);
  output.append(", \"console\": ");
  output.append((fields.config.grants & manager::GRANT_CONSOLE) != 0 ? "true" : "false");
  output.append(", \"invocations\": ");
  output.append_unsigned(fields.invocations);
  output.append(", \"failures\": ");
  output.append_unsigned(fields.failures);
  // Memory: an image function's tree is shared by all its invocations; each invocation adds only
  // its private bytes (docs/BENCHMARKS.md, Memory of image invocations).
  output.append(", \"tree_bytes\": ");
  output.append_unsigned(fields.tree_bytes);
  output.append(", \"private_bytes_last\": ");
  output.append_unsigned(fields.private_bytes_last);
  output.append(", \"private_bytes_max\": ");
  output.append_unsigned(fields.private_bytes_max);
  append_status_members(output, tenant, name, described);  // OpenFaaS's FunctionStatus too.
  output.append("}");
}

void Gateway::list(u32 tenant, Response& response) {
  char names[MAX_LISTED][manager::NAME_BYTES];  // 4 KiB of the worker's stack.
  usize count = 0;
  u64 index = 0;
  for (u64 round = 0; round < LIST_ROUNDS; ++round) {
    ManagerReply reply = backend_.call(tenant, manager::LIST, manager::ListRequest{index});
    if (!reply.delivered || reply.status != manager::STATUS_OK) return manager_error(response, reply);
    auto listed = reply.body<manager::ListReply>();
    u64 total = listed.total;
    u64 here = listed.count;
    if (here > manager::LIST_NAMES_PER_REPLY) here = manager::LIST_NAMES_PER_REPLY;
    for (u64 entry = 0; entry < here && count < MAX_LISTED; ++entry) {
      if (!manager::unpack_name(listed.names[entry], names[count])) continue;
      ++count;
    }
    index += here;
    if (here == 0 || index >= total) break;
  }
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("[");
  bool first = true;
  for (usize entry = 0; entry < count; ++entry) {
    ManagerReply described = describe_request(tenant, names[entry]);
    if (!described.delivered || described.status != manager::STATUS_OK) continue;  // Removed meanwhile.
    if (!first) text.append(",\n ");
    first = false;
    append_function(text, tenant, names[entry], described);
  }
  text.append("]\n");
  finish_json(response, 200, text);
}

void Gateway::describe(u32 tenant, Slice name, Response& response) {
  char text_name[manager::NAME_BYTES];
  if (!is_function_name(name) || !name.copy_to(text_name, sizeof text_name)) return error(response, 404, "no such function");
  ManagerReply described = describe_request(tenant, text_name);
  if (!described.delivered || described.status != manager::STATUS_OK) return manager_error(response, described);
  Buffer text(storage_.text, storage_.text_capacity);
  append_function(text, tenant, text_name, described);
  text.append("\n");
  finish_json(response, 200, text);
}

void Gateway::remove(u32 tenant, Slice name, Response& response) {
  char text_name[manager::NAME_BYTES];
  if (!is_function_name(name) || !name.copy_to(text_name, sizeof text_name)) return error(response, 404, "no such function");
  // The record first: a delete that answered success stays done across a restart.
  if (!forget_record(tenant, text_name))
    return error(response, 503, "the function's record could not be removed from the image store; nothing was deleted");
  ManagerReply reply = backend_.call(tenant, manager::REMOVE, name_request(text_name));
  if (!reply.delivered || reply.status != manager::STATUS_OK) return manager_error(response, reply);
  shared_.metrics.forget(tenant, text_name);
  shared_.catalog.forget(tenant, text_name);
  shared_.logs.forget(tenant, text_name);
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("{\"deleted\": ");
  text.append_json_string(text_name);
  text.append("}\n");
  finish_json(response, 200, text);
}

void Gateway::invoke(u32 tenant, Slice name, const Payload& body, Response& response, OutputWindow* output,
                     const RequestHead* head, Slice sub_path) {
  char text_name[manager::NAME_BYTES];
  if (!is_function_name(name) || !name.copy_to(text_name, sizeof text_name)) return error(response, 404, "no such function");
  if (body.length > manager::MAX_INPUT_BYTES || body.length > shared_.bodies.body)
    return error(response, 413, shared_.bodies.body_message);
  // Admitted already: the event loop counted it in its tenant's running invocations.
  u64 start = backend_.now_microseconds();
  // The function's output limit decides whether the output comes inline or in Memory. Described
  // once, then kept until some request may have changed a function (InvokeLimits).
  InvokeLimits::Limits limits;
  if (!shared_.invoke_limits.find(tenant, text_name, limits)) {
    u64 epoch = shared_.invoke_limits.epoch();
    ManagerReply described = describe_request(tenant, text_name);
    if (!described.delivered || described.status != manager::STATUS_OK) return manager_error(response, described);
    auto function = described.body<manager::DescribeReply>();
    limits = InvokeLimits::Limits{function.config.max_output_bytes, function.config.timeout_nanoseconds};
    shared_.invoke_limits.store(tenant, text_name, epoch, limits);
  }
  // Taken now: if the function is deleted while it runs, its result counts only in the totals.
  SeriesTicket ticket = shared_.metrics.begin(tenant, text_name);
  u64 capacity = limits.max_output_bytes;
  if (capacity > manager::MAX_OUTPUT_BYTES) capacity = manager::MAX_OUTPUT_BYTES;
  if (capacity > shared_.bodies.body) capacity = shared_.bodies.body;
  // An output that may not fit the worker's buffer goes to the connection's window, and is sent
  // from there.
  u64 output_memory = 0;
  if (output != nullptr && capacity > manager::INLINE_BYTES) {
    output_memory = output->open_output(capacity);
    if (output_memory == 0) return error(response, 503, "no memory for the response now; retry later");
  } else if (capacity > storage_.output_capacity) {
    capacity = storage_.output_capacity;
  }
  u64 send_timeout = limits.timeout_nanoseconds + INVOKE_SEND_MARGIN_NS;
  // The classic watchdog's request environment (Http_Method, Http_Path, ...), for every invocation.
  char environment[manager::INLINE_INPUT_BYTES];
  Payload input = body;
  if (head != nullptr) {
    input.environment = environment;
    input.environment_bytes = watchdog_environment(*head, sub_path, environment, sizeof environment);
  }
  ManagerReply reply =
      backend_.invoke(tenant, text_name, input, storage_.output, capacity, output_memory, send_timeout);
  u64 duration = backend_.now_microseconds() - start;
  if (reply.timed_out) {
    // Nothing was sent: the invocation did not run and counts nowhere.
    return error(response, 504,
                 "the container manager did not take the invocation within the function's timeout plus 5 s "
                 "(all its workers are busy); it did not run");
  }
  if (!reply.delivered) return manager_error(response, reply);
  const manager::InvocationResult& result = reply.result();
  InvocationRecord record;
  record.call_id = result.invocation_id;
  record.status = reply.status;
  record.exit_code = result.exit_code;
  record.detail = result.detail;
  record.output_size = result.output_size;
  record.duration_us = duration;
  record.has_phases = reply.status != manager::STATUS_NOT_FOUND && reply.status != manager::STATUS_BAD_REQUEST &&
                      reply.status != manager::STATUS_BUSY && reply.status != manager::STATUS_TENANT_BUSY &&
                      reply.status != manager::STATUS_NO_CAPACITY;
  record.cold_start_us = backend_.ticks_to_microseconds(result.create_ticks + result.load_ticks);
  bool current = shared_.metrics.record_invocation(ticket, record);
  // The function's output (its stdout, a body of 200 or 500): inline in storage_.output, read
  // there from the window when small (the window then is never mapped here), else in the window,
  // sent from there.
  bool has_output = (reply.status == manager::STATUS_OK || reply.status == manager::STATUS_FAILED) &&
                    result.output_size <= capacity;
  bool in_window = output_memory != 0 &&
                   (result.output_size > READ_OUTPUT_BYTES || result.output_size > storage_.output_capacity);
  const u8* output_bytes = !has_output || output_memory == 0 ? storage_.output
                           : in_window ? output->output_bytes(result.output_size)
                           : output->read_output(storage_.output, result.output_size) ? storage_.output
                                                                                      : nullptr;
  bool failed = reply.status == manager::STATUS_FAILED && has_output;
  if (current) record_logs(tenant, text_name, reply, record, failed ? output_bytes : nullptr, failed ? result.output_size : 0);

  auto add_invocation_headers = [&] {
    add_header(response, "X-Call-Id", result.invocation_id);
    add_seconds_header(response, "X-Duration-Seconds", duration);
    add_header(response, "X-Phase-Create-Ticks", result.create_ticks);
    add_header(response, "X-Phase-Load-Ticks", result.load_ticks);
    add_header(response, "X-Phase-Run-Ticks", result.run_ticks);
    add_header(response, "X-Phase-Teardown-Ticks", result.teardown_ticks);
  };
  Buffer text(storage_.text, storage_.text_capacity);
  switch (reply.status) {
    case manager::STATUS_OK:
      if (result.output_size > capacity) return error(response, 500, "the manager reported more output than room");
      response.status = 200;
      response.content_type = "application/octet-stream";
      if (output_bytes == nullptr) return error(response, 503, "no memory for the response now; retry later");
      response.body = reinterpret_cast<const char*>(output_bytes);
      response.body_length = result.output_size;
      response.body_in_window = in_window;
      add_invocation_headers();
      return;
    case manager::STATUS_FAILED:
      // As OpenFaaS's watchdog does: the function's stdout is the body, the error in a header.
      if (result.output_size > capacity) return error(response, 500, "the manager reported more output than room");
      response.status = 500;
      response.content_type = "application/octet-stream";
      if (output_bytes == nullptr) return error(response, 503, "no memory for the response now; retry later");
      response.body = reinterpret_cast<const char*>(output_bytes);
      response.body_length = result.output_size;
      response.body_in_window = in_window;
      add_header(response, "X-Exit-Code", result.exit_code);
      {
        char line[96];
        Buffer header(line, sizeof line - 1);
        header.append("X-Function-Error: exited with code ");
        header.append_unsigned(result.exit_code);
        header.append("\r\n");
        line[header.size()] = '\0';
        if (!header.overflowed()) add_text_header(response, line);
      }
      break;
    case manager::STATUS_CRASHED:
      text.append("{\"error\": \"function crashed\"");
      text.append(", \"exit_code\": ");
      text.append_unsigned(result.exit_code);
      text.append(", \"fault_address\": ");
      text.append_unsigned(result.detail);
      text.append("}\n");
      finish_json(response, 500, text);
      break;
    case manager::STATUS_QUOTA_EXCEEDED: error(response, 500, "memory limit exceeded"); break;
    case manager::STATUS_NO_CAPACITY: {
      // The pool could not reserve the function's limit now: a capacity answer, never the
      // function's own limit (which it did not reach: it never ran).
      text.append("{\"error\": \"no capacity for a ");
      text.append_unsigned((result.detail + (1u << 20) - 1) >> 20);
      text.append(" MiB invocation now; retry later\", \"memory_limit_bytes\": ");
      text.append_unsigned(result.detail);
      text.append("}\n");
      finish_json(response, 503, text);
      add_text_header(response, "Retry-After: 1\r\n");
      return;
    }
    case manager::STATUS_OUTPUT_TOO_LARGE: error(response, 500, "output larger than the function's max_output"); break;
    case manager::STATUS_TOO_DEEP: error(response, 500, "nested invocations too deep"); break;
    case manager::STATUS_TOO_MANY_CALLS: error(response, 500, "too many nested invocations"); break;
    case manager::STATUS_TIMEOUT: error(response, 504, "function timed out"); break;
    default: return manager_error(response, reply);
  }
  add_invocation_headers();
}

void Gateway::record_logs(u32 tenant, const char* name, const ManagerReply& reply, const InvocationRecord& record,
                          const u8* failed_output, u64 failed_output_size) {
  u64 now = backend_.now_microseconds();
  // The function's stderr tail: the bytes after the inline output, without the NUL padding.
  u64 carried = reply.word_count * 8;
  if (reply.log_offset >= offsetof(manager::InvokeReply, tail) && reply.log_offset < carried) {
    auto answer = reply.body<manager::InvokeReply>();
    const char* bytes = reinterpret_cast<const char*>(&answer) + reply.log_offset;
    usize length = static_cast<usize>(carried - reply.log_offset);
    while (length > 0 && bytes[length - 1] == '\0') --length;
    shared_.logs.append(tenant, name, record.call_id, now, bytes, length);
  }
  // A failed invocation's stdout (its last KiB): what OpenFaaS's watchdog would have logged.
  if (failed_output != nullptr && failed_output_size > 0) {
    u64 length = failed_output_size < 1024 ? failed_output_size : 1024;
    shared_.logs.append(tenant, name, record.call_id, now,
                        reinterpret_cast<const char*>(failed_output + failed_output_size - length),
                        static_cast<usize>(length));
  }
  char line[160];
  Buffer text(line, sizeof line);
  text.append("call=");
  text.append_unsigned(record.call_id);
  text.append(" status=");
  text.append(status_name(record.status));
  text.append(" exit_code=");
  text.append_unsigned(record.exit_code);
  text.append(" output_bytes=");
  text.append_unsigned(record.output_size);
  text.append(" duration_seconds=");
  text.append_seconds(record.duration_us);
  if (!text.overflowed()) shared_.logs.append(tenant, name, record.call_id, now, text.data(), text.size());
}

void Gateway::logs(u32 tenant, const RequestHead& head, Response& response) {
  Slice name = query_parameter(head.query, "name");
  if (name.data == nullptr) return error(response, 400, "missing query parameter name");
  char text_name[manager::NAME_BYTES];
  if (!is_function_name(name) || !name.copy_to(text_name, sizeof text_name)) return error(response, 404, "no such function");
  Slice follow = query_parameter(head.query, "follow");
  bool following = follow.data != nullptr && follow.equals("true");
  if (follow.data != nullptr && !following && !follow.equals("false") && !follow.empty())
    return error(response, 400, "follow must be true or false");
  u64 tail = 0;
  Slice tail_text = query_parameter(head.query, "tail");
  if (tail_text.data != nullptr && !tail_text.empty() && !(tail_text.equals("-1") || parse_decimal(tail_text, tail)))
    return error(response, 400, "tail must be a number of lines");
  u64 since = 0;
  Slice since_text = query_parameter(head.query, "since");
  if (since_text.data != nullptr && !since_text.empty()) {
    // ':' may come percent-encoded (%3A); nothing else in the form needs decoding.
    char decoded[40];
    usize length = 0;
    for (usize i = 0; i < since_text.size && length < sizeof decoded; ++i) {
      if (since_text.data[i] == '%' && i + 2 < since_text.size && since_text.data[i + 1] == '3' &&
          (since_text.data[i + 2] == 'A' || since_text.data[i + 2] == 'a')) {
        decoded[length++] = ':';
        i += 2;
      } else {
        decoded[length++] = since_text.data[i];
      }
    }
    if (!parse_boot_time(Slice{decoded, length}, since))
      return error(response, 400, "since must be a time as createdAt and timestamps show it (RFC 3339, UTC)");
  }
  ManagerReply described = describe_request(tenant, text_name);
  if (!described.delivered || described.status != manager::STATUS_OK) return manager_error(response, described);
  Buffer text(storage_.text, storage_.text_capacity);
  u64 latest = 0;
  shared_.logs.render(tenant, text_name, since, tail, text, &latest);
  if (text.overflowed()) return error(response, 500, "log too large for the gateway's buffer");
  response.status = 200;
  response.content_type = "application/x-ndjson";
  response.body = text.data();
  response.body_length = text.size();
  if (following) {
    if (!shared_.follows.try_enter(tenant)) {
      error(response, 429, "too many log streams: this API key's tenant may follow 4 at a time");
      return add_text_header(response, "Retry-After: 10\r\n");
    }
    response.follow = true;
    response.follow_tenant = tenant;
    __builtin_memcpy(response.follow_name, text_name, sizeof text_name);
    response.follow_after = latest;
  }
}

bool Gateway::manager_stats(manager::ManagerStats& stats) {
  ManagerReply reply = backend_.request(0, manager::STATS, nullptr, 0);
  if (!reply.delivered || reply.status != manager::STATUS_OK ||
      reply.word_count < sys::words_for(sizeof(manager::ManagerStats)))
    return false;
  stats = reply.body<manager::ManagerStats>();
  return true;
}

namespace {

// The manager's pool and shares (STATS) as gauges.
void render_manager_stats(const manager::ManagerStats& stats, Buffer& text) {
  const struct {
    const char* name;
    const char* help;
    u64 value;
  } gauges[] = {
      {"metteagle_manager_free_bytes", "Bytes of the container manager's pool not in use.", stats.pool_free_bytes},
      {"metteagle_manager_reserved_bytes",
       "Bytes of the pool reserved: memory limits of running invocations and stored functions.", stats.reserved_bytes},
      {"metteagle_manager_tenants", "Tenants the container manager holds an account for.", stats.tenants},
      {"metteagle_manager_running_invocations", "Invocations running now, nested ones included.",
       stats.running_invocations},
      {"metteagle_kernel_free_bytes", "Bytes of physical memory the kernel has free.", stats.machine_free_bytes},
      {"metteagle_kernel_heap_used_bytes", "Bytes in live kernel objects (heap blocks).", stats.kernel_heap_used_bytes},
      {"metteagle_kernel_heap_bytes", "Bytes of the pages the kernel heap holds.", stats.kernel_heap_bytes},
  };
  for (const auto& figure : gauges) gauge(text, figure.name, figure.help, figure.value);
}

// The gateway's parts of a /metrics page, after Metrics's (PageCursor::part - Metrics::PARTS).
enum class PagePart : u32 { Admission, Control, Async, Windows, Logs, Manager, Connections, End };

}  // namespace

void Gateway::metrics_page(Response& response, u32 tenant) {
  response.status = 200;
  response.content_type = "text/plain; version=0.0.4";
  response.page = true;
  shared_.metrics.begin_page(response.page_cursor, tenant);
  // The machine's and the manager's figures are everyone's: the operator's. Asked for here, on a
  // worker, as the loop that renders the pieces never calls the manager.
  if (tenant == ALL_TENANTS) response.page_cursor.has_manager_stats = manager_stats(response.page_cursor.manager_stats);
}

bool Gateway::metrics_piece(PageCursor& cursor, Buffer& output, usize budget) const {
  constexpr u32 END = Metrics::PARTS + static_cast<u32>(PagePart::End);
  bool all = cursor.tenant == ALL_TENANTS;
  while (cursor.part < END && output.size() < budget && !output.overflowed()) {
    if (cursor.part < Metrics::PARTS) {
      // Not done: its budget is reached, or it looked at its share of the table (the next piece
      // looks on, the lock let go in between).
      if (!shared_.metrics.render_piece(cursor, output, budget)) return false;
      continue;
    }
    bool done = true;  // False: the part reached the budget (cursor.rows says where it goes on).
    switch (static_cast<PagePart>(cursor.part - Metrics::PARTS)) {
      case PagePart::Admission: done = shared_.admission.render(output, cursor.tenant, cursor.rows, budget); break;
      case PagePart::Control: done = shared_.control.render(output, cursor.tenant, cursor.rows, budget); break;
      case PagePart::Async: done = shared_.async.render(output, cursor.tenant, cursor.rows, budget); break;
      case PagePart::Windows:
        if (shared_.windows != nullptr) done = shared_.windows->render(output, cursor.tenant, cursor.rows, budget);
        break;
      case PagePart::Logs: done = shared_.logs.render_metrics(output, cursor.tenant, cursor.rows, budget); break;
      case PagePart::Manager:
        if (all && cursor.has_manager_stats) render_manager_stats(cursor.manager_stats, output);
        break;
      case PagePart::Connections:
        if (all && shared_.connections != nullptr) shared_.connections->render(output);
        break;
      case PagePart::End: break;
    }
    if (!done) return false;
    ++cursor.part;
    cursor.rows = RowCursor{};
  }
  return cursor.part >= END;
}

}  // namespace gateway

namespace gateway {

void Gateway::async_invoke(u32 tenant, Slice name, const RequestHead& head, Slice sub_path, const Payload& body,
                           Response& response) {
  if (shared_.async_inputs == nullptr) return error(response, 503, "asynchronous invocations are not available");
  AsyncJob job;  // About 3 KiB; push() copies it into the tenant's queue.
  job.tenant = tenant;
  if (!is_function_name(name) || !name.copy_to(job.name, sizeof job.name)) return error(response, 404, "no such function");
  if (body.length > ASYNC_BODY_LIMIT) return error(response, 413, body_limit_message(head));
  Slice callback = head.header("X-Callback-Url");
  if (callback.data != nullptr) {
    if (const char* why = parse_callback_url(callback.trimmed(), job.callback)) return error(response, 400, why);
    job.has_callback = true;
  }
  if (shared_.async.queued(tenant) >= ASYNC_QUEUE_DEPTH) return async_full(tenant, response);
  u64 now = backend_.now_microseconds();
  // Unique for the gateway's life (the sequence) and unlike another boot's (the clock).
  u64 sequence = shared_.async.next_sequence();
  format_call_id(now * 0x9e3779b97f4a7c15ull ^ sequence, sequence * 0xbf58476d1ce4e5b9ull ^ now, job.call_id);
  job.environment_bytes = watchdog_environment(head, sub_path, job.environment, sizeof job.environment);
  job.input_length = body.length;
  job.queued_us = now;
  if (body.length <= ASYNC_INLINE_BYTES) {
    if (body.length > 0) __builtin_memcpy(job.inline_input, body.bytes, body.length);
  } else {
    job.input = shared_.async_inputs->keep(body.bytes, body.length);
    if (job.input == 0) {
      error(response, 503, "no memory to keep the asynchronous invocation's body now; retry later");
      return add_text_header(response, "Retry-After: 1\r\n");
    }
  }
  AsyncQueue::Push pushed = shared_.async.push(job);
  if (pushed != AsyncQueue::Push::Queued) {
    if (job.input != 0) shared_.async_inputs->drop(job.input);
    if (pushed == AsyncQueue::Push::Full) return async_full(tenant, response);
    error(response, 503, "no memory for the tenant's asynchronous queue now; retry later");
    return add_text_header(response, "Retry-After: 1\r\n");
  }
  if (shared_.async_wake != nullptr) shared_.async_wake();
  // As OpenFaaS's gateway: 202, an empty body, the call's id in X-Call-Id.
  response.status = 202;
  response.content_type = "text/plain";
  response.body = "";
  response.body_length = 0;
  Buffer line(response.extra_headers + response.extra_length, sizeof response.extra_headers - response.extra_length);
  line.append("X-Call-Id: ");
  line.append(job.call_id);
  line.append("\r\n");
  response.extra_length += line.size();  // 49 bytes: always fits a fresh response.
}

void Gateway::async_full(u32 tenant, Response& response) {
  shared_.async.count_rejection(tenant);
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("{\"error\": \"this API key's tenant has ");
  text.append_unsigned(ASYNC_QUEUE_DEPTH);
  text.append(" asynchronous invocations waiting already; retry later\", \"queue\": ");
  text.append_unsigned(ASYNC_QUEUE_DEPTH);
  text.append("}\n");
  finish_json(response, 429, text);
  if (response.status == 429) add_text_header(response, "Retry-After: 1\r\n");
}

void Gateway::run_async(const AsyncJob& job, AsyncRun& run, OutputWindow* output) {
  Payload input;
  input.bytes = job.input == 0 ? job.inline_input : nullptr;
  input.length = job.input_length;
  input.memory = job.input;
  input.environment = job.environment;
  input.environment_bytes = job.environment_bytes;
  run.response = Response{};  // A retry starts afresh (invoke appends its headers).
  u64 start = backend_.now_microseconds();
  invoke(job.tenant, Slice::of(job.name), input, run.response, output);
  run.duration_us = backend_.now_microseconds() - start;
}

void Gateway::finish_async(const AsyncJob& job, u32 status, AsyncQueue::Outcome outcome, const char* callback) {
  if (job.input != 0 && shared_.async_inputs != nullptr) shared_.async_inputs->drop(job.input);
  shared_.async.finish(job.tenant, outcome);
  if (status == 404) return;  // No such function: it has no log.
  char line[FunctionLogs::LINE_BYTES];
  Buffer text(line, sizeof line);
  text.append("async call=");
  text.append(job.call_id);
  text.append(" status=");
  text.append_unsigned(status);
  text.append(" callback=");
  text.append(callback);
  shared_.logs.append(job.tenant, job.name, 0, backend_.now_microseconds(), text.data(),
                      text.overflowed() ? sizeof line : text.size());
}

}  // namespace gateway
