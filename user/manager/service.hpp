// The manager's shared state and its workers. Each worker thread serves one request at a time,
// start to finish (an invocation and all its nested invocations run on the worker that received
// it), so workers share only the registry and the global slot allocator, both under locks.
// Invariant: a worker uses only its own slots, scratch window and Reply objects.
#pragma once

#include "registry.hpp"

namespace manager {

constexpr u64 MANAGER_TASK = 1;
constexpr u64 MANAGER_THREAD = 2;
constexpr u64 MANAGER_FACTORY = 3;
constexpr u64 MANAGER_CONSOLE = 4;
constexpr u64 MANAGER_SERVICE = 8;  // The service endpoint (Receive), first named endpoint.
constexpr u64 MANAGER_STORE = 9;    // The image store (Send, Grant), second named endpoint, optional.
// The manager's capability space (its boot line's `slots=65536`, the kernel's largest): the kernel
// makes its chunks as they fill, so a space this large costs only what is used.
constexpr u64 MANAGER_SLOTS = 65536;
constexpr u64 GLOBAL_FIRST_SLOT = 64;
// Each worker's own slots: its Reply objects and receive slots (12) and the slots of one
// invocation (at most 16) at every depth (MAX_DEPTH + 1). The workers' ranges sit at the top of
// the space; the global range below them holds the deployed images, one slot per function.
constexpr u64 WORKER_SLOTS = 160;
constexpr usize MAX_WORKERS = 16;
constexpr u64 MAX_DEPTH = 8;  // Deepest nesting any configuration may ask for.
static_assert(12 + 16 * (MAX_DEPTH + 1) <= WORKER_SLOTS, "a worker's slots cover its deepest nesting");
constexpr u64 WORKER_PRIORITY = 16;
static_assert(FUNCTION_PRIORITY == WORKER_PRIORITY - 1, "functions run one level below the workers");

struct Manager {
  sys::Task self{MANAGER_TASK};
  sys::Factory factory{MANAGER_FACTORY};
  sys::Console console{MANAGER_CONSOLE};
  sys::Endpoint service{MANAGER_SERVICE};
  u64 cpu_count = 1;
  u64 tsc_hertz = 0;
  u64 realtime_offset = 0;  // FunctionContext::realtime_offset, read from the RTC at start.
  Registry registry;
  SpinLock slots_lock;
  sys::SlotAllocator* global_slots = nullptr;  // [GLOBAL_FIRST_SLOT, first worker slot), set at boot.
  u64 next_invocation_id = 1;  // Under slots_lock.
  u64 pool_bytes = 0;          // What invocations and storage may reserve from the factory (set at boot).
};

struct Worker {
  usize index = 0;
  u64 cpu = 0;
  sys::SlotAllocator* slots = nullptr;
  u64 scratch_base = 0;        // A window of the manager's address space for temporary mappings.
  u64 replies[MAX_DEPTH + 2] = {};  // Reply objects: [0] the client, [d] the function at depth d - 1.
  u64 receive_slots[2] = {};   // Where capabilities sent with a request land.
};

Manager& manager_state();

// A global slot for long-lived capabilities (deployed images).
sys::Result<u64> allocate_global_slot();
void free_global_slot(u64 slot);
u64 new_invocation_id();

// Maps `memory` (pages) at the worker's scratch window, read-only or writable; returns the address.
sys::Result<u64> map_scratch(Worker& worker, sys::Memory memory, u64 pages, bool writable);
void unmap_scratch(Worker& worker, u64 pages);
// How many pages a Memory capability covers (by probing mappings; see service.cpp).
constexpr u64 SCRATCH_WINDOW = 0x0000080000000000;
constexpr u64 SCRATCH_PER_WORKER = 1ull << 32;

// Request handlers (one file each).
void handle_deploy(Worker& worker, sys::Message& request, sys::Message& answer);
void handle_invoke(Worker& worker, sys::Message& request, sys::Message& answer);
void handle_remove(Worker& worker, sys::Message& request, sys::Message& answer);
void handle_list(Worker& worker, sys::Message& request, sys::Message& answer);
void handle_describe(Worker& worker, sys::Message& request, sys::Message& answer);
void handle_stats(Worker& worker, sys::Message& request, sys::Message& answer);
void handle_configure(Worker& worker, sys::Message& request, sys::Message& answer);
void handle_set_tenant_quota(Worker& worker, sys::Message& request, sys::Message& answer);  // admission.cpp

// A configuration DEPLOY and CONFIGURE accept (deploy.cpp); cpu_count: CPUs online.
bool config_valid(const FunctionConfig& config, u64 cpu_count);
// The configuration a request sent: all zero means DEFAULT_CONFIG.
FunctionConfig config_from(const FunctionConfig& sent);

// Sets the function's version digest (from its executable digest, configuration and its strings,
// `strings` mapped) and its creation time (configure.cpp).
void seal_version(Function& function, const char* strings);
void handle_deploy_image(Worker& worker, sys::Message& request, sys::Message& answer);  // deploy_image.cpp

// A packed image tree the image store shares: its Memory in a global slot and the store's read
// handle. DEPLOY with it (deploy_function) maps it instead of copying; on success the function
// owns both (release_image gives them back), on failure the caller still does.
struct SharedTree {
  u64 memory;
  u64 store_handle;
  // The image's User and WorkingDir (LinuxStart::uid, gid, working_directory), checked against
  // the tree; `identity` false: the default user.
  bool identity;
  u32 uid, gid;
  char working_directory[LINUX_WORKING_DIRECTORY_BYTES];
};
// A function's strings being built (strings.cpp): a Memory of `bytes` in a global slot, mapped
// writable in the worker's window until take() hands the slot to a function (or the destructor
// removes it). `bytes` 0: nothing is made.
class StringsDraft {
 public:
  StringsDraft() = default;
  StringsDraft(const StringsDraft&) = delete;
  StringsDraft& operator=(const StringsDraft&) = delete;
  ~StringsDraft();
  // STATUS_OK, BAD_REQUEST (more than MAX_FUNCTION_STRINGS_BYTES), NO_CAPACITY or OUT_OF_MEMORY.
  // `window`: which of the worker's two strings windows it is mapped in (0 or 1).
  Status open(Worker& worker, u64 bytes, u64& detail, u64 window = 0);
  bool write(u64 offset, const void* bytes, u64 length);
  // The kernel copies from `source` (a Memory another task may still change: check afterwards).
  bool copy(u64 offset, sys::Memory source, u64 source_offset, u64 length);
  const char* bytes() const { return bytes_ptr_; }
  char* bytes() { return bytes_ptr_; }
  u64 size() const { return bytes_; }
  // The slot (0 when empty); the draft is unmapped and owns nothing afterwards.
  u64 take();

