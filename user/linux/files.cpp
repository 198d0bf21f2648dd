// The Linux personality's descriptors and file system: 1024 descriptors per process over open
// file descriptions (dup and fork share the offset and status flags, as on Linux), a read-only tree
// (/, /etc/passwd, /etc/group, /etc/hostname, /dev/null, /proc/self/exe, and the program's own file
// as /<function name>, read through the read-only Memory the manager gives at FUNCTION_EXECUTABLE)
// and a writable in-memory /tmp. The nodes of /tmp (and of the image's writable layer,
// image_files.cpp), their data and the descriptions of files and pipes live in the invocation's
// file store (file_store.hpp), which every process of the invocation maps: what one process writes
// or renames, every other sees at once. The standard streams, epoll instances and eventfds keep
// process-local descriptions (the objects behind them are the process's own).
// Invariants: a description's `references` counts the descriptors naming it in every process and a
// node's `opened` counts the descriptions naming it plus the processes whose working directory it
// is; a node is freed only when it is neither linked nor open; the bytes of a /tmp file in
// [size, capacity) are zero, so growing a file (write past the end, ftruncate) never needs
// clearing; a linked store node is in the store's hash under (parent, name) and nothing else is;
// the store is touched only under StoreGuard.
#include "files.hpp"
#include "image_files.hpp"

#include <cstdint>

#include "file_store.hpp"
#include "process.hpp"

