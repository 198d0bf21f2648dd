// A streaming tar reader: bytes are pushed in pieces of any size, entries come out through a
// TarVisitor with their (PAX or GNU long) names and their data as slices of the input. It reads
// ustar, GNU and PAX archives as Go's archive/tar, GNU tar and libarchive write them.
// Invariant: after an error nothing more reaches the visitor, and every later feed() and
// finish() answers the same error.
#pragma once

#include "imagefs/import/types.hpp"

namespace imagefs {

enum class TarType : u8 { File, Directory, Symlink, Hardlink, Special };  // Special: device, FIFO.

struct TarEntry {
  TarType type;
  const char* path;  // As written in the archive, not normalised; not NUL-terminated.
  u64 path_length;
  const char* link;  // Symlink or hard link target.
  u64 link_length;
  u64 size;          // Data bytes that follow (File only; 0 otherwise).
  u32 mode;          // Permission and special bits (07777).
  u32 uid;
  u32 gid;
  i64 mtime;
};

enum class TarError : u8 {
  None,
  Truncated,        // the input ended inside a header or inside an entry's data
  BadChecksum,      // a header's checksum does not match its bytes
  BadHeader,        // a number field that is not a number, a size beyond 2^63, a lone zero block
  UnsupportedType,  // sparse files, multi-volume parts and other entry types images never need
  NameTooLong,      // a name or link beyond TAR_MAX_NAME, or an extended header beyond TAR_MAX_EXTENDED
  BadExtendedHeader,  // a PAX record that does not parse
  Visitor,          // the visitor refused an entry (its own error says why)
};

const char* tar_error_text(TarError error);

constexpr u64 TAR_MAX_NAME = 4096;
constexpr u64 TAR_MAX_EXTENDED = 65536;

class TarVisitor {
 public:
  // An entry; for a File, its `size` bytes follow in data() calls before the next entry.
  virtual bool entry(const TarEntry& entry) = 0;
  virtual bool data(const u8* bytes, u64 length) = 0;

 protected:
  ~TarVisitor() = default;
};

class TarReader {
 public:
  explicit TarReader(TarVisitor& visitor) : visitor_(visitor) {}

  // Starts over for a new archive (the buffers are kept).
  void reset();
  TarError feed(const u8* bytes, u64 length);
  // The end of the input. An archive may end without its two zero blocks, and its last file's
  // data may lack the padding to 512 bytes (umoci 0.4 writes layers so); it may not end inside a
  // header or before an entry's data is complete.
  TarError finish();
  // True once the end-of-archive blocks were seen (bytes after them are ignored).
  bool ended() const { return state_ == State::End; }
  u64 entries() const { return entries_; }

 private:
  enum class State : u8 { Header, ExtendedData, LongName, LongLink, Skip, FileData, Padding, End, Failed };

  TarError fail(TarError error);
  TarError header_complete();
  TarError entry_from_header();
  bool parse_extended();

  TarVisitor& visitor_;
  State state_ = State::Header;
  TarError error_ = TarError::None;
  u8 header_[512] = {};
  u64 header_filled_ = 0;
  bool zero_block_seen_ = false;
  u64 remaining_ = 0;  // Data bytes left in the current state.
  u64 padding_ = 0;    // Padding bytes after it.
  u64 collected_ = 0;  // Bytes of an extended header or long name collected so far.
  u64 entries_ = 0;

  // Overrides for the next entry, from PAX records ('x') or GNU long names ('L', 'K').
  char extended_[TAR_MAX_EXTENDED] = {};
  char long_name_[TAR_MAX_NAME + 1] = {};
  u64 long_name_length_ = 0;
  char long_link_[TAR_MAX_NAME + 1] = {};
  u64 long_link_length_ = 0;
  char pax_path_[TAR_MAX_NAME + 1] = {};
  u64 pax_path_length_ = 0;
  bool has_pax_path_ = false;
  char pax_link_[TAR_MAX_NAME + 1] = {};
  u64 pax_link_length_ = 0;
  bool has_pax_link_ = false;
  bool has_pax_size_ = false;
  u64 pax_size_ = 0;
  bool has_pax_uid_ = false;
  u64 pax_uid_ = 0;
  bool has_pax_gid_ = false;
  u64 pax_gid_ = 0;
  bool has_pax_mtime_ = false;
  i64 pax_mtime_ = 0;
  char name_[256 + 1 + 155] = {};  // prefix + '/' + name of a ustar header.
};

}  // namespace imagefs
