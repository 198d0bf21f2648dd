// Image files (image_files.hpp): path and descriptor calls on the packed tree, served in place
// from IMAGE_TREE_ADDRESS; the invocation's writable layer over it; file mappings of its pages.
// Invariants: the tree is only read; file-mapping entries are disjoint and the task maps each
// entry's pages with the entry's access (none: not at all); a private Memory is deleted with the
// last entry naming it; no entry is writable and executable, and only the tree's own pages (and
// copies of an exec'd /tmp or layer file's code that the kernel wrote and that were never mapped
// writable, image_map_copy) are ever executable. All of it runs under state_lock() (the
// dispatcher takes it).
#include "image_files.hpp"

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
u32 cwd_inode = imagefs::ROOT_INODE;
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

// Image files the invocation wrote (or created): copied up into files.cpp's memory on the first
// open for writing, found here by (directory inode, name) from then on. The tree never changes,
// so the next invocation sees the original.
constexpr usize MAX_LAYER_FILES = 32;
struct LayerFile {
  u32 directory;
  u32 node;         // files.cpp's node.
  u8 name_length;   // 0: free.
  char name[imagefs::MAX_NAME];
};
LayerFile layer[MAX_LAYER_FILES];

LayerFile* layer_file(u32 directory, const char* name, u64 length) {
  if (name == nullptr || length == 0 || length > imagefs::MAX_NAME) return nullptr;
  for (LayerFile& file : layer)
    if (file.name_length == length && file.directory == directory && __builtin_memcmp(file.name, name, length) == 0)
      return &file;
  return nullptr;
}

// Copies `inode` (or, for a new file, nothing) up into the layer as directory/name.
i64 copy_up(u32 directory, const char* name, u64 length, const u8* contents, u64 size, u32 mode) {
  LayerFile* free = nullptr;
  for (LayerFile& file : layer)
    if (file.name_length == 0) {
      free = &file;
      break;
    }
  if (free == nullptr || length == 0 || length > imagefs::MAX_NAME) return -ENOSPC;
  i64 node = create_layer_file(contents, size, mode);
  if (node < 0) return node;
  free->directory = directory;
  free->node = static_cast<u32>(node);
  memcpy(free->name, name, length);
  free->name_length = static_cast<u8>(length);
  return node;
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
  return is("tmp", 3) || is("dev", 3) || is("proc", 4);
}

// Whether a path call is the image's: copies the path and finds where resolution starts.
// NOT_IMAGE, a negated errno, or 0.
i64 path_start(u64 directory, const char* text, usize length, u32& start);
i64 image_path(u64 directory, u64 address, ProgramPath& path, u32& start) {
  if (!active) return NOT_IMAGE;
  i64 error = copy_program_path(address, path);
  if (error < 0) return error;
  return path_start(directory, path.text, path.length, start);
}

// Where the resolution of a path already in personality memory starts: NOT_IMAGE, a negated errno, or 0.
i64 path_start(u64 directory, const char* text, usize length, u32& start) {
  if (length > 0 && text[0] == '/') {
    if (personality_mount(text, length)) return NOT_IMAGE;
    start = imagefs::ROOT_INODE;
    return 0;
  }
  auto descriptor = static_cast<std::int32_t>(directory);
  if (descriptor == AT_FDCWD) {
    if (!cwd_in_image) return NOT_IMAGE;
    start = cwd_inode;
    return 0;
  }
  u32 inode = 0;
  if (descriptor < 0 || !image_descriptor(static_cast<u64>(descriptor), inode)) return NOT_IMAGE;
  start = inode;
  return 0;
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
  u32 start = 0;
  i64 error = path_start(directory, path, length, start);
  if (error != 0) return error;
  imagefs::Resolution found = tree.resolve(start, path, length, follow_last);
  // A file of the writable layer hides the image's, as for open.
  if (found.parent_found && (found.error == imagefs::ReadError::None || found.error == imagefs::ReadError::NotFound))
    if (LayerFile* file = layer_file(found.parent, found.name, found.name_length))
      return files_node_executable(file->node, out);
  if (found.error != imagefs::ReadError::None) return image_errno(found.error);
  imagefs::Stat stat{};
  if (!follow_last && tree.stat(found.inode, stat) && (stat.mode & imagefs::TYPE_MASK) == imagefs::TYPE_SYMLINK)
    return -ELOOP;
  return image_executable(found.inode, out);
}

