// gzip over zlib's inflate (Z_SOLO): members are inflated one after another into a 32 KiB
// buffer handed to the output; zlib's memory comes from the importer's arena.
#include "imagefs/import/gzip.hpp"

#include "zlib.h"

namespace imagefs {

namespace {

constexpr u64 OUTPUT_BYTES = 32768;
constexpr int GZIP_WINDOW_BITS = 16 + 15;  // gzip wrapper only, 32 KiB window.

voidpf allocate(voidpf opaque, uInt items, uInt size) {
  auto* arena = static_cast<Arena*>(opaque);
  return arena->allocate(static_cast<u64>(items) * size);
}

// The arena frees everything at once when the import ends.
void release(voidpf, voidpf) {}

}  // namespace

const char* gzip_error_text(GzipError error) {
  switch (error) {
    case GzipError::None: return "no error";
    case GzipError::Corrupt: return "gzip data is corrupt (bad header, deflate data, CRC or length)";
    case GzipError::Truncated: return "gzip data is truncated";
    case GzipError::OutOfMemory: return "out of memory for gzip";
    case GzipError::Output: return "the decompressed data was refused";
  }
  return "unknown gzip error";
}

bool looks_like_gzip(const u8* bytes, u64 length) { return length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

bool looks_like_zstd(const u8* bytes, u64 length) {
  return length >= 4 && bytes[0] == 0x28 && bytes[1] == 0xb5 && bytes[2] == 0x2f && bytes[3] == 0xfd;
}

GzipError GzipReader::fail(GzipError error) {
  error_ = error;
  return error;
}

GzipError GzipReader::reset() {
  error_ = GzipError::None;
  in_member_ = false;
  started_ = false;
  total_out_ = 0;
  if (!initialised_) {
    stream_ = static_cast<z_stream_s*>(arena_.allocate(sizeof(z_stream)));
    buffer_ = static_cast<u8*>(arena_.allocate(OUTPUT_BYTES));
    if (stream_ == nullptr || buffer_ == nullptr) return fail(GzipError::OutOfMemory);
    __builtin_memset(stream_, 0, sizeof(z_stream));
    stream_->zalloc = allocate;
    stream_->zfree = release;
    stream_->opaque = &arena_;
    int status = inflateInit2_(stream_, GZIP_WINDOW_BITS, ZLIB_VERSION, static_cast<int>(sizeof(z_stream)));
    if (status != Z_OK) return fail(status == Z_MEM_ERROR ? GzipError::OutOfMemory : GzipError::Corrupt);
    initialised_ = true;
    return GzipError::None;
  }
  if (inflateReset(stream_) != Z_OK) return fail(GzipError::Corrupt);
  return GzipError::None;
}

GzipError GzipReader::feed(const u8* bytes, u64 length, GzipOutput& output) {
  if (error_ != GzipError::None) return error_;
  if (!initialised_) return fail(GzipError::OutOfMemory);
  while (length > 0) {
    // zlib counts in 32-bit units: hand it at most 1 GiB at a time.
    uInt chunk = length > (1u << 30) ? (1u << 30) : static_cast<uInt>(length);
    stream_->next_in = const_cast<Bytef*>(bytes);
    stream_->avail_in = chunk;
    if (!in_member_) {
      // A further member after a complete one (concatenated gzip files are one stream).
      if (started_ && inflateReset(stream_) != Z_OK) return fail(GzipError::Corrupt);
      in_member_ = true;
    }
    started_ = true;
    for (;;) {
      stream_->next_out = buffer_;
      stream_->avail_out = static_cast<uInt>(OUTPUT_BYTES);
      int status = inflate(stream_, Z_NO_FLUSH);
      u64 produced = OUTPUT_BYTES - stream_->avail_out;
      if (status == Z_DATA_ERROR || status == Z_NEED_DICT || status == Z_STREAM_ERROR) return fail(GzipError::Corrupt);
      if (status == Z_MEM_ERROR) return fail(GzipError::OutOfMemory);
      if (produced > 0) {
        total_out_ += produced;
        if (!output.write(buffer_, produced)) return fail(GzipError::Output);
      }
      if (status == Z_STREAM_END) {
        in_member_ = false;
        break;
      }
      // Z_OK or Z_BUF_ERROR: go on while output may be pending, else wait for input.
      if (stream_->avail_out != 0 && stream_->avail_in == 0) break;
    }
    u64 consumed = chunk - stream_->avail_in;
    bytes += consumed;
    length -= consumed;
  }
  return GzipError::None;
}

GzipError GzipReader::finish() {
  if (error_ != GzipError::None) return error_;
  if (!started_ || in_member_) return fail(GzipError::Truncated);
  return GzipError::None;
}

}  // namespace imagefs