namespace personality {
namespace {

// Linux open flags, *at flags, file types (include/uapi/asm-generic/fcntl.h, linux/stat.h).
constexpr u64 O_ACCMODE = 3, O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2;
constexpr u64 O_CREAT = 0100, O_EXCL = 0200, O_NOCTTY = 0400, O_TRUNC = 01000, O_APPEND = 02000,
              O_NONBLOCK = 04000, O_DSYNC = 010000, O_LARGEFILE = 0100000, O_DIRECTORY = 0200000,
              O_NOFOLLOW = 0400000, O_NOATIME = 01000000, O_CLOEXEC = 02000000, O_SYNC = 04010000,
              O_PATH = 010000000, O_TMPFILE = 020000000;
constexpr u64 O_KNOWN = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC |
                        O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_SYNC;
constexpr std::int32_t AT_FDCWD = -100;
constexpr u64 AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EACCESS = 0x200, AT_NO_AUTOMOUNT = 0x800,
              AT_EMPTY_PATH = 0x1000, AT_STATX_SYNC_TYPE = 0x6000;
constexpr u64 RENAME_NOREPLACE = 1;
constexpr u32 S_IFIFO = 0010000, S_IFCHR = 0020000, S_IFDIR = 0040000, S_IFREG = 0100000, S_IFLNK = 0120000;
constexpr u64 PATH_MAX = 4096, NAME_MAX = 255;
constexpr u64 MAX_FILE_BYTES = u64{1} << 32;  // EFBIG past 4 GiB (the memory limit is far lower).
constexpr u64 MAX_IO = u64{1} << 30;

// ---- Nodes ----------------------------------------------------------------------------------

// Whiteout: a name of the image's writable layer that hides the image's file of that name.
enum class NodeType : u8 { Unused, Directory, Regular, Device, Symlink, Whiteout };

// A file time as Linux keeps it: any second (utimensat may set times before boot or far ahead).
struct Timestamp {
  i64 seconds;
  i64 nanoseconds;
};
Timestamp now_timestamp() {
  u64 now = realtime_nanoseconds();
  return Timestamp{static_cast<i64>(now / 1'000'000'000), static_cast<i64>(now % 1'000'000'000)};
}

struct Node {
  NodeType type;
  bool writable;       // Inside /tmp: its entries (a directory) or its data (a file) may change.
  bool linked;         // Reachable from its parent; false once unlinked (then freed at last close).
  u32 mode;            // Permission bits (07777).
  u32 uid, gid;        // Owner and group (1000 for /tmp nodes; chown may change them within Linux's rules).
  u32 parent;          // A node, or (a layer directory's shadow) SHADOW_KEY | the image directory's inode.
  u32 opened;          // Descriptions naming this node, and processes whose working directory it is.
  u64 size;            // Regular: bytes; Symlink: unused.
  u64 capacity;        // Regular in the store: bytes of the heap block at `data`.
  u64 data;            // Regular: address of the bytes (read-only text for the fixed tree).
  Timestamp accessed;  // atime, mtime, ctime: the wall clock (realtime_nanoseconds). Reads do not
  Timestamp modified;  // change atime (as with the noatime mount option); utimensat does.
  Timestamp changed;
  const char* name;
  u32 hash_next = 0;   // Store nodes: the next in its hash bucket (index + 1), or, when unused, the next free.
};

// A store node: the node and the storage of its name.
struct DynamicNode {
  Node node;
  char name[NAME_MAX + 1];
};
constexpr u64 NODE_CHUNK_BYTES = u64{64} << 10;
static_assert(STORE_MAX_NODES / (NODE_CHUNK_BYTES / sizeof(DynamicNode)) < STORE_MAX_CHUNKS);
constexpr u32 SHADOW_KEY = 0x80000000u;  // Parent of a shadow: the image directory it stands for.

constexpr char PASSWD[] = "root:x:0:0:root:/root:/bin/sh\nfunction:x:1000:1000:function:/:/bin/sh\n";
constexpr char GROUP[] = "root:x:0:\nfunction:x:1000:\n";
constexpr char HOSTNAME[] = "metteagle\n";

enum FixedNode : u32 {
  ROOT, ETC, PASSWD_FILE, GROUP_FILE, HOSTNAME_FILE, DEV, DEV_NULL, PROC, PROC_SELF, PROC_SELF_EXE, TMP, PROGRAM,
  PROC_SELF_AUXV, VAR, VAR_OPENFAAS, OPENFAAS_SECRETS, SECRET_FIRST,
  FIXED_COUNT = SECRET_FIRST + manager::MAX_SECRET_FILES,
};
constexpr u32 NO_NODE = ~u32{0};

char program_name[manager::NAME_BYTES + 1];  // The function's name: PROGRAM's name (files_init).
// The secret files' names (files_init): /var/openfaas/secrets/<name>.
char secret_names[manager::MAX_SECRET_FILES][manager::NAME_BYTES];
bool secrets_present = false;

// The read-only tree, constant-initialized (no constructors in this image). /tmp is its only
// writable directory. PROGRAM, the executable's own file, exists once files_init found it mapped.
Node fixed_nodes[FIXED_COUNT] = {
    {NodeType::Directory, false, true, 0755, 0, 0, ROOT, 0, 0, 0, 0, {}, {}, {}, "/"},
    {NodeType::Directory, false, true, 0755, 0, 0, ROOT, 0, 0, 0, 0, {}, {}, {}, "etc"},
    {NodeType::Regular, false, true, 0644, 0, 0, ETC, 0, sizeof PASSWD - 1, 0, 0, {}, {}, {}, "passwd"},
    {NodeType::Regular, false, true, 0644, 0, 0, ETC, 0, sizeof GROUP - 1, 0, 0, {}, {}, {}, "group"},
    {NodeType::Regular, false, true, 0644, 0, 0, ETC, 0, sizeof HOSTNAME - 1, 0, 0, {}, {}, {}, "hostname"},
    {NodeType::Directory, false, true, 0755, 0, 0, ROOT, 0, 0, 0, 0, {}, {}, {}, "dev"},
    {NodeType::Device, false, true, 0666, 0, 0, DEV, 0, 0, 0, 0, {}, {}, {}, "null"},
    {NodeType::Directory, false, true, 0555, 0, 0, ROOT, 0, 0, 0, 0, {}, {}, {}, "proc"},
    {NodeType::Directory, false, true, 0555, 0, 0, PROC, 0, 0, 0, 0, {}, {}, {}, "self"},
    {NodeType::Symlink, false, true, 0777, 0, 0, PROC_SELF, 0, 0, 0, 0, {}, {}, {}, "exe"},
    {NodeType::Directory, true, true, 01777, 0, 0, ROOT, 0, 0, 0, 0, {}, {}, {}, "tmp"},
    {NodeType::Regular, false, false, 0755, 0, 0, ROOT, 0, 0, 0, 0, {}, {}, {}, program_name},
    // Its size is set with its bytes (files_set_auxv); owner-readable only, as on Linux.
    {NodeType::Regular, false, true, 0400, static_cast<u32>(DEFAULT_UID), static_cast<u32>(DEFAULT_GID), PROC_SELF, 0,
     0, 0, 0, {}, {}, {}, "auxv"},
    // /var/openfaas/secrets and the function's secret files (OpenFaaS's place for them): linked by
    // files_init when the function has any; the files' bytes are in its read-only strings.
    {NodeType::Directory, false, false, 0755, 0, 0, ROOT, 0, 0, 0, 0, {}, {}, {}, "var"},
    {NodeType::Directory, false, false, 0755, 0, 0, VAR, 0, 0, 0, 0, {}, {}, {}, "openfaas"},
    {NodeType::Directory, false, false, 0755, 0, 0, VAR_OPENFAAS, 0, 0, 0, 0, {}, {}, {}, "secrets"},
    {NodeType::Regular, false, false, 0444, 0, 0, OPENFAAS_SECRETS, 0, 0, 0, 0, {}, {}, {}, secret_names[0]},
    {NodeType::Regular, false, false, 0444, 0, 0, OPENFAAS_SECRETS, 0, 0, 0, 0, {}, {}, {}, secret_names[1]},
    {NodeType::Regular, false, false, 0444, 0, 0, OPENFAAS_SECRETS, 0, 0, 0, 0, {}, {}, {}, secret_names[2]},
    {NodeType::Regular, false, false, 0444, 0, 0, OPENFAAS_SECRETS, 0, 0, 0, 0, {}, {}, {}, secret_names[3]},
    {NodeType::Regular, false, false, 0444, 0, 0, OPENFAAS_SECRETS, 0, 0, 0, 0, {}, {}, {}, secret_names[4]},
    {NodeType::Regular, false, false, 0444, 0, 0, OPENFAAS_SECRETS, 0, 0, 0, 0, {}, {}, {}, secret_names[5]},
    {NodeType::Regular, false, false, 0444, 0, 0, OPENFAAS_SECRETS, 0, 0, 0, 0, {}, {}, {}, secret_names[6]},
    {NodeType::Regular, false, false, 0444, 0, 0, OPENFAAS_SECRETS, 0, 0, 0, 0, {}, {}, {}, secret_names[7]},
};
static_assert(manager::MAX_SECRET_FILES == 8, "one fixed node per secret file");
// /proc/self/auxv: a copy taken when the program starts (the program may overwrite its stack's).
u64 saved_auxv[2 * 32];

u32 working_directory = ROOT;
u32 file_mode_mask = 022;

// Store node `index` (its chunk exists: the index was taken once, create_node).
DynamicNode& store_node(u32 index) {
  return *reinterpret_cast<DynamicNode*>(store_entry(NODE_TABLE, index, sizeof(DynamicNode), NODE_CHUNK_BYTES, false));
}
Node& node(u32 id) { return id < FIXED_COUNT ? fixed_nodes[id] : store_node(id - FIXED_COUNT).node; }

// The text of a fixed file (Node::data is an address, which a constant initializer cannot take
// from a pointer; the fixed files are few, so they are looked up here).
const char* fixed_text(u32 id) {
  switch (id) {
    case PASSWD_FILE: return PASSWD;
    case GROUP_FILE: return GROUP;
    case HOSTNAME_FILE: return HOSTNAME;
    case PROC_SELF_AUXV: return reinterpret_cast<const char*>(saved_auxv);
    default: return nullptr;
  }
}
const u8* file_bytes(u32 id) {
  if (const char* text = fixed_text(id)) return reinterpret_cast<const u8*>(text);
  return reinterpret_cast<const u8*>(node(id).data);
}

u32 node_limit() { return store() == nullptr ? FIXED_COUNT : FIXED_COUNT + store()->node_high; }

// The path the program is known by: "/" + the function's name (also argv[0] relative to "/").
// An image function's program is its path in the tree (LinuxStart::path).
template <usize N>
usize program_path(char (&path)[N]) {
  static_assert(N >= manager::NAME_BYTES + 2);
  if (image_active()) {
    const manager::LinuxStart& start = state().start;
    usize length = 0;
    while (length + 1 < N && length < start.path_bytes && start.path[length] != '\0') {
      path[length] = start.path[length];
      ++length;
    }
    path[length] = '\0';
    return length;
  }
  path[0] = '/';
  usize length = 0;
  while (length < manager::NAME_BYTES && state().context->name[length] != '\0') {
    path[1 + length] = state().context->name[length];
    ++length;
  }
  path[1 + length] = '\0';
  return 1 + length;
}

// The store's hash of directory entries: (parent, name) of every linked store node.
u32 bucket_of(u32 parent, const char* name, usize length) {
  u32 hash = 2166136261u ^ parent;
  for (usize i = 0; i < length; ++i) hash = (hash ^ static_cast<u8>(name[i])) * 16777619u;
  return hash % STORE_HASH_BUCKETS;
}

bool name_is(const Node& n, const char* name, usize length) {
  usize i = 0;
  while (i < length && n.name[i] == name[i]) ++i;
  return i == length && n.name[i] == '\0';
}

void hash_insert(u32 id) {
  Node& n = node(id);
  usize length = 0;
  while (n.name[length] != '\0') ++length;
  u32& head = store()->buckets[bucket_of(n.parent, n.name, length)];
  n.hash_next = head;
  head = id - FIXED_COUNT + 1;
}

void hash_remove(u32 id) {
  Node& n = node(id);
  usize length = 0;
  while (n.name[length] != '\0') ++length;
  u32* link = &store()->buckets[bucket_of(n.parent, n.name, length)];
  while (*link != 0) {
    u32 at = *link - 1 + FIXED_COUNT;
    if (at == id) {
      *link = n.hash_next;
      n.hash_next = 0;
      return;
    }
    link = &node(at).hash_next;
  }
}

// Unlinks a store node from its directory (it lives on while open).
void detach(u32 id) {
  Node& n = node(id);
  if (!n.linked) return;
  hash_remove(id);
  n.linked = false;
}

bool has_children(u32 directory) {
  for (u32 id = FIXED_COUNT; id < node_limit(); ++id) {
    const Node& child = node(id);
    if (child.type != NodeType::Unused && child.type != NodeType::Whiteout && child.linked && child.parent == directory)
      return true;
  }
  return false;
}

// The linked child named name[0, length) of `directory` (whiteouts included), or NO_NODE.
u32 find_child(u32 directory, const char* name, usize length) {
  for (u32 id = 1; id < FIXED_COUNT; ++id) {
    const Node& child = fixed_nodes[id];
    if (child.linked && child.parent == directory && name_is(child, name, length)) return id;
  }
  if (store() == nullptr) return NO_NODE;
  for (u32 at = store()->buckets[bucket_of(directory, name, length)]; at != 0;) {
    u32 id = at - 1 + FIXED_COUNT;
    const Node& child = node(id);
    if (child.parent == directory && child.linked && name_is(child, name, length)) return id;
    at = child.hash_next;
  }
  return NO_NODE;
}

// Returns the data of a store file to the heap and frees the node once nothing refers to it.
void release_if_unused(u32 id) {
  if (id < FIXED_COUNT || id == NO_NODE) return;
  Node& n = node(id);
  if (n.type == NodeType::Unused || n.linked || n.opened > 0) return;
  if (n.capacity > 0) store_free(n.data, n.capacity);
  n = Node{};
  n.hash_next = store()->node_free;
  store()->node_free = id - FIXED_COUNT + 1;
}

// Makes `bytes` of data writable in a store file: a heap block of the next power of two (the
// old one's bytes copied, the old one freed). False when the memory limit refuses.
bool reserve(Node& n, u64 bytes) {
  if (bytes <= n.capacity) return true;
  u64 capacity = 0;
  u64 block = store_allocate(bytes, capacity);
  if (block == 0) return false;
  if (n.capacity > 0) {
    memcpy(reinterpret_cast<void*>(block), reinterpret_cast<const void*>(n.data), n.size);
    store_free(n.data, n.capacity);
  }
  n.data = block;
  n.capacity = capacity;
  return true;
}

// Sets a /tmp file's size; the bytes dropped are zeroed (the invariant above).
i64 resize(Node& n, u64 size) {
  if (size > MAX_FILE_BYTES) return -EFBIG;
  if (size > n.size && !reserve(n, size)) return -ENOSPC;
  if (size < n.size) memset(reinterpret_cast<void*>(n.data + size), 0, n.size - size);
  n.size = size;
  n.modified = n.changed = now_timestamp();
  return 0;
}

// A new store node named name[0, length) in `parent` (a node, or SHADOW_KEY | an image
// directory's inode for a shadow); its id, or a negated errno: ENOSPC when the node table or the
// memory limit is full.
i64 create_node(u32 parent, const char* name, usize length, NodeType type, u64 mode) {
  if (!store_init()) return -ENOSPC;
  StoreGuard guard;
  StoreHeader& header = *store();
  u32 index;
  if (header.node_free != 0) {
    index = header.node_free - 1;
    header.node_free = store_node(index).node.hash_next;
  } else {
    if (header.node_high >= STORE_MAX_NODES) return -ENOSPC;
    index = header.node_high;
    if (store_entry(NODE_TABLE, index, sizeof(DynamicNode), NODE_CHUNK_BYTES, true) == 0) return -ENOSPC;
    ++header.node_high;
  }
  DynamicNode& slot = store_node(index);
  memcpy(slot.name, name, length);
  slot.name[length] = '\0';
  Timestamp now = now_timestamp();
  slot.node = Node{type, true, true, static_cast<u32>(mode & 07777 & ~file_mode_mask), static_cast<u32>(linux_uid()),
                   static_cast<u32>(linux_gid()), parent, 0, 0, 0, 0, now, now, now, slot.name};
  u32 id = FIXED_COUNT + index;
  hash_insert(id);
  if ((parent & SHADOW_KEY) == 0) node(parent).modified = node(parent).changed = now;
  return id;
}

// Renames store node `id` to name[0, length) in `parent` (its old name may overlap the new one).
void move_node(u32 id, u32 parent, const char* name, usize length) {
  hash_remove(id);
  DynamicNode& storage = store_node(id - FIXED_COUNT);
  Timestamp now = now_timestamp();
  if ((storage.node.parent & SHADOW_KEY) == 0) {
    Node& old_parent = node(storage.node.parent);
    old_parent.modified = old_parent.changed = now;
  }
  memmove(storage.name, name, length);
  storage.name[length] = '\0';
  storage.node.parent = parent;
  storage.node.changed = now;
  hash_insert(id);
  if ((parent & SHADOW_KEY) == 0) node(parent).modified = node(parent).changed = now;
}

// False when directory `moving` would go into itself or below itself (under `parent`).
bool directory_may_move(u32 moving, u32 parent) {
  if (node(moving).type != NodeType::Directory) return true;
  for (u32 ancestor = parent; (ancestor & SHADOW_KEY) == 0; ancestor = node(ancestor).parent) {
    if (ancestor == moving) return false;
    if (ancestor == ROOT) break;
  }
  return true;
}

// The working directory counts as an open reference to its node (it may be another process's
// to free otherwise).
void change_working_directory(u32 id) {
  u32 previous = working_directory;
  ++node(id).opened;
  working_directory = id;
  --node(previous).opened;
  release_if_unused(previous);
}

// ---- Descriptors ----------------------------------------------------------------------------

enum class Stream : u8 { None, Input, Output, Log, File, Pipe, Epoll, Image, Event };  // Epoll: netpoll.cpp; Image: image_files.cpp (node = its inode); Event: eventfd.cpp.

struct Description {
  Stream stream;
  u8 access;  // O_RDONLY, O_WRONLY or O_RDWR.
  bool append;
  bool nonblocking;  // O_NONBLOCK (pipes: EAGAIN instead of waiting).
  u32 references;    // Descriptors naming it, in every process (store descriptions).
  u32 node;    // Files: the node; pipes: the pipe (file_store.hpp), read end O_RDONLY, write end O_WRONLY.
  u64 offset;  // Files: the byte offset; directories: the getdents64 position.
  u32 id = 0;  // What descriptors name it by (below), set when it is made.
};

// A descriptor names a description by id: 1 to LOCAL_DESCRIPTIONS the process's own (standard
// streams, epoll instances, eventfds: fork copies them with the process), above that the store's
// (files, image files, pipes: fork and dup share them across processes); 0: free.
constexpr u32 LOCAL_DESCRIPTIONS = 32;
static_assert(LOCAL_DESCRIPTIONS + STORE_MAX_DESCRIPTIONS < 65536, "a descriptor names its description in 16 bits");
struct Descriptor {
  std::uint16_t description;
  bool close_on_exec;
};

// 0-2 start as the invocation's input, output and log.
Description local_descriptions[LOCAL_DESCRIPTIONS] = {
    {Stream::Input, O_RDONLY, false, false, 1, 0, 0, 1},
    {Stream::Output, O_WRONLY, false, false, 1, 0, 0, 2},
    {Stream::Log, O_WRONLY, false, false, 1, 0, 0, 3},
};
Descriptor descriptors[MAX_DESCRIPTORS] = {{1, false}, {2, false}, {3, false}};

// Store description `index`, its chunk made when `create` (null: refused, or never made).
Description* store_description(u32 index, bool create = false) {
  return reinterpret_cast<Description*>(store_entry(DESCRIPTION_TABLE, index, sizeof(Description), PAGE, create));
}
bool is_shared_stream(Stream stream) {
  return stream == Stream::File || stream == Stream::Pipe || stream == Stream::Image;
}

Description& description_by_id(u32 id) {
  return id <= LOCAL_DESCRIPTIONS ? local_descriptions[id - 1] : *store_description(id - LOCAL_DESCRIPTIONS - 1);
}

// The description behind a descriptor (a Linux `unsigned int fd`), or nullptr.
Description* description_of(u64 descriptor) {
  if (descriptor >= MAX_DESCRIPTORS) return nullptr;
  u32 id = descriptors[descriptor].description;
  return id == 0 ? nullptr : &description_by_id(id);
}

// The lowest free descriptor at or above `minimum`, or -EMFILE.
i64 free_descriptor(u64 minimum) {
  for (u64 d = minimum; d < MAX_DESCRIPTORS; ++d)
    if (descriptors[d].description == 0) return static_cast<i64>(d);
  return -EMFILE;
}

// A new description (one reference) in the process's table or, for files and pipes, the store's;
// its id, or a negated errno: ENFILE when the table is full, ENOMEM when the memory limit refuses.
i64 new_description(const Description& value) {
  if (!is_shared_stream(value.stream)) {
    for (u32 i = 0; i < LOCAL_DESCRIPTIONS; ++i)
      if (local_descriptions[i].references == 0) {
        local_descriptions[i] = value;
        local_descriptions[i].id = i + 1;
        return i + 1;
      }
    return -ENFILE;
  }
  if (!store_init()) return -ENOMEM;
  StoreGuard guard;
  StoreHeader& header = *store();
  u32 index;
  if (header.description_free != 0) {
    index = header.description_free - 1;
    header.description_free = store_description(index)->node;  // A free entry chains the next.
  } else {
    if (header.description_high >= STORE_MAX_DESCRIPTIONS) return -ENFILE;
    index = header.description_high;
    if (store_description(index, true) == nullptr) return -ENOMEM;
    ++header.description_high;
  }
  *store_description(index) = value;
  store_description(index)->id = LOCAL_DESCRIPTIONS + 1 + index;
  return LOCAL_DESCRIPTIONS + 1 + index;
}

// Returns an unused description to its table.
void free_description(Description& description) {
  u32 id = description.id;
  description = Description{};
  if (id <= LOCAL_DESCRIPTIONS) return;
  description.node = store()->description_free;
  store()->description_free = id - LOCAL_DESCRIPTIONS;
}

u32 description_id(const Description& description) { return description.id; }

// The identity record locks use for a description's file: its node, or its standard stream.
u32 lock_file_of(const Description& description) {
  return description.stream == Stream::File ? description.node : 0x80000000u | static_cast<u32>(description.stream);
}

void drop_description(Description& description) {
  if (--description.references > 0) return;
  // Its OFD and flock locks go with the last descriptor (Linux: when the file is released).
  locks_description_released(description_id(description) - 1);
  if (description.stream == Stream::File) {
    --node(description.node).opened;
    release_if_unused(description.node);
  }
  if (description.stream == Stream::Pipe) pipe_release(description.node, description.access == O_WRONLY);
  if (description.stream == Stream::Epoll) netpoll_released(description.node);
  if (description.stream == Stream::Event) eventfd_released(description.node);
  free_description(description);
}

// A new description on the lowest free descriptor; the descriptor or a negated errno.
i64 install(const Description& value, bool close_on_exec) {
  i64 descriptor = free_descriptor(0);
  if (descriptor < 0) return descriptor;
  i64 id = new_description(value);
  if (id < 0) return id;
  descriptors[descriptor] = Descriptor{static_cast<std::uint16_t>(id), close_on_exec};
  return descriptor;
}

// Opens `id` on the lowest free descriptor; the descriptor or a negated errno.
i64 open_node(u32 id, u64 flags) {
  i64 descriptor = install(Description{Stream::File, static_cast<u8>(flags & O_ACCMODE), (flags & O_APPEND) != 0,
                                       (flags & O_NONBLOCK) != 0, 1, id, 0},
                           (flags & O_CLOEXEC) != 0);
  if (descriptor >= 0) ++node(id).opened;
  return descriptor;
}

// ---- Paths ----------------------------------------------------------------------------------

using Path = ProgramPath;  // files.hpp: image_files.cpp copies paths the same way.

// Copies the program's NUL-terminated path at `address`, checking each page it touches.
i64 copy_path(u64 address, Path& path) {
  for (usize i = 0; i < PATH_MAX; ++i) {
    u64 at = address + i;
    if (at < address) return -EFAULT;
    if ((i == 0 || (at & (PAGE - 1)) == 0) && !readable(at, page_up(at + 1) - at)) return -EFAULT;
    path.text[i] = *reinterpret_cast<const char*>(at);
    if (path.text[i] == '\0') {
      path.length = i;
      return 0;
    }
  }
  return -ENAMETOOLONG;
}

struct Lookup {
  u32 parent;        // The directory holding the last component.
  u32 node;          // The node named, or NO_NODE.
  const char* name;  // The last component (length 0 for "/", "." and "..").
  usize name_length;
  bool trailing_slash;
};

i64 start_directory(std::int32_t directory, u32& start) {
  if (directory == AT_FDCWD) {
    start = working_directory;
    return 0;
  }
  Description* description = description_of(static_cast<u32>(directory));
  if (description == nullptr || directory < 0) return -EBADF;
  if (description->stream != Stream::File || node(description->node).type != NodeType::Directory) return -ENOTDIR;
  start = description->node;
  return 0;
}

i64 resolve_from(u32 start, const char* path, usize length, bool follow_last, Lookup& out, u32 depth);

// Follows a symbolic link (only /proc/self/exe exists: its target is the program's path).
i64 follow(u32 link, u32& target, u32 depth) {
  (void)link;
  char path[manager::NAME_BYTES + 2];
  usize length = program_path(path);
  Lookup lookup;
  i64 error = resolve_from(ROOT, path, length, true, lookup, depth + 1);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return -ENOENT;
  target = lookup.node;
  return 0;
}

i64 resolve_from(u32 start, const char* path, usize length, bool follow_last, Lookup& out, u32 depth) {
  if (depth > 8) return -ELOOP;
  if (length == 0) return -ENOENT;
  u32 current = path[0] == '/' ? ROOT : start;
  usize at = 0;
  out = Lookup{current, current, path, 0, false};
  while (true) {
    while (at < length && path[at] == '/') ++at;
    if (at == length) {  // "/" or a path ending in slashes: the directory reached names itself.
      out.trailing_slash = length > 0 && path[length - 1] == '/';
      return 0;
    }
    usize begin = at;
    while (at < length && path[at] != '/') ++at;
    usize component = at - begin;
    if (component > NAME_MAX) return -ENAMETOOLONG;
    usize next = at;
    while (next < length && path[next] == '/') ++next;
    bool last = next == length;
    const Node& directory = node(current);
    if (directory.type != NodeType::Directory) return -ENOTDIR;
    u32 found;
    if (component == 1 && path[begin] == '.') found = current;
    else if (component == 2 && path[begin] == '.' && path[begin + 1] == '.') found = directory.parent;
    else found = find_child(current, path + begin, component);
    bool dot = found == current || (component == 2 && path[begin] == '.' && path[begin + 1] == '.');
    if (last) {
      out.parent = current;
      out.node = found;
      out.name = path + begin;
      out.name_length = dot ? 0 : component;
      out.trailing_slash = at < length;
      if (found != NO_NODE && node(found).type == NodeType::Symlink && (follow_last || out.trailing_slash)) {
        i64 error = follow(found, out.node, depth);
        if (error < 0) return error;
      }
      if (out.node != NO_NODE && out.trailing_slash && node(out.node).type != NodeType::Directory) return -ENOTDIR;
      return 0;
    }
    if (found == NO_NODE) return -ENOENT;
    if (node(found).type == NodeType::Symlink) {
      i64 error = follow(found, found, depth);
      if (error < 0) return error;
    }
    current = found;
  }
}

// Copies and resolves the program's path relative to `directory` (a descriptor or AT_FDCWD).
// `allow_empty`: an empty path names the directory descriptor itself (AT_EMPTY_PATH).
// `path` holds the copy; lookup.name points into it.
i64 resolve(u64 directory, u64 address, bool follow_last, Path& path, Lookup& out, bool allow_empty = false) {
  i64 error = copy_path(address, path);
  if (error < 0) return error;
  if (path.length == 0 && allow_empty) {
    std::int32_t descriptor = static_cast<std::int32_t>(directory);
    if (descriptor == AT_FDCWD) {
      out = Lookup{working_directory, working_directory, nullptr, 0, false};
      return 0;
    }
    Description* description = description_of(static_cast<u32>(descriptor));
    if (description == nullptr || descriptor < 0) return -EBADF;
    // The standard streams have no node; the caller handles them through the descriptor.
    out = Lookup{NO_NODE, description->stream == Stream::File ? description->node : NO_NODE, nullptr, 0, false};
    return 0;
  }
  u32 start = ROOT;
  error = start_directory(static_cast<std::int32_t>(directory), start);
  if (error < 0 && (path.length == 0 || path.text[0] != '/')) return error;
  return resolve_from(start, path.text, path.length, follow_last, out, 0);
}

// ---- Attributes -----------------------------------------------------------------------------

// Inode numbers: the fixed tree's from 1, the store's from 2^32 (the image's are its inode + 1, so
// a file of the writable layer never looks like the image file it hides, or like another).
u64 inode_number(u32 id) { return id < FIXED_COUNT ? id + u64{1} : (u64{1} << 32) + id; }

struct Attributes {
  u64 inode, links, size, blocks;
  Timestamp accessed, modified, changed;
  u64 device_major, device_minor;
  u32 mode, uid, gid;
};

Attributes attributes_of_stream(Stream stream) {
  // eventfd's and epoll's anonymous inode: read-write for its owner, root, no file type bits, as on Linux.
  if (stream == Stream::Event || stream == Stream::Epoll) return Attributes{0, 1, 0, 0, {}, {}, {}, 0, 0, 0600u, 0, 0};
  // The standard streams are pipes to the manager: owner-readable or owner-writable FIFOs.
  if (stream == Stream::Pipe)
    return Attributes{0, 1, 0, 0, {}, {}, {}, 0, 0, S_IFIFO | 0600u, static_cast<u32>(linux_uid()),
                      static_cast<u32>(linux_gid())};
  return Attributes{0, 1, 0, 0, {}, {}, {}, 0, 0, S_IFIFO | (stream == Stream::Input ? 0400u : 0200u),
                    static_cast<u32>(linux_uid()), static_cast<u32>(linux_gid())};
}

Attributes attributes_of(u32 id) {
  const Node& n = node(id);
  Attributes result{inode_number(id), 1, n.size, (n.capacity + 511) / 512, n.accessed, n.modified, n.changed, 0, 0,
                    n.mode, n.uid, n.gid};
  switch (n.type) {
    case NodeType::Directory:
      result.mode |= S_IFDIR;
      result.size = 4096;
      result.links = 2;
      for (u32 child = 1; child < node_limit(); ++child)
        if (node(child).type == NodeType::Directory && node(child).linked && node(child).parent == id) ++result.links;
      break;
    case NodeType::Regular: result.mode |= S_IFREG; break;
    case NodeType::Device:
      result.mode |= S_IFCHR;
      result.device_major = 1;  // /dev/null is (1, 3) on Linux.
      result.device_minor = 3;
      break;
    case NodeType::Symlink: {
      result.mode |= S_IFLNK;
      char path[manager::NAME_BYTES + 2];
      result.size = program_path(path);
      break;
    }
    case NodeType::Unused:
    case NodeType::Whiteout: break;
  }
  if (!n.linked) result.links = 0;
  return result;
}

// struct stat of x86-64 (144 bytes).
struct LinuxStat {
  u64 device, inode, links;
  u32 mode, uid, gid, padding;
  u64 special_device;
  i64 size, block_size, blocks;
  u64 times[6];  // atime, mtime, ctime: seconds and nanoseconds each.
  i64 reserved[3];
};
static_assert(sizeof(LinuxStat) == 144);

i64 write_stat(const Attributes& attributes, u64 buffer) {
  if (!writable(buffer, sizeof(LinuxStat))) return -EFAULT;
  LinuxStat stat{};
  stat.device = 1;
  stat.inode = attributes.inode;
  stat.links = attributes.links;
  stat.mode = attributes.mode;
  stat.uid = attributes.uid;
  stat.gid = attributes.gid;
  stat.special_device = attributes.device_major << 8 | attributes.device_minor;
  stat.size = static_cast<i64>(attributes.size);
  stat.block_size = 4096;
  stat.blocks = static_cast<i64>(attributes.blocks);
  const Timestamp times[3] = {attributes.accessed, attributes.modified, attributes.changed};
  for (usize i = 0; i < 3; ++i) {
    stat.times[2 * i] = static_cast<u64>(times[i].seconds);
    stat.times[2 * i + 1] = static_cast<u64>(times[i].nanoseconds);
  }
  memcpy(reinterpret_cast<void*>(buffer), &stat, sizeof stat);
  return 0;
}

// struct statx (include/uapi/linux/stat.h, 256 bytes).
struct StatxTime {
  i64 seconds;
  u32 nanoseconds;
  std::int32_t reserved;
};
struct LinuxStatx {
  u32 mask, block_size;
  u64 attributes;
  u32 links, uid, gid;
  std::uint16_t mode, spare0;
  u64 inode, size, blocks, attributes_mask;
  StatxTime access, birth, change, modification;
  u32 special_major, special_minor, device_major, device_minor;
  u64 spare[14];
};
static_assert(sizeof(LinuxStatx) == 256);

i64 write_statx(const Attributes& attributes, u64 buffer) {
  if (!writable(buffer, sizeof(LinuxStatx))) return -EFAULT;
  constexpr u32 STATX_BASIC_STATS = 0x7ff;
  LinuxStatx statx{};
  statx.mask = STATX_BASIC_STATS;
  statx.block_size = 4096;
  statx.links = static_cast<u32>(attributes.links);
  statx.uid = attributes.uid;
  statx.gid = attributes.gid;
  statx.mode = static_cast<std::uint16_t>(attributes.mode);
  statx.inode = attributes.inode;
  statx.size = attributes.size;
  statx.blocks = attributes.blocks;
  auto time = [](Timestamp value) { return StatxTime{value.seconds, static_cast<u32>(value.nanoseconds), 0}; };
  statx.access = time(attributes.accessed);
  statx.modification = time(attributes.modified);
  statx.change = time(attributes.changed);
  statx.special_major = static_cast<u32>(attributes.device_major);
  statx.special_minor = static_cast<u32>(attributes.device_minor);
  statx.device_major = 0;
  statx.device_minor = 1;
  memcpy(reinterpret_cast<void*>(buffer), &statx, sizeof statx);
  return 0;
}

// ---- Reading and writing --------------------------------------------------------------------

i64 read_input(u64 buffer, u64 length) {
  State& s = state();
  if (!writable(buffer, length)) return -EFAULT;
  // Once processes exist, the input description's offset is theirs together (process.hpp).
  if (shared() != nullptr) shared()->lock.lock();
  u64& position = shared() != nullptr ? shared()->input_position : s.input_position;
  u64 left = s.context->input_size - position;
  u64 count = length < left ? length : left;
  memcpy(reinterpret_cast<void*>(buffer), reinterpret_cast<const u8*>(s.context->input_address) + position, count);
  position += count;
  if (shared() != nullptr) shared()->lock.unlock();
  return static_cast<i64>(count);
}

// Reads from a file node at `offset`; `advance` gets the bytes read.
i64 read_node(u32 id, u64 buffer, u64 length, u64 offset) {
  const Node& n = node(id);
  if (n.type == NodeType::Directory) return -EISDIR;
  if (!writable(buffer, length)) return -EFAULT;
  if (n.type != NodeType::Regular || offset >= n.size) return 0;  // /dev/null: end of file at once.
  u64 count = n.size - offset < length ? n.size - offset : length;
  if (id == PROGRAM) {
    // Straight from the shared Memory into the program's buffer: the kernel copies, nothing is mapped.
    if (native(abi::Syscall::MemoryRead, manager::FUNCTION_EXECUTABLE, offset, buffer, count) != sys::Error::None)
      return -EFAULT;
    return static_cast<i64>(count);
  }
  memcpy(reinterpret_cast<void*>(buffer), file_bytes(id) + offset, count);
  return static_cast<i64>(count);
}

// `from_personality`: the bytes are in the personality's own buffer (copy_file_range, sendfile).
i64 write_node(u32 id, u64 buffer, u64 length, u64 offset, bool from_personality = false) {
  Node& n = node(id);
  if (n.type == NodeType::Device) return static_cast<i64>(length);  // /dev/null takes everything.
  if (n.type != NodeType::Regular || !n.writable) return -EBADF;
  if (!from_personality && !readable(buffer, length)) return -EFAULT;
  if (length == 0) return 0;
  u64 end;
  if (__builtin_add_overflow(offset, length, &end) || end > MAX_FILE_BYTES) return -EFBIG;
  if (!reserve(n, end)) {
    // The memory limit is reached: write what fits in the block already there, as a full tmpfs does.
    if (offset >= n.capacity) return -ENOSPC;
    end = n.capacity;
    length = end - offset;
  }
  memcpy(reinterpret_cast<void*>(n.data + offset), reinterpret_cast<const void*>(buffer), length);
  if (end > n.size) n.size = end;
  n.modified = n.changed = now_timestamp();
  return static_cast<i64>(length);
}

i64 read_description(Description& description, u64 buffer, u64 length) {
  if (length > MAX_IO) length = MAX_IO;
  if (description.access == O_WRONLY) return -EBADF;
  switch (description.stream) {
    case Stream::Input: return read_input(buffer, length);
    case Stream::Pipe:
      if (!writable(buffer, length)) return -EFAULT;
      return pipe_read(description.node, buffer, length, description.nonblocking);
    case Stream::Event: return eventfd_read(description.node, buffer, length, description.nonblocking);
    case Stream::File: {
      i64 count = read_node(description.node, buffer, length, description.offset);
      if (count > 0) description.offset += static_cast<u64>(count);
      return count;
    }
    case Stream::Image: {
      i64 count = image_read(description.node, buffer, length, description.offset);
      if (count > 0) description.offset += static_cast<u64>(count);
      return count;
    }
    default: return -EBADF;
  }
}

i64 write_description(Description& description, u64 buffer, u64 length, bool from_personality = false) {
  if (length > MAX_IO) length = MAX_IO;
  if (description.access == O_RDONLY) return -EBADF;
  switch (description.stream) {
    case Stream::Output:
    case Stream::Log:
      if (!from_personality && !readable(buffer, length)) return -EFAULT;
      if (description.stream == Stream::Output) write_output(reinterpret_cast<const u8*>(buffer), length);
      else write_log(reinterpret_cast<const char*>(buffer), length);
      return static_cast<i64>(length);
    case Stream::Pipe:
      if (!from_personality && !readable(buffer, length)) return -EFAULT;
      return pipe_write(description.node, buffer, length, description.nonblocking);
    case Stream::Event:
      if (from_personality) return -EBADF;
      return eventfd_write(description.node, buffer, length, description.nonblocking);
    case Stream::File: {
      u64 offset = description.append ? node(description.node).size : description.offset;
      i64 count = write_node(description.node, buffer, length, offset, from_personality);
      if (count > 0) description.offset = offset + static_cast<u64>(count);
      return count;
    }
    default: return -EBADF;
  }
}

struct IoVector {
  u64 base, length;
};

i64 vector_io(u64 descriptor, u64 vectors, u64 count, bool reading) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  if (count > 1024) return -EINVAL;
  if (!readable(vectors, count * sizeof(IoVector))) return -EFAULT;
  const auto* vector = reinterpret_cast<const IoVector*>(vectors);
  i64 total = 0;
  for (u64 i = 0; i < count; ++i) {
    IoVector v = vector[i];
    i64 done = reading ? read_description(*description, v.base, v.length)
                       : write_description(*description, v.base, v.length);
    if (done < 0) return total > 0 ? total : done;
    total += done;
    if (static_cast<u64>(done) < v.length) break;
  }
  return total;
}

// The node of an open file description, or a negated errno (streams: `stream_error`).
i64 file_node(u64 descriptor, i64 stream_error) {
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  if (description->stream != Stream::File) return stream_error;
  return description->node;
}

// Checks a path operation that changes the entries of `lookup.parent`.
i64 check_entry_change(const Lookup& lookup) {
  if (lookup.name_length == 0) return -EBUSY;  // "/", "." or "..".
  if (!node(lookup.parent).writable) return -EROFS;
  if (!node(lookup.parent).linked) return -ENOENT;
  return 0;
}

}  // namespace