u64 image_file_size(u32 inode) {
  const imagefs::Inode* node = tree.inode(inode);
  return node == nullptr ? 0 : node->size;
}

bool image_is_directory(u32 inode) { return tree.is_directory(inode); }

i64 image_openat(u64 directory, u64 address, u64 flags, u64 mode) {
  ProgramPath path;
  u32 start = 0;
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  imagefs::Resolution found = tree.resolve(start, path.text, path.length, (flags & O_NOFOLLOW) == 0);
  bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0;
  // A file of the writable layer hides the image's (the invocation wrote it before).
  if (found.parent_found && (found.error == imagefs::ReadError::None || found.error == imagefs::ReadError::NotFound)) {
    if (LayerFile* file = layer_file(found.parent, found.name, found.name_length)) {
      if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return -EEXIST;
      return open_layer_file(file->node, flags);
    }
  }
  if (found.error == imagefs::ReadError::NotFound && found.parent_found && (flags & O_CREAT) != 0) {
    if ((flags & O_DIRECTORY) != 0) return -EISDIR;
    i64 node = copy_up(found.parent, found.name, found.name_length, nullptr, 0, static_cast<u32>(mode & 0666 & ~u64{022}));  // The default umask.
    return node < 0 ? node : open_layer_file(static_cast<u32>(node), flags);
  }
  if (found.error != imagefs::ReadError::None) return image_errno(found.error);
  imagefs::Stat stat{};
  if (!tree.stat(found.inode, stat)) return -EIO;
  u32 type = stat.mode & imagefs::TYPE_MASK;
  if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return -EEXIST;
  if (type == imagefs::TYPE_SYMLINK) return -ELOOP;
  if (type == imagefs::TYPE_DIRECTORY && (writing || (flags & O_CREAT) != 0)) return -EISDIR;
  if (type != imagefs::TYPE_DIRECTORY && (flags & O_DIRECTORY) != 0) return -ENOTDIR;
  if (writing) {
    // Copy-up: the invocation's own copy of the file, written from now on.
    u64 file_offset = 0;
    u64 size = 0;
    if (!tree.file_extent(found.inode, file_offset, size)) return -EIO;
    bool truncate = (flags & O_TRUNC) != 0;
    i64 node = copy_up(found.parent, found.name, found.name_length, tree.base() + file_offset, truncate ? 0 : size,
                       stat.mode & 07777);
    return node < 0 ? node : open_layer_file(static_cast<u32>(node), flags);
  }
  return install_image_descriptor(found.inode, flags);
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
  u32 start = 0;
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  if (path.length == 0) {
    if ((flags & AT_EMPTY_PATH) == 0) return -ENOENT;
    return image_fstat(start, buffer, statx);
  }
  imagefs::Resolution found = tree.resolve(start, path.text, path.length, (flags & AT_SYMLINK_NOFOLLOW) == 0);
  if (found.parent_found && (found.error == imagefs::ReadError::None || found.error == imagefs::ReadError::NotFound))
    if (LayerFile* file = layer_file(found.parent, found.name, found.name_length))
      return stat_layer_file(file->node, buffer, statx);
  if (found.error != imagefs::ReadError::None) return image_errno(found.error);
  return image_fstat(found.inode, buffer, statx);
}

i64 image_faccessat(u64 directory, u64 address, u64 mode, u64 flags) {
  constexpr u64 X_OK = 1, W_OK = 2;
  ProgramPath path;
  u32 start = 0;
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  u32 inode = start;
  if (path.length > 0) {
    error = image_resolve(start, path.text, path.length, (flags & AT_SYMLINK_NOFOLLOW) == 0, inode);
    if (error < 0) return error;
  } else if ((flags & AT_EMPTY_PATH) == 0) {
    return -ENOENT;
  }
  imagefs::Stat stat{};
  if (!tree.stat(inode, stat)) return -EIO;
  if ((mode & W_OK) != 0) return -EROFS;
  if ((mode & X_OK) != 0 && (stat.mode & 0111) == 0) return -EACCES;
  return 0;
}

