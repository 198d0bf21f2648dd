// CONFIGURE: a function made from the executable of another function of the same tenant, with its
// own configuration, arguments and environment; created, or replacing a live function atomically.
// The new function shares its source's executable (no copy: 10,000 functions from one executable
// cost 10,000 records, not 10,000 executables). Invariants: a replaced version stays until its
// last running invocation ends (removed + users, as after REMOVE); the whole request runs under
// the registry lock, so every invocation finds exactly one version.
#include "service.hpp"
#include "sha256/sha256.hpp"

namespace manager {
namespace {

using namespace sys;

constexpr u64 PAGE = 4096;

void status(Message& answer, Status code, u64 detail = 0) { answer = message_of(code, DetailReply{detail}); }

u64 microseconds_since_boot() {
  u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  u64 per_microsecond = manager_state().tsc_hertz / 1'000'000;
  return ((u64{high} << 32) | low) / (per_microsecond == 0 ? 1 : per_microsecond);
}

// What every invocation makes of its own from the image (writable copies, zero-filled parts).
u64 per_invocation_bytes(const Function& function) {
  u64 bytes = 0;
  for (usize i = 0; i < function.segment_count; ++i)
    if (!function.segments[i].shared) bytes += function.segments[i].pages * PAGE;
  return bytes;
}

}  // namespace

void seal_version(Function& function, const char* strings) {
  hashing::Sha256 hash;
  hash.update(function.executable_digest, DIGEST_BYTES);
  hash.update(&function.config, sizeof function.config);
  const u64 sizes[3] = {function.argument_bytes, function.environment_bytes, function.secret_bytes};
  hash.update(sizes, sizeof sizes);
  if (strings != nullptr) hash.update(strings, sizes[0] + sizes[1] + sizes[2]);
  hash.finish(function.digest);
  function.created_microseconds = microseconds_since_boot();
}

void handle_configure(Worker& worker, Message& request, Message& answer) {
  Manager& state = manager_state();
  char name[NAME_BYTES];
  char source_name[NAME_BYTES];
  ConfigureRequest body;
  get(request, body);
  if (!carries<ConfigureRequest>(request, CONFIGURE_HEAD_BYTES) || !unpack_name(body.name, name) ||
      !unpack_name(body.source, source_name))
    return status(answer, STATUS_BAD_REQUEST);
  FunctionConfig config = body.config;
  u64 mode = body.mode;
  u64 argument_bytes = body.argument_bytes;
  u64 environment_bytes = body.environment_bytes;
  u64 secret_bytes = body.secret_bytes;
  // The strings come inline, or in the Memory sent along (from its first byte).
  bool in_memory = request.received_capabilities >= 1;
  u64 sent = bytes_from(request, offsetof(ConfigureRequest, text));
  if (mode > CONFIGURE_REPLACE || argument_bytes > MAX_STRINGS_BYTES || environment_bytes > MAX_STRINGS_BYTES - argument_bytes ||
      secret_bytes > MAX_SECRET_FILES_BYTES)
    return status(answer, STATUS_BAD_REQUEST, MAX_STRINGS_BYTES);
  if (!in_memory && argument_bytes + environment_bytes + secret_bytes > sent) return status(answer, STATUS_BAD_REQUEST);
  Memory sender(worker.receive_slots[0]);
  const char* text = body.text;
  // Copies `length` sent bytes from `offset` of the strings into the draft at `at`.
  auto take_sent = [&](StringsDraft& draft, u64 at, u64 offset, u64 length) {
    return in_memory ? draft.copy(at, sender, offset, length) : draft.write(at, text + offset, length);
  };

  // Admission: the source, the name, the limit, the strings (copied, then checked), the tenant's
  // quotas and the pool; then the new version, sharing the source's executable, and the swap.
  LockGuard guard(state.registry.lock());
  Registry& registry = state.registry;
  Status refused = STATUS_OK;
  u64 detail = 0;
  TenantAccount* account = nullptr;
  Function* function = nullptr;
  Function* source = registry.find(request.badge, source_name);
  Function* old = registry.find(request.badge, name);
  StringsDraft draft;
  u64 kept_arguments = 0;
  if (source == nullptr) {
    refused = STATUS_NOT_FOUND;
    detail = 1;
  } else {
    config.flags = source->config.flags;  // Linux or not, image tree or not: the executable's.
    if (!config_valid(config, state.cpu_count) || (argument_bytes > 0 && (!source->linux_abi || source->image_tree))) {
      refused = STATUS_BAD_REQUEST;
    } else if (config.memory_limit_bytes > registry.largest_limit()) {
      refused = STATUS_LIMIT_TOO_LARGE;
      detail = registry.largest_limit();
    } else if (per_invocation_bytes(*source) > config.memory_limit_bytes) {
      refused = STATUS_QUOTA_EXCEEDED;
      detail = per_invocation_bytes(*source);
    } else if (mode == CONFIGURE_REPLACE && old == nullptr) {
      refused = STATUS_NOT_FOUND;
    } else if (mode == CONFIGURE_CREATE && old != nullptr) {
      refused = STATUS_NAME_TAKEN;
    }
  }
  if (refused == STATUS_OK) {
    // A whole argv replaces the source's arguments; else they are kept (an image tree's path,
    // arguments and image environment among them).
    kept_arguments = argument_bytes > 0 ? argument_bytes : source->argument_bytes;
    refused = draft.open(worker, kept_arguments + environment_bytes + secret_bytes, detail);
  }
  if (refused == STATUS_OK) {
    bool copied = argument_bytes > 0 ? take_sent(draft, 0, 0, argument_bytes)
                                     : draft.copy(0, Memory(source->strings), 0, kept_arguments);
    copied = copied && take_sent(draft, kept_arguments, argument_bytes, environment_bytes) &&
             take_sent(draft, kept_arguments + environment_bytes, argument_bytes + environment_bytes, secret_bytes);
    const char* strings = draft.bytes();
    if (!copied) {
      refused = STATUS_BAD_REQUEST;
    } else if ((argument_bytes > 0 && !strings_valid(strings, argument_bytes)) ||
               !environment_valid(strings + kept_arguments, environment_bytes) ||
               !secret_files_valid(strings + kept_arguments + environment_bytes, secret_bytes) ||
               string_count(strings, kept_arguments + environment_bytes) > MAX_STRING_COUNT) {
      refused = STATUS_BAD_REQUEST;
      detail = MAX_STRINGS_BYTES;
    }
  }
  if (refused == STATUS_OK) {
    account = registry.open_account(request.badge);
    if (account == nullptr) {
      refused = STATUS_NO_TENANT_SHARE;
      detail = registry.limits().tenants;
    }
  }
  if (refused == STATUS_OK) {
    // A replace does not need room for another function: the old version leaves at the swap.
    if (old != nullptr) registry.count_function(*account, false);
    refused = registry.create(*account, name, 0, strings_cost(draft.size()), function, detail);
    if (old != nullptr) registry.count_function(*account, true);
  }
  if (refused != STATUS_OK) {
    if (account != nullptr) registry.close_if_idle(*account);
    return status(answer, refused, detail);
  }
  registry.share_executable(*function, *source);
  function->config = config;
  function->executable_size = source->executable_size;
  function->entry = source->entry;
  function->segment_count = source->segment_count;
  for (usize i = 0; i < source->segment_count; ++i) function->segments[i] = source->segments[i];
  function->linux_abi = source->linux_abi;
  function->image_tree = source->image_tree;
  function->linux_start = source->linux_start;
  if (argument_bytes > 0) function->linux_start.flags |= LINUX_START_ARGV0;
  function->argument_bytes = kept_arguments;
  function->environment_bytes = environment_bytes;
  function->secret_bytes = secret_bytes;
  for (usize i = 0; i < NAME_BYTES; ++i) function->source[i] = source_name[i];
  for (usize i = 0; i < DIGEST_BYTES; ++i) function->executable_digest[i] = source->executable_digest[i];
  seal_version(*function, draft.bytes());
  function->strings = draft.take();
  function->private_bytes_last = 0;  // A version's own: its configuration may change its memory.
  function->private_bytes_max = 0;
  // The swap (Registry::replace): the old version leaves the table now, its running invocations
  // keep it alive; the counts carry over.
  if (!(old != nullptr ? registry.replace(*old, *function) : registry.publish(*function))) {
    // Cannot happen after a withdraw (the index has room for the one it lost); a create whose
    // index cannot grow is refused whole.
    registry.count_function(*account, false);
    release_image(*function);
    return status(answer, STATUS_NO_CAPACITY);
  }
  status(answer, STATUS_OK);
}

}  // namespace manager
