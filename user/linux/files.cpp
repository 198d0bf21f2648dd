// The Linux personality's descriptors and file system: 1024 descriptors over shared open file
// descriptions (dup shares the offset, as on Linux), a read-only tree (/, /etc/passwd, /etc/group,
// /etc/hostname, /dev/null, /proc/self/exe, and the program's own file as /<function name>, read
// through the read-only Memory the manager gives at FUNCTION_EXECUTABLE) and a writable in-memory /tmp whose nodes
// and file data live in anonymous memory from the memory limit (linux_mmap): a full limit is ENOSPC.
// Invariants: a description's `references` counts the descriptors naming it and a node's `opened`
// counts the descriptions naming it; a node is freed only when it is neither linked nor open nor
// the working directory; the bytes of a /tmp file in [size, capacity) are zero, so growing a file
// (write past the end, ftruncate) never needs clearing.
#include "files.hpp"
#include "image_files.hpp"

#include <cstdint>

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

enum class NodeType : u8 { Unused, Directory, Regular, Device, Symlink };

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
  u32 parent;
  u32 opened;          // Descriptions naming this node.
  u64 size;            // Regular: bytes; Symlink: unused.
  u64 capacity;        // Regular in /tmp: bytes of `data` mapped (whole pages).
  u64 data;            // Regular: address of the bytes (read-only text for the fixed tree).
  Timestamp accessed;  // atime, mtime, ctime: the wall clock (realtime_nanoseconds). Reads do not
  Timestamp modified;  // change atime (as with the noatime mount option); utimensat does.
  Timestamp changed;
  const char* name;
  u64 committed = 0;   // Regular in /tmp: the first bytes of `data` whose pages have frames (commit_pages).
};

// A /tmp node: the node and the storage of its name.
struct DynamicNode {
  Node node;
  char name[NAME_MAX + 1];
};

constexpr char PASSWD[] = "root:x:0:0:root:/root:/bin/sh\nfunction:x:1000:1000:function:/:/bin/sh\n";
constexpr char GROUP[] = "root:x:0:\nfunction:x:1000:\n";
constexpr char HOSTNAME[] = "metteagle\n";

enum FixedNode : u32 {
  ROOT, ETC, PASSWD_FILE, GROUP_FILE, HOSTNAME_FILE, DEV, DEV_NULL, PROC, PROC_SELF, PROC_SELF_EXE, TMP, PROGRAM,
  PROC_SELF_AUXV, FIXED_COUNT,
};
constexpr u32 MAX_DYNAMIC = 256;  // Files and directories in /tmp together.
constexpr u32 NO_NODE = ~u32{0};

char program_name[manager::NAME_BYTES + 1];  // The function's name: PROGRAM's name (files_init).

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
};
// /proc/self/auxv: a copy taken when the program starts (the program may overwrite its stack's).
u64 saved_auxv[2 * 32];

DynamicNode* dynamic_nodes = nullptr;  // MAX_DYNAMIC entries, mapped at the first creation in /tmp.
u32 working_directory = ROOT;
u32 file_mode_mask = 022;

Node& node(u32 id) { return id < FIXED_COUNT ? fixed_nodes[id] : dynamic_nodes[id - FIXED_COUNT].node; }

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

u32 node_limit() { return dynamic_nodes == nullptr ? FIXED_COUNT : FIXED_COUNT + MAX_DYNAMIC; }

