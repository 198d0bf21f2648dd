// CONFIGURE: a function made from the executable of another function of the same tenant, with its
// own configuration, arguments and environment; created, or replacing a live function atomically.
// Invariants: the source is pinned (its `users` count) while its executable is copied, so it
// cannot be freed under the copy; a replaced version stays until its last running invocation ends
// (removed + users, as after REMOVE); the swap happens under the registry lock, so every
// invocation finds exactly one version.
#include "service.hpp"
#include "sha256/sha256.hpp"

namespace manager {
namespace {

using namespace sys;

constexpr u64 PAGE = 4096;

u64 pages_for(u64 bytes) { return (bytes + PAGE - 1) / PAGE; }

void status(Message& answer, Status code, u64 detail = 0) { answer = message_of(code, DetailReply{detail}); }

Status status_of(Error error) { return error == Error::OutOfMemory ? STATUS_OUT_OF_MEMORY : STATUS_INTERNAL_ERROR; }

u64 microseconds_since_boot() {
  u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  u64 per_microsecond = manager_state().tsc_hertz / 1'000'000;
  return ((u64{high} << 32) | low) / (per_microsecond == 0 ? 1 : per_microsecond);
}

// A run of NUL-terminated strings: empty, or non-empty strings each ending in NUL.
bool strings_valid(const char* text, u64 length) {
  if (length == 0) return true;
  if (text[length - 1] != '\0') return false;
  for (u64 i = 0; i < length; ++i)
    if (text[i] == '\0' && (i == 0 || text[i - 1] == '\0')) return false;
  return true;
}

// Every environment string is KEY=value with a non-empty key.
bool environment_valid(const char* text, u64 length) {
  if (!strings_valid(text, length)) return false;
  for (u64 at = 0; at < length;) {
    if (text[at] == '=') return false;
    bool equals = false;
    for (; text[at] != '\0'; ++at)
      if (text[at] == '=') equals = true;
    if (!equals) return false;
    ++at;
  }
  return true;
}

// What every invocation makes of its own from the image (writable copies, zero-filled parts).
u64 per_invocation_bytes(const Function& function) {
  u64 bytes = 0;
  for (usize i = 0; i < function.segment_count; ++i)
    if (!function.segments[i].shared) bytes += function.segments[i].pages * PAGE;
  return bytes;
}

// Drops the pin a CONFIGURE holds on its source; the last user frees a removed one. Lock held.
void unpin(Function& source) {
  if (--source.users == 0 && source.removed) release_image(source);
}

}  // namespace

void seal_version(Function& function) {
  hashing::Sha256 hash;
  hash.update(function.executable_digest, DIGEST_BYTES);
  hash.update(&function.config, sizeof function.config);
  hash.update(&function.linux_start.argument_bytes, sizeof(u64));
  hash.update(function.linux_start.arguments, function.linux_start.argument_bytes);
  hash.update(&function.environment_bytes, sizeof(u64));
  hash.update(function.environment, function.environment_bytes);
  hash.finish(function.digest);
  function.created_microseconds = microseconds_since_boot();
}

void handle_configure(Worker& worker, Message& request, Message& answer) {
  (void)worker;
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
  u64 sent = bytes_from(request, offsetof(ConfigureRequest, text));
  if (mode > CONFIGURE_REPLACE || argument_bytes > CONFIGURE_TEXT_BYTES ||
      environment_bytes > CONFIGURE_TEXT_BYTES - argument_bytes || argument_bytes + environment_bytes > sent)
    return status(answer, STATUS_BAD_REQUEST);
  const char* text = body.text;
  if (!strings_valid(text, argument_bytes) || !environment_valid(text + argument_bytes, environment_bytes))
    return status(answer, STATUS_BAD_REQUEST);
  static_assert(CONFIGURE_TEXT_BYTES <= MAX_ARGUMENT_BYTES, "the arguments fit LinuxStart");

  // Admission, under the lock: the source, the name, the tenant's share and quotas; then an
  // entry reserved for the new version and the source pinned for the copy.
  Function* function = nullptr;
  Function* source = nullptr;
  u64 source_image = 0;
  u64 image_pages = 0;
  {
    LockGuard guard(state.registry.lock());
    Registry& registry = state.registry;
    Status refused = STATUS_OK;
    u64 detail = 0;
    TenantAccount* account = nullptr;
    source = registry.find(request.badge, source_name);
    Function* old = registry.find(request.badge, name);
    if (source == nullptr) {
      refused = STATUS_NOT_FOUND;
      detail = 1;
    } else {
      config.flags = source->config.flags;  // Linux or not, image tree or not: the executable's.
      if (!config_valid(config, state.cpu_count) || (argument_bytes > 0 && (!source->linux_abi || source->image_tree))) {
        refused = STATUS_BAD_REQUEST;
      } else if (config.memory_limit_bytes + INVOCATION_OVERHEAD_BYTES > registry.limits().memory_bytes) {
        refused = STATUS_BAD_REQUEST;
        detail = registry.limits().memory_bytes;
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
      account = registry.open_account(request.badge);
      if (account == nullptr) {
        refused = STATUS_NO_TENANT_SHARE;
        detail = registry.max_tenants();
      } else if (old == nullptr && account->functions >= registry.limits().functions) {
        refused = STATUS_TENANT_FUNCTION_LIMIT;
        detail = registry.limits().functions;
      } else if (source->image_cost > registry.limits().storage_bytes - account->storage_in_use) {
        // A replace holds both versions until the old one's last invocation ends.
        refused = STATUS_STORAGE_EXCEEDED;
        detail = registry.limits().storage_bytes;
      } else if ((function = registry.reserve()) == nullptr) {
        refused = STATUS_TENANT_FUNCTION_LIMIT;
        detail = registry.limits().functions;
      }
    }
    if (refused != STATUS_OK) {
      if (account != nullptr) registry.close_if_idle(*account);
      return status(answer, refused, detail);
    }
    function->reserved = true;
    function->tenant = request.badge;
    function->image = 0;
    function->image_cost = source->image_cost;
    for (usize i = 0; i < NAME_BYTES; ++i) function->name[i] = name[i];
    account->storage_in_use += source->image_cost;
    registry.count_function(*account, true);
    ++source->users;
    source_image = source->image;
    image_pages = pages_for(source->executable_size);
  }

  // The copy of the executable, object to object in the kernel, outside the lock.
  Status result = STATUS_OK;
  u64 detail = 0;
  auto slot = allocate_global_slot();
  if (!slot) {
    result = STATUS_INTERNAL_ERROR;
    detail = static_cast<u64>(slot.error());
  } else {
    auto memory = state.factory.create_memory(slot.value(), image_pages);
    Error error = memory.error();
    if (memory) error = memory.value().copy_from(0, Memory(source_image), 0, image_pages * PAGE).error();
    if (error != Error::None) {
      if (memory) (void)memory.value().remove();
      free_global_slot(slot.value());
      result = status_of(error);
      detail = static_cast<u64>(error);
    }
  }

  LockGuard guard(state.registry.lock());
  Registry& registry = state.registry;
  if (result == STATUS_OK) function->image = slot.value();
  // Raced with another deploy, delete or update of the name: the first one wins.
  Function* old = registry.find(request.badge, name);
  if (result == STATUS_OK && mode == CONFIGURE_REPLACE && old == nullptr) result = STATUS_NOT_FOUND;
  if (result == STATUS_OK && mode == CONFIGURE_CREATE && old != nullptr) result = STATUS_NAME_TAKEN;
  if (result != STATUS_OK) {
    if (TenantAccount* account = registry.account(request.badge)) registry.count_function(*account, false);
    release_image(*function);
    unpin(*source);
    return status(answer, result, detail);
  }
  // The source stays valid while pinned: its derived fields are copied before the pin goes.
  function->config = config;
  function->executable_size = source->executable_size;
  function->entry = source->entry;
  function->segment_count = source->segment_count;
  for (usize i = 0; i < source->segment_count; ++i) function->segments[i] = source->segments[i];
  function->linux_abi = source->linux_abi;
  function->image_tree = source->image_tree;
  function->linux_start = source->linux_start;
  if (argument_bytes > 0) {
    // A whole argv replaces the source's arguments (an image tree keeps its path and arguments).
    function->linux_start.argument_bytes = argument_bytes;
    function->linux_start.flags |= LINUX_START_ARGV0;
    for (u64 i = 0; i < MAX_ARGUMENT_BYTES; ++i) function->linux_start.arguments[i] = i < argument_bytes ? text[i] : '\0';
  }
  function->environment_bytes = environment_bytes;
  for (u64 i = 0; i < CONFIGURE_TEXT_BYTES; ++i)
    function->environment[i] = i < environment_bytes ? text[argument_bytes + i] : '\0';
  for (usize i = 0; i < NAME_BYTES; ++i) function->source[i] = source_name[i];
  for (usize i = 0; i < DIGEST_BYTES; ++i) function->executable_digest[i] = source->executable_digest[i];
  seal_version(*function);
  // The counts go on across versions (OpenFaaS's invocationCount is the function's, not a version's).
  function->invocations = old != nullptr ? old->invocations : 0;
  function->failures = old != nullptr ? old->failures : 0;
  unpin(*source);
  if (old != nullptr) {
    // The swap: the old version leaves the table now; its running invocations keep it alive.
    old->live = false;
    if (TenantAccount* account = registry.account(request.badge)) registry.count_function(*account, false);
    if (old->users > 0) old->removed = true;
    else release_image(*old);
  }
  function->reserved = false;
  function->live = true;
  status(answer, STATUS_OK);
}

}  // namespace manager
