// What the importer's archive logic (importer.cpp) and its layer walker (layer.cpp) share: the
// archive's file table, the layers to apply, and the error message builder.
// Invariant: a Message never writes past its buffer and is always NUL-terminated.
#pragma once

#include "imagefs/import/importer.hpp"
#include "sha256/sha256.hpp"

namespace imagefs {

constexpr u64 DIGEST_BYTES = 32;

// A file or link of the archive, by its normalised name.
struct Importer::ArchiveFile {
  char* name;
  u64 name_length;
  bool is_link;
  char* link;  // Link target as written (resolved relative to the link's directory).
  u64 link_length;
  BlobId blob;
  u64 size;
  u8 digest[DIGEST_BYTES];  // sha256 of the file's bytes, once complete.
};

enum class Compression : u8 { None, Gzip };

struct Importer::Layer {
  const ArchiveFile* file;
  Compression compression;
  char digest[72];         // The descriptor's digest (docker: the archive file's name), for messages.
  bool has_diff_id;
  u8 diff_id[DIGEST_BYTES];  // sha256 of the decompressed tar, from the configuration.
  bool has_whiteouts;      // Found by the check pass: the apply pass then walks it twice.
};

// Builds an error message: text, numbers, digests and paths (shortened and made printable).
class Importer::Message {
 public:
  Message& text(const char* value) { return bytes(value, string_length(value)); }
  Message& bytes(const char* value, u64 length) {
    for (u64 i = 0; i < length; ++i) put(value[i]);
    return *this;
  }
  // A path or name from the archive: at most 200 bytes, control characters as '?'.
  Message& path(const char* value, u64 length) {
    constexpr u64 SHOWN = 200;
    for (u64 i = 0; i < length && i < SHOWN; ++i) {
      auto byte = static_cast<u8>(value[i]);
      put(byte < 0x20 || byte == 0x7f ? '?' : value[i]);
    }
    if (length > SHOWN) text("...");
    return *this;
  }
  Message& number(u64 value) {
    char digits[24];
    u64 count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (count > 0) put(digits[--count]);
    return *this;
  }
  Message& digest(const u8* bytes) {
    static constexpr char HEX[] = "0123456789abcdef";
    text("sha256:");
    for (u64 i = 0; i < DIGEST_BYTES; ++i) {
      put(HEX[bytes[i] >> 4]);
      put(HEX[bytes[i] & 15]);
    }
    return *this;
  }
  const char* c_str() const { return buffer_; }

 private:
  void put(char c) {
    if (length_ + 1 < Importer::MESSAGE_BYTES) {
      buffer_[length_++] = c;
      buffer_[length_] = '\0';
    }
  }
  char buffer_[Importer::MESSAGE_BYTES] = {};
  u64 length_ = 0;
};

// Path normalisation for layer entries: leading '/' and "./" dropped, "." and empty components
// dropped, ".." refused. The result (possibly empty: the root) goes to `out`.
enum class PathCheck : u8 { Ok, Escapes, Bad };
PathCheck normalise_path(const char* path, u64 length, char* out, u64& out_length);

// "sha256:" + 64 lower-case hex digits into 32 bytes.
bool parse_digest(const char* text, u64 length, u8* digest);

}  // namespace imagefs
