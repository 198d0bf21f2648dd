// OpenFaaS's shapes on the wire (the faas-provider types): the FunctionDeployment a client sends
// and what it becomes for the manager (CONFIGURE's arguments and environment), function names as
// DNS labels, memory quantities ("128Mi"), and the classic watchdog's request environment
// (Http_Method, Http_Path, Http_Query, Http_<Header>). Pure and host-tested.
// Invariant: a deployment is accepted only when the body is one JSON object whose known members
// have the right types and fit their bounds; the first problem found is the error, said precisely,
// and nothing of a refused deployment is used.
#pragma once

#include "http.hpp"
#include "imagefs/import/json.hpp"
#include "manager/protocol.hpp"
#include "text.hpp"

namespace gateway {

constexpr usize IMAGE_BYTES = 128;       // `image`, as given.
// `envProcess`: as long as the arguments and environment a function may have (64 KiB); with its
// `fprocess=` it counts in the environment's bound, and its words in the arguments'.
constexpr usize MAX_ENV_PROCESS_BYTES = manager::MAX_STRINGS_BYTES;
constexpr usize MAP_BYTES = 256;         // `labels` and `annotations`, each as compact JSON.
constexpr usize MAX_FUNCTION_SECRETS = 8;  // `secrets` a deployment may name.
constexpr usize SECRET_NAME_BYTES = 64;    // A DNS label and its NUL.
constexpr u64 MAX_ENV_VARIABLES = 1024;    // `envVars` a deployment may hold (the manager takes 2048 strings).
static_assert(MAX_ENV_VARIABLES * 2 <= manager::MAX_STRING_COUNT);
static_assert(MAX_FUNCTION_SECRETS == manager::MAX_SECRET_FILES);

// A DNS label's length, the longest name the manager holds (manager::NAME_BYTES - 1).
constexpr usize DNS_LABEL_LENGTH = 63;
static_assert(DNS_LABEL_LENGTH == manager::NAME_BYTES - 1);

// Why `name` is not a function name OpenFaaS's routes take (a DNS label of 1-63 characters: a-z,
// 0-9 and '-', a letter or digit at both ends), or nullptr when it is one.
const char* dns_label_problem(Slice name);

struct FunctionDeployment {
  char service[manager::NAME_BYTES] = {};
  char image[IMAGE_BYTES] = {};
  bool has_env_process = false;
  // envProcess: a view of its JSON string in the body (which outlives the deployment), decoded
  // where it is used (render_environment, env_process_text); env_process_bytes decoded bytes.
  imagefs::JsonValue env_process{};
  u64 env_process_bytes = 0;
  // The environment: envVars (a view into the body, which outlives the deployment) and fprocess,
  // environment_bytes as "KEY=value" strings (render_environment writes them), at most
  // manager::MAX_STRINGS_BYTES and manager::MAX_STRING_COUNT strings.
  imagefs::JsonValue variables{};
  u64 environment_bytes = 0;
  char labels[MAP_BYTES] = {};       // "{}" when none.
  char annotations[MAP_BYTES] = {};  // "{}" when none.
  bool has_memory = false;
  u64 memory = 0;                    // limits.memory in bytes.
  usize secret_count = 0;            // `secrets` named.
  char secrets[MAX_FUNCTION_SECRETS][SECRET_NAME_BYTES] = {};  // Their names, each a DNS label.
};

// Why `name` is not a secret name (a DNS label of 1-63 characters), or nullptr when it is one.
const char* secret_name_problem(Slice name);

// Parses a FunctionDeployment: `service` and `image` are required; envProcess, envVars (string
// values), labels and annotations (string values), limits and requests ({"memory": "128Mi",
// "cpu": ...}), secrets (an array of names), namespace, constraints and readOnlyRootFilesystem are
// taken. False with `error` (a static text) on anything else.
bool parse_function_deployment(Slice json, FunctionDeployment& deployment, const char*& error);

// The deployment's environment: envVars ("KEY=value", in the body's order), then fprocess (envProcess),
// NUL-terminated, back to back: exactly environment_bytes when `capacity` holds them (else false).
bool render_environment(const FunctionDeployment& deployment, char* out, usize capacity);

// envProcess decoded into `out` (capacity bytes), NUL-terminated: "" when there is none; false
// when it does not fit (it needs env_process_bytes + 1).
bool env_process_text(const FunctionDeployment& deployment, char* out, usize capacity);

// Where render_environment put envProcess in the rendered `environment`: its fprocess value (the
// last string), or "" when the deployment has none (or an empty one).
const char* rendered_env_process(const FunctionDeployment& deployment, const char* environment);

// envProcess split into argv as a shell would for plain words ('...' and "..." quote, no
// expansion), NUL-terminated strings back to back in `out`; false when it does not fit or a quote
// is left open.
bool split_env_process(const char* command, char* out, usize capacity, u64& bytes);

// "128Mi", "64M", "1Gi", "1048576": a memory quantity in bytes; false when malformed or huge.
bool parse_memory_quantity(Slice text, u64& bytes);

// The classic watchdog's request environment for /function/{name}[sub_path][?query]: Http_Method,
// Http_Path (sub_path, "/" when empty), Http_Query (when there is one), then Http_<Header> for each
// header (Go's canonical name, '-' as '_'), except Authorization (the gateway's API key), as many
// as fit `capacity` bytes. NUL-terminated "KEY=value" strings back to back; returns the bytes.
usize watchdog_environment(const RequestHead& head, Slice sub_path, char* out, usize capacity);

// "1970-01-01T00:00:12.345678Z": microseconds since boot as an RFC 3339 time whose epoch is the
// boot (the guest has no wall clock).
void append_boot_time(Buffer& output, u64 microseconds);

}  // namespace gateway
