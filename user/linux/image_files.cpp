// Image files (image_files.hpp): path and descriptor calls on the packed tree, served in place
// from IMAGE_TREE_ADDRESS; the invocation's writable layer over it; file mappings of its pages.
// Invariants: the tree is only read; file-mapping entries are disjoint and the task maps each
// entry's pages with the entry's access (none: not at all); a private Memory is deleted with the
// last entry naming it; no entry is writable and executable, and only the tree's own pages (and
// copies of an exec'd /tmp or layer file's code that the kernel wrote and that were never mapped
// writable, image_map_copy) are ever executable. All of it runs under state_lock() (the
// dispatcher takes it).
#include "image_files.hpp"

#include "file_store.hpp"
#include "files.hpp"

namespace personality {
namespace {

constexpr u64 O_ACCMODE = 3, O_RDONLY = 0, O_CREAT = 0100, O_EXCL = 0200, O_TRUNC = 01000, O_DIRECTORY = 0200000,
              O_NOFOLLOW = 0400000;  // include/uapi/asm-generic/fcntl.h
constexpr u64 AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
constexpr std::int32_t AT_FDCWD = -100;
constexpr u64 PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
constexpr u64 MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_FIXED_NOREPLACE = 0x100000;
constexpr u32 READ = abi::rights_of(abi::MemoryRight::Read);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);
constexpr u32 READ_EXECUTE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Execute);

// File mappings live in their own area (mmap without an address), above the mmap area.
constexpr u64 FILE_AREA_BASE = 0x0000200000000000;
constexpr u64 FILE_AREA_LIMIT = FILE_AREA_BASE + (u64{64} << 30);
constexpr usize MAX_FILE_MAPPINGS = IMAGE_MAX_MAPPINGS;

imagefs::Reader tree;
bool active = false;
bool cwd_in_image = true;
u32 cwd_inode = imagefs::ROOT_INODE;  // ~0: the working directory is cwd_layer, one the layer made.
u32 cwd_layer = ~u32{0};
u64 file_area_next = FILE_AREA_BASE;

enum class Access : u8 { None, Read, ReadExecute, ReadWrite };

struct FileMapping {
  u64 start, end;
  u64 memory;       // FUNCTION_IMAGE_TREE, a private Memory's slot, or 0 (nothing mapped).
  u64 first_page;   // The page of `memory` mapped at `start`.
  Access access;
  bool used;
};
FileMapping mappings[MAX_FILE_MAPPINGS];
// The private Memory objects the entries name (one per fresh_memory), with what fork needs to copy
// them: their size and whether they are lazy. At most one per entry.
ImagePrivateMemory private_memories[MAX_FILE_MAPPINGS];

u32 rights_of(Access access) {
  switch (access) {
    case Access::Read: return READ;
    case Access::ReadExecute: return READ_EXECUTE;
    case Access::ReadWrite: return READ_WRITE;
    case Access::None: break;
  }
  return 0;
}

bool memory_named(u64 memory) {
  for (const FileMapping& m : mappings)
    if (m.used && m.memory == memory) return true;
  return false;
}

void release_memory(u64 memory) {
  if (memory == 0 || memory == manager::FUNCTION_IMAGE_TREE || memory_named(memory)) return;
  (void)native(abi::Syscall::CapabilityDelete, memory);
  free_slot(memory);
  for (ImagePrivateMemory& record : private_memories)
    if (record.slot == memory) record = ImagePrivateMemory{};
}

FileMapping* free_entry() {
  for (FileMapping& m : mappings)
    if (!m.used) return &m;
  return nullptr;
}

// Removes [start, end) from the file mappings: unmapped from the task, entries cut or split.
// Needs at most one free entry (a split); false when none is left and one is needed. `keep`: a
// private Memory about to be mapped again (mprotect), not deleted with its last entry.
bool cut(u64 start, u64 end, u64 keep = 0) {
  for (FileMapping& m : mappings) {
    if (!m.used || m.end <= start || m.start >= end) continue;
    u64 low = m.start > start ? m.start : start;
    u64 high = m.end < end ? m.end : end;
    bool split = m.start < low && m.end > high;
    FileMapping* right = split ? free_entry() : nullptr;
    if (split && right == nullptr) return false;
    if (m.access != Access::None) (void)native_unmap(manager::FUNCTION_TASK, low, (high - low) / PAGE);
    FileMapping original = m;
    if (right != nullptr) {
      m.end = low;
      *right = original;
      right->start = high;
      right->first_page = original.first_page + (high - original.start) / PAGE;
    } else if (m.start < low) {
      m.end = low;
    } else if (m.end > high) {
      m.first_page += (high - m.start) / PAGE;
      m.start = high;
    } else {
      m.used = false;
      if (original.memory != keep) release_memory(original.memory);
    }
  }
  return true;
}

// Maps and records one entry; on failure the memory is released (when private) and nothing stays.
i64 place(u64 start, u64 end, u64 memory, u64 first_page, Access access) {
  if (!cut(start, end, memory)) {
    release_memory(memory);
    return -ENOMEM;
  }
  FileMapping* entry = free_entry();
  if (entry == nullptr) {
    release_memory(memory);
    return -ENOMEM;
  }
  if (access != Access::None && memory != 0) {
    sys::Error error = native_map(manager::FUNCTION_TASK, memory, first_page, start, (end - start) / PAGE, rights_of(access));
    if (error != sys::Error::None) {
      release_memory(memory);
      return error == sys::Error::QuotaExceeded ? -ENOMEM : -EINVAL;
    }
  }
  *entry = FileMapping{start, end, memory, first_page, access, true};
  return 0;
}

