// DEPLOY_IMAGE: a Linux function from an image of the image store (docs/IMAGES.md, "Deploying an
// image"). The image's record gives the command line (Entrypoint + Cmd, or Entrypoint + the
// deploy's arguments) and the environment (the image's, with the deploy's added or replacing the
// same keys); the tree is opened in the store and shared read-only by every invocation, never
// copied. While the function exists the tree stays open, so the store refuses to delete the image.
// With DEPLOY_IMAGE_REPLACE the new function replaces the live one of its name atomically
// (Registry::replace, CONFIGURE_REPLACE's swap): everything is checked and built first, so a refusal
// leaves the old version as it was; the old version's tree closes when its last invocation ends.
// Invariant: every store handle and capability this request takes is either owned by the deployed
// function or given back before the answer.
#include "imagefs/reader.hpp"
#include "lib/elf.hpp"
#include "service.hpp"
#include "store/client.hpp"
#include "store/image.hpp"

namespace manager {
namespace {

using namespace sys;

constexpr u64 PAGE = 4096;
constexpr u64 RECORD_OFFSET = 2ull << 30;  // Within the worker's scratch window, above any tree.
constexpr const char* DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

u64 pages_for(u64 bytes) { return bytes == 0 ? 1 : (bytes + PAGE - 1) / PAGE; }
u64 length_of(const char* text) {
  if (text == nullptr) return 0;  // nth() past the strings: nothing.
  u64 length = 0;
  while (text[length] != '\0') ++length;
  return length;
}
bool same_key(const char* left, const char* right) {
  u64 i = 0;
  for (; left[i] != '\0' && left[i] != '=' && left[i] == right[i]; ++i) {}
  return left[i] == '=' && right[i] == '=';
}

// The function's arguments as DEPLOY keeps them: the program's path, argv[1..], an empty string,
// then the environment. Counted first (`bytes` null), then written into the function's strings;
// `overflow` once it would pass MAX_STORED_STRINGS_BYTES (`needed` keeps counting).
struct Block {
  char* bytes = nullptr;
  u64 used = 0;
  u64 needed = 0;
  u64 strings = 0;
  void add(const char* text, u64 length) {
    needed += length + 1;
    ++strings;
    if (needed > MAX_STORED_STRINGS_BYTES || bytes == nullptr) return;
    for (u64 i = 0; i < length; ++i) bytes[used + i] = text[i];
    bytes[used + length] = '\0';
    used += length + 1;
  }
  bool overflow() const { return needed > MAX_STORED_STRINGS_BYTES || strings > MAX_STRING_COUNT; }
};

// Strings back to back, each NUL-terminated: the index-th, or nullptr.
const char* nth(const char* strings, u64 bytes, u64 index) {
  u64 at = 0;
  for (u64 i = 0; at < bytes; ++i) {
    if (i == index) return strings + at;
    at += length_of(strings + at) + 1;
  }
  return nullptr;
}
u64 count_strings(const char* strings, u64 bytes) {
  u64 count = 0;
  for (u64 at = 0; at < bytes; at += length_of(strings + at) + 1) ++count;
  return count;
}
// True when `bytes` of strings are NUL-terminated strings (empty allowed only when `empty_ok`).
bool well_formed(const char* strings, u64 bytes) { return bytes == 0 || strings[bytes - 1] == '\0'; }

// A regular file at `path` in the tree.
bool is_file(const imagefs::Reader& reader, const char* path, u64 length) {
  imagefs::Resolution found = reader.resolve(imagefs::ROOT_INODE, path, length, true);
  u64 offset = 0;
  u64 size = 0;
  return found.error == imagefs::ReadError::None && reader.file_extent(found.inode, offset, size);
}

// A directory at `path` in the tree (symbolic links followed).
bool is_directory(const imagefs::Reader& reader, const char* path, u64 length) {
  imagefs::Resolution found = reader.resolve(imagefs::ROOT_INODE, path, length, true);
  return found.error == imagefs::ReadError::None && reader.is_directory(found.inode);
}

// A decimal id of 1 to 10 digits below 2^32 - 1 (Linux's (uid_t)-1 is no id).
bool parse_id(const char* text, u64 length, u32& id) {
  if (length == 0 || length > 10) return false;
  u64 value = 0;
  for (u64 i = 0; i < length; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + static_cast<u64>(text[i] - '0');
  }
  if (value >= 0xffffffffull) return false;
  id = static_cast<u32>(value);
  return true;
}

// A line of a passwd or group file of the tree ("name:x:id:..."; passwd's fourth field is the
// user's group) whose name is `key` (or, `by_id`, whose id is `key`'s number): its id and fourth
// field as a number (0 when it is no number, as in a group file).
bool find_account(const imagefs::Reader& reader, u64 tree_base, const char* file, const char* key, u64 key_length,
                  bool by_id, u32& id, u32& group) {
  imagefs::Resolution found = reader.resolve(imagefs::ROOT_INODE, file, length_of(file), true);
  u64 offset = 0, size = 0;
  if (found.error != imagefs::ReadError::None || !reader.file_extent(found.inode, offset, size)) return false;
  const char* text = reinterpret_cast<const char*>(tree_base + offset);
  for (u64 line = 0; line < size;) {
    u64 end = line;
    while (end < size && text[end] != '\n') ++end;
    // The fields' starts and lengths: name, password, id, fourth.
    u64 starts[4] = {}, lengths[4] = {};
    u64 field = 0, at = line;
    for (; field < 4 && at <= end; ++field) {
      starts[field] = at;
      while (at < end && text[at] != ':') ++at;
      lengths[field] = at - starts[field];
      ++at;
    }
    u32 line_id = 0, line_group = 0;
    if (field >= 3 && parse_id(text + starts[2], lengths[2], line_id)) {
      bool matches = by_id ? (key_length == lengths[2] && __builtin_memcmp(key, text + starts[2], key_length) == 0)
                           : (key_length == lengths[0] && __builtin_memcmp(key, text + starts[0], key_length) == 0);
      if (matches) {
        id = line_id;
        group = field == 4 && parse_id(text + starts[3], lengths[3], line_group) ? line_group : 0;
        return true;
      }
    }
    line = end + 1;
  }
  return false;
}

// The image's User as Docker reads it: "user", "user:group", "uid", "uid:gid", "uid:group",
// "user:gid"; a name looked up in the tree's /etc/passwd (or /etc/group), a user's group the one
// passwd gives it, a uid that passwd lacks group 0. False when a name is unknown.
bool resolve_user(const imagefs::Reader& reader, u64 tree_base, const char* user, u32& uid, u32& gid) {
  u64 length = length_of(user);
  u64 colon = 0;
  while (colon < length && user[colon] != ':') ++colon;
  const char* group_text = colon < length ? user + colon + 1 : nullptr;
  u64 group_length = colon < length ? length - colon - 1 : 0;
  u32 passwd_group = 0, ignored = 0;
  bool numeric = parse_id(user, colon, uid);
  if (numeric) {
    if (!find_account(reader, tree_base, "/etc/passwd", user, colon, true, ignored, passwd_group)) passwd_group = 0;
  } else if (colon == 0 || !find_account(reader, tree_base, "/etc/passwd", user, colon, false, uid, passwd_group)) {
    return false;
  }
  if (group_text == nullptr) {
    gid = passwd_group;
    return true;
  }
  if (parse_id(group_text, group_length, gid)) return true;
  return group_length > 0 &&
         find_account(reader, tree_base, "/etc/group", group_text, group_length, false, gid, ignored);
}

void status(Message& answer, Status code, u64 detail = 0) { answer = message_of(code, DetailReply{detail}); }

// A store read handle and the capability that came with it, closed when the scope ends (unless
// kept).
class OpenBlob {
 public:
  OpenBlob(const store::Client& client, u64 slot, void (*free_slot)(Worker&, u64), Worker& worker)
      : client_(client), slot_(slot), free_slot_(free_slot), worker_(worker) {}
  ~OpenBlob() {
    if (handle_ != 0) (void)client_.close(handle_);
    if (held_) (void)Capability(slot_).remove();
    if (slot_ != 0) free_slot_(worker_, slot_);
  }
  store::Status open(const char* name) {
    store::Status opened = client_.open(name, slot_, handle_, size_);
    // The store's reply came to this worker: its receive slots are the service's again.
    set_receive_slots(worker_.receive_slots[0], worker_.receive_slots[1]);
    held_ = opened == store::STATUS_OK;
    if (!held_) handle_ = 0;
    return opened;
  }
  // The caller (a deployed function) owns the handle and the capability now.
  void keep() {
    handle_ = 0;
    held_ = false;
    slot_ = 0;
  }
  u64 slot() const { return slot_; }
  u64 handle() const { return handle_; }
  u64 size() const { return size_; }

