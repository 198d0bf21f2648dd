// DEPLOY, REMOVE, LIST and DESCRIBE: the function registry's requests.
// Deploy does the per-function work once: it validates the executable (a hostile one is refused
// with the reader's precise reason) and copies each segment into a Memory object, so invocations
// map read-only segments shared and copy only the writable ones (object to object, in the kernel).
#include "imagefs/reader.hpp"
#include "lib/elf.hpp"
#include "service.hpp"
#include "sha256/sha256.hpp"

namespace manager {
namespace {

using namespace sys;

constexpr u64 PAGE = 4096;
constexpr u64 PIE_BASE = 0x400000;

u64 pages_for(u64 bytes) { return (bytes + PAGE - 1) / PAGE; }

// The name a REMOVE or DESCRIBE request names; false when it is missing or invalid.
bool requested_name(const Message& request, char (&name)[NAME_BYTES]) {
  NameRequest body;
  get(request, body);
  return unpack_name(body.name, name);
}

void status(Message& answer, Status code, u64 detail = 0) { answer = message_of(code, DetailReply{detail}); }


// What an image of `pages` pages costs the tenant's storage quota: the pages, and one page more
// for the Memory object and its frame table (a heap block below a page up to 512 pages; whole
// pages beyond).
u64 image_cost(u64 pages) { return (pages + 1) * PAGE + (pages > 512 ? (pages * 8 + PAGE - 1) / PAGE * PAGE : 0); }

// The status for a kernel error in the manager's own work: the machine out of memory is said so;
// anything else is the manager's fault (the shares keep its factory from running out).
Status status_of(Error error) { return error == Error::OutOfMemory ? STATUS_OUT_OF_MEMORY : STATUS_INTERNAL_ERROR; }

// The Linux personality image, embedded by user/linux/personality_image.S.
extern "C" const u8 linux_personality_image[];
extern "C" const u8 linux_personality_image_end[];

// Prepares the personality's segments once (registry lock held: the first Linux deploy does it;
// only kernel calls, no IPC, happen under the lock).
Result<void> prepare_personality(PersonalityImage& personality) {
  if (personality.ready) return {};
  Manager& state = manager_state();
  const u8* bytes = linux_personality_image;
  u64 size = static_cast<u64>(linux_personality_image_end - linux_personality_image);
  klib::ElfImage image{};  // Zero for an image tree, which parse_elf never fills.
  if (klib::parse_elf(bytes, size, abi::USER_SPACE_END, image) != klib::ElfStatus::Ok || image.position_independent ||
      image.segment_count > 4)
    return Error::InvalidArgument;
  usize built = 0;
  Error error = Error::None;
  for (; built < image.segment_count; ++built) {
    const klib::ElfSegment& source = image.segments[built];
    u64 start = source.virtual_address & ~(PAGE - 1);
    u64 lead = source.virtual_address - start;
    u64 pages = pages_for(lead + source.memory_size);
    auto slot = allocate_global_slot();
    if (!slot) { error = slot.error(); break; }
    auto memory = state.factory.create_memory(slot.value(), pages);
    if (memory && source.file_size > 0)
      error = memory.value().write(lead, bytes + source.file_offset, source.file_size).error();
    else if (!memory)
      error = memory.error();
    if (error != Error::None) {
      (void)Capability(slot.value()).remove();
      free_global_slot(slot.value());
      break;
    }
    personality.segments[built] = Segment{start, pages, source.writable, source.executable, slot.value()};
  }
  if (error != Error::None) {
    for (usize i = 0; i < built; ++i) {
      (void)Capability(personality.segments[i].memory).remove();
      free_global_slot(personality.segments[i].memory);
    }
    return error;
  }
  personality.segment_count = built;
  personality.entry = image.entry;
  personality.ready = true;
  return {};
}

// What the personality needs to know about a Linux program: entry, program headers in memory
// (AT_PHDR: inside the segment whose file bytes hold the table, if any), segments, end of image.
LinuxStart linux_start_of(const klib::ElfImage& image, u64 base) {
  LinuxStart start{};
  start.magic = LINUX_START_MAGIC;
  start.entry = image.entry + base;
  start.program_header_count = image.program_header_count;
  u64 table_end = image.program_header_offset + u64{image.program_header_count} * 56;
  for (usize i = 0; i < image.segment_count && i < LINUX_MAX_SEGMENTS; ++i) {
    const klib::ElfSegment& segment = image.segments[i];
    if (start.program_headers == 0 && image.program_header_offset >= segment.file_offset &&
        table_end <= segment.file_offset + segment.file_size)
      start.program_headers = segment.virtual_address + base + (image.program_header_offset - segment.file_offset);
    u64 first = (segment.virtual_address + base) & ~(PAGE - 1);
    u64 end = (segment.virtual_address + base + segment.memory_size + PAGE - 1) & ~(PAGE - 1);
    start.segments[i] = LinuxSegment{first, end - first,
                                     (segment.writable ? LINUX_SEGMENT_WRITABLE : 0) |
                                         (segment.executable ? LINUX_SEGMENT_EXECUTABLE : 0)};
    if (end > start.image_end) start.image_end = end;
  }
  start.segment_count = image.segment_count < LINUX_MAX_SEGMENTS ? image.segment_count : LINUX_MAX_SEGMENTS;
  return start;
}

// An image function's tree (FUNCTION_FLAG_IMAGE), checked before anything is taken: the header
// against the Memory it came in (imagefs::check_header; the personality bounds-checks the rest
// where it reads), and the program path (the first argument string) naming a regular file that
// starts like an ELF executable. Ok, or the ElfStatus that says what is wrong.
klib::ElfStatus check_image_tree(const u8* tree, u64 size, const u8* arguments, u64 arguments_length) {
  if (imagefs::check_header(tree, pages_for(size) * PAGE) != nullptr) return klib::ElfStatus::BadImageTree;
  u64 path_length = 0;
  while (path_length < arguments_length && arguments[path_length] != 0) ++path_length;
  if (path_length == 0 || path_length >= arguments_length || path_length >= PROGRAM_PATH_BYTES)
    return klib::ElfStatus::NoProgramInImage;
  imagefs::Reader reader;
  if (!reader.open(tree, pages_for(size) * PAGE)) return klib::ElfStatus::BadImageTree;
  imagefs::Resolution found = reader.resolve(imagefs::ROOT_INODE, reinterpret_cast<const char*>(arguments), path_length, true);
  u64 offset = 0;
  u64 length = 0;
  if (found.error != imagefs::ReadError::None || !reader.file_extent(found.inode, offset, length) || length < 64)
    return klib::ElfStatus::NoProgramInImage;
  const u8* header = tree + offset;
  if (header[0] != 0x7f || header[1] != 'E' || header[2] != 'L' || header[3] != 'F') return klib::ElfStatus::NoProgramInImage;
  return klib::ElfStatus::Ok;
}

}  // namespace

FunctionConfig config_from(const FunctionConfig& sent) {
  const u8* bytes = reinterpret_cast<const u8*>(&sent);
  bool empty = true;
  for (usize i = 0; i < sizeof sent; ++i) empty = empty && bytes[i] == 0;
  return empty ? DEFAULT_CONFIG : sent;
}

// cpu_count: CPUs online; a CPU set must name at least one of them.
bool config_valid(const FunctionConfig& config, u64 cpu_count) {
  u64 online = cpu_count >= 64 ? ~u64{0} : (u64{1} << cpu_count) - 1;
  return (config.cpu_mask == 0 || (config.cpu_mask & online) != 0) && config.memory_limit_bytes >= (256ull << 10) && config.memory_limit_bytes <= MAX_MEMORY_LIMIT &&
         config.timeout_nanoseconds > 0 && config.max_output_bytes <= MAX_OUTPUT_BYTES &&
         config.max_nesting_depth <= MAX_DEPTH && (config.grants & ~GRANT_CONSOLE) == 0 &&
         (config.flags & ~FUNCTION_FLAGS_KNOWN) == 0 &&
         ((config.flags & FUNCTION_FLAG_IMAGE) == 0 || (config.flags & FUNCTION_FLAG_LINUX) != 0);
}

void release_image(Function& function) { manager_state().registry.release(function); }

void handle_deploy(Worker& worker, Message& request, Message& answer) { deploy_function(worker, request, answer, nullptr); }

void deploy_function(Worker& worker, Message& request, Message& answer, const SharedTree* shared_tree,
                     StringsDraft* strings, u64 argument_bytes, u64 secret_bytes, bool replace) {
  Manager& state = manager_state();
  char name[NAME_BYTES];
  DeployRequest body;
  get(request, body);
  u64 size = body.executable_size;
  FunctionConfig config = config_from(body.config);
  if (!carries<DeployRequest>(request, DEPLOY_HEAD_BYTES) || !unpack_name(body.name, name) ||
      !config_valid(config, state.cpu_count))
    return status(answer, STATUS_BAD_REQUEST);
  // Arguments: only for Linux functions; DEPLOY's are the words after the configuration, up to the
  // last NUL; DEPLOY_IMAGE's come built (`strings`).
  StringsDraft own_strings;
  u64 arguments_length = argument_bytes;
  if (strings == nullptr) {
    const auto* inline_arguments = reinterpret_cast<const u8*>(body.arguments);
    u64 raw_length = bytes_from(request, offsetof(DeployRequest, arguments));
    arguments_length = raw_length;
    while (arguments_length > 0 && inline_arguments[arguments_length - 1] == 0) --arguments_length;
    if (arguments_length == raw_length && raw_length > 0) return status(answer, STATUS_BAD_REQUEST);  // Unterminated.
    if (arguments_length > 0) ++arguments_length;  // Keep the last string's terminator.
    if (arguments_length > 0 && (config.flags & FUNCTION_FLAG_LINUX) == 0) return status(answer, STATUS_BAD_REQUEST);
    u64 detail = 0;
    Status opened = own_strings.open(worker, arguments_length, detail);
    if (opened != STATUS_OK) return status(answer, opened, detail);
    (void)own_strings.write(0, body.arguments, arguments_length);  // It is as large as that.
    strings = &own_strings;
  }
  const auto* arguments_text = reinterpret_cast<const u8*>(strings->bytes());
  bool image_tree = (config.flags & FUNCTION_FLAG_IMAGE) != 0;
  if ((shared_tree == nullptr && request.received_capabilities < 1) || (shared_tree != nullptr && !image_tree) || size == 0 ||
      size > (image_tree ? MAX_IMAGE_TREE_BYTES : MAX_EXECUTABLE_BYTES))
    return status(answer, STATUS_BAD_REQUEST);
  // A tree the image store shares (DEPLOY_IMAGE) is used as it is; anything else is copied below.
  Memory executable(shared_tree != nullptr ? shared_tree->memory : worker.receive_slots[0]);
  auto mapped = map_scratch(worker, executable, pages_for(size), false);
  if (!mapped) return status(answer, STATUS_BAD_REQUEST, static_cast<u64>(mapped.error()));
  const auto* bytes = reinterpret_cast<const u8*>(mapped.value());

  klib::ElfImage image{};  // Zero for an image tree, which parse_elf never fills.
  klib::ElfStatus elf = image_tree ? check_image_tree(bytes, size, arguments_text, arguments_length)
                                   : klib::parse_elf(bytes, size, FUNCTION_CONTEXT_ADDRESS - PIE_BASE, image);
  if (elf != klib::ElfStatus::Ok) {
    unmap_scratch(worker, pages_for(size));
    return status(answer, STATUS_BAD_EXECUTABLE, static_cast<u64>(elf));
  }
  u64 base = image.position_independent ? PIE_BASE : 0;
  u8 executable_digest[DIGEST_BYTES];
  {
    hashing::Sha256 hash;
    hash.update(bytes, size);
    hash.finish(executable_digest);
  }

  if (image.segment_count > MAX_SEGMENTS) {
    unmap_scratch(worker, pages_for(size));
    return status(answer, STATUS_BAD_EXECUTABLE, static_cast<u64>(klib::ElfStatus::TooManySegments));
  }
  u64 image_pages = pages_for(size);
  u64 cost = image_cost(image_pages);
  // What every invocation must make of its own (writable copies, zero-filled parts): a function
  // whose limit cannot even hold that is refused now, not at every invocation.
  u64 per_invocation = 0;
  for (usize i = 0; i < image.segment_count; ++i) {
    const klib::ElfSegment& source = image.segments[i];
    u64 lead = source.virtual_address & (PAGE - 1);
    bool shared = !source.writable && source.file_size > 0 && source.file_size == source.memory_size &&
                  source.file_offset % PAGE == lead;
    if (!shared) per_invocation += pages_for(lead + source.memory_size) * PAGE;
  }
  if (per_invocation > config.memory_limit_bytes) {
    unmap_scratch(worker, image_pages);
    return status(answer, STATUS_QUOTA_EXCEEDED, per_invocation);
  }

  // Admission, all under the lock: the limit against what can ever be admitted, the name (taken
  // for a replace, free otherwise), the tenant's account, its function quota, its storage quota
  // and the pool; then a record, not live.
  Function* function = nullptr;
  {
    LockGuard guard(state.registry.lock());
    Registry& registry = state.registry;
    Status refused = STATUS_OK;
    u64 detail = 0;
    TenantAccount* account = nullptr;
    Function* old = registry.find(request.badge, name);
    if (config.memory_limit_bytes > registry.largest_limit()) {
      // It could never run: one invocation would need more than the pool (or the tenant's quota).
      refused = STATUS_LIMIT_TOO_LARGE;
      detail = registry.largest_limit();
    } else if (!replace && old != nullptr) {
      refused = STATUS_NAME_TAKEN;
    } else if (replace && old == nullptr) {
      refused = STATUS_NOT_FOUND;
    } else if ((config.flags & FUNCTION_FLAG_LINUX) != 0) {
      auto prepared = prepare_personality(registry.personality());
      if (!prepared) {
        refused = status_of(prepared.error());
        detail = static_cast<u64>(prepared.error());
      }
    }
    if (refused == STATUS_OK) {
      account = registry.open_account(request.badge);
      if (account == nullptr) {
        refused = STATUS_NO_TENANT_SHARE;
        detail = registry.limits().tenants;
      } else {
        // A replace does not need room for another function: the old version leaves at the swap.
        if (old != nullptr) registry.count_function(*account, false);
        refused = registry.create(*account, name, cost, strings_cost(strings->size()), function, detail);
        if (old != nullptr) registry.count_function(*account, true);
      }
    }
    if (refused != STATUS_OK) {
      if (account != nullptr) registry.close_if_idle(*account);
      unmap_scratch(worker, image_pages);
      return status(answer, refused, detail);
    }
  }

  // The image: the executable file as it came, nothing else (zero-filled parts are made per
  // invocation). Copied by the kernel, object to object.
  Status result = STATUS_OK;
  u64 detail = 0;
  auto slot = shared_tree != nullptr ? Result<u64>(shared_tree->memory) : allocate_global_slot();
  if (shared_tree != nullptr) {
    // Nothing to copy: the store's Memory (Read and Execute only) is mapped by every invocation.
  } else if (!slot) {
    result = STATUS_INTERNAL_ERROR;
    detail = static_cast<u64>(slot.error());
  } else {
    auto memory = state.factory.create_memory(slot.value(), image_pages);
    Error error = memory.error();
    // The kernel copies at most 16 MiB per MemoryCopy (a bounded step per call); image trees are
    // larger, so the copy goes in steps of that size.
    constexpr u64 COPY_STEP = 16ull << 20;
    for (u64 done = 0; memory && error == Error::None && done < size; done += COPY_STEP)
      error = memory.value().copy_from(done, executable, done, size - done < COPY_STEP ? size - done : COPY_STEP).error();
    if (error != Error::None) {
      if (memory) (void)memory.value().remove();
      free_global_slot(slot.value());
      result = status_of(error);
      detail = static_cast<u64>(error);
    }
  }
  unmap_scratch(worker, image_pages);

  LockGuard guard(state.registry.lock());
  Registry& registry = state.registry;
  TenantAccount* account = registry.account(request.badge);  // Open: this deploy counts in it.
  if (result == STATUS_OK && shared_tree == nullptr) {
    // The copy is the executable's from now on (freed with it if the deploy fails below).
    function->executable->memory = slot.value();
    function->image = slot.value();
  }
  // The lock was let go for the copy: another request may have deployed the name (a create
  // raced), deleted it (a replace finds nothing to replace), or replaced it (this replace then
  // replaces that version: the last update wins).
  Function* old = result == STATUS_OK ? registry.find(request.badge, name) : nullptr;
  if (result == STATUS_OK && !replace && old != nullptr) result = STATUS_NAME_TAKEN;
  if (result == STATUS_OK && replace && old == nullptr) result = STATUS_NOT_FOUND;
  if (result == STATUS_OK && !(replace ? registry.replace(*old, *function) : registry.publish(*function)))
    result = STATUS_NO_CAPACITY;
  // A shared tree becomes the function's only on success; until then its caller holds it.
  if (result == STATUS_OK && shared_tree != nullptr) {
    function->executable->memory = shared_tree->memory;
    function->executable->store_handle = shared_tree->store_handle;
    function->image = shared_tree->memory;
  }
  if (result != STATUS_OK) {
    if (account != nullptr) registry.count_function(*account, false);
    release_image(*function);
    return status(answer, result, detail);
  }
  function->config = config;
  function->executable_size = size;
  function->entry = image.entry + base;
  function->segment_count = image.segment_count;
  for (usize i = 0; i < image.segment_count; ++i) {
    const klib::ElfSegment& source = image.segments[i];
    u64 start = source.virtual_address & ~(PAGE - 1);
    u64 lead = source.virtual_address - start;
    bool shared = !source.writable && source.file_size > 0 && source.file_size == source.memory_size &&
                  source.file_offset % PAGE == lead;
    function->segments[i] = ImageSegment{start + base, pages_for(lead + source.memory_size), lead, source.file_offset,
                                         source.file_size, source.writable, source.executable, shared};
  }
  function->linux_abi = (config.flags & FUNCTION_FLAG_LINUX) != 0;
  function->linux_start = function->linux_abi ? linux_start_of(image, base) : LinuxStart{};
  function->argument_bytes = arguments_length;
  function->environment_bytes = 0;
  function->secret_bytes = secret_bytes;
  // An image function's program is loaded from its tree by the personality; its Memory is the
  // tree, which invocations map (not FUNCTION_EXECUTABLE).
  function->image_tree = image_tree;
  function->linux_start.executable_size = function->linux_abi && !image_tree ? size : 0;
  function->linux_start.image_tree_bytes = image_tree ? size : 0;
  if (shared_tree != nullptr) {
    if (shared_tree->identity) {
      function->linux_start.flags |= LINUX_START_IDENTITY;
      function->linux_start.uid = shared_tree->uid;
      function->linux_start.gid = shared_tree->gid;
    }
    for (u64 i = 0; i < LINUX_WORKING_DIRECTORY_BYTES; ++i)
      function->linux_start.working_directory[i] = shared_tree->working_directory[i];
  }
  if (image_tree) {
    // The program's path (check_image_tree found it NUL-terminated, shorter than PROGRAM_PATH_BYTES).
    u64 length = 0;
    while (arguments_text[length] != 0) ++length;
    for (u64 i = 0; i <= length; ++i) function->linux_start.path[i] = static_cast<char>(arguments_text[i]);
    function->linux_start.path_bytes = length + 1;
  }
  for (usize i = 0; i < NAME_BYTES; ++i) function->source[i] = name[i];
  for (usize i = 0; i < DIGEST_BYTES; ++i) function->executable_digest[i] = executable_digest[i];
  seal_version(*function, strings->bytes());
  function->strings = strings->take();
  // Invocation counts: 0 from create, or the old version's (Registry::replace); memory figures: the version's own.
  function->private_bytes_last = 0;
  function->private_bytes_max = 0;
  status(answer, STATUS_OK);
}

void handle_remove(Worker&, Message& request, Message& answer) {
  Manager& state = manager_state();
  char name[NAME_BYTES];
  if (!requested_name(request, name)) return status(answer, STATUS_BAD_REQUEST);
  LockGuard guard(state.registry.lock());
  Function* function = state.registry.find(request.badge, name);
  if (function == nullptr) return status(answer, STATUS_NOT_FOUND);
  state.registry.retire(*function);
  status(answer, STATUS_OK);
}

void handle_list(Worker&, Message& request, Message& answer) {
  Manager& state = manager_state();
  ListRequest body;
  get(request, body);
  ListReply list;
  list.total = 0;
  list.count = 0;
  LockGuard guard(state.registry.lock());
  // The tenant's own list: a page costs the walk to its first name, never a scan of other tenants.
  for (Function* function = state.registry.first_function(request.badge); function != nullptr;
       function = function->next_of_tenant) {
    if (list.total >= body.first && list.count < LIST_NAMES_PER_REPLY) pack_name(function->name, list.names[list.count++]);
    ++list.total;
    if (list.count == LIST_NAMES_PER_REPLY) break;
  }
  if (TenantAccount* account = state.registry.account(request.badge)) list.total = account->live_functions;
  put(answer, STATUS_OK, list, offsetof(ListReply, names) + list.count * NAME_BYTES);
}

void handle_describe(Worker&, Message& request, Message& answer) {
  Manager& state = manager_state();
  char name[NAME_BYTES];
  if (!requested_name(request, name)) return status(answer, STATUS_BAD_REQUEST);
  LockGuard guard(state.registry.lock());
  Function* function = state.registry.find(request.badge, name);
  if (function == nullptr) return status(answer, STATUS_NOT_FOUND);
  DescribeReply described{};
  described.executable_size = function->executable_size;
  described.config = function->config;
  described.invocations = function->invocations;
  described.failures = function->failures;
  described.created_microseconds = function->created_microseconds;
  __builtin_memcpy(described.digest, function->digest, DIGEST_BYTES);
  pack_name(function->source, described.source);
  described.environment_bytes = function->environment_bytes;
  described.tree_bytes = function->image_tree ? function->linux_start.image_tree_bytes : 0;
  described.private_bytes_last = function->private_bytes_last;
  described.private_bytes_max = function->private_bytes_max;
  put(answer, STATUS_OK, described);
}

}  // namespace manager