// A fresh Memory of `pages`, charged to the memory limit: lazy (charged as touched) for zero pages,
// eager for copies (the kernel copies only into memory whose frames exist); its slot or 0.
u64 fresh_memory(u64 pages, bool lazy) {
  ImagePrivateMemory* record = nullptr;
  for (ImagePrivateMemory& candidate : private_memories)
    if (candidate.slot == 0) {
      record = &candidate;
      break;
    }
  if (record == nullptr) return 0;
  u64 slot = allocate_slot();
  if (slot == 0) return 0;
  if (native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Memory), slot,
             pages, lazy ? abi::MEMORY_LAZY : 0) != sys::Error::None) {
    free_slot(slot);
    return 0;
  }
  *record = ImagePrivateMemory{slot, pages, lazy};
  return slot;
}

Access access_of(u64 protection) {
  if ((protection & PROT_WRITE) != 0) return Access::ReadWrite;
  if ((protection & PROT_EXEC) != 0) return Access::ReadExecute;
  return (protection & PROT_READ) != 0 ? Access::Read : Access::None;
}

// ---- The writable layer ---------------------------------------------------------------------

// Image files and directories the invocation wrote, created or deleted live in files.cpp's store
// (files.hpp, "The image's writable layer"): found here, name by name, before the tree's, so the
// tree never changes and the next invocation sees the original. A directory as path resolution
// sees it: the image's (inode, with the layer's shadow of it if any), or one the layer created.
struct Place {
  u32 image;  // The image directory's inode, or NONE.
  u32 layer;  // Its shadow, or the layer's own directory, or NONE.
};
constexpr u32 NONE = LAYER_NONE;

Place image_place(u32 inode) { return Place{inode, layer_shadow(inode)}; }

// The layer directory that holds a place's entries: its shadow made when needed. Its id or a negated errno.
i64 layer_directory(Place& place) {
  if (place.layer != NONE) return place.layer;
  i64 made = layer_make_shadow(place.image);
  if (made >= 0) place.layer = static_cast<u32>(made);
  return made;
}

Place parent_place(const Place& place) {
  if (place.image != NONE) {
    const imagefs::Inode* inode = tree.inode(place.image);
    return image_place(inode == nullptr ? imagefs::ROOT_INODE : inode->parent);
  }
  u32 parent = layer_parent(place.layer);
  u32 above = layer_parent(parent);
  // The layer's directory lies in a shadow (an image directory) or in another of the layer's own.
  return (above & 0x80000000u) != 0 ? Place{above & ~0x80000000u, parent} : Place{NONE, parent};
}

// What a path names: its directory and last name, and the image inode or layer node there (both
// NONE: nothing, or a whiteout).
struct Found {
  Place parent;
  const char* name;
  usize name_length;  // 0 for "/", "." and "..".
  u32 image, layer;
  bool trailing_slash;
};

bool is_image_directory(u32 inode) { return tree.is_directory(inode); }
bool is_image_symlink(u32 inode) {
  imagefs::Stat stat{};
  return tree.stat(inode, stat) && (stat.mode & imagefs::TYPE_MASK) == imagefs::TYPE_SYMLINK;
}

// The entry name[0, length) of `place`: the layer's first, then the image's. False: nothing.
bool find_entry(const Place& place, const char* name, usize length, u32& image, u32& layer) {
  image = layer = NONE;
  if (place.layer != NONE) {
    LayerKind kind;
    u32 child = layer_child(place.layer, name, length, kind);
    if (kind == LayerKind::Whiteout) return false;
    if (kind != LayerKind::Missing) {
      layer = child;
      return true;
    }
  }
  if (place.image == NONE) return false;
  u32 inode = 0;
  if (tree.lookup(place.image, name, length, inode) != imagefs::ReadError::None) return false;
  image = inode;
  if (is_image_directory(inode)) layer = layer_shadow(inode);
  return true;
}

// Resolves `path` from `start` through the layer and the tree, following symlinks (the tree's:
// the layer makes none) but the last unless `follow_last`; `links` counts those followed.
i64 resolve_place(Place start, const char* path, usize length, bool follow_last, Found& out, u32& links) {
  Place current = length > 0 && path[0] == '/' ? image_place(imagefs::ROOT_INODE) : start;
  usize at = 0;
  out = Found{current, path, 0, current.image, current.layer, false};
  for (;;) {
    while (at < length && path[at] == '/') ++at;
    if (at == length) {
      out.trailing_slash = length > 0 && path[length - 1] == '/';
      return 0;
    }
    usize begin = at;
    while (at < length && path[at] != '/') ++at;
    usize component = at - begin;
    if (component > imagefs::MAX_NAME) return -ENAMETOOLONG;
    usize next = at;
    while (next < length && path[next] == '/') ++next;
    bool last = next == length;
    const char* name = path + begin;
    u32 image = NONE, layer = NONE;
    bool dot = component == 1 && name[0] == '.';
    bool dot_dot = component == 2 && name[0] == '.' && name[1] == '.';
    bool found = true;
    if (dot) {
      image = current.image;
      layer = current.layer;
    } else if (dot_dot) {
      Place up = parent_place(current);
      image = up.image;
      layer = up.layer;
    } else {
      found = find_entry(current, name, component, image, layer);
    }
    if (found && image != NONE && is_image_symlink(image) && (!last || follow_last || at < length)) {
      if (++links > imagefs::MAX_SYMLINKS) return -ELOOP;
      const char* target = nullptr;
      u64 target_length = 0;
      if (!tree.symlink_target(image, target, target_length)) return -EIO;
      Found through;
      i64 error = resolve_place(current, target, target_length, true, through, links);
      if (error < 0) return error;
      if (last) {
        // What the link names is the result: writing through it copies up its target, and
        // creating through a dangling one creates the target.
        out = through;
        out.trailing_slash = out.trailing_slash || at < length;
        return 0;
      }
      if (through.image == NONE && through.layer == NONE) return -ENOENT;
      image = through.image;
      layer = through.layer;
    }
    if (last) {
      out =
          Found{current, name, dot || dot_dot ? 0 : component, found ? image : NONE, found ? layer : NONE, at < length};
      bool directory = image != NONE ? is_image_directory(image) : layer != NONE && layer_is_directory(layer);
      if (found && out.trailing_slash && !directory && !(image != NONE && is_image_symlink(image))) return -ENOTDIR;
      return 0;
    }
    if (!found) return -ENOENT;
    if (image != NONE) {
      if (!is_image_directory(image)) return -ENOTDIR;
      current = Place{image, layer};
    } else {
      if (!layer_is_directory(layer)) return -ENOTDIR;
      current = Place{NONE, layer};
    }
  }
}

