// OpenFaaS's routes over the manager: deploy and update with a FunctionDeployment (CONFIGURE),
// delete with {"functionName": ...}, FunctionStatus, the provider's info and scale (docs/API.md,
// "OpenFaaS routes"). Kept apart from api.cpp's native routes; the one place that decides what a
// deployment's `image` names is resolve_image().
#include "api.hpp"
#include "imagefs/import/json.hpp"
#include "openfaas.hpp"

namespace gateway {
namespace {

using imagefs::JsonMember;
using imagefs::JsonType;

constexpr const char RELEASE[] = "dev";  // No release is numbered yet.

void append_hex(Buffer& output, const u8* data, usize bytes) {
  constexpr const char DIGITS[] = "0123456789abcdef";
  for (usize i = 0; i < bytes; ++i) {
    char pair[2] = {DIGITS[data[i] >> 4], DIGITS[data[i] & 15]};
    output.append(pair, 2);
  }
}

// The JSON object of a small request body (delete, scale), or an error text.
const char* parse_object(const Payload& body, imagefs::JsonValue& root) {
  imagefs::JsonParse parsed = imagefs::json_parse(reinterpret_cast<const char*>(body.bytes), body.length, 4);
  if (body.length == 0 || parsed.error != imagefs::JsonError::None) return "the body is not valid JSON";
  if (parsed.root.type != JsonType::Object) return "the body must be a JSON object";
  root = parsed.root;
  return nullptr;
}

}  // namespace

// What a deployment's `image` names: first a function of the same tenant (uploaded the native
// way, or deployed before), whose executable is copied; otherwise an image of the image store
// (ghcr.io/acme/hello:1.2, docs/IMAGES.md), deployed by faas_deploy_from_store.
struct ImageResolution {
  bool found = false;
  char source[manager::NAME_BYTES] = {};
  ManagerReply described;  // DESCRIBE of the source.
};

static ImageResolution resolve_image(Backend& backend, u32 tenant, const char* image) {
  ImageResolution resolution;
  Slice name = Slice::of(image);
  if (!is_function_name(name) || !name.copy_to(resolution.source, sizeof resolution.source)) return resolution;
  manager::NameRequest request;
  manager::pack_name(resolution.source, request.name);
  resolution.described = backend.call(tenant, manager::DESCRIBE, request);
  resolution.found = resolution.described.delivered && resolution.described.status == manager::STATUS_OK;
  return resolution;
}

bool Gateway::is_json_deployment(const RequestHead& head, const Payload& body) {
  Slice type = head.header("Content-Type");
  if (type.data != nullptr && type.trimmed().starts_with("application/json")) return true;
  for (u64 i = 0; i < body.length; ++i) {
    u8 c = body.bytes[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return false;
}

void Gateway::faas_deploy(const ApiKey& key, const Payload& body, Response& response, bool replace,
                          const char* service_override, bool source_self) {
  u32 tenant = key.sub_tenant;
  send_quota(key);
  FunctionDeployment deployment;
  const char* why = nullptr;
  Slice json{reinterpret_cast<const char*>(body.bytes), static_cast<usize>(body.length)};
  if (!parse_function_deployment(json, deployment, why))
    return error(response, 400, why);
  if (service_override != nullptr && !Slice::of(service_override).copy_to(deployment.service, sizeof deployment.service))
    return error(response, 400, "the function name does not fit");
  Catalog::Room env_room = shared_.catalog.env_process_fits(tenant, deployment);
  if (env_room == Catalog::Room::Full)
    return error(response, 507, "the tenant's functions keep at most 262144 bytes (256 KiB) of envProcess together; "
                                "delete a function or shorten an envProcess first");
  if (env_room == Catalog::Room::NoMemory)
    return error(response, 507, "no gateway memory for this envProcess now: the tenant's windows and logs hold its "
                                "share; try again when its uploads have finished");
  FunctionRoom room(shared_, tenant, deployment.service, response);
  if (!room.hold(*this, true, response)) return;
  // The strings for the manager, built in the worker's buffer: argv (a static Linux function's
  // envProcess), the environment (envVars, fprocess), the secret files (their values now).
  if (storage_.strings == nullptr || storage_.strings_capacity < DEPLOY_STRINGS_BYTES)
    return error(response, 500, "this gateway worker has no room for a deployment's strings");
  char* strings = storage_.strings;
  constexpr u64 ARGUMENT_ROOM = DEPLOY_ARGUMENT_ROOM;  // envProcess's words take at most its own bytes and a NUL.
  char* environment = strings + ARGUMENT_ROOM;
  char* secrets = environment + deployment.environment_bytes;
  u64 secret_bytes = 0;
  static_assert(ARGUMENT_ROOM + manager::MAX_STRINGS_BYTES + manager::MAX_SECRET_FILES_BYTES <= DEPLOY_STRINGS_BYTES);
  if (!render_environment(deployment, environment, manager::MAX_STRINGS_BYTES))
    return error(response, 500, "the deployment's environment could not be laid out");
  if (!secret_files(tenant, deployment, secrets, manager::MAX_SECRET_FILES_BYTES, secret_bytes, response)) return;
  // A restore's later layers keep the function's own executable, whatever `image` named then.
  ImageResolution image = source_self ? resolve_image(backend_, tenant, deployment.service)
                                      : resolve_image(backend_, tenant, deployment.image);
  if (!image.found) {
    bool asked = image.source[0] != '\0';
    if (asked && (!image.described.delivered || image.described.status != manager::STATUS_NOT_FOUND))
      return manager_error(response, image.described);
    if (images_ != nullptr && !source_self) {
      faas_deploy_from_store(key, deployment, DeployStrings{nullptr, 0, environment, deployment.environment_bytes, secrets,
                                                            secret_bytes},
                             response, replace);
      if (response.status == 202)
        keep_deploy(tenant, key.console, deployment.service, {}, nullptr, nullptr, json, replace, response);
      return;
    }
    Buffer text(storage_.text, storage_.text_capacity);
    text.append("{\"error\": \"no such image: neither a function of this tenant nor an image in the image store\", "
                "\"image\": ");
    text.append_json_string(deployment.image);
    text.append("}\n");
    return finish_json(response, 422, text);
  }
  manager::FunctionConfig config = image.described.body<manager::DescribeReply>().config;  // The source's.
  if (deployment.has_memory) config.memory_limit_bytes = deployment.memory;
  if (!key.console) config.grants = 0;  // Only an operator key may keep the console grant.
  bool static_linux = (config.flags & manager::FUNCTION_FLAG_LINUX) != 0 && (config.flags & manager::FUNCTION_FLAG_IMAGE) == 0;

  manager::ConfigureRequest request{};
  manager::pack_name(deployment.service, request.name);
  manager::pack_name(image.source, request.source);
  request.config = config;
  request.mode = replace ? manager::CONFIGURE_REPLACE : manager::CONFIGURE_CREATE;
  u64 argument_bytes = 0;
  // envProcess is the program's command line for a static Linux function (argv, argv[0] first);
  // every function sees it as fprocess in its environment.
  if (static_linux && deployment.has_env_process &&
      !split_env_process(rendered_env_process(deployment, environment), strings, ARGUMENT_ROOM, argument_bytes))
    return error(response, 400, "envProcess: a quote is left open");
  if (argument_bytes + deployment.environment_bytes > manager::MAX_STRINGS_BYTES)
    return error(response, 400, "envProcess and envVars take more than 65536 bytes (64 KiB) together: the limit of a "
                                "function's arguments and environment");
  request.argument_bytes = argument_bytes;
  request.environment_bytes = deployment.environment_bytes;
  request.secret_bytes = secret_bytes;
  ManagerReply reply = send_with_strings(tenant, manager::CONFIGURE, &request, request.text, sizeof request.text,
                                         DeployStrings{strings, argument_bytes, environment, deployment.environment_bytes,
                                                       secrets, secret_bytes});
  if (!reply.delivered || reply.status != manager::STATUS_OK) {
    if (!reply.delivered) return manager_error(response, reply);
    switch (reply.status) {
      case manager::STATUS_NOT_FOUND:
        return error(response, 404, reply.detail() == 0 ? "no such function (PUT updates a deployed function)"
                                                        : "the image's function was deleted meanwhile");
      case manager::STATUS_NAME_TAKEN:
        return error(response, 409, "a function of that name exists (PUT /system/functions updates it)");
      case manager::STATUS_BAD_REQUEST:
        if (reply.detail() == manager::MAX_STRINGS_BYTES)
          return error(response, 400, "the arguments and environment were refused by the manager (at most 64 KiB and "
                                      "2048 strings, each variable KEY=value)");
        return error(response, 400, "configuration rejected by the manager (limits.memory: 256 KiB to 256 MiB; "
                                    "docs/CONTAINERS.md)");
      case manager::STATUS_QUOTA_EXCEEDED: {
        Buffer body_text(storage_.text, storage_.text_capacity);
        body_text.append("{\"error\": \"the executable's writable and zero-filled segments need more than limits.memory\", "
                         "\"needed\": ");
        body_text.append_unsigned(reply.detail());
        body_text.append("}\n");
        return finish_json(response, 400, body_text);
      }
      default: return manager_error(response, reply);
    }
  }
  // A catalog without room for it (a deploy raced this one to the tenant's pool) shows no metadata
  // rather than the old version's.
  if (!shared_.catalog.record(tenant, deployment)) shared_.catalog.forget(tenant, deployment.service);
  // A new function starts with fresh figures; an updated one keeps its own.
  if (!replace) {
    shared_.metrics.open(tenant, deployment.service);
    shared_.logs.forget(tenant, deployment.service);
  }
  ManagerReply described = describe_request(tenant, deployment.service);
  Buffer answer(storage_.text, storage_.text_capacity);
  answer.append("{\"name\": ");
  answer.append_json_string(deployment.service);
  if (described.delivered && described.status == manager::STATUS_OK) {
    answer.append(", \"digest\": \"sha256:");
    append_hex(answer, described.body<manager::DescribeReply>().digest, manager::DIGEST_BYTES);
    answer.append("\"");
  }
  answer.append("}\n");
  finish_json(response, 202, answer);
  keep_deploy(tenant, key.console, deployment.service, {}, nullptr, image.source, json, replace, response);
}

// A deployment whose `image` is an image of the store (POST /system/images): the store's deploy by
// image (images.cpp), with envProcess as the arguments that replace the image's Cmd and envVars
// added to its environment (`strings`: the environment and secret files, built by faas_deploy;
// the arguments go before them). A PUT (`replace`) replaces the live function of that name,
// whatever it was made from, atomically (DEPLOY_IMAGE_REPLACE); a refused one leaves it as it was.
void Gateway::faas_deploy_from_store(const ApiKey& key, const FunctionDeployment& deployment, DeployStrings strings,
                                     Response& response, bool replace) {
  Slice service = Slice::of(deployment.service);
  if (service.size >= manager::NAME_BYTES)
    return error(response, 400, "service: a function deployed from an image has a name of at most 63 characters");
  if (text_length(deployment.image) >= store::NAME_BYTES) return error(response, 422, "image: the name is too long");
  // envProcess's words at the start of the worker's strings buffer (faas_deploy left room there),
  // split from its copy in the rendered environment (fprocess).
  if (deployment.has_env_process) {
    if (!split_env_process(rendered_env_process(deployment, strings.environment), storage_.strings, DEPLOY_ARGUMENT_ROOM,
                           strings.argument_bytes))
      return error(response, 400, "envProcess: a quote is left open");
    strings.arguments = storage_.strings;
  }
  manager::FunctionConfig config = manager::DEFAULT_CONFIG;
  if (deployment.has_memory) config.memory_limit_bytes = deployment.memory;
  deploy_image(key.sub_tenant, deployment.service, deployment.image, deployment.has_env_process, strings, config, response,
               replace);
  if (response.status != 201) return;
  // OpenFaaS answers a deployment with 202; the function is ready at once here.
  response.status = 202;
  // No metadata rather than the old version's when the catalog has no room (as in faas_deploy).
  if (!shared_.catalog.record(key.sub_tenant, deployment)) shared_.catalog.forget(key.sub_tenant, deployment.service);
  if (!replace) shared_.logs.forget(key.sub_tenant, deployment.service);  // An updated function keeps its lines.
}

ManagerReply Gateway::send_with_strings(u32 tenant, u32 kind, const void* body, char* inline_field, u64 inline_capacity,
                                        const DeployStrings& strings) {
  u64 head = static_cast<u64>(inline_field - static_cast<const char*>(body));
  u64 total = strings.total();
  const char* starts[3] = {strings.arguments, strings.environment, strings.secrets};
  const u64 lengths[3] = {strings.argument_bytes, strings.environment_bytes, strings.secret_bytes};
  if (total <= inline_capacity) {
    u64 at = 0;
    for (usize i = 0; i < 3; ++i) {
      if (lengths[i] > 0) __builtin_memmove(inline_field + at, starts[i], lengths[i]);
      at += lengths[i];
    }
    return backend_.request(tenant, kind, body, head + total);
  }
  // Back to back in the worker's strings buffer (moved together there when they are not already).
  if (storage_.strings == nullptr || total > storage_.strings_capacity) return ManagerReply{};
  u64 at = 0;
  for (usize i = 0; i < 3; ++i) {
    if (lengths[i] > 0 && starts[i] != storage_.strings + at) __builtin_memmove(storage_.strings + at, starts[i], lengths[i]);
    at += lengths[i];
  }
  return backend_.request_with_strings(tenant, kind, body, head, storage_.strings, total);
}

void Gateway::faas_delete(u32 tenant, const Payload& body, Response& response) {
  imagefs::JsonValue root;
  if (const char* problem = parse_object(body, root))
    return error(response, 400, problem);
  JsonMember member = imagefs::json_member(root, "functionName");
  char name[DNS_LABEL_LENGTH + 1];
  u64 length = 0;
  if (!member.found || member.duplicate || member.value.type != JsonType::String)
    return error(response, 400, "functionName is required (a string)");
  if (!imagefs::json_string(member.value, name, sizeof name, length))
    return error(response, 400, "a function name must be 1 to 63 characters (a DNS label)");
  if (const char* problem = dns_label_problem(Slice{name, static_cast<usize>(length)}))
    return error(response, 400, problem);
  return remove(tenant, Slice{name, static_cast<usize>(length)}, response);
}

void Gateway::append_status_members(Buffer& output, u32 tenant, const char* name, const ManagerReply& described) {
  auto fields = described.body<manager::DescribeReply>();
  CatalogEntry entry;
  bool catalogued = shared_.catalog.find(tenant, name, entry);
  char source[manager::NAME_BYTES];
  if (!manager::unpack_name(fields.source, source)) source[0] = '\0';
  output.append(", \"image\": ");
  output.append_json_string(catalogued ? entry.image : source);
  output.append(", \"invocationCount\": ");
  output.append_unsigned(fields.invocations);
  output.append(", \"replicas\": ");
  output.append_unsigned(catalogued ? entry.replicas : 1);
  // Every invocation is a fresh task: one deployed function is always ready to run.
  output.append(", \"availableReplicas\": 1, \"envProcess\": ");
  shared_.catalog.append_env_process(tenant, name, output);  // "" when not catalogued.
  output.append(", \"labels\": ");
  output.append(catalogued ? entry.labels : "{}");
  output.append(", \"annotations\": ");
  output.append(catalogued ? entry.annotations : "{}");
  output.append(", \"limits\": {\"memory\": \"");
  output.append_unsigned(fields.config.memory_limit_bytes);
  output.append("\"}, \"createdAt\": \"");
  append_boot_time(output, fields.created_microseconds);
  output.append("\", \"digest\": \"sha256:");
  append_hex(output, fields.digest, manager::DIGEST_BYTES);
  output.append("\"");
}

void Gateway::faas_status(u32 tenant, Slice name, Response& response) {
  char text_name[manager::NAME_BYTES];
  if (!is_function_name(name) || !name.copy_to(text_name, sizeof text_name)) return error(response, 404, "no such function");
  ManagerReply described = describe_request(tenant, text_name);
  if (!described.delivered || described.status != manager::STATUS_OK) return manager_error(response, described);
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("{\"name\": ");
  text.append_json_string(text_name);
  append_status_members(text, tenant, text_name, described);
  text.append("}\n");
  finish_json(response, 200, text);
}

void Gateway::faas_info(Response& response) {
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("{\"provider\": {\"provider\": \"metteagle\", \"orchestration\": \"metteagle-manager\", "
              "\"version\": {\"release\": \"");
  text.append(RELEASE);
  text.append("\", \"sha\": \"\"}}, \"version\": {\"release\": \"");
  text.append(RELEASE);
  text.append("\", \"sha\": \"\"}, \"arch\": \"x86_64\"}\n");
  finish_json(response, 200, text);
}

void Gateway::faas_scale(u32 tenant, Slice name, const Payload& body, Response& response) {
  char text_name[manager::NAME_BYTES];
  if (!is_function_name(name) || !name.copy_to(text_name, sizeof text_name)) return error(response, 404, "no such function");
  imagefs::JsonValue root;
  if (const char* problem = parse_object(body, root)) return error(response, 400, problem);
  JsonMember replicas = imagefs::json_member(root, "replicas");
  u64 count = 0;
  if (!replicas.found || replicas.duplicate || !imagefs::json_unsigned(replicas.value, count) || count > 1000)
    return error(response, 400, "replicas is required (an integer 0 to 1000)");
  JsonMember service = imagefs::json_member(root, "serviceName");
  if (service.found && (service.value.type != JsonType::String || !imagefs::json_string_equals(service.value, text_name)))
    return error(response, 400, "serviceName must be the function named in the path");
  ManagerReply described = describe_request(tenant, text_name);
  if (!described.delivered || described.status != manager::STATUS_OK) return manager_error(response, described);
  (void)shared_.catalog.scale(tenant, text_name, count);
  Buffer text(storage_.text, storage_.text_capacity);
  text.append("{\"name\": ");
  text.append_json_string(text_name);
  text.append(", \"replicas\": ");
  text.append_unsigned(count);
  text.append("}\n");
  finish_json(response, 202, text);
}

}  // namespace gateway
