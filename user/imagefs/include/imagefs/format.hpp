// The packed image tree: the on-disk and in-memory layout of an image's read-only root file
// system (docs/IMAGES.md). Invariant: a packed tree is one position-independent blob — every
// reference inside it is an offset or an index — so it can be mapped at any address, shared
// between invocations and never written; regular-file contents start on page boundaries so a
// file's pages can be mapped directly.
//
// Layout, in order: Header at 0; the inode table (Inode[inode_count]) at inode_offset; the
// directory entries (Entry[entry_count]) at entry_offset, each directory's entries contiguous and
// sorted by name; the string table (names, then symlink targets, no terminators) at
// string_offset; padding to a page; then each regular file's contents, page-aligned and padded.
#pragma once

#include "sys/types.hpp"

namespace imagefs {

using sys::i64;
using sys::u16;
using sys::u32;
using sys::u64;
using sys::u8;

// "IMAGEFS1" read as a little-endian integer.
constexpr u64 MAGIC = 0x3153464547414d49ULL;
constexpr u32 VERSION = 1;
constexpr u64 PAGE = 4096;

// Limits a packed tree never exceeds: the Writer refuses to grow past them (TooLarge) and the
// reader refuses a header beyond them.
constexpr u64 MAX_IMAGE_BYTES = u64{1} << 32;
constexpr u64 MAX_NODES = u64{1} << 22;
constexpr u32 ROOT_INODE = 0;
constexpr u64 MAX_PATH = 4096;
constexpr u64 MAX_NAME = 255;

// File types, the S_IFMT bits Linux uses, so an Inode's mode is st_mode as is.
constexpr u32 TYPE_MASK = 0170000;
constexpr u32 TYPE_DIRECTORY = 0040000;
constexpr u32 TYPE_REGULAR = 0100000;
constexpr u32 TYPE_SYMLINK = 0120000;
constexpr u32 PERMISSION_MASK = 07777;

struct Header {
  u64 magic;
  u32 version;
  u32 header_size;    // sizeof(Header): a later version may grow it.
  u64 image_size;     // Bytes in the whole blob, a multiple of PAGE.
  u32 inode_count;    // Inode 0 is the root directory.
  u32 reserved;
  u64 inode_offset;
  u64 entry_offset;
  u64 entry_count;
  u64 string_offset;
  u64 string_size;
  u64 data_offset;    // Page-aligned start of file contents.
};
static_assert(sizeof(Header) == 80);

struct Inode {
  u32 mode;    // st_mode: TYPE_* | permission bits.
  u32 uid;
  u32 gid;
  u32 nlink;   // Directories: 2 + subdirectories; files: their number of names.
  i64 mtime;   // Seconds since the epoch.
  // Regular file: bytes of contents; symlink: bytes of target; directory: number of entries.
  u64 size;
  // Regular file: offset of its contents in the blob (page-aligned; 0 when empty);
  // symlink: offset of its target in the string table; directory: index of its first entry.
  u64 offset;
  u32 parent;  // Directories: the inode ".." names (the root's is itself); others: 0.
  u32 reserved;
};
static_assert(sizeof(Inode) == 48);

struct Entry {
  u64 name_offset;   // In the string table.
  u32 inode;
  u16 name_length;   // 1..255, never "." or "..", no '/' or NUL.
  u8 type;           // The inode's TYPE_* >> 12, for getdents without an inode lookup.
  u8 reserved;
};
static_assert(sizeof(Entry) == 16);

// Where the tables start for a tree of `inodes` inodes and `entries` entries: the Writer lays
// them out with these and the reader checks the header against them.
constexpr u64 inode_table_offset() { return sizeof(Header); }
constexpr u64 entry_table_offset(u64 inodes) { return inode_table_offset() + inodes * sizeof(Inode); }
constexpr u64 string_table_offset(u64 inodes, u64 entries) {
  return entry_table_offset(inodes) + entries * sizeof(Entry);
}
constexpr u64 round_up_page(u64 bytes) { return (bytes + PAGE - 1) & ~(PAGE - 1); }

}  // namespace imagefs