i64 resolve_place(Place start, const char* path, usize length, bool follow_last, Found& out) {
  if (!layer_in_use() && start.image != NONE) {
    // Nothing of the tree is changed: the tree's own resolution (stat's common case) does it all.
    imagefs::Resolution found = tree.resolve(start.image, path, length, follow_last);
    if (found.error != imagefs::ReadError::None && !(found.error == imagefs::ReadError::NotFound && found.parent_found))
      return image_errno(found.error);
    bool exists = found.error == imagefs::ReadError::None;
    out = Found{Place{found.parent_found ? found.parent : start.image, NONE},
                found.name,
                found.parent_found ? found.name_length : 0,
                exists ? found.inode : NONE,
                NONE,
                length > 0 && path[length - 1] == '/'};
    return 0;
  }
  u32 links = 0;
  return resolve_place(start, path, length, follow_last, out, links);
}

// For calls that change the layer: always name by name, so "." and ".." are known as such.
i64 resolve_for_change(Place start, const char* path, usize length, bool follow_last, Found& out) {
  u32 links = 0;
  return resolve_place(start, path, length, follow_last, out, links);
}

bool found_directory(const Found& found) {
  return found.image != NONE ? is_image_directory(found.image) : found.layer != NONE && layer_is_directory(found.layer);
}

// True when the image has an entry name[0, length) in `place` (whatever the layer says of it).
bool image_has(const Place& place, const char* name, usize length) {
  u32 inode = 0;
  return place.image != NONE && tree.lookup(place.image, name, length, inode) == imagefs::ReadError::None;
}

// Whether a merged directory (the image's and its shadow's entries) has any entry left.
bool place_has_entries(const Place& place) {
  if (place.layer != NONE && layer_has_entries(place.layer)) return true;
  if (place.image == NONE) return false;
  imagefs::DirectoryEntry entry{};
  for (u64 i = 0; i < tree.entry_count(place.image); ++i) {
    if (!tree.entry(place.image, i, entry)) return true;
    LayerKind kind = LayerKind::Missing;
    if (place.layer != NONE) (void)layer_child(place.layer, entry.name, entry.length, kind);
    if (kind != LayerKind::Whiteout) return true;
  }
  return false;
}

// Removes what `found` names from its directory: the layer's entry unlinked, and a whiteout where
// the image has an entry of that name.
i64 remove_entry(Found& found) {
  if (found.layer != NONE && found.image == NONE) {
    layer_remove(found.layer);
    if (!image_has(found.parent, found.name, found.name_length)) return 0;
  }
  i64 directory = layer_directory(found.parent);
  if (directory < 0) return directory;
  return layer_whiteout(static_cast<u32>(directory), found.name, found.name_length);
}

// Copies image file `inode` (or nothing: a new file) into the layer as found's name.
i64 copy_up(Found& found, u32 inode, bool truncate, u64 mode) {
  i64 directory = layer_directory(found.parent);
  if (directory < 0) return directory;
  if (inode == NONE)
    return layer_create(static_cast<u32>(directory), found.name, found.name_length, false, static_cast<u32>(mode),
                        nullptr, 0, false);
  imagefs::Stat stat{};
  u64 file_offset = 0, size = 0;
  if (!tree.stat(inode, stat) || !tree.file_extent(inode, file_offset, size)) return -EIO;
  return layer_create(static_cast<u32>(directory), found.name, found.name_length, false, stat.mode & 07777,
                      tree.base() + file_offset, truncate ? 0 : size, true);
}

// ---- Paths ----------------------------------------------------------------------------------

bool personality_mount(const char* path, usize length) {
  // /tmp, /dev and /proc stay the personality's own, as mounts over the image would.
  usize at = 0;
  while (at < length && path[at] == '/') ++at;
  usize begin = at;
  while (at < length && path[at] != '/') ++at;
  usize component = at - begin;
  auto is = [&](const char* name, usize name_length) {
    return component == name_length && __builtin_memcmp(path + begin, name, name_length) == 0;
  };
  if (is("tmp", 3) || is("dev", 3) || is("proc", 4)) return true;
  // /var/openfaas/secrets (and what is below it) when the function has secret files: mounted over
  // the image's, as OpenFaaS mounts them.
  if (!files_have_secrets() || !is("var", 3)) return false;
  const char* const below[] = {"openfaas", "secrets"};
  for (const char* expected : below) {
    while (at < length && path[at] == '/') ++at;
    usize start = at;
    while (at < length && path[at] != '/') ++at;
    usize expected_length = __builtin_strlen(expected);
    if (at - start != expected_length || __builtin_memcmp(path + start, expected, expected_length) != 0) return false;
  }
  return true;
}

Place cwd_place() { return cwd_inode != NONE ? image_place(cwd_inode) : Place{NONE, cwd_layer}; }

// Where the resolution of a path already in personality memory starts: NOT_IMAGE, a negated errno, or 0.
i64 path_start(u64 directory, const char* text, usize length, Place& start) {
  if (length > 0 && text[0] == '/') {
    if (personality_mount(text, length)) return NOT_IMAGE;
    start = image_place(imagefs::ROOT_INODE);
    return 0;
  }
  auto descriptor = static_cast<std::int32_t>(directory);
  if (descriptor == AT_FDCWD) {
    if (!cwd_in_image) return NOT_IMAGE;
    start = cwd_place();
    return 0;
  }
  u32 inode = 0;
  if (descriptor >= 0 && image_descriptor(static_cast<u64>(descriptor), inode)) {
    start = image_place(inode);
    return 0;
  }
  u32 layer = 0;
  if (descriptor >= 0 && layer_descriptor(static_cast<u64>(descriptor), layer)) {
    if (!layer_is_directory(layer)) return -ENOTDIR;
    start = Place{NONE, layer};
    return 0;
  }
  return NOT_IMAGE;
}