 private:
  void unmap();
  u64 slot_ = 0;
  u64 bytes_ = 0;
  u64 address_ = 0;
  char* bytes_ptr_ = nullptr;
};
// What strings of `bytes` cost the tenant's storage: their pages and one for the object.
u64 strings_cost(u64 bytes);
u64 string_count(const char* text, u64 length);
// A run of NUL-terminated strings: empty, or non-empty strings each ending in NUL.
bool strings_valid(const char* text, u64 length);
// Such a run whose every string is KEY=value with a non-empty key.
bool environment_valid(const char* text, u64 length);
// Secret file entries (protocol.hpp): at most MAX_SECRET_FILES, names DNS labels given once,
// values at most MAX_SECRET_FILE_BYTES, nothing left over.
bool secret_files_valid(const char* text, u64 length);

// DEPLOY's work; `shared` non-null for DEPLOY_IMAGE (the request then carries no capability).
// `strings`: the function's strings, built and checked by the caller (DEPLOY_IMAGE); null: DEPLOY's
// inline arguments. `replace` (DEPLOY_IMAGE_REPLACE): the new function replaces the live one of
// its name (Registry::replace; NOT_FOUND when there is none) instead of needing the name free.
void deploy_function(Worker& worker, sys::Message& request, sys::Message& answer, const SharedTree* shared,
                     StringsDraft* strings = nullptr, u64 argument_bytes = 0, u64 secret_bytes = 0,
                     bool replace = false);

// Image trees from the store are closed there (IPC), never under the registry lock: release_image
// queues the handle, and every worker closes what is queued after each request.
void queue_store_close(u64 handle);  // Registry lock held.
void close_queued_store_handles(Worker& worker);

// Frees a function that is neither live nor in use: its record, and its executable with the last
// reference (Registry::release); registry lock held.
void release_image(Function& function);

}  // namespace manager