void files_set_auxv(const u64* pairs, usize bytes) {
  if (bytes > sizeof saved_auxv) bytes = sizeof saved_auxv;
  memcpy(saved_auxv, pairs, bytes);
  fixed_nodes[PROC_SELF_AUXV].size = bytes;
}

void files_init() {
  const char* name = state().context->name;
  usize length = 0;
  while (length < manager::NAME_BYTES && name[length] != '\0') {
    program_name[length] = name[length];
    ++length;
  }
  program_name[length] = '\0';
  // The manager gives the executable as a read-only Memory (FUNCTION_EXECUTABLE); read_node reads it.
  Node& program = fixed_nodes[PROGRAM];
  program.size = state().start.executable_size;
  // Never over a name the fixed tree uses (a function called "tmp" keeps /tmp a directory).
  program.linked = program.size > 0 && length > 0 && find_child(ROOT, program_name, length) == NO_NODE;
  // The secret files: entries after the arguments and the environment (protocol.hpp), which the
  // manager checked at deploy; read-only, owned by root, mode 0444.
  const manager::FunctionContext& context = *state().context;
  u64 first = context.argument_bytes + context.environment_bytes;
  u64 bytes = context.secret_bytes;
  if (context.argument_bytes > manager::MAX_FUNCTION_STRINGS_BYTES || first > manager::MAX_FUNCTION_STRINGS_BYTES ||
      bytes > manager::MAX_SECRET_FILES_BYTES)
    return;
  const char* entries = reinterpret_cast<const char*>(manager::FUNCTION_STRINGS_ADDRESS + first);
  u32 count = 0;
  for (u64 at = 0; at < bytes && count < manager::MAX_SECRET_FILES;) {
    usize name_length = 0;
    while (at + name_length < bytes && name_length + 1 < manager::NAME_BYTES && entries[at + name_length] != '\0')
      ++name_length;
    if (name_length == 0 || at + name_length + 5 > bytes) break;
    u32 size = 0;
    memcpy(&size, entries + at + name_length + 1, 4);
    u64 value = at + name_length + 5;
    if (size > bytes - value) break;
    memcpy(secret_names[count], entries + at, name_length);
    secret_names[count][name_length] = '\0';
    Node& file = fixed_nodes[SECRET_FIRST + count];
    file.data = manager::FUNCTION_STRINGS_ADDRESS + first + value;
    file.size = size;
    file.linked = true;
    ++count;
    at = value + size;
  }
  secrets_present = count > 0;
  fixed_nodes[VAR].linked = fixed_nodes[VAR_OPENFAAS].linked = fixed_nodes[OPENFAAS_SECRETS].linked = secrets_present;
}

