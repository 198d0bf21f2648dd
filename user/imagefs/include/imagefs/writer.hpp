// imagefs::Writer: builds a packed image tree (the read-only file system an image function sees
// as "/") from entries given in any order, as an image's layers apply them. The packed format
// (format.hpp) is what the store keeps on disk and what the Linux personality maps read-only and
// reads without a server round trip. Invariant: the tree in a Writer is always a valid tree (every
// node's parent is a directory that exists); a call that would break it changes nothing and
// returns an error naming why.
//
// This header is the contract between the image importer (import/, which turns OCI and docker
// archives into Writer calls) and the packed format (writer.cpp, reader.hpp). It is freestanding:
// the same code runs in the guest's image store and in host tools and unit tests.
#pragma once

#include "imagefs/format.hpp"

namespace imagefs {

// Where the Writer's nodes and file contents live until finish(): the guest backs it with lazily
// committed memory, host tools with malloc. Memory is never returned before the Writer ends.
class Arena {
 public:
  // At least `bytes` bytes aligned to 16, or nullptr when the arena is exhausted.
  virtual void* allocate(u64 bytes) = 0;

 protected:
  ~Arena() = default;
};

// Where finish() writes the packed image: in order, from offset 0, `size()` bytes in all.
class Sink {
 public:
  // false ends finish() with WriterError::SinkFailed.
  virtual bool write(const void* bytes, u64 length) = 0;

 protected:
  ~Sink() = default;
};

enum class WriterError : u8 {
  BadPath = 1,        // empty, absolute, "." or ".." components, a NUL, longer than MAX_PATH
  NoParent,           // a component before the last is missing or is not a directory
  NotADirectory,      // directory() over an existing non-directory is fine (replaced); this is
                      // for clear() on a non-directory
  NoSuchEntry,        // hardlink() to a missing path, remove() of nothing is NOT an error
  HardlinkToDirectory,
  SizeMismatch,       // data() beyond the size announced by file(), or file() before the
                      // previous file's data was complete
  OutOfMemory,        // the arena is exhausted
  TooLarge,           // the packed image would exceed MAX_IMAGE_BYTES or MAX_NODES
  SinkFailed,
};

// Text for an error, for HTTP answers and logs ("a path component is missing or not a directory").
const char* writer_error_text(WriterError error);

// MAX_PATH and MAX_NAME are in format.hpp: the reader enforces them too.

struct Metadata {
  u32 mode;   // Permission and special bits (07777); the type comes from the call.
  u32 uid;
  u32 gid;
  i64 mtime;  // Seconds since the epoch.
};

// A Writer's result: every call either succeeds or leaves the tree unchanged.
struct [[nodiscard]] WriterStatus {
  bool ok;
  WriterError error;
  static WriterStatus success() { return {true, WriterError::BadPath}; }
  static WriterStatus failure(WriterError e) { return {false, e}; }
};

class Writer {
 public:
  explicit Writer(Arena& arena);

  // Paths are relative to the root, '/'-separated, without "." or ".." or empty components;
  // the root itself is the empty path (only directory() and clear() accept it). An entry
  // replaces whatever was at its path (a later layer wins); replacing a directory by a
  // non-directory drops everything below it, replacing a directory by a directory keeps its
  // children and takes the new metadata (as OCI layer application does).
  WriterStatus directory(const char* path, u64 path_length, Metadata metadata);
  WriterStatus symlink(const char* path, u64 path_length, Metadata metadata, const char* target,
                       u64 target_length);
  // A second name for the regular file at `existing` (same node: same contents and metadata).
  WriterStatus hardlink(const char* path, u64 path_length, const char* existing, u64 existing_length);
  // A device, FIFO or socket node is not supported in images: the importer skips those.
  // A regular file of `size` bytes; its contents follow in data() calls before the next entry.
  WriterStatus file(const char* path, u64 path_length, Metadata metadata, u64 size);
  WriterStatus data(const void* bytes, u64 length);
  // Whiteouts: remove() deletes the path and everything below it (nothing there is not an error);
  // clear() empties a directory but keeps it (an opaque directory).
  WriterStatus remove(const char* path, u64 path_length);
  WriterStatus clear(const char* path, u64 path_length);

  // Totals of the tree as it stands: nodes (directories, files, symlinks; hard links count once)
  // and the bytes the packed image would take.
  u64 node_count() const;
  u64 packed_size() const;

  // Writes the packed image to `sink`. The Writer stays usable (finish may be called again).
  WriterStatus finish(Sink& sink);

 private:
  struct Inode;
  struct Entry;
  struct Parsed;
  WriterStatus check_open() const;
  WriterStatus prepare(const char* path, u64 path_length, bool root_allowed, Parsed& parsed);
  WriterStatus ensure_root();
  WriterStatus reserve_buckets(u64 entries);
  Entry* find(const Inode* directory, const char* name, u64 length) const;
  Entry* new_entry(const char* name, u64 length);
  Inode* new_inode(u32 mode, Metadata metadata);
  void link(Inode* directory, Entry* entry, Inode* inode);
  void drop(Entry* entry);
  void release(Inode* inode);
  WriterStatus fits(u64 more_nodes, u64 more_entries, u64 more_strings, u64 more_data) const;
  void sort_children(Inode* directory);

  Arena& arena_;
  Inode* root_ = nullptr;
  Inode* open_file_ = nullptr;  // The file whose data() is still due.
  u64 open_file_remaining_ = 0;
  u64 node_count_ = 0;          // Live inodes, the root included.
  u64 data_bytes_ = 0;          // Page-rounded contents of live files.
  u64 entry_count_ = 0;         // Live names (the root has none).
  u64 string_bytes_ = 0;        // Names plus symlink targets.
  Entry** buckets_ = nullptr;   // (parent, name) -> entry, chained; a power-of-two count.
  u64 bucket_count_ = 0;
  u32 generation_ = 0;          // Marks inodes already numbered by the current finish().
};

}  // namespace imagefs