// The path the program is known by: "/" + the function's name (also argv[0] relative to "/").
// An image function's program is its path in the tree (the first argument string).
template <usize N>
usize program_path(char (&path)[N]) {
  static_assert(N >= manager::NAME_BYTES + 2);
  if (image_active()) {
    const manager::LinuxStart& start = state().start;
    usize length = 0;
    while (length + 1 < N && length < start.argument_bytes && start.arguments[length] != '\0') {
      path[length] = start.arguments[length];
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

bool has_children(u32 directory) {
  for (u32 id = 0; id < node_limit(); ++id) {
    const Node& child = node(id);
    if (id != ROOT && child.type != NodeType::Unused && child.linked && child.parent == directory) return true;
  }
  return false;
}

u32 find_child(u32 directory, const char* name, usize length) {
  for (u32 id = 1; id < node_limit(); ++id) {
    const Node& child = node(id);
    if (child.type == NodeType::Unused || !child.linked || child.parent != directory) continue;
    usize i = 0;
    while (i < length && child.name[i] == name[i]) ++i;
    if (i == length && child.name[i] == '\0') return id;
  }
  return NO_NODE;
}

// Returns the data of a /tmp file to the mmap area and frees the node once nothing refers to it.
void release_if_unused(u32 id) {
  Node& n = node(id);
  if (id < FIXED_COUNT || n.linked || n.opened > 0 || id == working_directory) return;
  if (n.capacity > 0) (void)linux_munmap(n.data, n.capacity);
  n = Node{};
}

// Makes `bytes` of data addressable in a /tmp file: doubling, or exactly what is needed when the
// memory limit refuses the doubled size. False when the limit refuses even that.
bool reserve_addresses(Node& n, u64 bytes) {
  if (bytes <= n.capacity) return true;
  constexpr u64 READ_WRITE = 3, PRIVATE_ANONYMOUS = 0x22, MREMAP_MAYMOVE = 1;
  u64 needed = page_up(bytes);
  u64 doubled = n.capacity * 2 > needed ? n.capacity * 2 : needed;
  for (u64 attempt : {doubled, needed}) {
    i64 result = n.capacity == 0
                     ? linux_mmap(0, attempt, READ_WRITE, PRIVATE_ANONYMOUS, ~u64{0}, 0)
                     : linux_mremap(n.data, n.capacity, attempt, MREMAP_MAYMOVE, 0);
    if (result >= 0) {
      n.data = static_cast<u64>(result);
      n.capacity = attempt;
      return true;
    }
    if (attempt == needed) break;
  }
  return false;
}

// reserve_addresses, then gives the pages up to `bytes` their frames, so the
// personality's copy cannot fault on the limit. False when the limit refuses either.
bool reserve(Node& n, u64 bytes) {
  if (bytes <= n.committed) return true;
  if (!reserve_addresses(n, bytes)) return false;
  u64 needed = page_up(bytes);
  if (!commit_pages(n.data + n.committed, n.data + needed)) return false;
  n.committed = needed;
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

// A new /tmp node named name[0, length) in `parent`; its id, or a negated errno.
i64 create_node(u32 parent, const char* name, usize length, NodeType type, u64 mode) {
  if (dynamic_nodes == nullptr) {
    constexpr u64 READ_WRITE = 3, PRIVATE_ANONYMOUS = 0x22;
    i64 pool = linux_mmap(0, page_up(sizeof(DynamicNode) * MAX_DYNAMIC), READ_WRITE, PRIVATE_ANONYMOUS, ~u64{0}, 0);
    if (pool < 0) return -ENOSPC;
    u64 pool_end = static_cast<u64>(pool) + page_up(sizeof(DynamicNode) * MAX_DYNAMIC);
    if (!commit_pages(static_cast<u64>(pool), pool_end)) {  // The personality writes here.
      (void)linux_munmap(static_cast<u64>(pool), pool_end - static_cast<u64>(pool));
      return -ENOSPC;
    }
    dynamic_nodes = reinterpret_cast<DynamicNode*>(pool);  // Fresh pages: every node is Unused.
  }
  for (u32 i = 0; i < MAX_DYNAMIC; ++i) {
    DynamicNode& slot = dynamic_nodes[i];
    if (slot.node.type != NodeType::Unused) continue;
    memcpy(slot.name, name, length);
    slot.name[length] = '\0';
    Timestamp now = now_timestamp();
    slot.node = Node{type, true, true, static_cast<u32>(mode & 07777 & ~file_mode_mask), static_cast<u32>(linux_uid()),
                     static_cast<u32>(linux_gid()), parent, 0, 0, 0, 0, now, now, now, slot.name};
    node(parent).modified = node(parent).changed = now;
    return FIXED_COUNT + i;
  }
  return -ENOSPC;
}

// ---- Descriptors ----------------------------------------------------------------------------

enum class Stream : u8 { None, Input, Output, Log, File, Pipe, Epoll, Image, Event };  // Epoll: netpoll.cpp; Image: image_files.cpp (node = its inode); Event: eventfd.cpp.

struct Description {
  Stream stream;
  u8 access;  // O_RDONLY, O_WRONLY or O_RDWR.
  bool append;
  u32 references;
  u32 node;    // Files: the node; pipes: the pipe (process.hpp), read end O_RDONLY, write end O_WRONLY.
  u64 offset;  // Files: the byte offset; directories: the getdents64 position.
  bool nonblocking;  // O_NONBLOCK (pipes: EAGAIN instead of waiting).
};

static_assert(MAX_DESCRIPTIONS < 256, "a descriptor names its description in one byte");
struct Descriptor {
  u8 description;  // Index + 1 into descriptions; 0: free.
  bool close_on_exec;
};

// 0-2 start as the invocation's input, output and log.
Description descriptions[MAX_DESCRIPTIONS] = {
    {Stream::Input, O_RDONLY, false, 1, 0, 0, false},
    {Stream::Output, O_WRONLY, false, 1, 0, 0, false},
    {Stream::Log, O_WRONLY, false, 1, 0, 0, false},
};
Descriptor descriptors[MAX_DESCRIPTORS] = {{1, false}, {2, false}, {3, false}};

// The description behind a descriptor (a Linux `unsigned int fd`), or nullptr.
Description* description_of(u64 descriptor) {
  if (descriptor >= MAX_DESCRIPTORS) return nullptr;
  u8 index = descriptors[descriptor].description;
  return index == 0 ? nullptr : &descriptions[index - 1];
}

// The lowest free descriptor at or above `minimum`, or -EMFILE.
i64 free_descriptor(u64 minimum) {
  for (u64 d = minimum; d < MAX_DESCRIPTORS; ++d)
    if (descriptors[d].description == 0) return static_cast<i64>(d);
  return -EMFILE;
}

// The identity record locks use for a description's file: its node, or its standard stream.
u32 lock_file_of(const Description& description) {
  return description.stream == Stream::File ? description.node : 0x80000000u | static_cast<u32>(description.stream);
}

void drop_description(Description& description) {
  if (--description.references > 0) return;
  // Its OFD and flock locks go with the last descriptor (Linux: when the file is released).
  locks_description_released(static_cast<u32>(&description - descriptions));
  if (description.stream == Stream::File) {
    --node(description.node).opened;
    release_if_unused(description.node);
  }
  if (description.stream == Stream::Pipe) pipe_release(description.node, description.access == O_WRONLY);
  if (description.stream == Stream::Epoll) netpoll_released(description.node);
  if (description.stream == Stream::Event) eventfd_released(description.node);
  description = Description{};
}

// Opens `id` on the lowest free descriptor; the descriptor or a negated errno.
i64 open_node(u32 id, u64 flags) {
  i64 descriptor = free_descriptor(0);
  if (descriptor < 0) return descriptor;
  for (u64 i = 0; i < MAX_DESCRIPTIONS; ++i) {
    Description& description = descriptions[i];
    if (description.references != 0) continue;
    description = Description{Stream::File, static_cast<u8>(flags & O_ACCMODE), (flags & O_APPEND) != 0, 1, id, 0,
                              (flags & O_NONBLOCK) != 0};
    ++node(id).opened;
    descriptors[descriptor] = Descriptor{static_cast<u8>(i + 1), (flags & O_CLOEXEC) != 0};
    return descriptor;
  }
  return -ENFILE;
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
  Attributes result{id + 1u, 1, n.size, (n.capacity + 511) / 512, n.accessed, n.modified, n.changed, 0, 0, n.mode,
                    n.uid, n.gid};
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
    case NodeType::Unused: break;
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
    // The memory limit is reached: write what fits in the pages already there, as a full tmpfs does.
    if (offset >= n.committed) return -ENOSPC;
    end = n.committed;
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
}

// ---- Descriptor calls -----------------------------------------------------------------------

bool descriptor_open(u64 descriptor) { return description_of(descriptor) != nullptr; }

i64 copy_program_path(u64 address, ProgramPath& path) {
  static_assert(sizeof path.text == PATH_MAX);
  return copy_path(address, path);
}

i64 install_image_descriptor(u32 inode, u64 flags) {
  i64 descriptor = free_descriptor(0);
  if (descriptor < 0) return descriptor;
  for (u64 i = 0; i < MAX_DESCRIPTIONS; ++i) {
    Description& description = descriptions[i];
    if (description.references != 0) continue;
    description = Description{Stream::Image, static_cast<u8>(O_RDONLY), false, 1, inode, 0, false};
    descriptors[descriptor] = Descriptor{static_cast<u8>(i + 1), (flags & O_CLOEXEC) != 0};
    return descriptor;
  }
  return -ENFILE;
}

bool image_descriptor(u64 descriptor, u32& inode) {
  Description* description = description_of(descriptor);
  if (description == nullptr || description->stream != Stream::Image) return false;
  inode = description->node;
  return true;
}

i64 create_layer_file(const u8* contents, u64 size, u32 mode) {
  i64 created = create_node(TMP, "layer", 5, NodeType::Regular, mode);
  if (created < 0) return created;
  auto id = static_cast<u32>(created);
  Node& n = node(id);
  n.mode = mode & 07777;  // The image file's mode, not masked by the umask.
  n.linked = false;       // In no directory: image_files.cpp finds it by its image path.
  n.opened = 1;           // Pinned: it lives as long as the invocation.
  if (size > 0) {
    if (!reserve(n, size)) {
      n.opened = 0;
      release_if_unused(id);
      return -ENOSPC;
    }
    memcpy(reinterpret_cast<void*>(n.data), contents, size);
    n.size = size;
  }
  return created;
}

i64 open_layer_file(u32 id, u64 flags) {
  if ((flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != O_RDONLY) {
    i64 error = resize(node(id), 0);
    if (error < 0) return error;
  }
  return open_node(id, flags);
}

i64 stat_layer_file(u32 id, u64 buffer, bool statx) {
  Attributes attributes = attributes_of(id);
  attributes.links = 1;
  return statx ? write_statx(attributes, buffer) : write_stat(attributes, buffer);
}

i64 write_file_stat(const FileStat& stat, u64 buffer, bool statx) {
  Timestamp time{stat.mtime, 0};
  Attributes attributes{stat.inode, stat.links, stat.size, stat.blocks, time, time, time, 0, 0, stat.mode, stat.uid, stat.gid};
  return statx ? write_statx(attributes, buffer) : write_stat(attributes, buffer);
}

i64 epoll_install(u32 index, bool close_on_exec) {
  i64 descriptor = free_descriptor(0);
  if (descriptor < 0) return descriptor;
  for (u64 i = 0; i < MAX_DESCRIPTIONS; ++i) {
    Description& description = descriptions[i];
    if (description.references != 0) continue;
    description = Description{Stream::Epoll, O_RDWR, false, 1, index, 0, false};
    descriptors[descriptor] = Descriptor{static_cast<u8>(i + 1), close_on_exec};
    return descriptor;
  }
  return -ENFILE;
}

i64 event_install(u32 index, bool nonblocking, bool close_on_exec) {
  i64 descriptor = free_descriptor(0);
  if (descriptor < 0) return descriptor;
  for (u64 i = 0; i < MAX_DESCRIPTIONS; ++i) {
    Description& description = descriptions[i];
    if (description.references != 0) continue;
    description = Description{Stream::Event, O_RDWR, false, 1, index, 0, nonblocking};
    descriptors[descriptor] = Descriptor{static_cast<u8>(i + 1), close_on_exec};
    return descriptor;
  }
  return -ENFILE;
}

bool netpoll_target(u64 descriptor, NetpollTarget& target) {
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
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  bool file = description->stream == Stream::File;
  const Node* n = file ? &node(description->node) : nullptr;
  target = LockTarget{lock_file_of(*description), static_cast<u32>(description - descriptions),
                      description->access != O_WRONLY, description->access != O_RDONLY, description->offset,
                      n != nullptr && n->type == NodeType::Regular ? n->size : 0};
  return 0;
}

i64 linux_read(u64 descriptor, u64 buffer, u64 length) {
  Description* description = description_of(descriptor);
  return description == nullptr ? -EBADF : read_description(*description, buffer, length);
}

i64 linux_write(u64 descriptor, u64 buffer, u64 length) {
  Description* description = description_of(descriptor);
  return description == nullptr ? -EBADF : write_description(*description, buffer, length);
}

i64 linux_readv(u64 descriptor, u64 vectors, u64 count) { return vector_io(descriptor, vectors, count, true); }
i64 linux_writev(u64 descriptor, u64 vectors, u64 count) { return vector_io(descriptor, vectors, count, false); }

i64 linux_pread(u64 descriptor, u64 buffer, u64 length, u64 offset) {
  Description* description = description_of(descriptor);
  if (description == nullptr || description->access == O_WRONLY) return -EBADF;
  if (description->stream == Stream::Image && static_cast<i64>(offset) >= 0)
    return image_read(description->node, buffer, length > MAX_IO ? MAX_IO : length, offset);
  if (description->stream != Stream::File) return -ESPIPE;
  if (static_cast<i64>(offset) < 0) return -EINVAL;
  return read_node(description->node, buffer, length > MAX_IO ? MAX_IO : length, offset);
}

i64 linux_pwrite(u64 descriptor, u64 buffer, u64 length, u64 offset) {
  Description* description = description_of(descriptor);
  if (description == nullptr || description->access == O_RDONLY) return -EBADF;
  if (description->stream != Stream::File) return -ESPIPE;
  if (static_cast<i64>(offset) < 0) return -EINVAL;
  // Linux ignores the offset of pwrite on O_APPEND descriptors and appends.
  u64 at = description->append ? node(description->node).size : offset;
  return write_node(description->node, buffer, length > MAX_IO ? MAX_IO : length, at);
}

i64 linux_lseek(u64 descriptor, u64 offset, u64 whence) {
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
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  // Closing any descriptor of a file drops the process's classic record locks on it (POSIX).
  locks_descriptor_closed(lock_file_of(*description));
  descriptors[descriptor] = Descriptor{};
  drop_description(*description);
  return 0;
}

i64 linux_dup(u64 descriptor) {
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  i64 target = free_descriptor(0);
  if (target < 0) return target;
  ++description->references;
  descriptors[target] = Descriptor{descriptors[descriptor].description, false};
  return target;
}

i64 linux_dup3(u64 descriptor, u64 target, u64 flags, bool is_dup2) {
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
    state_lock().unlock();
    process_block(deadline - now);
    state_lock().lock();
  }
}

i64 linux_fstat(u64 descriptor, u64 buffer) {
  Description* description = description_of(descriptor);
  if (description == nullptr) return -EBADF;
  if (description->stream == Stream::Image) return image_fstat(description->node, buffer, false);
  if (description->stream != Stream::File) return write_stat(attributes_of_stream(description->stream), buffer);
  return write_stat(attributes_of(description->node), buffer);
}

i64 linux_ftruncate(u64 descriptor, u64 length) {
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
        if (candidate != ROOT && child.type != NodeType::Unused && child.linked && child.parent == directory &&
            node(directory).linked) {
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
    u64 inode = entry + 1u;
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
  if (Description* image = description_of(descriptor); image != nullptr && image->stream == Stream::Image)
    return image_fchdir(image->node);
  i64 id = file_node(descriptor, -ENOTDIR);
  if (id < 0) return id;
  if (node(static_cast<u32>(id)).type != NodeType::Directory) return -ENOTDIR;
  u32 previous = working_directory;
  working_directory = static_cast<u32>(id);
  release_if_unused(previous);
  image_leave_working_directory();
  return 0;
}

// ---- Path calls -----------------------------------------------------------------------------

i64 linux_openat(u64 directory, u64 path, u64 flags, u64 mode) {
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
  n.linked = false;
  node(lookup.parent).modified = node(lookup.parent).changed = now_timestamp();
  release_if_unused(lookup.node);
  return 0;
}

i64 linux_renameat2(u64 old_directory, u64 old_path, u64 new_directory, u64 new_path, u64 flags) {
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
  // A directory cannot move into itself or below itself.
  for (u32 ancestor = to.parent; moving.type == NodeType::Directory; ancestor = node(ancestor).parent) {
    if (ancestor == from.node) return -EINVAL;
    if (ancestor == ROOT) break;
  }
  // Validated; from here nothing fails.
  if (to.node != NO_NODE) {
    node(to.node).linked = false;
    release_if_unused(to.node);
  }
  auto& storage = dynamic_nodes[from.node - FIXED_COUNT];  // Writable parents hold only /tmp nodes.
  memmove(storage.name, to.name, to.name_length);
  storage.name[to.name_length] = '\0';
  moving.parent = to.parent;
  Timestamp now = now_timestamp();
  node(from.parent).modified = node(to.parent).modified = now;
  node(from.parent).changed = node(to.parent).changed = moving.changed = now;
  return 0;
}

i64 linux_readlinkat(u64 directory, u64 path, u64 buffer, u64 length) {
  if (i64 image = image_readlinkat(directory, path, buffer, length); image != NOT_IMAGE) return image;
  if (static_cast<i64>(length) <= 0) return -EINVAL;
  Path copy;
  Lookup lookup;
  i64 error = resolve(directory, path, false, copy, lookup);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return -ENOENT;
  if (node(lookup.node).type != NodeType::Symlink) return -EINVAL;
  char target[manager::MAX_ARGUMENT_BYTES];
  usize target_length = program_path(target);
  u64 count = target_length < length ? target_length : length;
  if (!writable(buffer, count)) return -EFAULT;
  memcpy(reinterpret_cast<void*>(buffer), target, count);
  return static_cast<i64>(count);
}

i64 linux_truncate(u64 path, u64 length) {
  if (static_cast<i64>(length) < 0) return -EINVAL;
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
  if (i64 image = image_chdir(path); image != NOT_IMAGE) return image;
  Path copy;
  Lookup lookup;
  i64 error = resolve(static_cast<u64>(static_cast<i64>(AT_FDCWD)), path, true, copy, lookup);
  if (error < 0) return error;
  if (lookup.node == NO_NODE) return -ENOENT;
  if (node(lookup.node).type != NodeType::Directory) return -ENOTDIR;
  u32 previous = working_directory;
  working_directory = lookup.node;
  release_if_unused(previous);
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
  u64 free_descriptions[2];
  usize found = 0;
  for (u64 i = 0; i < MAX_DESCRIPTIONS && found < 2; ++i)
    if (descriptions[i].references == 0) free_descriptions[found++] = i;
  if (found < 2) return -ENFILE;
  u32 pipe;
  i64 error = pipe_create(pipe);  // One reader and one writer counted.
  if (error < 0) return error;
  bool nonblocking = (flags & O_NONBLOCK) != 0, close_on_exec = (flags & O_CLOEXEC) != 0;
  descriptions[free_descriptions[0]] = Description{Stream::Pipe, O_RDONLY, false, 1, pipe, 0, nonblocking};
  descriptions[free_descriptions[1]] = Description{Stream::Pipe, O_WRONLY, false, 1, pipe, 0, nonblocking};
  descriptors[read_descriptor] = Descriptor{static_cast<u8>(free_descriptions[0] + 1), close_on_exec};
  descriptors[write_descriptor] = Descriptor{static_cast<u8>(free_descriptions[1] + 1), close_on_exec};
  std::int32_t pair[2] = {static_cast<std::int32_t>(read_descriptor), static_cast<std::int32_t>(write_descriptor)};
  memcpy(reinterpret_cast<void*>(address), pair, sizeof pair);
  return 0;
}

void files_fork_references() {
  for (const Description& description : descriptions)
    if (description.references != 0 && description.stream == Stream::Pipe)
      pipe_reference(description.node, description.access == O_WRONLY);
}

void files_fork_references_undo() {
  for (const Description& description : descriptions)
    if (description.references != 0 && description.stream == Stream::Pipe)
      pipe_release(description.node, description.access == O_WRONLY);
}

void files_close_all() {
  for (u64 d = 0; d < MAX_DESCRIPTORS; ++d)
    if (descriptors[d].description != 0) (void)linux_close(d);
}

void files_close_on_exec() {
  for (u64 d = 0; d < MAX_DESCRIPTORS; ++d)
    if (descriptors[d].description != 0 && descriptors[d].close_on_exec) (void)linux_close(d);
}

i64 files_node_executable(u32 id, ExecutableFile& out) {
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
    char program[manager::NAME_BYTES + 2 + manager::MAX_ARGUMENT_BYTES];
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

void files_storage(void (*keep)(u64 address, u64 bytes)) {
  if (dynamic_nodes == nullptr) return;
  keep(reinterpret_cast<u64>(dynamic_nodes), page_up(sizeof(DynamicNode) * MAX_DYNAMIC));
  for (u32 i = 0; i < MAX_DYNAMIC; ++i) {
    const Node& n = dynamic_nodes[i].node;
    if (n.type == NodeType::Regular && n.capacity > 0) keep(n.data, n.capacity);
  }
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
    // /tmp holds what the memory limit still allows, and 256 nodes (docs/LINUX.md, Files).
    result.type = TMPFS_MAGIC;
    sys::SyscallRegisters registers{};
    if (sys::invoke(abi::Syscall::FactoryInfo, manager::FUNCTION_FACTORY, registers) == sys::Error::None) {
      result.blocks = registers.argument1 / PAGE;
      u64 used = registers.argument2 < registers.argument1 ? registers.argument2 : registers.argument1;
      result.blocks_free = result.blocks_available = (registers.argument1 - used) / PAGE;
    }
    result.files = MAX_DYNAMIC + 1;  // The entries and /tmp itself.
    result.files_free = MAX_DYNAMIC;
    for (u32 i = 0; dynamic_nodes != nullptr && i < MAX_DYNAMIC; ++i)
      if (dynamic_nodes[i].node.type != NodeType::Unused) --result.files_free;
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
  u32 id;
  i64 error = descriptor_target(descriptor, id);
  return error < 0 ? error : change_mode(id, mode);
}

i64 linux_fchmodat(u64 directory, u64 path, u64 mode) {
  u32 id;
  i64 error = attribute_target(directory, path, true, false, id);
  return error < 0 ? error : change_mode(id, mode);
}

i64 linux_fchown(u64 descriptor, u64 uid, u64 gid) {
  u32 id;
  i64 error = descriptor_target(descriptor, id);
  return error < 0 ? error : change_owner(id, uid, gid);
}

i64 linux_fchownat(u64 directory, u64 path, u64 uid, u64 gid, u64 flags) {
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
  u32 id;
  i64 error = attribute_target(directory, path, (flags & AT_SYMLINK_NOFOLLOW) == 0, (flags & AT_EMPTY_PATH) != 0, id);
  return error < 0 ? error : change_owner(id, uid, gid);
}

i64 linux_utimensat(u64 directory, u64 path, u64 times_address, u64 flags) {
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
  u32 id;
  i64 error = attribute_target(static_cast<u64>(static_cast<i64>(AT_FDCWD)), path, true, false, id);
  return error < 0 ? error : write_statfs(id, false, buffer);
}

i64 linux_fstatfs(u64 descriptor, u64 buffer) {
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