bool files_have_secrets() { return secrets_present; }

// ---- Descriptor calls -----------------------------------------------------------------------

bool descriptor_open(u64 descriptor) {
  StoreGuard guard;
  return description_of(descriptor) != nullptr;
}

i64 copy_program_path(u64 address, ProgramPath& path) {
  static_assert(sizeof path.text == PATH_MAX);
  return copy_path(address, path);
}

i64 install_image_descriptor(u32 inode, u64 flags) {
  StoreGuard guard;
  return install(Description{Stream::Image, static_cast<u8>(O_RDONLY), false, false, 1, inode, 0},
                 (flags & O_CLOEXEC) != 0);
}

bool image_descriptor(u64 descriptor, u32& inode) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr || description->stream != Stream::Image) return false;
  inode = description->node;
  return true;
}

u32 layer_shadow(u32 inode) {
  StoreGuard guard;
  return store() == nullptr ? NO_NODE : find_child(SHADOW_KEY | inode, "", 0);
}

i64 layer_make_shadow(u32 inode) {
  StoreGuard guard;
  u32 existing = layer_shadow(inode);
  if (existing != NO_NODE) return existing;
  i64 created = create_node(SHADOW_KEY | inode, "", 0, NodeType::Directory, 0755);
  if (created < 0) return created;
  node(static_cast<u32>(created)).opened = 1;  // Never freed: found by its image directory.
  ++store()->shadows;
  return created;
}

bool layer_in_use() { return store() != nullptr && __atomic_load_n(&store()->shadows, __ATOMIC_ACQUIRE) != 0; }

u32 layer_child(u32 directory, const char* name, usize length, LayerKind& kind) {
  StoreGuard guard;
  u32 id = find_child(directory, name, length);
  kind = id == NO_NODE                              ? LayerKind::Missing
         : node(id).type == NodeType::Whiteout     ? LayerKind::Whiteout
         : node(id).type == NodeType::Directory    ? LayerKind::Directory
                                                   : LayerKind::File;
  return id;
}

u32 layer_parent(u32 id) {
  StoreGuard guard;
  return node(id).parent;
}

const char* layer_name(u32 id) {
  StoreGuard guard;
  return node(id).name;
}

bool layer_is_directory(u32 id) {
  StoreGuard guard;
  return node(id).type == NodeType::Directory;
}

u32 layer_mode(u32 id) {
  StoreGuard guard;
  return node(id).mode;
}

bool layer_has_entries(u32 directory) {
  StoreGuard guard;
  return has_children(directory);
}

i64 layer_create(u32 directory, const char* name, usize length, bool is_directory, u32 mode, const u8* contents,
                 u64 size, bool exact_mode) {
  StoreGuard guard;
  u32 existing = find_child(directory, name, length);
  if (existing != NO_NODE && node(existing).type != NodeType::Whiteout) return -EEXIST;
  i64 created = create_node(directory, name, length, is_directory ? NodeType::Directory : NodeType::Regular, mode);
  if (created < 0) return created;
  auto id = static_cast<u32>(created);
  Node& n = node(id);
  if (exact_mode) n.mode = mode & 07777;  // A copy-up keeps the image file's mode, not masked by the umask.
  if (size > 0) {
    if (!reserve(n, size)) {
      detach(id);
      release_if_unused(id);
      return -ENOSPC;
    }
    memcpy(reinterpret_cast<void*>(n.data), contents, size);
    n.size = size;
  }
  // The new entry replaces a whiteout of its name (a file the invocation deleted from the image).
  if (existing != NO_NODE) {
    detach(existing);
    release_if_unused(existing);
  }
  return created;
}

i64 layer_whiteout(u32 directory, const char* name, usize length) {
  StoreGuard guard;
  u32 existing = find_child(directory, name, length);
  if (existing != NO_NODE && node(existing).type == NodeType::Whiteout) return 0;
  i64 created = create_node(directory, name, length, NodeType::Whiteout, 0);
  if (created < 0) return created;
  if (existing != NO_NODE) {
    // The new whiteout hides the image's entry; the layer's own goes (freed at its last close).
    hash_remove(static_cast<u32>(created));
    detach(existing);
    release_if_unused(existing);
    hash_insert(static_cast<u32>(created));
  }
  return 0;
}

void layer_remove(u32 id) {
  StoreGuard guard;
  Node& parent = node(node(id).parent);
  detach(id);
  parent.modified = parent.changed = now_timestamp();
  release_if_unused(id);
}

i64 layer_rename(u32 id, u32 directory, const char* name, usize length) {
  StoreGuard guard;
  if (!directory_may_move(id, directory)) return -EINVAL;
  u32 existing = find_child(directory, name, length);
  if (existing == id) return 0;
  if (existing != NO_NODE) {
    detach(existing);
    release_if_unused(existing);
  }
  move_node(id, directory, name, length);
  return 0;
}

u32 layer_next_entry(u32 directory, u64 from, u8& type) {
  StoreGuard guard;
  for (u64 candidate = from < u64{FIXED_COUNT} ? u64{FIXED_COUNT} : from; candidate < node_limit(); ++candidate) {
    const Node& child = node(static_cast<u32>(candidate));
    bool entry = child.type == NodeType::Regular || child.type == NodeType::Directory;
    if (!entry || !child.linked || child.parent != directory) continue;
    constexpr u8 DT_DIR = 4, DT_REG = 8;
    type = child.type == NodeType::Directory ? DT_DIR : DT_REG;
    return static_cast<u32>(candidate);
  }
  return NO_NODE;
}

u64 layer_inode_number(u32 id) { return inode_number(id); }

bool layer_descriptor(u64 descriptor, u32& id) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr || description->stream != Stream::File || description->node < FIXED_COUNT) return false;
  for (u32 at = description->node; at >= FIXED_COUNT; at = node(at).parent) {
    if ((node(at).parent & SHADOW_KEY) != 0) {
      id = description->node;
      return true;
    }
  }
  return false;
}

