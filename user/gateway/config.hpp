// The gateway's small parsers of client input besides HTTP: the deploy configuration (JSON in the
// X-Function-Config header) and API keys (Authorization: Bearer or Basic). Pure and host-tested.
// Invariant: a configuration is accepted only when it is one flat JSON object of known keys, each
// at most once, with values of the right type; anything else yields an error text and no config.
#pragma once

#include "manager/protocol.hpp"
#include "text.hpp"

namespace gateway {

constexpr usize NAME_CAPACITY = manager::NAME_BYTES;  // 1-63 characters and the NUL.

struct DeployConfig {
  char name[NAME_CAPACITY] = {};
  bool has_name = false;
  bool has_memory = false, has_timeout = false, has_max_output = false, has_max_depth = false, has_cpus = false;
  u64 memory = 0;
  u64 timeout_ms = 0;
  u64 max_output = 0;
  u64 max_depth = 0;
  u64 cpus = 0;
  bool has_console = false, has_linux = false;
  bool console = false;
  bool linux_executable = false;  // An unmodified static Linux executable (docs/LINUX.md).
  bool has_arguments = false;
  char arguments[manager::MAX_ARGUMENT_BYTES] = {};  // "args": argv[1..], NUL-terminated, back to back.
  u64 argument_bytes = 0;
  // "image": deploy from an image of the store (docs/IMAGES.md); "env": ["KEY=VALUE", ...] added to
  // (or replacing) the image's environment; "args" then replace the image's Cmd.
  bool has_image = false;
  char image[104] = {};
  bool has_env = false;
  char environment[manager::MAX_ARGUMENT_BYTES] = {};
  u64 environment_bytes = 0;
};

// Parses {"name": "echo", "memory": 16777216, "timeout_ms": 5000, "max_output": 1048576,
// "max_depth": 4, "cpus": 0, "console": false, "linux": false, "args": ["-c", "..."]}; every key
// but "name" is optional. On failure
// returns false and sets `error` to a static text saying what is wrong.
bool parse_deploy_config(Slice json, DeployConfig& config, const char*& error);

// A valid function name: 1-63 bytes of [a-z0-9_-] (manager/protocol.hpp).
bool is_function_name(Slice name);

constexpr u32 DEFAULT_CONCURRENCY_LIMIT = 4;

struct ApiKey {
  const char* key;
  u32 sub_tenant;  // The manager sub-tenant (label bits 16-31) this key's requests run as.
  u32 concurrency_limit = DEFAULT_CONCURRENCY_LIMIT;  // Invocations in flight at once (else queued or 429).
  // An operator grant from the key file (`console`): only such a key may deploy a function with
  // "console": true, whose log lines then reach the shared console (sanitised by the manager).
  bool console = false;
  u32 queue_limit = 0;      // Invocations that may wait for one of those (queue=; beyond: 429).
  u64 function_quota = 0;   // Functions the tenant may have (functions=; 0: the manager's quota).
};



// Standard base64 (with padding) into `output`; false on bad input or when it does not fit.
bool decode_base64(Slice text, char* output, usize capacity, usize& length);

}  // namespace gateway