i64 image_readlinkat(u64 directory, u64 address, u64 buffer, u64 length) {
  ProgramPath path;
  u32 start = 0;
  i64 error = image_path(directory, address, path, start);
  if (error != 0) return error;
  if (static_cast<i64>(length) <= 0) return -EINVAL;
  u32 inode = 0;
  error = image_resolve(start, path.text, path.length, false, inode);
  if (error < 0) return error;
  const char* target = nullptr;
  u64 target_length = 0;
  if (!tree.symlink_target(inode, target, target_length)) return -EINVAL;
  u64 count = target_length < length ? target_length : length;
  if (!writable(buffer, count)) return -EFAULT;
  memcpy(reinterpret_cast<void*>(buffer), target, count);
  return static_cast<i64>(count);
}

i64 image_chdir(u64 address) {
  ProgramPath path;
  u32 start = 0;
  i64 error = image_path(static_cast<u64>(static_cast<i64>(AT_FDCWD)), address, path, start);
  if (error != 0) return error;
  u32 inode = 0;
  error = image_resolve(start, path.text, path.length, true, inode);
  if (error < 0) return error;
  return image_fchdir(inode);
}

i64 image_fchdir(u32 inode) {
  if (!tree.is_directory(inode)) return -ENOTDIR;
  cwd_inode = inode;
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
  // Built backwards: each directory's name is found among its parent's entries.
  char path[imagefs::MAX_PATH];
  usize start = sizeof path - 1;
  path[start] = '\0';
  u32 inode = cwd_inode;
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

i64 image_read(u32 inode, u64 buffer, u64 length, u64 offset) {
  if (tree.is_directory(inode)) return -EISDIR;
  u64 file_offset = 0;
  u64 size = 0;
  if (!tree.file_extent(inode, file_offset, size)) return -EIO;
  if (!writable(buffer, length)) return -EFAULT;
  if (offset >= size) return 0;
  u64 count = size - offset < length ? size - offset : length;
  memcpy(reinterpret_cast<void*>(buffer), tree.base() + file_offset + offset, count);
  return static_cast<i64>(count);
}

i64 image_getdents64(u32 inode, u64& position, u64 buffer, u64 length) {
  if (!tree.is_directory(inode)) return -ENOTDIR;
  if (!writable(buffer, length)) return -EFAULT;
  const imagefs::Inode* directory = tree.inode(inode);
  u64 count = tree.entry_count(inode);
  u64 used = 0;
  // Positions: 0 is ".", 1 is "..", 2 + i the directory's entry i.
  while (position < count + 2) {
    const char* name = nullptr;
    u64 name_length = 0;
    u32 entry_inode = 0;
    u8 type = 4;  // DT_DIR
    if (position < 2) {
      name = position == 0 ? "." : "..";
      name_length = position + 1;
      entry_inode = position == 0 ? inode : directory->parent;
    } else {
      imagefs::DirectoryEntry entry{};
      if (!tree.entry(inode, position - 2, entry)) return used > 0 ? static_cast<i64>(used) : -EIO;
      name = entry.name;
      name_length = entry.length;
      entry_inode = entry.inode;
      type = entry.type;
    }
    u64 record = (19 + name_length + 1 + 7) & ~u64{7};
    if (used + record > length) {
      if (used == 0) return -EINVAL;
      break;
    }
    u8* out = reinterpret_cast<u8*>(buffer + used);
    u64 inode_number = u64{entry_inode} + 1;
    auto next = static_cast<i64>(position + 1);
    auto record_length = static_cast<std::uint16_t>(record);
    memcpy(out, &inode_number, 8);
    memcpy(out + 8, &next, 8);
    memcpy(out + 16, &record_length, 2);
    out[18] = type;
    memcpy(out + 19, name, name_length);
    memset(out + 19 + name_length, 0, record - 19 - name_length);
    used += record;
    position += 1;
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