i64 open_layer_file(u32 id, u64 flags) {
  StoreGuard guard;
  Node& n = node(id);
  bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0;
  if (n.type == NodeType::Directory && (writing || (flags & O_CREAT) != 0)) return -EISDIR;
  if (n.type != NodeType::Directory && (flags & O_DIRECTORY) != 0) return -ENOTDIR;
  if ((flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != O_RDONLY && n.type == NodeType::Regular) {
    i64 error = resize(n, 0);
    if (error < 0) return error;
  }
  return open_node(id, flags);
}

i64 stat_layer_file(u32 id, u64 buffer, bool statx) {
  StoreGuard guard;
  Attributes attributes = attributes_of(id);
  return statx ? write_statx(attributes, buffer) : write_stat(attributes, buffer);
}

i64 write_file_stat(const FileStat& stat, u64 buffer, bool statx) {
  Timestamp time{stat.mtime, 0};
  Attributes attributes{stat.inode, stat.links, stat.size, stat.blocks, time, time, time, 0, 0, stat.mode, stat.uid, stat.gid};
  return statx ? write_statx(attributes, buffer) : write_stat(attributes, buffer);
}

i64 epoll_install(u32 index, bool close_on_exec) {
  return install(Description{Stream::Epoll, O_RDWR, false, false, 1, index, 0}, close_on_exec);
}

i64 event_install(u32 index, bool nonblocking, bool close_on_exec) {
  return install(Description{Stream::Event, O_RDWR, false, nonblocking, 1, index, 0}, close_on_exec);
}

bool netpoll_target(u64 descriptor, NetpollTarget& target) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr) return false;
  target.index = description->node;
  switch (description->stream) {
    case Stream::Input: target.kind = NetpollKind::Input; break;
    case Stream::Output:
    case Stream::Log: target.kind = NetpollKind::Output; break;
    case Stream::Pipe: target.kind = description->access == O_WRONLY ? NetpollKind::PipeWrite : NetpollKind::PipeRead; break;
    case Stream::Epoll: target.kind = NetpollKind::Epoll; break;
    case Stream::Event: target.kind = NetpollKind::Event; break;
    case Stream::File:
    case Stream::Image:
    case Stream::None: target.kind = NetpollKind::File; break;
  }
  return true;
}

i64 lock_target(u64 descriptor, LockTarget& target) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  bool file = description->stream == Stream::File;
  const Node* n = file ? &node(description->node) : nullptr;
  target = LockTarget{lock_file_of(*description), description_id(*description) - 1,
                      description->access != O_WRONLY, description->access != O_RDONLY, description->offset,
                      n != nullptr && n->type == NodeType::Regular ? n->size : 0};
  return 0;
}

i64 linux_read(u64 descriptor, u64 buffer, u64 length) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  return description == nullptr ? -EBADF : read_description(*description, buffer, length);
}

i64 linux_write(u64 descriptor, u64 buffer, u64 length) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  return description == nullptr ? -EBADF : write_description(*description, buffer, length);
}

i64 linux_readv(u64 descriptor, u64 vectors, u64 count) { return vector_io(descriptor, vectors, count, true); }
i64 linux_writev(u64 descriptor, u64 vectors, u64 count) { return vector_io(descriptor, vectors, count, false); }

i64 linux_pread(u64 descriptor, u64 buffer, u64 length, u64 offset) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr || description->access == O_WRONLY) return -EBADF;
  if (description->stream == Stream::Image && static_cast<i64>(offset) >= 0)
    return image_read(description->node, buffer, length > MAX_IO ? MAX_IO : length, offset);
  if (description->stream != Stream::File) return -ESPIPE;
  if (static_cast<i64>(offset) < 0) return -EINVAL;
  return read_node(description->node, buffer, length > MAX_IO ? MAX_IO : length, offset);
}

i64 linux_pwrite(u64 descriptor, u64 buffer, u64 length, u64 offset) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr || description->access == O_RDONLY) return -EBADF;
  if (description->stream != Stream::File) return -ESPIPE;
  if (static_cast<i64>(offset) < 0) return -EINVAL;
  // Linux ignores the offset of pwrite on O_APPEND descriptors and appends.
  u64 at = description->append ? node(description->node).size : offset;
  return write_node(description->node, buffer, length > MAX_IO ? MAX_IO : length, at);
}

i64 linux_lseek(u64 descriptor, u64 offset, u64 whence) {
  StoreGuard guard;
  constexpr u64 SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2;
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  if (description->stream == Stream::Image) {
    // Directories: only a rewind or a position getdents64 gave, as below.
    bool directory = image_is_directory(description->node);
    i64 base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? static_cast<i64>(description->offset)
             : whence == SEEK_END ? static_cast<i64>(directory ? 0 : image_file_size(description->node)) : -1;
    i64 position;
    if (base < 0 || (directory && whence != SEEK_SET) ||
        __builtin_add_overflow(base, static_cast<i64>(offset), &position) || position < 0)
      return -EINVAL;
    description->offset = static_cast<u64>(position);
    return position;
  }
  if (description->stream != Stream::File) return -ESPIPE;
  const Node& n = node(description->node);
  if (n.type == NodeType::Device) return 0;
  auto signed_offset = static_cast<i64>(offset);
  i64 base;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = static_cast<i64>(description->offset); break;
    case SEEK_END: base = static_cast<i64>(n.type == NodeType::Regular ? n.size : 0); break;
    default: return -EINVAL;
  }
  // Directories: only a rewind (rewinddir) or a return to a position getdents64 gave.
  if (n.type == NodeType::Directory && whence != SEEK_SET) return -EINVAL;
  i64 position;
  if (__builtin_add_overflow(base, signed_offset, &position) || position < 0) return -EINVAL;
  description->offset = static_cast<u64>(position);
  return position;
}

i64 linux_close(u64 descriptor) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  // Closing any descriptor of a file drops the process's classic record locks on it (POSIX).
  locks_descriptor_closed(lock_file_of(*description));
  descriptors[descriptor] = Descriptor{};
  drop_description(*description);
  return 0;
}

i64 linux_dup(u64 descriptor) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  i64 target = free_descriptor(0);
  if (target < 0) return target;
  ++description->references;
  descriptors[target] = Descriptor{descriptors[descriptor].description, false};
  return target;
}

i64 linux_dup3(u64 descriptor, u64 target, u64 flags, bool is_dup2) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (!is_dup2 && (flags & ~O_CLOEXEC) != 0) return -EINVAL;
  if (description == nullptr || target >= MAX_DESCRIPTORS) return -EBADF;
  if (descriptor == target) return is_dup2 ? static_cast<i64>(target) : -EINVAL;
  ++description->references;  // First, so that closing the target cannot free it.
  if (Description* old = description_of(target)) {
    locks_descriptor_closed(lock_file_of(*old));
    descriptors[target] = Descriptor{};
    drop_description(*old);
  }
  descriptors[target] = Descriptor{descriptors[descriptor].description, (flags & O_CLOEXEC) != 0};
  return static_cast<i64>(target);
}

i64 linux_fcntl(u64 descriptor, u64 command, u64 argument) {
  StoreGuard guard;
  constexpr u64 F_DUPFD = 0, F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, F_DUPFD_CLOEXEC = 1030;
  constexpr u64 FD_CLOEXEC = 1;
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  switch (command) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      if (argument >= MAX_DESCRIPTORS) return -EINVAL;
      i64 target = free_descriptor(argument);
      if (target < 0) return target;
      ++description->references;
      descriptors[target] = Descriptor{descriptors[descriptor].description, command == F_DUPFD_CLOEXEC};
      return target;
    }
    case F_GETFD: return descriptors[descriptor].close_on_exec ? FD_CLOEXEC : 0;
    case F_SETFD: descriptors[descriptor].close_on_exec = (argument & FD_CLOEXEC) != 0; return 0;
    case F_GETFL:
      return static_cast<i64>(description->access | (description->append ? O_APPEND : 0) |
                              (description->nonblocking ? O_NONBLOCK : 0) |
                              (description->stream == Stream::File || description->stream == Stream::Image ? O_LARGEFILE : 0));
    case F_SETFL:
      // O_APPEND (files) and O_NONBLOCK (pipes: EAGAIN instead of waiting) change; the rest is accepted.
      if (description->stream == Stream::File) description->append = (argument & O_APPEND) != 0;
      description->nonblocking = (argument & O_NONBLOCK) != 0;
      return 0;
    default: return -EINVAL;
  }
}

i64 linux_ioctl(u64 descriptor) { return descriptor_open(descriptor) ? -ENOTTY : -EBADF; }
i64 linux_fsync(u64 descriptor) { return descriptor_open(descriptor) ? 0 : -EBADF; }

// Input, output and files never block; pipes do: poll waits (without the lock) until one of them
// is ready or the timeout (milliseconds, negative: none) has passed.
i64 linux_poll(u64 address, u64 count, u64 timeout_milliseconds) {
  StoreGuard guard;
  struct PollDescriptor {
    std::int32_t fd;
    std::int16_t events, returned;
  };
  using Events = std::int16_t;
  constexpr Events POLLIN = 1, POLLOUT = 4, POLLERR = 8, POLLHUP = 0x10, POLLNVAL = 0x20;
  if (count > MAX_DESCRIPTORS * 16) return -EINVAL;
  if (!writable(address, count * sizeof(PollDescriptor))) return -EFAULT;
  auto timeout = static_cast<std::int32_t>(timeout_milliseconds);
  u64 deadline = timeout < 0 ? ~u64{0} : monotonic_nanoseconds() + static_cast<u64>(timeout) * 1'000'000;
  auto* entries = reinterpret_cast<PollDescriptor*>(address);
  for (;;) {
    i64 ready = 0;
    for (u64 i = 0; i < count; ++i) {
      PollDescriptor& entry = entries[i];
      Events returned = 0;
      Description* description = entry.fd < 0 ? nullptr : description_of(static_cast<u64>(entry.fd));
      if (entry.fd < 0) returned = 0;
      else if (description == nullptr) returned = POLLNVAL;
      else if (description->stream == Stream::Input) returned = static_cast<Events>(entry.events & POLLIN);
      else if (description->stream == Stream::File || description->stream == Stream::Image)
        returned = static_cast<Events>(entry.events & (POLLIN | POLLOUT));
      else if (description->stream == Stream::Pipe) {
        bool write_end = description->access == O_WRONLY;
        u32 state = pipe_state(description->node, write_end, true);
        // pipe_state: 1 ready, 2 the other end is gone (HUP for readers, ERR for writers).
        if ((state & 1) != 0) returned = static_cast<Events>(entry.events & (write_end ? POLLOUT : POLLIN));
        if ((state & 2) != 0) returned = static_cast<Events>(returned | (write_end ? POLLERR : POLLHUP));
      } else if (description->stream == Stream::Event) {
        u32 state = eventfd_state(description->node);
        returned = static_cast<Events>(((state & 1) != 0 ? entry.events & POLLIN : 0) |
                                       ((state & 2) != 0 ? entry.events & POLLOUT : 0));
      } else returned = static_cast<Events>(entry.events & POLLOUT);
      entry.returned = returned;
      if (returned != 0) ++ready;
    }
    u64 now = monotonic_nanoseconds();
    if (ready > 0 || now >= deadline) return ready;
    if (signal_pending()) return -EINTR;
    u32 held = store_suspend();
    state_lock().unlock();
    process_block(deadline - now);
    state_lock().lock();
    store_resume(held);
  }
}

i64 linux_fstat(u64 descriptor, u64 buffer) {
  StoreGuard guard;
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  if (description->stream == Stream::Image) return image_fstat(description->node, buffer, false);
  if (description->stream != Stream::File) return write_stat(attributes_of_stream(description->stream), buffer);
  return write_stat(attributes_of(description->node), buffer);
}

i64 linux_ftruncate(u64 descriptor, u64 length) {
  StoreGuard guard;
  i64 id = file_node(descriptor, -EINVAL);
  if (id < 0) return id;
  if (static_cast<i64>(length) < 0) return -EINVAL;
  Description* description = description_of(descriptor);
  Node& n = node(static_cast<u32>(id));
  if (n.type != NodeType::Regular || description->access == O_RDONLY) return -EINVAL;
  if (!n.writable) return -EROFS;
  return resize(n, length);
}