// Whether a path call is the image's: copies the path and finds where resolution starts.
// NOT_IMAGE, a negated errno, or 0.
i64 image_path(u64 directory, u64 address, ProgramPath& path, Place& start) {
  if (!active) return NOT_IMAGE;
  i64 error = copy_program_path(address, path);
  if (error < 0) return error;
  return path_start(directory, path.text, path.length, start);
}

}  // namespace

bool image_active() { return active; }
const imagefs::Reader& image_tree() { return tree; }

void image_init() {
  u64 bytes = state().start.image_tree_bytes;
  if (bytes == 0) return;
  active = tree.open(reinterpret_cast<const void*>(manager::IMAGE_TREE_ADDRESS), bytes);
  cwd_in_image = active;
}

i64 image_errno(imagefs::ReadError error) {
  switch (error) {
    case imagefs::ReadError::None: return 0;
    case imagefs::ReadError::NotFound: return -ENOENT;
    case imagefs::ReadError::NotADirectory: return -ENOTDIR;
    case imagefs::ReadError::Loop: return -ELOOP;
    case imagefs::ReadError::NameTooLong: return -ENAMETOOLONG;
    case imagefs::ReadError::Corrupt: break;
  }
  return -EIO;
}

i64 image_resolve(u32 start, const char* path, usize length, bool follow_last, u32& inode) {
  imagefs::Resolution found = tree.resolve(start, path, length, follow_last);
  if (found.error != imagefs::ReadError::None) return image_errno(found.error);
  inode = found.inode;
  return 0;
}

i64 image_executable(u32 inode, ExecutableFile& out) {
  imagefs::Stat stat{};
  u64 offset = 0;
  u64 size = 0;
  if (!tree.stat(inode, stat)) return -EIO;
  // As Linux: a directory, a device or a file without an x bit is EACCES.
  if ((stat.mode & imagefs::TYPE_MASK) != imagefs::TYPE_REGULAR || (stat.mode & 0111) == 0) return -EACCES;
  if (!tree.file_extent(inode, offset, size)) return -EIO;
  out = ExecutableFile{ExecutableKind::Tree, tree.base() + offset, size, inode};
  return 0;
}

i64 image_resolve_executable(u64 directory, const char* path, usize length, bool follow_last, ExecutableFile& out) {
  if (!active) return NOT_IMAGE;
  StoreGuard guard;
  Place start{};
  i64 error = path_start(directory, path, length, start);
  if (error != 0) return error;
  Found found;
  error = resolve_place(start, path, length, follow_last, found);
  if (error < 0) return error;
  if (found.image == NONE && found.layer == NONE) return -ENOENT;
  // A file of the writable layer hides the image's, as for open.
  if (found.image == NONE) return layer_is_directory(found.layer) ? -EACCES : files_node_executable(found.layer, out);
  if (!follow_last && is_image_symlink(found.image)) return -ELOOP;
  return image_executable(found.image, out);
}

u64 image_file_size(u32 inode) {
  const imagefs::Inode* node = tree.inode(inode);
  return node == nullptr ? 0 : node->size;
}

bool image_is_directory(u32 inode) { return tree.is_directory(inode); }

