// The image tree of an image function (FUNCTION_FLAG_IMAGE, docs/IMAGES.md) as the Linux program
// sees it: "/" is the packed tree the manager mapped read-only at IMAGE_TREE_ADDRESS, except
// /tmp, /dev and /proc, which stay the personality's own (files.cpp). Every call is served here,
// in the function's task, from the mapped tree: no server round trip. File mappings of image
// files (and the program and its loader, program_loader.cpp) map the tree's own pages, or private
// copies of them for writable mappings. Invariant: nothing here writes the tree; a page of the
// task is never writable and executable at once.
#pragma once

#include "files.hpp"
#include "imagefs/reader.hpp"
#include "lib/elf.hpp"
#include "personality.hpp"

namespace personality {

// What the path and descriptor hooks answer when the call is not about the image: files.cpp goes
// on as without an image.
constexpr i64 NOT_IMAGE = -(i64{1} << 40);

bool image_active();
void image_init();
const imagefs::Reader& image_tree();
// Resolves `path` from the image root (or `start`), following symlinks; a negated errno or 0.
i64 image_resolve(u32 start, const char* path, usize length, bool follow_last, u32& inode);
i64 image_errno(imagefs::ReadError error);

// Path calls (files.cpp calls these first while an image is active).
i64 image_openat(u64 directory, u64 path, u64 flags, u64 mode);
i64 image_stat_at(u64 directory, u64 path, u64 buffer, u64 flags, bool statx);
i64 image_faccessat(u64 directory, u64 path, u64 mode, u64 flags);
i64 image_readlinkat(u64 directory, u64 path, u64 buffer, u64 length);
// The writable layer's directory calls: mkdir, unlink and rmdir (whiteouts over the image's
// entries), rename within the layer (EXDEV for a directory of the image, or across /tmp).
i64 image_mkdirat(u64 directory, u64 path, u64 mode);
i64 image_unlinkat(u64 directory, u64 path, u64 flags);
i64 image_renameat2(u64 old_directory, u64 old_path, u64 new_directory, u64 new_path, u64 flags);
i64 image_chdir(u64 path);
i64 image_fchdir(u32 inode);
// The working directory becomes `node`, a directory the writable layer made (files.hpp).
i64 image_enter_layer_directory(u32 node);
// The image's WorkingDir (LinuxStart::working_directory, a directory of the tree checked at deploy,
// relative ones from "/") as the first working directory. Its errno when the tree lacks it.
i64 image_start_directory(const char* path, usize length);
i64 image_getcwd(u64 buffer, u64 length);
// The working directory left the image (chdir into /tmp): relative paths are files.cpp's again.
void image_leave_working_directory();

// Calls on an open image description (files.cpp's Stream::Image; `inode` is its file).
i64 image_read(u32 inode, u64 buffer, u64 length, u64 offset);
i64 image_getdents64(u32 inode, u64& position, u64 buffer, u64 length);
i64 image_fstat(u32 inode, u64 buffer, bool statx);
u64 image_file_size(u32 inode);
bool image_is_directory(u32 inode);

// File mappings: the tree's pages mapped into the task (read-only, or read-execute), private
// copies for writable ones, anonymous pages placed over them (a loader's .bss).
i64 image_mmap(u32 inode, u64 address, u64 length, u64 protection, u64 flags, u64 offset);
bool image_mapping_overlaps(u64 start, u64 end);
i64 image_map_anonymous_fixed(u64 start, u64 end, u64 protection);
void image_unmap(u64 start, u64 end);
i64 image_mprotect(u64 start, u64 end, u64 protection);
// True when every page of [start, end) is in a file mapping that allows the access.
bool image_mapping_permits(u64 start, u64 end, bool write);

// Maps `pages` pages of the tree from file page `tree_page` (read or read-execute), or a private
// copy of `file_bytes` bytes from tree byte `tree_offset` placed `lead` bytes into fresh pages
// (writable segments, .bss after them), at `address`, replacing any file mapping there. 0 or a
// negated errno. For program_loader.cpp.
i64 image_map_shared(u64 address, u64 pages, u64 tree_page, bool executable);
i64 image_map_private(u64 address, u64 pages, u64 lead, u64 tree_offset, u64 file_bytes, bool writable);
// A private copy of `count` bytes at `bytes` (a /tmp file's ELF segment) placed `lead` bytes into
// fresh pages at `address`: read-write, read-only, or read-execute (the pages are written by the
// kernel and never mapped writable then, so W^X holds). 0 or a negated errno.
i64 image_map_copy(u64 address, u64 pages, u64 lead, const u8* bytes, u64 count, bool writable, bool executable);
// exec: every file mapping goes (the old program, its loader, its libraries and file mappings),
// their private Memory with them; the file area starts afresh.
void image_release_mappings();
// execve: what `path` (personality memory) names in the image from `directory`: a tree file or a
// file of the writable layer. NOT_IMAGE (not the image's: /tmp, /dev, /proc, or a relative path
// outside it), a negated errno (EACCES: a directory or no x bit; ELOOP: a symlink last when
// `follow_last` is false), or 0 and `out`.
i64 image_resolve_executable(u64 directory, const char* path, usize length, bool follow_last, ExecutableFile& out);
// A tree inode as an executable (EACCES for a directory or a file without an x bit).
i64 image_executable(u32 inode, ExecutableFile& out);
// Address space for a file mapping of `bytes` (page multiple) in the file area; 0 when exhausted.
u64 image_reserve_addresses(u64 bytes);

// fork (process.cpp): what a child needs to show the same file mappings. The tree itself is one
// read-only Memory (FUNCTION_IMAGE_TREE) the child maps alike; private Memory objects (data
// segments, writable and anonymous-over-file mappings) are copied. Entry `index` of the mapping
// table: false when unused; else its range, the Memory it shows (FUNCTION_IMAGE_TREE, a private
// Memory's slot, or 0: nothing), its first page and the rights it is mapped with (0: not mapped).
constexpr usize IMAGE_MAX_MAPPINGS = 96;
struct ImageMapping {
  u64 start, end, memory, first_page;
  u32 rights;
};
bool image_mapping(usize index, ImageMapping& out);
// Private Memory `index` (< IMAGE_MAX_MAPPINGS): false when unused; else its slot, size and kind.
struct ImagePrivateMemory {
  u64 slot, pages;
  bool lazy;  // Lazy (zero pages charged as touched) or eager (a copy of file bytes).
};
bool image_private_memory(usize index, ImagePrivateMemory& out);

// program_loader.cpp: loads the program at `path` in the tree and its PT_INTERP loader, fills the
// LinuxStart-derived state (entry, program headers, brk start) and says where to enter.
struct LoadedProgram {
  u64 entry;          // AT_ENTRY: the program's own entry.
  u64 start;          // Where the thread starts: the loader's entry, or the program's.
  u64 loader_base;    // AT_BASE (0 without a loader).
  u64 program_headers;
  u64 program_header_count;
  u64 image_end;      // brk starts here.
};
i64 load_program(const char* path, usize length, LoadedProgram& out);
// execve's two steps: check_program validates an executable ELF file and its loader without
// changing anything (ENOEXEC, or ENOENT/EACCES for the loader); after the old program is gone,
// load_checked_program maps them (a file in the task's memory gets private copies; its loader
// must be in the image). A dynamically linked program needs an image tree (ENOEXEC without).
// The program and its PT_INTERP loader (resolved in the image: an absolute path, symlinks inside
// it) as check_program found them.
struct CheckedProgram {
  klib::ElfImage program, loader;
  ExecutableFile loader_file;
  bool has_loader;
};
i64 check_program(const ExecutableFile& file, CheckedProgram& checked);
i64 load_checked_program(const ExecutableFile& file, const CheckedProgram& checked, LoadedProgram& out);

}  // namespace personality