i64 linux_getdents64(u64 descriptor, u64 buffer, u64 length) {
  StoreGuard guard;
  if (Description* image = description_of(descriptor); image != nullptr && image->stream == Stream::Image)
    return image_getdents64(image->node, image->offset, buffer, length);
  i64 id = file_node(descriptor, -ENOTDIR);
  if (id < 0) return id;
  auto directory = static_cast<u32>(id);
  if (node(directory).type != NodeType::Directory) return -ENOTDIR;
  if (!writable(buffer, length)) return -EFAULT;
  Description& description = *description_of(descriptor);
  constexpr u8 DT_CHR = 2, DT_DIR = 4, DT_REG = 8, DT_LNK = 10;
  u64 used = 0;
  // Positions: 0 is ".", 1 is "..", 2 + i looks for children from node i on.
  while (true) {
    u64 position = description.offset;
    u32 entry;
    u64 next;
    const char* name;
    if (position == 0) {
      entry = directory;
      next = 1;
      name = ".";
    } else if (position == 1) {
      entry = node(directory).parent;
      next = 2;
      name = "..";
    } else {
      entry = NO_NODE;
      for (u64 candidate = position - 2; candidate < node_limit(); ++candidate) {
        const Node& child = node(static_cast<u32>(candidate));
        if (candidate != ROOT && child.type != NodeType::Unused && child.type != NodeType::Whiteout && child.linked &&
            child.parent == directory && node(directory).linked) {
          entry = static_cast<u32>(candidate);
          break;
        }
      }
      if (entry == NO_NODE) break;
      next = entry + 3u;
      name = node(entry).name;
    }
    usize name_length = 0;
    while (name[name_length] != '\0') ++name_length;
    u64 record = (19 + name_length + 1 + 7) & ~u64{7};
    if (used + record > length) {
      if (used == 0) return -EINVAL;
      break;
    }
    u8* out = reinterpret_cast<u8*>(buffer + used);
    memset(out, 0, record);
    u64 inode = inode_number(entry);
    auto offset = static_cast<i64>(next);
    auto record_length = static_cast<std::uint16_t>(record);
    NodeType type = node(entry).type;
    u8 kind = type == NodeType::Directory ? DT_DIR : type == NodeType::Regular ? DT_REG
              : type == NodeType::Device  ? DT_CHR : DT_LNK;
    memcpy(out, &inode, 8);
    memcpy(out + 8, &offset, 8);
    memcpy(out + 16, &record_length, 2);
    out[18] = kind;
    memcpy(out + 19, name, name_length);
    used += record;
    description.offset = next;
  }
  return static_cast<i64>(used);
}

i64 linux_fchdir(u64 descriptor) {
  StoreGuard guard;
  if (Description* image = description_of(descriptor); image != nullptr && image->stream == Stream::Image)
    return image_fchdir(image->node);
  i64 id = file_node(descriptor, -ENOTDIR);
  if (id < 0) return id;
  if (node(static_cast<u32>(id)).type != NodeType::Directory) return -ENOTDIR;
  if (u32 layer = 0; layer_descriptor(descriptor, layer)) return image_enter_layer_directory(layer);
  change_working_directory(static_cast<u32>(id));
  image_leave_working_directory();
  return 0;
}

// ---- Path calls -----------------------------------------------------------------------------

i64 linux_openat(u64 directory, u64 path, u64 flags, u64 mode) {
  StoreGuard guard;
  if (i64 image = image_openat(directory, path, flags, mode); image != NOT_IMAGE) return image;
  if ((flags & O_TMPFILE) != 0 || (flags & O_PATH) != 0) return -EOPNOTSUPP;
  if ((flags & ~O_KNOWN) != 0 || (flags & O_ACCMODE) == 3) return -EINVAL;
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, (flags & O_NOFOLLOW) == 0, copy, lookup);
  if (error < 0) return error;
  bool writing = (flags & O_ACCMODE) != O_RDONLY;
  u32 id = lookup.node;
  if (id == NO_NODE) {
    if ((flags & O_CREAT) == 0) return -ENOENT;
    if (lookup.trailing_slash) return -EISDIR;
    if (lookup.name_length == 0) return -EISDIR;
    error = check_entry_change(lookup);
    if (error < 0) return error;
    i64 created = create_node(lookup.parent, lookup.name, lookup.name_length, NodeType::Regular, mode);
    if (created < 0) return created;
    id = static_cast<u32>(created);
  } else {
    if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return -EEXIST;
    const Node& n = node(id);
    if (n.type == NodeType::Symlink) return -ELOOP;  // O_NOFOLLOW on a link.
    if (n.type == NodeType::Directory && (writing || (flags & O_CREAT) != 0)) return -EISDIR;
    if (n.type != NodeType::Directory && (flags & O_DIRECTORY) != 0) return -ENOTDIR;
    if ((writing || (flags & O_TRUNC) != 0) && !n.writable && n.type != NodeType::Device) return -EROFS;
    if ((flags & O_TRUNC) != 0 && n.type == NodeType::Regular && writing) {
      error = resize(node(id), 0);
      if (error < 0) return error;
    }
  }
  i64 descriptor = open_node(id, flags);
  if (descriptor < 0) release_if_unused(id);
  return descriptor;
}

i64 linux_newfstatat(u64 directory, u64 path, u64 buffer, u64 flags) {
  StoreGuard guard;
  if (i64 image = image_stat_at(directory, path, buffer, flags, false); image != NOT_IMAGE) return image;
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)) != 0) return -EINVAL;
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, (flags & AT_SYMLINK_NOFOLLOW) == 0, copy, lookup, (flags & AT_EMPTY_PATH) != 0);
  if (error < 0) return error;
  if (lookup.node == NO_NODE && lookup.parent == NO_NODE) {
    return linux_fstat(static_cast<u32>(directory), buffer);  // AT_EMPTY_PATH on a standard stream.
  }
  if (lookup.node == NO_NODE) return -ENOENT;
  return write_stat(attributes_of(lookup.node), buffer);
}

i64 linux_statx(u64 directory, u64 path, u64 flags, u64, u64 buffer) {
  StoreGuard guard;
  if (i64 image = image_stat_at(directory, path, buffer, flags, true); image != NOT_IMAGE) return image;
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)) != 0) return -EINVAL;
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, (flags & AT_SYMLINK_NOFOLLOW) == 0, copy, lookup, (flags & AT_EMPTY_PATH) != 0);
  if (error < 0) return error;
  if (lookup.node == NO_NODE && lookup.parent == NO_NODE) {
    Description* description = description_of(static_cast<u32>(directory));
    if (description == nullptr) return -EBADF;  // Cannot happen: resolve checked the descriptor.
    return write_statx(attributes_of_stream(description->stream), buffer);
  }
  if (lookup.node == NO_NODE) return -ENOENT;
  return write_statx(attributes_of(lookup.node), buffer);
}

i64 linux_faccessat(u64 directory, u64 path, u64 mode, u64 flags) {
  StoreGuard guard;
  if (i64 image = image_faccessat(directory, path, mode, flags); image != NOT_IMAGE) return image;
  constexpr u64 X_OK = 1, W_OK = 2;
  if ((mode & ~u64{7}) != 0 || (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, (flags & AT_SYMLINK_NOFOLLOW) == 0, copy, lookup, (flags & AT_EMPTY_PATH) != 0);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return lookup.parent == NO_NODE ? 0 : -ENOENT;
  const Node& n = node(lookup.node);
  if ((mode & W_OK) != 0 && !n.writable && n.type != NodeType::Device) return -EROFS;
  if ((mode & X_OK) != 0 && (n.mode & 0111) == 0) return -EACCES;
  return 0;
}

i64 linux_mkdirat(u64 directory, u64 path, u64 mode) {
  StoreGuard guard;
  if (i64 image = image_mkdirat(directory, path, mode); image != NOT_IMAGE) return image;
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, false, copy, lookup);
  if (error < 0) return error;
  if (lookup.node != NO_NODE) return -EEXIST;
  error = check_entry_change(lookup);
  if (error < 0) return error;
  i64 created = create_node(lookup.parent, lookup.name, lookup.name_length, NodeType::Directory, mode);
  return created < 0 ? created : 0;
}

i64 linux_unlinkat(u64 directory, u64 path, u64 flags) {
  StoreGuard guard;
  if (i64 image = image_unlinkat(directory, path, flags); image != NOT_IMAGE) return image;
  if ((flags & ~AT_REMOVEDIR) != 0) return -EINVAL;
  bool remove_directory = (flags & AT_REMOVEDIR) != 0;
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, false, copy, lookup);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return -ENOENT;
  if (lookup.name_length == 0) return remove_directory ? (lookup.node == ROOT ? -EBUSY : -EINVAL) : -EISDIR;
  Node& n = node(lookup.node);
  if (remove_directory && n.type != NodeType::Directory) return -ENOTDIR;
  if (!remove_directory && n.type == NodeType::Directory) return -EISDIR;
  error = check_entry_change(lookup);
  if (error < 0) return error;
  if (remove_directory && has_children(lookup.node)) return -ENOTEMPTY;
  detach(lookup.node);
  node(lookup.parent).modified = node(lookup.parent).changed = now_timestamp();
  release_if_unused(lookup.node);
  return 0;
}

i64 linux_renameat2(u64 old_directory, u64 old_path, u64 new_directory, u64 new_path, u64 flags) {
  StoreGuard guard;
  if (i64 image = image_renameat2(old_directory, old_path, new_directory, new_path, flags); image != NOT_IMAGE)
    return image;
  if ((flags & ~RENAME_NOREPLACE) != 0) return -EINVAL;
  Lookup from, to;
  Path from_path, to_path;
  i64 error = resolve(old_directory, old_path, false, from_path, from);
  if (error < 0) return error;
  if (from.node == NO_NODE) return -ENOENT;
  error = resolve(new_directory, new_path, false, to_path, to);
  if (error < 0) return error;
  if ((error = check_entry_change(from)) < 0 || (error = check_entry_change(to)) < 0) return error;
  Node& moving = node(from.node);
  if (to.trailing_slash && moving.type != NodeType::Directory) return -ENOTDIR;
  if (to.node == from.node) return 0;
  if (to.node != NO_NODE) {
    if ((flags & RENAME_NOREPLACE) != 0) return -EEXIST;
    const Node& replaced = node(to.node);
    if (moving.type == NodeType::Directory && replaced.type != NodeType::Directory) return -ENOTDIR;
    if (moving.type != NodeType::Directory && replaced.type == NodeType::Directory) return -EISDIR;
    if (replaced.type == NodeType::Directory && has_children(to.node)) return -ENOTEMPTY;
  }
  if (!directory_may_move(from.node, to.parent)) return -EINVAL;
  // Validated; from here nothing fails.
  if (to.node != NO_NODE) {
    detach(to.node);
    release_if_unused(to.node);
  }
  move_node(from.node, to.parent, to.name, to.name_length);
  Timestamp now = now_timestamp();
  node(from.parent).modified = node(to.parent).modified = now;
  node(from.parent).changed = node(to.parent).changed = moving.changed = now;
  return 0;
}

i64 linux_readlinkat(u64 directory, u64 path, u64 buffer, u64 length) {
  StoreGuard guard;
  if (i64 image = image_readlinkat(directory, path, buffer, length); image != NOT_IMAGE) return image;
  if (static_cast<i64>(length) <= 0) return -EINVAL;
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, false, copy, lookup);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return -ENOENT;
  if (node(lookup.node).type != NodeType::Symlink) return -EINVAL;
  char target[manager::PROGRAM_PATH_BYTES];
  usize target_length = program_path(target);
  u64 count = target_length < length ? target_length : length;
  if (!writable(buffer, count)) return -EFAULT;
  memcpy(reinterpret_cast<void*>(buffer), target, count);
  return static_cast<i64>(count);
}

i64 linux_truncate(u64 path, u64 length) {
  StoreGuard guard;
  if (static_cast<i64>(length) < 0) return -EINVAL;
  // In an image's tree: the writable layer's file (an image file copied up), as an open for
  // writing, ftruncate and close would (a directory: EISDIR).
  i64 image = image_openat(static_cast<u64>(static_cast<i64>(AT_FDCWD)), path, O_WRONLY, 0);
  if (image != NOT_IMAGE) {
    if (image < 0) return image;
    i64 result = linux_ftruncate(static_cast<u64>(image), length);
    (void)linux_close(static_cast<u64>(image));
    return result;
  }
  Path copy;
  Lookup lookup;
  i64 error = resolve(static_cast<u64>(static_cast<i64>(AT_FDCWD)), path, true, copy, lookup);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return -ENOENT;
  Node& n = node(lookup.node);
  if (n.type == NodeType::Directory) return -EISDIR;
  if (n.type != NodeType::Regular) return -EINVAL;
  if (!n.writable) return -EROFS;
  return resize(n, length);
}

