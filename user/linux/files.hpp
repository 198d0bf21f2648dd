// The Linux personality's descriptors and file system (files.cpp): the calls that take a
// descriptor or a path. Invariant: each function validates its arguments (descriptors, flags,
// program pointers through readable()/writable(), path length) before it changes anything, and
// returns a Linux result: a value >= 0 or a negated errno. All of it runs under state_lock() (the
// dispatcher takes it around every call here), so the threads of a program share one table.
#pragma once

#include "personality.hpp"

namespace personality {

// RLIMIT_NOFILE as Linux's default soft limit: a descriptor costs 4 bytes of the personality's
// data (copied at every invocation and fork), so any number up to 1023 works (shells keep theirs
// at 10 and up, bash at 255). Open file descriptions of files and pipes (what open and pipe make;
// dup and fork share them) live in the invocation's file store (file_store.hpp), up to
// STORE_MAX_DESCRIPTIONS, charged as they are used; the standard streams, epoll instances and
// eventfds have at most 32 descriptions per process.
constexpr u64 MAX_DESCRIPTORS = 1024;

// Whether the function has secret files (/var/openfaas/secrets, set by files_init): an image
// function then sees that directory from here, over the image's.
bool files_have_secrets();
// Shows the program's own file as /<function name> when the manager mapped it, and the function's
// secret files under /var/openfaas/secrets (personality_start).
void files_init();
// The auxiliary vector the program was started with (build_initial_stack): /proc/self/auxv's bytes.
void files_set_auxv(const u64* pairs, usize bytes);

// epoll (netpoll.cpp): its instances live in netpoll.cpp's table and are named here by index; it
// watches the personality's descriptors, pipes (pipes.cpp) included.
enum class NetpollKind : u8 { Input, Output, File, PipeRead, PipeWrite, Epoll, Event };
struct NetpollTarget {
  NetpollKind kind;
  u32 index;  // The pipe (PipeRead, PipeWrite), the epoll instance (Epoll) or the eventfd (Event).
};
// A new descriptor for epoll instance `index`; the descriptor or a negated errno (EMFILE, ENFILE).
i64 epoll_install(u32 index, bool close_on_exec);
// What an open descriptor is, for epoll; false if it is not open.
bool netpoll_target(u64 descriptor, NetpollTarget& target);
// The last close of an epoll instance.
void netpoll_released(u32 index);
i64 linux_epoll_create1(u64 flags);
i64 linux_epoll_ctl(u64 epoll_descriptor, u64 operation, u64 descriptor, u64 event);
i64 linux_epoll_pwait(u64 epoll_descriptor, u64 events, u64 max_events, u64 timeout_ms);

// eventfd (eventfd.cpp): counters named by index, like epoll instances.
i64 event_install(u32 index, bool nonblocking, bool close_on_exec);  // A descriptor, or a negated errno.
i64 linux_eventfd2(u64 initial, u64 flags);
void eventfd_released(u32 index);
// Bit 0: readable (the counter is not 0); bit 1: writable (a write of 1 would not wait).
u32 eventfd_state(u32 index);
i64 eventfd_read(u32 index, u64 buffer, u64 length, bool nonblocking);
i64 eventfd_write(u32 index, u64 buffer, u64 length, bool nonblocking);

// Descriptors.
i64 linux_read(u64 descriptor, u64 buffer, u64 length);
i64 linux_write(u64 descriptor, u64 buffer, u64 length);
i64 linux_readv(u64 descriptor, u64 vectors, u64 count);
i64 linux_writev(u64 descriptor, u64 vectors, u64 count);
i64 linux_pread(u64 descriptor, u64 buffer, u64 length, u64 offset);
i64 linux_pwrite(u64 descriptor, u64 buffer, u64 length, u64 offset);
i64 linux_lseek(u64 descriptor, u64 offset, u64 whence);
i64 linux_close(u64 descriptor);
i64 linux_dup(u64 descriptor);
i64 linux_dup3(u64 descriptor, u64 target, u64 flags, bool is_dup2);
i64 linux_fcntl(u64 descriptor, u64 command, u64 argument);
i64 linux_ioctl(u64 descriptor);
i64 linux_fsync(u64 descriptor);
i64 linux_poll(u64 descriptors, u64 count, u64 timeout_milliseconds);
i64 linux_fstat(u64 descriptor, u64 buffer);
i64 linux_ftruncate(u64 descriptor, u64 length);
i64 linux_getdents64(u64 descriptor, u64 buffer, u64 length);
i64 linux_fchdir(u64 descriptor);

// Paths; `directory` is a descriptor or AT_FDCWD (-100), as for the *at calls.
i64 linux_openat(u64 directory, u64 path, u64 flags, u64 mode);
i64 linux_newfstatat(u64 directory, u64 path, u64 buffer, u64 flags);
i64 linux_statx(u64 directory, u64 path, u64 flags, u64 mask, u64 buffer);
i64 linux_faccessat(u64 directory, u64 path, u64 mode, u64 flags);
i64 linux_mkdirat(u64 directory, u64 path, u64 mode);
i64 linux_unlinkat(u64 directory, u64 path, u64 flags);
i64 linux_renameat2(u64 old_directory, u64 old_path, u64 new_directory, u64 new_path, u64 flags);
i64 linux_readlinkat(u64 directory, u64 path, u64 buffer, u64 length);
i64 linux_truncate(u64 path, u64 length);
i64 linux_getcwd(u64 buffer, u64 length);
i64 linux_chdir(u64 path);
i64 linux_umask(u64 mask);

// Attributes (mode, owner, times, file system). /tmp nodes change; the read-only tree is EROFS.
i64 linux_fchmod(u64 descriptor, u64 mode);
i64 linux_fchmodat(u64 directory, u64 path, u64 mode);
i64 linux_fchown(u64 descriptor, u64 uid, u64 gid);
i64 linux_fchownat(u64 directory, u64 path, u64 uid, u64 gid, u64 flags);
i64 linux_utimensat(u64 directory, u64 path, u64 times, u64 flags);
i64 linux_futimesat(u64 directory, u64 path, u64 times);
i64 linux_utime(u64 path, u64 times);
i64 linux_statfs(u64 path, u64 buffer);
i64 linux_fstatfs(u64 descriptor, u64 buffer);

// Copies between descriptors through the personality (no mapping of files).
i64 linux_copy_file_range(u64 in_descriptor, u64 in_offset, u64 out_descriptor, u64 out_offset, u64 length, u64 flags);
i64 linux_sendfile(u64 out_descriptor, u64 in_descriptor, u64 offset, u64 count);

// What record locks need of a descriptor (locks.cpp): the file's identity, the description (the
// owner of OFD and flock locks), its access, offset (SEEK_CUR) and the file's size (SEEK_END).
struct LockTarget {
  u32 file;
  u32 description;
  bool readable, writable;
  u64 offset, size;
};
i64 lock_target(u64 descriptor, LockTarget& target);  // 0 or -EBADF.

// Record locks and flock (locks.cpp). The fcntl lock commands and flock block, so they run
// without the dispatcher's lock and take it themselves; the two hooks run under it.
bool is_lock_command(u64 command);
i64 linux_fcntl_lock(u64 descriptor, u64 command, u64 argument);
i64 linux_flock(u64 descriptor, u64 operation);
void locks_descriptor_closed(u32 file);            // The process's classic locks on `file` go.
void locks_description_released(u32 description);  // The description's OFD and flock locks go.

// True when `descriptor` names an open descriptor (mmap answers ENODEV for those, EBADF else).
bool descriptor_open(u64 descriptor);

// For image_files.cpp: the program's path copied in, image descriptions, and stat records.
struct ProgramPath {
  char text[4096];
  usize length;
};
i64 copy_program_path(u64 address, ProgramPath& path);
// A new descriptor on image inode `inode` (Stream::Image); the descriptor or a negated errno.
i64 install_image_descriptor(u32 inode, u64 flags);
// True (and its inode) when `descriptor` is open on an image file or directory.
bool image_descriptor(u64 descriptor, u32& inode);
struct FileStat {
  u64 inode, links, size, blocks;
  i64 mtime;  // Also atime and ctime: an image file never changes.
  u32 mode, uid, gid;
};
i64 write_file_stat(const FileStat& stat, u64 buffer, bool statx);
// The image's writable layer (image_files.cpp) is made of files.cpp's store nodes: for each image
// directory the invocation changed, a "shadow" directory (found by the image directory's inode)
// holds the layer's entries in it: files and directories it created or copied up, and whiteouts,
// which hide the image's entry of their name. Directories the layer created hold store nodes only.
// Node ids below; LAYER_NONE: none.
constexpr u32 LAYER_NONE = ~u32{0};
enum class LayerKind : u8 { Missing, Whiteout, File, Directory };
u32 layer_shadow(u32 inode);  // The shadow of image directory `inode`, or LAYER_NONE.
// False while the invocation has changed no image directory: paths resolve in the tree alone.
bool layer_in_use();
i64 layer_make_shadow(u32 inode);  // ... made if needed: its id or a negated errno (ENOSPC).
// The entry name[0, length) of layer directory `directory` and its kind (LAYER_NONE: Missing).
u32 layer_child(u32 directory, const char* name, usize length, LayerKind& kind);
// A node's parent: a layer directory, or (for a shadow) the image directory's inode with the top bit.
u32 layer_parent(u32 node);
const char* layer_name(u32 node);
bool layer_is_directory(u32 node);
u32 layer_mode(u32 node);  // Its permission bits.
bool layer_has_entries(u32 directory);  // Any entry but whiteouts.
// A new file (with `size` bytes of `contents`) or directory in layer directory `directory`,
// replacing a whiteout of its name: its id, or EEXIST, ENOSPC. `exact_mode`: not masked by the umask.
i64 layer_create(u32 directory, const char* name, usize length, bool is_directory, u32 mode, const u8* contents,
                 u64 size, bool exact_mode);
// A whiteout named name[0, length) in `directory`, replacing the layer's own entry of that name.
i64 layer_whiteout(u32 directory, const char* name, usize length);
void layer_remove(u32 node);  // Unlinks it from its directory (freed at its last close).
// Moves `node` to name[0, length) in `directory`, replacing what the layer has there (the caller
// checked the types); EINVAL for a directory moved below itself.
i64 layer_rename(u32 node, u32 directory, const char* name, usize length);
// getdents: the first entry (not a whiteout) of `directory` whose id is `from` or more, and its
// d_type; LAYER_NONE at the end (the next call starts at the id + 1).
u32 layer_next_entry(u32 directory, u64 from, u8& type);
u64 layer_inode_number(u32 node);
// True (and the node) when `descriptor` is open on a directory or file of the writable layer.
bool layer_descriptor(u64 descriptor, u32& node);
i64 open_layer_file(u32 node, u64 flags);
i64 stat_layer_file(u32 node, u64 buffer, bool statx);
// Processes (process.hpp): pipe2; at fork the parent counts each of its descriptors once more in
// the shared description it names (the child's copy) and its working directory (the child's),
// having made the file store first (false when the memory limit refuses it: the fork fails); a
// process that ends closes everything; exec closes the FD_CLOEXEC descriptors.
i64 linux_pipe2(u64 address, u64 flags);
[[nodiscard]] bool files_fork_references();
void files_fork_references_undo();
void files_close_all();
void files_close_on_exec();
// What execve loads (exec.cpp): the static function's own file (/proc/self/exe, /<name>), read
// through FUNCTION_EXECUTABLE; or a file whose bytes are in the task: in /tmp or the image's
// writable layer (Memory), or in the image tree (Tree, `tree_inode`: its pages can be shared).
enum class ExecutableKind : u8 { Own, Memory, Tree };
struct ExecutableFile {
  ExecutableKind kind;
  const u8* bytes;
  u64 size;
  u32 tree_inode;
};
// Resolves `path` (personality memory, `length` bytes, not NUL-counted) from `directory` (a
// descriptor or AT_FDCWD) for execve: 0 and `out`, or ENOENT, ENOTDIR, ELOOP, EBADF, or EACCES for
// a directory, a file without an x bit or anything not a regular file. An empty path with
// AT_EMPTY_PATH in `descriptor_flags` names the descriptor itself (execveat).
i64 files_resolve_executable(u64 directory, const char* path, usize length, u64 descriptor_flags,
                             ExecutableFile& out);
// A files.cpp node (/tmp, the writable layer) as an executable, with the same checks.
i64 files_node_executable(u32 node, ExecutableFile& out);

}  // namespace personality