i64 image_openat(u64 directory, u64 address, u64 flags, u64 mode) {
  ProgramPath path;
  Place start{};
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  StoreGuard guard;
  Found found;
  bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0;
  bool changing = writing || (flags & O_CREAT) != 0;
  bool follow = (flags & O_NOFOLLOW) == 0;
  error = changing ? resolve_for_change(start, path.text, path.length, follow, found)
                   : resolve_place(start, path.text, path.length, follow, found);
  if (error < 0) return error;
  bool exists = found.image != NONE || found.layer != NONE;
  if (exists && (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return -EEXIST;
  // The layer's own file or directory (written or made by the invocation) hides the image's.
  if (found.image == NONE && found.layer != NONE) return open_layer_file(found.layer, flags);
  if (!exists) {
    if ((flags & O_CREAT) == 0 || found.name_length == 0) return -ENOENT;
    if ((flags & O_DIRECTORY) != 0 || found.trailing_slash) return -EISDIR;
    i64 node = copy_up(found, NONE, false, mode & 07777);
    return node < 0 ? node : open_layer_file(static_cast<u32>(node), flags & ~(O_CREAT | O_EXCL));
  }
  imagefs::Stat stat{};
  if (!tree.stat(found.image, stat)) return -EIO;
  u32 type = stat.mode & imagefs::TYPE_MASK;
  if (type == imagefs::TYPE_SYMLINK) return -ELOOP;
  if (type == imagefs::TYPE_DIRECTORY && (writing || (flags & O_CREAT) != 0)) return -EISDIR;
  if (type != imagefs::TYPE_DIRECTORY && (flags & O_DIRECTORY) != 0) return -ENOTDIR;
  if (writing) {
    // Copy-up: the invocation's own copy of the file, written from now on.
    i64 node = copy_up(found, found.image, (flags & O_TRUNC) != 0, 0);
    return node < 0 ? node : open_layer_file(static_cast<u32>(node), flags);
  }
  return install_image_descriptor(found.image, flags);
}

i64 image_fstat(u32 inode, u64 buffer, bool statx) {
  imagefs::Stat stat{};
  if (!tree.stat(inode, stat)) return -EIO;
  return write_file_stat(FileStat{u64{inode} + 1, stat.nlink, stat.size, stat.blocks, stat.mtime, stat.mode, stat.uid,
                                  stat.gid},
                         buffer, statx);
}

i64 image_stat_at(u64 directory, u64 address, u64 buffer, u64 flags, bool statx) {
  ProgramPath path;
  Place start{};
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  StoreGuard guard;
  if (path.length == 0) {
    if ((flags & AT_EMPTY_PATH) == 0) return -ENOENT;
    return start.image != NONE ? image_fstat(start.image, buffer, statx) : stat_layer_file(start.layer, buffer, statx);
  }
  Found found;
  error = resolve_place(start, path.text, path.length, (flags & AT_SYMLINK_NOFOLLOW) == 0, found);
  if (error < 0) return error;
  if (found.image == NONE && found.layer == NONE) return -ENOENT;
  return found.image != NONE ? image_fstat(found.image, buffer, statx) : stat_layer_file(found.layer, buffer, statx);
}

i64 image_faccessat(u64 directory, u64 address, u64 mode, u64 flags) {
  constexpr u64 X_OK = 1, W_OK = 2;
  ProgramPath path;
  Place start{};
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  StoreGuard guard;
  Found found{start, nullptr, 0, start.image, start.layer, false};
  if (path.length > 0) {
    error = resolve_place(start, path.text, path.length, (flags & AT_SYMLINK_NOFOLLOW) == 0, found);
    if (error < 0) return error;
  } else if ((flags & AT_EMPTY_PATH) == 0) {
    return -ENOENT;
  }
  if (found.image == NONE && found.layer == NONE) return -ENOENT;
  if (found.image == NONE) {
    // The layer's own: the user's; X_OK needs an x bit (a directory's is searched).
    bool searchable = layer_is_directory(found.layer) || (layer_mode(found.layer) & 0111) != 0;
    return (mode & X_OK) != 0 && !searchable ? -EACCES : 0;
  }
  imagefs::Stat stat{};
  if (!tree.stat(found.image, stat)) return -EIO;
  // The user (the image's User, else 1000) has the bits of its class; the layer takes writes to any.
  u32 shift = stat.uid == linux_uid() ? 6 : stat.gid == linux_gid() ? 3 : 0;
  if ((mode & W_OK) != 0 && ((stat.mode >> shift) & 2) == 0) return -EACCES;
  if ((mode & X_OK) != 0 && (stat.mode & 0111) == 0) return -EACCES;
  return 0;
}

i64 image_readlinkat(u64 directory, u64 address, u64 buffer, u64 length) {
  ProgramPath path;
  Place start{};
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  if (static_cast<i64>(length) <= 0) return -EINVAL;
  StoreGuard guard;
  Found found;
  error = resolve_place(start, path.text, path.length, false, found);
  if (error < 0) return error;
  if (found.image == NONE && found.layer == NONE) return -ENOENT;
  const char* target = nullptr;
  u64 target_length = 0;
  if (found.image == NONE || !tree.symlink_target(found.image, target, target_length)) return -EINVAL;
  u64 count = target_length < length ? target_length : length;
  if (!writable(buffer, count)) return -EFAULT;
  memcpy(reinterpret_cast<void*>(buffer), target, count);
  return static_cast<i64>(count);
}

i64 image_mkdirat(u64 directory, u64 address, u64 mode) {
  ProgramPath path;
  Place start{};
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  StoreGuard guard;
  Found found;
  error = resolve_for_change(start, path.text, path.length, false, found);
  if (error < 0) return error;
  if (found.image != NONE || found.layer != NONE) return -EEXIST;
  if (found.name_length == 0) return -EEXIST;
  i64 parent = layer_directory(found.parent);
  if (parent < 0) return parent;
  i64 created = layer_create(static_cast<u32>(parent), found.name, found.name_length, true,
                             static_cast<u32>(mode & 07777), nullptr, 0, false);
  return created < 0 ? created : 0;
}

i64 image_unlinkat(u64 directory, u64 address, u64 flags) {
  constexpr u64 AT_REMOVEDIR = 0x200;
  ProgramPath path;
  Place start{};
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  if ((flags & ~AT_REMOVEDIR) != 0) return -EINVAL;
  bool remove_directory = (flags & AT_REMOVEDIR) != 0;
  StoreGuard guard;
  Found found;
  error = resolve_for_change(start, path.text, path.length, false, found);
  if (error < 0) return error;
  if (found.image == NONE && found.layer == NONE) return -ENOENT;
  if (found.name_length == 0)
    return remove_directory ? (found.image == imagefs::ROOT_INODE ? -EBUSY : -EINVAL) : -EISDIR;
  bool is_directory = found_directory(found);
  if (remove_directory && !is_directory) return -ENOTDIR;
  if (!remove_directory && is_directory) return -EISDIR;
  if (remove_directory && place_has_entries(Place{found.image, found.layer})) return -ENOTEMPTY;
  return remove_entry(found);
}

i64 image_renameat2(u64 old_directory, u64 old_address, u64 new_directory, u64 new_address, u64 flags) {
  constexpr u64 RENAME_NOREPLACE = 1;
  if (!active) return NOT_IMAGE;
  ProgramPath from_path, to_path;
  Place from_start{}, to_start{};
  i64 from_error = image_path(old_directory, old_address, from_path, from_start);
  i64 to_error = image_path(new_directory, new_address, to_path, to_start);
  if (from_error == NOT_IMAGE && to_error == NOT_IMAGE) return NOT_IMAGE;
  if (from_error < 0 && from_error != NOT_IMAGE) return from_error;
  if (to_error < 0 && to_error != NOT_IMAGE) return to_error;
  if ((flags & ~RENAME_NOREPLACE) != 0) return -EINVAL;
  StoreGuard guard;
  Found from, to;
  i64 error = 0;
  if (from_error == 0 && (error = resolve_for_change(from_start, from_path.text, from_path.length, false, from)) < 0)
    return error;
  if (from_error == 0 && from.image == NONE && from.layer == NONE) return -ENOENT;
  if (to_error == 0 && (error = resolve_for_change(to_start, to_path.text, to_path.length, false, to)) < 0)
    return error;
  // One side in /tmp (or /dev, /proc): another file system, as for Linux's overlay and tmpfs.
  if (from_error == NOT_IMAGE || to_error == NOT_IMAGE) return -EXDEV;
  if (from.name_length == 0 || to.name_length == 0) return -EBUSY;
  bool moving_directory = found_directory(from);
  // A directory of the image (or one merged with it) moves only by copying (overlayfs without
  // redirect_dir answers EXDEV; mv then copies).
  if (moving_directory && from.image != NONE) return -EXDEV;
  bool target_exists = to.image != NONE || to.layer != NONE;
  if (to.trailing_slash && !moving_directory) return -ENOTDIR;
  if (from.image == to.image && from.layer == to.layer) return 0;
  if (target_exists) {
    if ((flags & RENAME_NOREPLACE) != 0) return -EEXIST;
    bool target_directory = found_directory(to);
    if (moving_directory && !target_directory) return -ENOTDIR;
    if (!moving_directory && target_directory) return -EISDIR;
    if (target_directory && place_has_entries(Place{to.image, to.layer})) return -ENOTEMPTY;
  }
  i64 target_directory = layer_directory(to.parent);
  if (target_directory < 0) return target_directory;
  if (from.image == NONE) {
    // The layer's own file or directory moves; a whiteout stays where the image has its name.
    error = layer_rename(from.layer, static_cast<u32>(target_directory), to.name, to.name_length);
    if (error < 0) return error;
    if (!image_has(from.parent, from.name, from.name_length)) return 0;
    i64 source_directory = layer_directory(from.parent);
    return source_directory < 0 ? source_directory
                                : layer_whiteout(static_cast<u32>(source_directory), from.name, from.name_length);
  }
  // An image file: copied up under its new name, its old name whited out.
  if (to.layer != NONE && to.image == NONE) layer_remove(to.layer);
  i64 copied = copy_up(to, from.image, false, 0);
  if (copied < 0) return copied;
  return remove_entry(from);
}

i64 image_chdir(u64 address) {
  ProgramPath path;
  Place start{};
  i64 error = image_path(static_cast<u64>(static_cast<i64>(AT_FDCWD)), address, path, start);
  if (error != 0) return error;
  StoreGuard guard;
  Found found;
  error = resolve_place(start, path.text, path.length, true, found);
  if (error < 0) return error;
  if (found.image == NONE && found.layer == NONE) return -ENOENT;
  if (found.image == NONE) return image_enter_layer_directory(found.layer);
  return image_fchdir(found.image);
}

i64 image_fchdir(u32 inode) {
  if (!tree.is_directory(inode)) return -ENOTDIR;
  cwd_inode = inode;
  cwd_layer = NONE;
  cwd_in_image = true;
  return 0;
}

i64 image_enter_layer_directory(u32 node) {
  if (!layer_is_directory(node)) return -ENOTDIR;
  cwd_inode = NONE;
  cwd_layer = node;
  cwd_in_image = true;
  return 0;
}

i64 image_start_directory(const char* path, usize length) {
  u32 inode = 0;
  i64 error = image_resolve(imagefs::ROOT_INODE, path, length, true, inode);
  return error < 0 ? error : image_fchdir(inode);
}

void image_leave_working_directory() { cwd_in_image = false; }

i64 image_getcwd(u64 buffer, u64 length) {
  if (!active || !cwd_in_image) return NOT_IMAGE;
  StoreGuard guard;
  // Built backwards: the layer's own directories by their names, then each image directory's
  // name found among its parent's entries.
  char path[imagefs::MAX_PATH];
  usize start = sizeof path - 1;
  path[start] = '\0';
  u32 inode = cwd_inode;
  for (u32 layer = cwd_layer; inode == NONE;) {
    const char* name = layer_name(layer);
    usize name_length = 0;
    while (name[name_length] != '\0') ++name_length;
    if (start < name_length + 1) return -ENAMETOOLONG;
    start -= name_length;
    memcpy(path + start, name, name_length);
    path[--start] = '/';
    Place up = parent_place(Place{NONE, layer});
    inode = up.image;
    layer = up.layer;
  }
  for (u32 depth = 0; inode != imagefs::ROOT_INODE; ++depth) {
    const imagefs::Inode* node = tree.inode(inode);
    if (node == nullptr || depth > imagefs::MAX_PATH) return -EIO;
    u32 parent = node->parent;
    imagefs::DirectoryEntry entry{};
    bool found = false;
    for (u64 i = 0; i < tree.entry_count(parent) && !found; ++i)
      found = tree.entry(parent, i, entry) && entry.inode == inode;
    if (!found || start < entry.length + 1) return -ENAMETOOLONG;
    start -= entry.length;
    memcpy(path + start, entry.name, entry.length);
    path[--start] = '/';
    inode = parent;
  }
  if (start == sizeof path - 1) path[--start] = '/';
  u64 size = sizeof path - start;
  if (length < size) return -ERANGE;
  if (!writable(buffer, size)) return -EFAULT;
  memcpy(reinterpret_cast<void*>(buffer), path + start, size);
  return static_cast<i64>(size);
}

// ---- Descriptors ----------------------------------------------------------------------------

// Copies file bytes out to the program eight at a time (rep movsq), then the last few. memcpy's
// rep movsb runs one iteration per byte under QEMU TCG (and counts one instruction per byte under
// icount): for a 4 KiB read that was half of open+read+close (docs/BENCHMARKS.md, fs_open_read_close).
namespace {
void copy_file_bytes(void* destination, const void* source, u64 count) {
  u64 words = count / 8;
  u64 rest = count % 8;
  asm volatile("rep movsq" : "+D"(destination), "+S"(source), "+c"(words)::"memory");
  asm volatile("rep movsb" : "+D"(destination), "+S"(source), "+c"(rest)::"memory");
}
}  // namespace

i64 image_read(u32 inode, u64 buffer, u64 length, u64 offset) {
  if (tree.is_directory(inode)) return -EISDIR;
  u64 file_offset = 0;
  u64 size = 0;
  if (!tree.file_extent(inode, file_offset, size)) return -EIO;
  if (!writable(buffer, length)) return -EFAULT;
  if (offset >= size) return 0;
  u64 count = size - offset < length ? size - offset : length;
  copy_file_bytes(reinterpret_cast<void*>(buffer), tree.base() + file_offset + offset, count);
  return static_cast<i64>(count);
}

i64 image_getdents64(u32 inode, u64& position, u64 buffer, u64 length) {
  if (!tree.is_directory(inode)) return -ENOTDIR;
  if (!writable(buffer, length)) return -EFAULT;
  StoreGuard guard;
  const imagefs::Inode* directory = tree.inode(inode);
  u64 count = tree.entry_count(inode);
  u32 shadow = layer_shadow(inode);
  u64 used = 0;
  // Positions: 0 is ".", 1 is "..", 2 + i the directory's entry i (unless the layer has that
  // name: a whiteout or its own entry), then LAYER_POSITION + n the layer's entries from node n on.
  constexpr u64 LAYER_POSITION = u64{1} << 32;
  for (;;) {
    const char* name = nullptr;
    u64 name_length = 0;
    u64 inode_number = 0;
    u8 type = 4;  // DT_DIR
    u64 next = position + 1;
    if (position < 2) {
      name = position == 0 ? "." : "..";
      name_length = position + 1;
      inode_number = u64{position == 0 ? inode : directory->parent} + 1;
    } else if (position < count + 2) {
      imagefs::DirectoryEntry entry{};
      if (!tree.entry(inode, position - 2, entry)) return used > 0 ? static_cast<i64>(used) : -EIO;
      LayerKind kind = LayerKind::Missing;
      if (shadow != NONE) (void)layer_child(shadow, entry.name, entry.length, kind);
      if (kind != LayerKind::Missing) {  // Hidden, or listed with the layer's entries.
        position = next;
        continue;
      }
      name = entry.name;
      name_length = entry.length;
      inode_number = u64{entry.inode} + 1;
      type = entry.type;
    } else {
      u64 from = position < LAYER_POSITION ? 0 : position - LAYER_POSITION;
      u32 node = shadow == NONE ? NONE : layer_next_entry(shadow, from, type);
      if (node == NONE) {
        position = LAYER_POSITION + from;
        break;
      }
      name = layer_name(node);
      while (name[name_length] != '\0') ++name_length;
      inode_number = layer_inode_number(node);
      next = LAYER_POSITION + node + 1;
    }
    u64 record = (19 + name_length + 1 + 7) & ~u64{7};
    if (used + record > length) {
      if (used == 0) return -EINVAL;
      break;
    }
    u8* out = reinterpret_cast<u8*>(buffer + used);
    auto offset = static_cast<i64>(next);
    auto record_length = static_cast<std::uint16_t>(record);
    memcpy(out, &inode_number, 8);
    memcpy(out + 8, &offset, 8);
    memcpy(out + 16, &record_length, 2);
    out[18] = type;
    memcpy(out + 19, name, name_length);
    memset(out + 19 + name_length, 0, record - 19 - name_length);
    used += record;
    position = next;
  }
  return static_cast<i64>(used);
}

// ---- File mappings --------------------------------------------------------------------------

u64 image_reserve_addresses(u64 bytes) {
  // A guard page between mappings; the area is never reused (64 GiB of addresses).
  if (bytes > FILE_AREA_LIMIT - file_area_next || FILE_AREA_LIMIT - file_area_next - bytes < PAGE) return 0;
  u64 address = file_area_next;
  file_area_next += bytes + PAGE;
  return address;
}

i64 image_map_shared(u64 address, u64 pages, u64 tree_page, bool executable) {
  return place(address, address + pages * PAGE, manager::FUNCTION_IMAGE_TREE, tree_page,
               executable ? Access::ReadExecute : Access::Read);
}

i64 image_map_private(u64 address, u64 pages, u64 lead, u64 tree_offset, u64 file_bytes, bool writable_pages) {
  u64 memory = fresh_memory(pages, file_bytes == 0);
  if (memory == 0) return -ENOMEM;
  sys::Error copied = file_bytes > 0 ? native(abi::Syscall::MemoryCopy, memory, lead, manager::FUNCTION_IMAGE_TREE, tree_offset, file_bytes) : sys::Error::None;
  if (copied != sys::Error::None) {
    release_memory(memory);
    return -ENOMEM;
  }
  return place(address, address + pages * PAGE, memory, 0, writable_pages ? Access::ReadWrite : Access::Read);
}

i64 image_map_copy(u64 address, u64 pages, u64 lead, const u8* bytes, u64 count, bool writable, bool executable) {
  u64 memory = fresh_memory(pages, false);
  if (memory == 0) return -ENOMEM;
  if (count > 0 && native(abi::Syscall::MemoryWrite, memory, lead, reinterpret_cast<u64>(bytes), count) !=
                       sys::Error::None) {
    release_memory(memory);
    return -ENOMEM;
  }
  // Written by the kernel, never mapped writable: executable code that is not the tree's own.
  Access access = writable ? Access::ReadWrite : executable ? Access::ReadExecute : Access::Read;
  return place(address, address + pages * PAGE, memory, 0, access);
}

void image_release_mappings() {
  (void)cut(0, abi::USER_SPACE_END);  // Never splits: every entry lies inside, so none is needed.
  file_area_next = FILE_AREA_BASE;
}

bool image_mapping_overlaps(u64 start, u64 end) {
  if (!active) return false;
  for (const FileMapping& m : mappings)
    if (m.used && m.start < end && m.end > start) return true;
  return start < FILE_AREA_LIMIT && end > FILE_AREA_BASE;
}

i64 image_mmap(u32 inode, u64 address, u64 length, u64 protection, u64 flags, u64 offset) {
  if (length == 0 || (offset & (PAGE - 1)) != 0) return -EINVAL;
  if ((protection & PROT_WRITE) != 0 && (protection & PROT_EXEC) != 0) return -EACCES;  // W^X.
  u64 type = flags & 3;
  if (type != MAP_SHARED && type != MAP_PRIVATE) return -EINVAL;
  // The descriptor is read-only (the tree is): a shared writable mapping is refused as on Linux.
  if (type == MAP_SHARED && (protection & PROT_WRITE) != 0) return -EACCES;
  u64 file_offset = 0;
  u64 size = 0;
  if (tree.is_directory(inode)) return -ENODEV;
  if (!tree.file_extent(inode, file_offset, size)) return -EIO;
  u64 bytes = page_up(length);
  if (bytes < length || bytes > FILE_AREA_LIMIT - FILE_AREA_BASE) return -ENOMEM;
  u64 pages = bytes / PAGE;
  u64 start = address;
  if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0) {
    if ((address & (PAGE - 1)) != 0 || address + bytes < address) return -EINVAL;
    // Only over file mappings or in the file area: elsewhere the personality's own areas are.
    bool covered = true;
    for (u64 at = address; at < address + bytes && covered;) {
      covered = false;
      for (const FileMapping& m : mappings)
        if (m.used && m.start <= at && m.end > at) {
          at = m.end;
          covered = true;
          break;
        }
    }
    bool in_area = address >= FILE_AREA_BASE && address + bytes <= file_area_next;
    if (!covered && !in_area) return -ENOMEM;
    if ((flags & MAP_FIXED_NOREPLACE) != 0 && image_mapping_overlaps(address, address + bytes) && !in_area) return -EEXIST;
  } else {
    start = image_reserve_addresses(bytes);
    if (start == 0) return -ENOMEM;
  }
  // Pages of the file from `offset` on; past the file's last page nothing is mapped (Linux
  // would raise SIGBUS there; here the access faults).
  u64 file_pages = page_up(size) / PAGE;
  u64 first = offset / PAGE;
  u64 available = first < file_pages ? file_pages - first : 0;
  u64 mapped = pages < available ? pages : available;
  Access access = access_of(protection);
  i64 error = 0;
  if (access == Access::ReadWrite) {
    u64 copy = size > offset ? size - offset : 0;
    if (copy > bytes) copy = bytes;
    error = image_map_private(start, pages, 0, file_offset + offset, copy, true);
  } else {
    if (mapped > 0) error = place(start, start + mapped * PAGE, access == Access::None ? 0 : manager::FUNCTION_IMAGE_TREE,
                                  file_offset / PAGE + first, access);
    if (error == 0 && mapped < pages) error = place(start + mapped * PAGE, start + bytes, 0, 0, Access::None);
  }
  return error < 0 ? error : static_cast<i64>(start);
}

i64 image_map_anonymous_fixed(u64 start, u64 end, u64 protection) {
  if ((protection & PROT_EXEC) != 0) return -EACCES;  // As for all anonymous memory.
  if ((start & (PAGE - 1)) != 0 || end <= start) return -EINVAL;
  u64 memory = fresh_memory((end - start) / PAGE, true);
  if (memory == 0) return -ENOMEM;
  i64 error = place(start, page_up(end), memory, 0, access_of(protection));
  return error < 0 ? error : static_cast<i64>(start);
}

void image_unmap(u64 start, u64 end) {
  if (active) (void)cut(start, end);
}

i64 image_mprotect(u64 start, u64 end, u64 protection) {
  if ((protection & PROT_WRITE) != 0 && (protection & PROT_EXEC) != 0) return -EACCES;
  Access access = access_of(protection);
  // Every page must be in a file mapping; then each piece is remapped with the new access.
  for (u64 at = start; at < end;) {
    bool found = false;
    for (const FileMapping& m : mappings)
      if (m.used && m.start <= at && m.end > at) {
        at = m.end;
        found = true;
        break;
      }
    if (!found) return -ENOMEM;
  }
  for (u64 at = start; at < end;) {
    FileMapping piece{};
    for (const FileMapping& m : mappings)
      if (m.used && m.start <= at && m.end > at) piece = m;
    u64 high = piece.end < end ? piece.end : end;
    u64 first_page = piece.first_page + (at - piece.start) / PAGE;
    u64 memory = piece.memory;
    if (memory == 0 && access != Access::None) return -ENOMEM;  // Past a file's end: nothing to show.
    if (access == Access::ReadWrite && memory == manager::FUNCTION_IMAGE_TREE) {
      // A writable view of the tree's pages is a private copy of them.
      u64 copy = fresh_memory((high - at) / PAGE, false);
      if (copy == 0) return -ENOMEM;
      if (native(abi::Syscall::MemoryCopy, copy, 0, manager::FUNCTION_IMAGE_TREE, first_page * PAGE, high - at) !=
          sys::Error::None) {
        release_memory(copy);
        return -ENOMEM;
      }
      memory = copy;
      first_page = 0;
    } else if (access == Access::ReadExecute && memory != manager::FUNCTION_IMAGE_TREE) {
      return -EACCES;  // Only the tree's own pages may be executed, never a copy that was writable.
    }
    // place() keeps `memory` alive while it cuts the piece's old entry.
    i64 error = place(at, high, memory, first_page, access);
    if (error < 0) return error;
    at = high;
  }
  return 0;
}

bool image_mapping_permits(u64 start, u64 end, bool write) {
  if (!active) return false;
  for (u64 at = start; at < end;) {
    bool found = false;
    for (const FileMapping& m : mappings) {
      if (!m.used || m.start > at || m.end <= at) continue;
      if (m.access == Access::None || (write && m.access != Access::ReadWrite)) return false;
      at = m.end;
      found = true;
      break;
    }
    if (!found) return false;
  }
  return true;
}

bool image_mapping(usize index, ImageMapping& out) {
  if (index >= MAX_FILE_MAPPINGS || !mappings[index].used) return false;
  const FileMapping& m = mappings[index];
  out = ImageMapping{m.start, m.end, m.memory, m.first_page, m.memory == 0 ? 0 : rights_of(m.access)};
  return true;
}

bool image_private_memory(usize index, ImagePrivateMemory& out) {
  if (index >= MAX_FILE_MAPPINGS || private_memories[index].slot == 0) return false;
  out = private_memories[index];
  return true;
}

}  // namespace personality