 private:
  const store::Client& client_;
  u64 slot_;
  void (*free_slot_)(Worker&, u64);
  Worker& worker_;
  u64 handle_ = 0;
  u64 size_ = 0;
  bool held_ = false;
};

void free_worker_slot(Worker& worker, u64 slot) { worker.slots->free(slot); }
void free_shared_slot(Worker&, u64 slot) { free_global_slot(slot); }

}  // namespace

void handle_deploy_image(Worker& worker, Message& request, Message& answer) {
  Manager& state = manager_state();
  char name[NAME_BYTES];
  DeployImageRequest body;
  get(request, body);
  if (!carries<DeployImageRequest>(request, DEPLOY_IMAGE_HEAD_BYTES) || !unpack_name(body.name, name))
    return status(answer, STATUS_BAD_REQUEST);
  static_assert(IMAGE_REFERENCE_BYTES == store::NAME_BYTES);
  const char* raw_reference = body.reference;
  u64 reference_length = 0;
  while (reference_length < store::NAME_BYTES && raw_reference[reference_length] != '\0') ++reference_length;
  char reference[store::NAME_BYTES];
  if (!store::normalise_image_name(raw_reference, reference_length, reference)) return status(answer, STATUS_BAD_REQUEST);
  u64 flags = body.flags;
  u64 argument_bytes = body.argument_bytes;
  u64 environment_bytes = body.environment_bytes;
  u64 secret_bytes = body.secret_bytes;
  if ((flags & ~DEPLOY_IMAGE_FLAGS_KNOWN) != 0 || argument_bytes > MAX_STRINGS_BYTES ||
      environment_bytes > MAX_STRINGS_BYTES - argument_bytes || secret_bytes > MAX_SECRET_FILES_BYTES)
    return status(answer, STATUS_BAD_REQUEST);
  // An update in place of a name that has no function is refused before anything is opened (and
  // again at the swap, where deploy_function finds the version it replaces).
  bool replace = (flags & DEPLOY_IMAGE_REPLACE) != 0;
  if (replace) {
    LockGuard guard(state.registry.lock());
    if (state.registry.find(request.badge, name) == nullptr) return status(answer, STATUS_NOT_FOUND);
  }
  // The strings sent: inline, or in the Memory sent along, copied (before the store is called,
  // whose replies use the receive slots) and then checked in the manager's copy.
  u64 sent_bytes = argument_bytes + environment_bytes + secret_bytes;
  StringsDraft sent;
  const char* deploy_arguments = body.strings;
  if (request.received_capabilities >= 1) {
    u64 detail = 0;
    Status opened = sent.open(worker, sent_bytes, detail, 1);
    if (opened != STATUS_OK) return status(answer, opened, detail);
    if (!sent.copy(0, Memory(worker.receive_slots[0]), 0, sent_bytes)) return status(answer, STATUS_BAD_REQUEST);
    deploy_arguments = sent.bytes();
  } else if (sent_bytes > bytes_from(request, offsetof(DeployImageRequest, strings))) {
    return status(answer, STATUS_BAD_REQUEST);
  }
  const char* deploy_environment = deploy_arguments + argument_bytes;
  const char* deploy_secrets = deploy_environment + environment_bytes;
  if (!well_formed(deploy_arguments, argument_bytes) || !well_formed(deploy_environment, environment_bytes) ||
      !secret_files_valid(deploy_secrets, secret_bytes))
    return status(answer, STATUS_BAD_REQUEST);
  for (u64 at = 0; at < environment_bytes; at += length_of(deploy_environment + at) + 1) {
    const char* entry = deploy_environment + at;
    u64 key = 0;
    while (entry[key] != '\0' && entry[key] != '=') ++key;
    if (key == 0 || entry[key] != '=') return status(answer, STATUS_BAD_REQUEST);
  }
  FunctionConfig config = config_from(body.config);
  config.flags |= FUNCTION_FLAG_LINUX | FUNCTION_FLAG_IMAGE;

  // The tenant's image: its record names the tree. Images belong to the API-key tenant (the
  // sub-tenant a front door names), as the gateway stored them.
  store::Client client{Endpoint(MANAGER_STORE)};
  char record_name[store::NAME_BYTES];
  store::image_record_name(request.badge & 0xffff, reference, record_name);
  auto record_slot = worker.slots->allocate();
  auto tree_slot = allocate_global_slot();
  if (!record_slot || !tree_slot) {
    if (record_slot) worker.slots->free(record_slot.value());
    if (tree_slot) free_global_slot(tree_slot.value());
    return status(answer, STATUS_INTERNAL_ERROR, static_cast<u64>(record_slot ? tree_slot.error() : record_slot.error()));
  }
  OpenBlob record(client, record_slot.value(), free_worker_slot, worker);
  OpenBlob tree(client, tree_slot.value(), free_shared_slot, worker);
  store::Status opened = record.open(record_name);
  if (opened != store::STATUS_OK) return status(answer, STATUS_NO_SUCH_IMAGE, opened == store::STATUS_NOT_FOUND ? 0 : static_cast<u64>(opened));
  u64 record_address = worker.scratch_base + RECORD_OFFSET;
  if (!state.self.map(Memory(record.slot()), 0, record_address, pages_for(record.size()),
                      abi::rights_of(abi::MemoryRight::Read)).ok())
    return status(answer, STATUS_INTERNAL_ERROR);
  const auto* record_bytes = reinterpret_cast<const u8*>(record_address);
  store::ImageRecord header{};
  bool valid = store::check_image_record(record_bytes, record.size(), header);
  if (valid) opened = tree.open(header.tree);
  if (!valid || opened != store::STATUS_OK || tree.size() == 0 || tree.size() > MAX_IMAGE_TREE_BYTES) {
    (void)state.self.unmap(record_address, pages_for(record.size()));
    if (!valid) return status(answer, STATUS_BAD_EXECUTABLE, static_cast<u64>(klib::ElfStatus::BadImageTree));
    return status(answer, STATUS_NO_SUCH_IMAGE, opened == store::STATUS_NOT_FOUND ? 0 : static_cast<u64>(opened));
  }
  auto mapped = map_scratch(worker, Memory(tree.slot()), pages_for(tree.size()), false);
  if (!mapped) {
    (void)state.self.unmap(record_address, pages_for(record.size()));
    return status(answer, STATUS_INTERNAL_ERROR, static_cast<u64>(mapped.error()));
  }
  imagefs::Reader reader;
  bool readable = reader.open(reinterpret_cast<const void*>(mapped.value()), pages_for(tree.size()) * PAGE);

  // The record's strings: working directory, user, entrypoint, cmd, environment.
  const auto* strings = reinterpret_cast<const char*>(record_bytes + sizeof header);
  u64 strings_bytes = header.strings_bytes;
  u64 first_entrypoint = 2;
  u64 first_cmd = first_entrypoint + header.entrypoint_count;
  u64 first_env = first_cmd + header.cmd_count;
  bool replace_cmd = (flags & DEPLOY_IMAGE_ARGUMENTS) != 0;
  u64 argv_count = header.entrypoint_count + (replace_cmd ? count_strings(deploy_arguments, argument_bytes) : header.cmd_count);
  auto argv = [&](u64 index) -> const char* {
    if (index < header.entrypoint_count) return nth(strings, strings_bytes, first_entrypoint + index);
    index -= header.entrypoint_count;
    return replace_cmd ? nth(deploy_arguments, argument_bytes, index) : nth(strings, strings_bytes, first_cmd + index);
  };
  // The environment: the image's entries (a deploy entry of the same key replaces one), then the
  // deploy's new keys.
  const char* path_variable = nullptr;
  auto environment_entry = [&](const char* entry) {
    if (entry[0] == 'P' && entry[1] == 'A' && entry[2] == 'T' && entry[3] == 'H' && entry[4] == '=') path_variable = entry + 5;
  };
  Block block;
  StringsDraft function_strings;
  Status refused = STATUS_OK;
  u64 detail = 0;
  char program[PROGRAM_PATH_BYTES] = {};
  if (!readable) {
    refused = STATUS_BAD_EXECUTABLE;
    detail = static_cast<u64>(klib::ElfStatus::BadImageTree);
  } else if (argv_count == 0) {
    refused = STATUS_BAD_EXECUTABLE;  // Neither Entrypoint nor Cmd (nor arguments): nothing to run.
    detail = static_cast<u64>(klib::ElfStatus::NoProgramInImage);
  }
  // The final environment first, for PATH.
  u64 image_env_count = header.env_count;
  for (u64 i = 0; i < image_env_count; ++i) {
    const char* entry = nth(strings, strings_bytes, first_env + i);
    const char* chosen = entry;
    for (u64 at = 0; at < environment_bytes; at += length_of(deploy_environment + at) + 1)
      if (same_key(deploy_environment + at, entry)) chosen = deploy_environment + at;
    environment_entry(chosen);
  }
  for (u64 at = 0; at < environment_bytes; at += length_of(deploy_environment + at) + 1) environment_entry(deploy_environment + at);
  if (refused == STATUS_OK) {
    // argv[0]: a path in the tree, or a name searched in PATH's directories (as a shell would).
    const char* command = argv(0);
    u64 command_length = length_of(command);
    bool has_slash = false;
    for (u64 i = 0; i < command_length; ++i) has_slash = has_slash || command[i] == '/';
    u64 program_length = 0;
    if (has_slash) {
      const char* working = nth(strings, strings_bytes, 0);
      u64 working_length = command[0] == '/' ? 0 : length_of(working);
      if (working_length + 1 + command_length < sizeof program) {
        for (u64 i = 0; i < working_length; ++i) program[program_length++] = working[i];
        if (working_length > 0) program[program_length++] = '/';
        for (u64 i = 0; i < command_length; ++i) program[program_length++] = command[i];
      }
    } else {
      const char* search = path_variable != nullptr ? path_variable : DEFAULT_PATH;
      while (program_length == 0 && *search != '\0') {
        u64 directory = 0;
        while (search[directory] != '\0' && search[directory] != ':') ++directory;
        if (directory > 0 && directory + 1 + command_length < sizeof program) {
          u64 length = 0;
          for (u64 i = 0; i < directory; ++i) program[length++] = search[i];
          program[length++] = '/';
          for (u64 i = 0; i < command_length; ++i) program[length++] = command[i];
          program[length] = '\0';
          if (is_file(reader, program, length)) program_length = length;
        }
        search += directory;
        if (*search == ':') ++search;
      }
    }
    if (program_length == 0 || !is_file(reader, program, program_length)) {
      refused = STATUS_BAD_EXECUTABLE;
      detail = static_cast<u64>(klib::ElfStatus::NoProgramInImage);
    } else {
      auto build = [&](Block& into) {
        into.add(program, program_length);
        for (u64 i = 1; i < argv_count; ++i) into.add(argv(i), length_of(argv(i)));
        into.add("", 0);
        for (u64 i = 0; i < image_env_count; ++i) {
          const char* entry = nth(strings, strings_bytes, first_env + i);
          const char* chosen = entry;
          for (u64 at = 0; at < environment_bytes; at += length_of(deploy_environment + at) + 1)
            if (same_key(deploy_environment + at, entry)) chosen = deploy_environment + at;
          into.add(chosen, length_of(chosen));
        }
        for (u64 at = 0; at < environment_bytes; at += length_of(deploy_environment + at) + 1) {
          bool replaced = false;
          for (u64 i = 0; i < image_env_count; ++i)
            replaced = replaced || same_key(deploy_environment + at, nth(strings, strings_bytes, first_env + i));
          if (!replaced) into.add(deploy_environment + at, length_of(deploy_environment + at));
        }
      };
      build(block);  // Counted first.
      if (block.overflow()) {
        refused = STATUS_BAD_REQUEST;  // ImageRefusal: the bytes needed and the bytes that fit.
        detail = block.needed;
      } else {
        refused = function_strings.open(worker, block.needed + secret_bytes, detail);
      }
      if (refused == STATUS_OK) {
        // Then written into the function's strings, the secret files after them.
        Block written;
        written.bytes = function_strings.bytes();
        build(written);
        (void)function_strings.write(block.needed, deploy_secrets, secret_bytes);  // It is as large as that.
      }
    }
  }
  // WorkingDir: a directory of the tree (relative: from "/"), at most 255 bytes; User: resolved in
  // the tree's account files. Either refused names what is wrong (docs/IMAGES.md).
  SharedTree shared{tree.slot(), tree.handle(), false, 0, 0, {}};
  if (refused == STATUS_OK) {
    const char* working = nth(strings, strings_bytes, 0);
    u64 working_length = working == nullptr ? 0 : length_of(working);
    bool missing = working_length > 0 && !is_directory(reader, working, working_length);
    if (working_length >= LINUX_WORKING_DIRECTORY_BYTES || missing) {
      refused = STATUS_BAD_EXECUTABLE;
      detail = static_cast<u64>(klib::ElfStatus::NoWorkingDirectory);
    } else {
      for (u64 i = 0; i < working_length; ++i) shared.working_directory[i] = working[i];
    }
    const char* user = nth(strings, strings_bytes, 1);
    if (refused == STATUS_OK && user != nullptr && user[0] != '\0') {
      shared.identity = resolve_user(reader, mapped.value(), user, shared.uid, shared.gid);
      if (!shared.identity) {
        refused = STATUS_BAD_EXECUTABLE;
        detail = static_cast<u64>(klib::ElfStatus::UnknownUser);
      }
    }
  }
  unmap_scratch(worker, pages_for(tree.size()));
  (void)state.self.unmap(record_address, pages_for(record.size()));
  if (refused != STATUS_OK) {
    answer = message_of(refused, ImageRefusal{detail, refused == STATUS_BAD_REQUEST ? MAX_STORED_STRINGS_BYTES : 0});
    return;
  }

  // The rest is DEPLOY's work on the shared tree: admission, the tenant's storage (the tree's
  // pages, as for a copied tree: the function keeps it resident), the registry.
  DeployRequest deploy_body;
  pack_name(name, deploy_body.name);
  deploy_body.executable_size = tree.size();
  deploy_body.config = config;
  Message deploy = message_of(DEPLOY, deploy_body, offsetof(DeployRequest, arguments));
  deploy.badge = request.badge;
  deploy_function(worker, deploy, answer, &shared, &function_strings, block.needed, secret_bytes, replace);
  if (answer.label() == STATUS_OK) tree.keep();
}

// Store handles of removed image functions, closed outside the registry lock.
namespace {
constexpr usize MAX_QUEUED_CLOSES = 256;
u64 queued_closes[MAX_QUEUED_CLOSES];
usize queued_count = 0;
}  // namespace

void queue_store_close(u64 handle) {
  // Registry lock held. Beyond the queue's room the handle stays open (the image then cannot be
  // deleted until the store restarts); the queue is emptied after every request.
  if (queued_count < MAX_QUEUED_CLOSES) queued_closes[queued_count++] = handle;
}

void close_queued_store_handles(Worker&) {
  store::Client client{Endpoint(MANAGER_STORE)};
  for (;;) {
    u64 handle = 0;
    {
      LockGuard guard(manager_state().registry.lock());
      if (queued_count == 0) return;
      handle = queued_closes[--queued_count];
    }
    (void)client.close(handle);
  }
}

}  // namespace manager