i64 linux_getcwd(u64 buffer, u64 length) {
  StoreGuard guard;
  if (i64 image = image_getcwd(buffer, length); image != NOT_IMAGE) return image;
  // Built backwards from the working directory up to "/".
  char path[PATH_MAX];
  usize start = PATH_MAX - 1;
  path[start] = '\0';
  for (u32 id = working_directory; id != ROOT; id = node(id).parent) {
    const char* name = node(id).name;
    usize name_length = 0;
    while (name[name_length] != '\0') ++name_length;
    if (start < name_length + 1) return -ENAMETOOLONG;
    start -= name_length;
    memcpy(path + start, name, name_length);
    path[--start] = '/';
  }
  if (start == PATH_MAX - 1) path[--start] = '/';
  if (!node(working_directory).linked) return -ENOENT;
  u64 size = PATH_MAX - start;
  if (length < size) return -ERANGE;
  if (!writable(buffer, size)) return -EFAULT;
  memcpy(reinterpret_cast<void*>(buffer), path + start, size);
  return static_cast<i64>(size);
}

i64 linux_chdir(u64 path) {
  StoreGuard guard;
  if (i64 image = image_chdir(path); image != NOT_IMAGE) return image;
  Path copy;
  Lookup lookup;
  i64 error = resolve(static_cast<u64>(static_cast<i64>(AT_FDCWD)), path, true, copy, lookup);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return -ENOENT;
  if (node(lookup.node).type != NodeType::Directory) return -ENOTDIR;
  change_working_directory(lookup.node);
  image_leave_working_directory();
  return 0;
}

i64 linux_umask(u64 mask) {
  u32 previous = file_mode_mask;
  file_mode_mask = static_cast<u32>(mask & 0777);
  return previous;
}

// ---- Processes (process.hpp) ----------------------------------------------------------------

i64 linux_pipe2(u64 address, u64 flags) {
  if ((flags & ~(O_CLOEXEC | O_NONBLOCK)) != 0) return -EINVAL;
  if (!writable(address, 8)) return -EFAULT;
  i64 read_descriptor = free_descriptor(0);
  if (read_descriptor < 0) return read_descriptor;
  i64 write_descriptor = free_descriptor(static_cast<u64>(read_descriptor) + 1);
  if (write_descriptor < 0) return write_descriptor;
  u32 pipe;
  i64 error = pipe_create(pipe);  // One reader and one writer counted; the store exists now.
  if (error < 0) return error;
  StoreGuard guard;
  bool nonblocking = (flags & O_NONBLOCK) != 0, close_on_exec = (flags & O_CLOEXEC) != 0;
  i64 read_id = new_description(Description{Stream::Pipe, O_RDONLY, false, nonblocking, 1, pipe, 0});
  i64 write_id =
      read_id < 0 ? read_id : new_description(Description{Stream::Pipe, O_WRONLY, false, nonblocking, 1, pipe, 0});
  if (read_id < 0 || write_id < 0) {
    if (read_id >= 0) free_description(description_by_id(static_cast<u32>(read_id)));
    pipe_release(pipe, false);
    pipe_release(pipe, true);
    return read_id < 0 ? read_id : write_id;
  }
  descriptors[read_descriptor] = Descriptor{static_cast<std::uint16_t>(read_id), close_on_exec};
  descriptors[write_descriptor] = Descriptor{static_cast<std::uint16_t>(write_id), close_on_exec};
  std::int32_t pair[2] = {static_cast<std::int32_t>(read_descriptor), static_cast<std::int32_t>(write_descriptor)};
  memcpy(reinterpret_cast<void*>(address), pair, sizeof pair);
  return 0;
}

bool files_fork_references() {
  // The child maps the store where the parent does: it must exist before the first child. Under
  // the lock, so the part this process maps (the child's too) is up to date.
  if (!store_init()) return false;
  StoreGuard guard;
  if (!store_prepare_fork()) return false;
  for (const Descriptor& descriptor : descriptors)
    if (descriptor.description > LOCAL_DESCRIPTIONS) ++description_by_id(descriptor.description).references;
  ++node(working_directory).opened;
  return true;
}

void files_fork_references_undo() {
  StoreGuard guard;
  // The counts were positive before the fork: nothing is released here.
  for (const Descriptor& descriptor : descriptors)
    if (descriptor.description > LOCAL_DESCRIPTIONS) --description_by_id(descriptor.description).references;
  --node(working_directory).opened;
}

void files_close_all() {
  StoreGuard guard;
  for (u64 d = 0; d < MAX_DESCRIPTORS; ++d)
    if (descriptors[d].description != 0) (void)linux_close(d);
  u32 previous = working_directory;
  working_directory = ROOT;
  --node(previous).opened;
  release_if_unused(previous);
}

void files_close_on_exec() {
  StoreGuard guard;
  for (u64 d = 0; d < MAX_DESCRIPTORS; ++d)
    if (descriptors[d].description != 0 && descriptors[d].close_on_exec) (void)linux_close(d);
}

i64 files_node_executable(u32 id, ExecutableFile& out) {
  StoreGuard guard;
  if (id >= node_limit()) return -ENOENT;
  if (id == PROGRAM) {
    out = ExecutableFile{ExecutableKind::Own, nullptr, 0, 0};
    return 0;
  }
  const Node& n = node(id);
  // As Linux's may_open and do_open_execat: a directory or a file without an x bit is EACCES.
  if (n.type != NodeType::Regular || (n.mode & 0111) == 0) return -EACCES;
  out = ExecutableFile{ExecutableKind::Memory, file_bytes(id), n.size, 0};
  return 0;
}

i64 files_resolve_executable(u64 directory, const char* path, usize length, u64 descriptor_flags,
                             ExecutableFile& out) {
  StoreGuard guard;
  constexpr u64 AT_EMPTY_PATH = 0x1000;
  auto descriptor = static_cast<std::int32_t>(directory);
  if (length == 0) {
    if ((descriptor_flags & AT_EMPTY_PATH) == 0) return -ENOENT;
    if (descriptor == AT_FDCWD) return -EACCES;  // The working directory: a directory.
    u32 inode = 0;
    if (image_descriptor(directory, inode)) {
      if (image_is_directory(inode)) return -EACCES;
      return image_executable(inode, out);
    }
    Description* description = description_of(static_cast<u32>(descriptor));
    if (description == nullptr || descriptor < 0) return -EBADF;
    if (description->stream != Stream::File) return -EACCES;
    return files_node_executable(description->node, out);
  }
  constexpr u64 AT_SYMLINK_NOFOLLOW = 0x100;
  bool follow_last = (descriptor_flags & AT_SYMLINK_NOFOLLOW) == 0;
  if (image_active()) {
    i64 error = image_resolve_executable(directory, path, length, follow_last, out);
    if (error != NOT_IMAGE) return error;
  }
  u32 start = ROOT;
  i64 error = start_directory(descriptor, start);
  if (error < 0 && path[0] != '/') return error;
  Lookup lookup;
  // The last component unfollowed first: /proc/self/exe of an image function names a file of
  // the image, which this tree does not hold.
  error = resolve_from(start, path, length, false, lookup, 0);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return -ENOENT;
  if (!follow_last && node(lookup.node).type == NodeType::Symlink) return -ELOOP;  // execveat's AT_SYMLINK_NOFOLLOW.
  if (lookup.node == PROC_SELF_EXE && image_active()) {
    char program[manager::NAME_BYTES + 2 + manager::PROGRAM_PATH_BYTES];
    usize program_length = program_path(program);
    return image_resolve_executable(static_cast<u64>(static_cast<std::int64_t>(AT_FDCWD)), program, program_length, true,
                                    out);
  }
  if (node(lookup.node).type == NodeType::Symlink) {
    error = resolve_from(start, path, length, true, lookup, 0);
    if (error < 0) return error;
    if (lookup.node == NO_NODE) return -ENOENT;
  }
  return files_node_executable(lookup.node, out);
}



// ---- Attributes: mode, owner, times, file system ----------------------------------------------

namespace {

// The node a descriptor or a path names for the attribute calls: nodes in /tmp may change; the
// read-only tree answers EROFS (checked first, as Linux's mnt_want_write comes before permissions).
// Standard streams have no node: NO_NODE with 0.
i64 attribute_target(u64 directory, u64 path, bool follow_last, bool allow_empty, u32& id) {
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, follow_last, copy, lookup, allow_empty);
  if (error < 0) return error;
  if (lookup.node == NO_NODE && lookup.parent == NO_NODE) {
    id = NO_NODE;  // AT_EMPTY_PATH on a standard stream.
    return 0;
  }
  if (lookup.node == NO_NODE) return -ENOENT;
  id = lookup.node;
  return 0;
}

i64 descriptor_target(u64 descriptor, u32& id) {
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  id = description->stream == Stream::File ? description->node : NO_NODE;
  return 0;
}

// chmod on a node: the owner only (EPERM: /tmp itself belongs to root); mode & 07777; ctime now.
i64 change_mode(u32 id, u64 mode) {
  if (id == NO_NODE) return 0;  // The standard streams: pipes whose mode fstat shows fixed (docs/LINUX.md).
  Node& n = node(id);
  if (!n.writable) return -EROFS;
  if (n.uid != linux_uid()) return -EPERM;
  n.mode = static_cast<u32>(mode & 07777);
  n.changed = now_timestamp();
  return 0;
}

// chown by an unprivileged user (uid 1000 without CAP_CHOWN), as Linux's chown_ok/chgrp_ok: the
// owner may "change" the uid only to itself and the group only to one of its groups (1000); -1
// keeps a value. Non-directories lose S_ISUID, and S_ISGID when group-executable.
i64 change_owner(u32 id, u64 uid, u64 gid) {
  constexpr u32 KEEP = ~u32{0};
  auto new_uid = static_cast<u32>(uid), new_gid = static_cast<u32>(gid);
  if (id == NO_NODE) return new_uid != KEEP && new_uid != linux_uid() ? -EPERM : 0;
  Node& n = node(id);
  if (!n.writable) return -EROFS;
  if (new_uid != KEEP && (n.uid != linux_uid() || new_uid != n.uid)) return -EPERM;
  if (new_gid != KEEP && (n.uid != linux_uid() || (new_gid != n.gid && new_gid != linux_gid()))) return -EPERM;
  if (new_uid != KEEP) n.uid = new_uid;
  if (new_gid != KEEP) n.gid = new_gid;
  if (n.type != NodeType::Directory) {
    n.mode &= ~04000u;
    if ((n.mode & 02010) == 02010) n.mode &= ~02000u;
  }
  n.changed = now_timestamp();
  return 0;
}

constexpr i64 UTIME_NOW = (i64{1} << 30) - 1, UTIME_OMIT = (i64{1} << 30) - 2;

