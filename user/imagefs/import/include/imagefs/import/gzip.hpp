// gzip decompression for image layers (and gzip-compressed outer archives), over zlib's inflate
// built freestanding from Debian's zlib source package (Z_SOLO: no C library, memory from an
// Arena). Input is pushed in pieces; output goes to a GzipOutput in pieces of up to 32 KiB.
// Invariant: the CRC-32 and length trailers of every member are checked by zlib; after an error
// nothing more is written to the output until reset().
#pragma once

#include "imagefs/import/types.hpp"
#include "imagefs/writer.hpp"

struct z_stream_s;

namespace imagefs {

enum class GzipError : u8 {
  None,
  Corrupt,    // not gzip, or its deflate data, CRC or length is wrong
  Truncated,  // the input ended inside a member
  OutOfMemory,
  Output,     // the output refused the bytes (its own error says why)
};

const char* gzip_error_text(GzipError error);

class GzipOutput {
 public:
  virtual bool write(const u8* bytes, u64 length) = 0;

 protected:
  ~GzipOutput() = default;
};

// True when the bytes start like a gzip member (1f 8b).
bool looks_like_gzip(const u8* bytes, u64 length);
// True when the bytes start like a zstd frame (28 b5 2f fd).
bool looks_like_zstd(const u8* bytes, u64 length);

class GzipReader {
 public:
  // Takes zlib's state (about 40 KiB with its window) and a 32 KiB output buffer from the
  // arena once; reset() reuses them for every later stream.
  explicit GzipReader(Arena& arena) : arena_(arena) {}

  // Starts a new stream (a gzip file of one or more members).
  GzipError reset();
  GzipError feed(const u8* bytes, u64 length, GzipOutput& output);
  // The end of the input: the last member must be complete.
  GzipError finish();
  u64 total_out() const { return total_out_; }

 private:
  GzipError fail(GzipError error);

  Arena& arena_;
  z_stream_s* stream_ = nullptr;
  u8* buffer_ = nullptr;
  bool initialised_ = false;
  bool in_member_ = false;  // Input of a member was read and its end not yet seen.
  bool started_ = false;    // Any input at all.
  GzipError error_ = GzipError::None;
  u64 total_out_ = 0;
};

}  // namespace imagefs