namespace manager {

void handle_stats(Worker&, Message& request, Message& answer) {
  Manager& state = manager_state();
  ManagerStats stats{};
  auto quota = state.factory.info();
  if (quota) {
    stats.pool_free_bytes = quota.value().quota_bytes - quota.value().used_bytes;
    stats.machine_free_bytes = quota.value().machine_free_bytes;
    stats.kernel_heap_used_bytes = quota.value().kernel_heap_used_bytes;
    stats.kernel_heap_bytes = quota.value().kernel_heap_bytes;
  }
  {
    LockGuard guard(state.registry.lock());
    Registry& registry = state.registry;
    const ShareLimits& limits = registry.limits();
    stats.reserved_bytes = registry.reserved_bytes();
    stats.tenants = registry.tenants();
    stats.running_invocations = registry.running();
    stats.functions = registry.functions();
    stats.function_capacity = limits.functions;
    stats.share_memory_bytes = registry.memory_quota();
    stats.share_storage_bytes = limits.storage_bytes;
    stats.share_invocations = limits.invocations;
    stats.share_functions = limits.functions;
    stats.nested_budget = limits.nested_budget;
    if (const TenantAccount* account = registry.account(request.badge)) {
      stats.tenant_memory_in_use = account->memory_in_use;
      stats.tenant_storage_in_use = account->storage_in_use;
      stats.tenant_invocations = account->invocations;
      stats.tenant_functions = account->functions;
      stats.share_functions = registry.function_quota(*account);
      stats.share_storage_bytes = registry.storage_quota(*account);
    }
    stats.shares_free = registry.pool_bytes();
  }
  put(answer, STATUS_OK, stats);
}

}  // namespace manager