// Linux's vfs_utimes: explicit times need the owner (EPERM), "now" for both needs the owner or
// write permission (EACCES; /tmp, root's but writable by all, may be touched); ctime becomes now.
i64 change_times(u32 id, const Timestamp* times) {
  for (usize i = 0; times != nullptr && i < 2; ++i) {
    i64 nanoseconds = times[i].nanoseconds;
    if (nanoseconds != UTIME_NOW && nanoseconds != UTIME_OMIT && (nanoseconds < 0 || nanoseconds >= 1'000'000'000))
      return -EINVAL;
  }
  if (id == NO_NODE) return 0;
  Node& n = node(id);
  if (!n.writable) return -EROFS;
  bool touch = times == nullptr || (times[0].nanoseconds == UTIME_NOW && times[1].nanoseconds == UTIME_NOW);
  bool explicit_time = false;
  for (usize i = 0; !touch && i < 2; ++i)
    explicit_time = explicit_time || (times[i].nanoseconds != UTIME_NOW && times[i].nanoseconds != UTIME_OMIT);
  bool owner = n.uid == linux_uid();
  if (explicit_time && !owner) return -EPERM;
  if (touch && !owner && (n.mode & 0002) == 0) return -EACCES;  // Others' write bit: the user is never root.
  Timestamp now = now_timestamp();
  Timestamp* fields[2] = {&n.accessed, &n.modified};
  for (usize i = 0; i < 2; ++i) {
    if (times == nullptr || times[i].nanoseconds == UTIME_NOW) *fields[i] = now;
    else if (times[i].nanoseconds != UTIME_OMIT) *fields[i] = times[i];
  }
  n.changed = now;
  return 0;
}

// Which file system a node lies in, for statfs.
enum class FileSystem : u8 { ReadOnly, Temporary, Process };
FileSystem file_system_of(u32 id) {
  for (u32 at = id;; at = node(at).parent) {
    if (at == TMP) return FileSystem::Temporary;
    if (at == PROC) return FileSystem::Process;
    if (at == ROOT) return FileSystem::ReadOnly;
  }
}

// struct statfs of x86-64 (120 bytes).
struct LinuxStatfs {
  i64 type, block_size;
  u64 blocks, blocks_free, blocks_available, files, files_free;
  std::int32_t file_system_id[2];
  i64 name_length, fragment_size, flags;
  i64 spare[4];
};
static_assert(sizeof(LinuxStatfs) == 120);

i64 write_statfs(u32 id, bool pipe, u64 buffer) {
  // Magic numbers of include/uapi/linux/magic.h; f_flags as Linux's statfs reports them (ST_VALID).
  constexpr i64 TMPFS_MAGIC = 0x01021994, PROC_SUPER_MAGIC = 0x9fa0, ROMFS_MAGIC = 0x7275, PIPEFS_MAGIC = 0x50495045;
  constexpr i64 ST_RDONLY = 1, ST_NOSUID = 2, ST_NODEV = 4, ST_NOEXEC = 8, ST_VALID = 0x20;
  if (!writable(buffer, sizeof(LinuxStatfs))) return -EFAULT;
  LinuxStatfs result{};
  result.block_size = result.fragment_size = static_cast<i64>(PAGE);
  result.name_length = static_cast<i64>(NAME_MAX);
  FileSystem system = pipe ? FileSystem::ReadOnly : file_system_of(id);
  if (pipe) {
    result.type = PIPEFS_MAGIC;
    result.flags = ST_VALID;
  } else if (system == FileSystem::Temporary) {
    // /tmp holds what the memory limit still allows, and STORE_MAX_NODES nodes with the image's
    // writable layer (docs/LINUX.md, Files).
    result.type = TMPFS_MAGIC;
    sys::SyscallRegisters registers{};
    if (sys::invoke(abi::Syscall::FactoryInfo, manager::FUNCTION_FACTORY, registers) == sys::Error::None) {
      result.blocks = registers.argument1 / PAGE;
      u64 used = registers.argument2 < registers.argument1 ? registers.argument2 : registers.argument1;
      result.blocks_free = result.blocks_available = (registers.argument1 - used) / PAGE;
    }
    result.files = STORE_MAX_NODES + 1;  // The entries and /tmp itself.
    result.files_free = STORE_MAX_NODES;
    for (u32 other = FIXED_COUNT; other < node_limit(); ++other)
      if (node(other).type != NodeType::Unused) --result.files_free;
    result.flags = ST_VALID | ST_NOSUID | ST_NODEV;
  } else if (system == FileSystem::Process) {
    result.type = PROC_SUPER_MAGIC;
    result.flags = ST_VALID | ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC;
  } else {
    // The fixed tree: a read-only file system in the personality's image, as a romfs is.
    result.type = ROMFS_MAGIC;
    result.blocks = 1;
    result.files = FIXED_COUNT;
    result.flags = ST_VALID | ST_RDONLY;
  }
  memcpy(reinterpret_cast<void*>(buffer), &result, sizeof result);
  return 0;
}

// Copies two timespecs (utimensat) or timevals (futimesat, utimes: microseconds) from the program.
i64 copy_times(u64 address, bool microseconds, Timestamp (&times)[2]) {
  if (!readable(address, sizeof times)) return -EFAULT;
  memcpy(times, reinterpret_cast<const void*>(address), sizeof times);
  if (!microseconds) return 0;
  for (Timestamp& time : times) {
    if (time.nanoseconds < 0 || time.nanoseconds >= 1'000'000) return -EINVAL;
    time.nanoseconds *= 1000;
  }
  return 0;
}

}  // namespace

i64 linux_fchmod(u64 descriptor, u64 mode) {
  StoreGuard guard;
  u32 id;
  i64 error = descriptor_target(descriptor, id);
  return error < 0 ? error : change_mode(id, mode);
}

i64 linux_fchmodat(u64 directory, u64 path, u64 mode) {
  StoreGuard guard;
  u32 id;
  i64 error = attribute_target(directory, path, true, false, id);
  return error < 0 ? error : change_mode(id, mode);
}

i64 linux_fchown(u64 descriptor, u64 uid, u64 gid) {
  StoreGuard guard;
  u32 id;
  i64 error = descriptor_target(descriptor, id);
  return error < 0 ? error : change_owner(id, uid, gid);
}

i64 linux_fchownat(u64 directory, u64 path, u64 uid, u64 gid, u64 flags) {
  StoreGuard guard;
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
  u32 id;
  i64 error = attribute_target(directory, path, (flags & AT_SYMLINK_NOFOLLOW) == 0, (flags & AT_EMPTY_PATH) != 0, id);
  return error < 0 ? error : change_owner(id, uid, gid);
}

i64 linux_utimensat(u64 directory, u64 path, u64 times_address, u64 flags) {
  StoreGuard guard;
  Timestamp times[2];
  if (times_address != 0) {
    i64 error = copy_times(times_address, false, times);
    if (error < 0) return error;
    // Linux returns at once, without looking at the path, when both times are UTIME_OMIT.
    if (times[0].nanoseconds == UTIME_OMIT && times[1].nanoseconds == UTIME_OMIT) return 0;
  }
  const Timestamp* given = times_address != 0 ? times : nullptr;
  u32 id;
  if (path == 0 && static_cast<std::int32_t>(directory) != AT_FDCWD) {
    // futimens: the descriptor itself (flags must be 0).
    if (flags != 0) return -EINVAL;
    i64 error = descriptor_target(directory, id);
    return error < 0 ? error : change_times(id, given);
  }
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
  if (path == 0) return -EFAULT;
  i64 error = attribute_target(directory, path, (flags & AT_SYMLINK_NOFOLLOW) == 0, (flags & AT_EMPTY_PATH) != 0, id);
  return error < 0 ? error : change_times(id, given);
}

i64 linux_futimesat(u64 directory, u64 path, u64 times_address) {
  StoreGuard guard;
  Timestamp times[2];
  if (times_address != 0) {
    i64 error = copy_times(times_address, true, times);
    if (error < 0) return error;
  }
  const Timestamp* given = times_address != 0 ? times : nullptr;
  u32 id;
  if (path == 0 && static_cast<std::int32_t>(directory) != AT_FDCWD) {
    i64 error = descriptor_target(directory, id);
    return error < 0 ? error : change_times(id, given);
  }
  if (path == 0) return -EFAULT;
  i64 error = attribute_target(directory, path, true, false, id);
  return error < 0 ? error : change_times(id, given);
}

i64 linux_utime(u64 path, u64 times_address) {
  StoreGuard guard;
  Timestamp times[2];
  if (times_address != 0) {
    if (!readable(times_address, 16)) return -EFAULT;
    i64 seconds[2];
    memcpy(seconds, reinterpret_cast<const void*>(times_address), sizeof seconds);
    times[0] = Timestamp{seconds[0], 0};
    times[1] = Timestamp{seconds[1], 0};
  }
  u32 id;
  i64 error = attribute_target(static_cast<u64>(static_cast<i64>(AT_FDCWD)), path, true, false, id);
  return error < 0 ? error : change_times(id, times_address != 0 ? times : nullptr);
}

i64 linux_statfs(u64 path, u64 buffer) {
  StoreGuard guard;
  u32 id;
  i64 error = attribute_target(static_cast<u64>(static_cast<i64>(AT_FDCWD)), path, true, false, id);
  return error < 0 ? error : write_statfs(id, false, buffer);
}

i64 linux_fstatfs(u64 descriptor, u64 buffer) {
  StoreGuard guard;
  u32 id;
  i64 error = descriptor_target(descriptor, id);
  return error < 0 ? error : write_statfs(id, id == NO_NODE, buffer);
}


// ---- Copies between descriptors: copy_file_range, sendfile ---------------------------------------

namespace {

constexpr u64 COPY_CHUNK = 2048;  // Bytes per step through the personality's stack.

// Up to `length` bytes of regular file `id` at `offset` into the personality's `target`; the count.
u64 node_bytes(u32 id, u64 offset, u8* target, u64 length) {
  const Node& n = node(id);
  if (n.type != NodeType::Regular || offset >= n.size) return 0;
  u64 count = n.size - offset < length ? n.size - offset : length;
  if (id == PROGRAM) {
    sys::Error error = native(abi::Syscall::MemoryRead, manager::FUNCTION_EXECUTABLE, offset, reinterpret_cast<u64>(target),
                              count);
    return error == sys::Error::None ? count : 0;
  }
  memcpy(target, file_bytes(id) + offset, count);
  return count;
}

// Reads an optional loff_t the program passes by address; a negative one is `negative_error`
// (copy_file_range: EOVERFLOW, sendfile: EINVAL, as Linux answers).
i64 read_offset(u64 address, i64& offset, i64 negative_error) {
  if (!writable(address, 8)) return -EFAULT;
  memcpy(&offset, reinterpret_cast<const void*>(address), 8);
  return offset < 0 ? negative_error : 0;
}

}  // namespace

i64 linux_copy_file_range(u64 in_descriptor, u64 in_offset_address, u64 out_descriptor, u64 out_offset_address,
                          u64 length, u64 flags) {
  StoreGuard guard;
  Description* in = description_of(in_descriptor);
  Description* out = description_of(out_descriptor);
  if (flags != 0) return -EINVAL;
  if (in == nullptr || out == nullptr) return -EBADF;
  if (in->access == O_WRONLY || out->access == O_RDONLY || out->append) return -EBADF;
  if (in->stream != Stream::File || out->stream != Stream::File) return -EINVAL;
  const Node& source = node(in->node);
  const Node& target = node(out->node);
  if (source.type == NodeType::Directory || target.type == NodeType::Directory) return -EISDIR;
  if (source.type != NodeType::Regular || target.type != NodeType::Regular) return -EINVAL;
  auto in_offset = static_cast<i64>(in->offset), out_offset = static_cast<i64>(out->offset);
  i64 error;
  constexpr i64 EOVERFLOW = 75;
  if (in_offset_address != 0 && (error = read_offset(in_offset_address, in_offset, -EOVERFLOW)) < 0) return error;
  if (out_offset_address != 0 && (error = read_offset(out_offset_address, out_offset, -EOVERFLOW)) < 0) return error;
  // The read-only tree is another file system: Linux does not copy across them (callers fall back).
  if (!source.writable || !target.writable) return -EXDEV;
  if (length > MAX_IO) length = MAX_IO;
  if (in->node == out->node && static_cast<u64>(in_offset) < static_cast<u64>(out_offset) + length &&
      static_cast<u64>(out_offset) < static_cast<u64>(in_offset) + length)
    return -EINVAL;  // Overlapping ranges of one file.
  u64 done = 0;
  u8 chunk[COPY_CHUNK];
  while (done < length) {
    u64 want = length - done < COPY_CHUNK ? length - done : COPY_CHUNK;
    u64 got = node_bytes(in->node, static_cast<u64>(in_offset) + done, chunk, want);
    if (got == 0) break;
    i64 written = write_node(out->node, reinterpret_cast<u64>(chunk), got, static_cast<u64>(out_offset) + done, true);
    if (written < 0) {
      if (done == 0) return written;
      break;
    }
    done += static_cast<u64>(written);
    if (static_cast<u64>(written) < got) break;
  }
  in_offset += static_cast<i64>(done);
  out_offset += static_cast<i64>(done);
  if (in_offset_address != 0) memcpy(reinterpret_cast<void*>(in_offset_address), &in_offset, 8);
  else in->offset = static_cast<u64>(in_offset);
  if (out_offset_address != 0) memcpy(reinterpret_cast<void*>(out_offset_address), &out_offset, 8);
  else out->offset = static_cast<u64>(out_offset);
  return static_cast<i64>(done);
}

i64 linux_sendfile(u64 out_descriptor, u64 in_descriptor, u64 offset_address, u64 count) {
  StoreGuard guard;
  Description* in = description_of(in_descriptor);
  Description* out = description_of(out_descriptor);
  if (in == nullptr || out == nullptr) return -EBADF;
  if (in->access == O_WRONLY || out->access == O_RDONLY) return -EBADF;
  // The source must be a file (Linux: a descriptor that supports mmap-like reads, not a pipe).
  if (in->stream != Stream::File || node(in->node).type != NodeType::Regular) return -EINVAL;
  if (out->stream == Stream::File && out->append) return -EINVAL;
  auto offset = static_cast<i64>(in->offset);
  if (offset_address != 0) {
    i64 error = read_offset(offset_address, offset, -EINVAL);
    if (error < 0) return error;
  }
  if (count > MAX_IO) count = MAX_IO;
  u64 done = 0;
  u8 chunk[COPY_CHUNK];
  while (done < count) {
    u64 want = count - done < COPY_CHUNK ? count - done : COPY_CHUNK;
    u64 got = node_bytes(in->node, static_cast<u64>(offset) + done, chunk, want);
    if (got == 0) break;
    i64 written = write_description(*out, reinterpret_cast<u64>(chunk), got, true);
    if (written < 0) {
      if (done == 0) return written;
      break;
    }
    done += static_cast<u64>(written);
    if (static_cast<u64>(written) < got) break;
  }
  offset += static_cast<i64>(done);
  if (offset_address != 0) memcpy(reinterpret_cast<void*>(offset_address), &offset, 8);
  else in->offset = static_cast<u64>(offset);
  return static_cast<i64>(done);
}

}  // namespace personality
