// imagefs::Reader: reads a packed image tree (format.hpp) in place — lookups, stat, directory
// listings, symlink targets, file extents and whole-path resolution. Invariant: the reader
// trusts nothing in the blob but the header it checked; every offset and index is bounds-checked
// where it is used, so a corrupt tree yields Corrupt answers, never a read outside the blob.
// Freestanding: the manager checks trees with it, the Linux personality serves image files with
// it, and host tools and tests read back what the Writer packed.
#pragma once

#include "imagefs/format.hpp"

namespace imagefs {

enum class ReadError : u8 {
  None = 0,
  NotFound,       // ENOENT
  NotADirectory,  // ENOTDIR
  Loop,           // ELOOP: more than MAX_SYMLINKS symlinks in one resolution
  NameTooLong,    // ENAMETOOLONG
  Corrupt,        // EIO: the tree breaks format.hpp's rules
};

// Linux follows at most 40 symlinks in one path resolution.
constexpr u32 MAX_SYMLINKS = 40;

// Why check_header refused a blob, for the manager's answer; nullptr when it is fine.
const char* check_header(const void* base, u64 length);

struct Stat {
  u32 inode;
  u32 mode;
  u32 uid;
  u32 gid;
  u32 nlink;
  u64 size;     // Directories report one page, as small directories do on ext4.
  u64 blocks;   // 512-byte units: file sizes rounded to pages; symlinks 0.
  i64 mtime;
};

struct DirectoryEntry {
  const char* name;
  u64 length;
  u32 inode;
  u8 type;      // TYPE_* >> 12, i.e. Linux's DT_* value.
};

// A path resolution's outcome. When only the last component is missing (NotFound with
// `parent_found`), `parent` and `name` say where it would be created.
struct Resolution {
  ReadError error;
  u32 inode;
  u32 parent;
  bool parent_found;
  const char* name;
  u64 name_length;
};

class Reader {
 public:
  Reader() = default;
  // Checks the header; false (and an invalid reader) when check_header refuses the blob.
  bool open(const void* base, u64 length);
  bool valid() const { return base_ != nullptr; }
  const u8* base() const { return base_; }
  u64 size() const { return size_; }

  // The inode `number`, or nullptr when out of range.
  const Inode* inode(u32 number) const;
  bool stat(u32 number, Stat& out) const;
  bool is_directory(u32 number) const;

  // The entry named `name` in `directory` (binary search over its sorted entries).
  ReadError lookup(u32 directory, const char* name, u64 length, u32& found) const;
  // Entries of `directory` (0 when it is not one or is corrupt) and one of them by index.
  u64 entry_count(u32 directory) const;
  bool entry(u32 directory, u64 index, DirectoryEntry& out) const;
  bool symlink_target(u32 number, const char*& target, u64& length) const;
  // A regular file's contents: `offset` into the blob (page-aligned) and `length` bytes; the
  // padding after them up to the next page is zero.
  bool file_extent(u32 number, u64& offset, u64& length) const;

  // Resolves `path` (absolute from the root, else relative to directory `start`), following
  // symlinks — absolute ones from the root — and ".." (the root's parent is the root, so no
  // path leaves the tree). The last component's symlink is followed when `follow_last` or when
  // the path ends in '/'; a path ending in '/' must name a directory.
  Resolution resolve(u32 start, const char* path, u64 length, bool follow_last) const;

 private:
  const Entry* entries_of(u32 directory, u64& count) const;
  bool name_of(const Entry& entry, const char*& name) const;

  const u8* base_ = nullptr;
  u64 size_ = 0;
  const Header* header_ = nullptr;
};

}  // namespace imagefs
