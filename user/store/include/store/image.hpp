// Images in the store (docs/IMAGES.md, "Images in the store"): the names under which an imported
// image's blobs live, the image record's layout, and image references as users write them.
// Shared by the store (which writes records), the manager (which reads them to deploy) and the
// gateway (which names images in requests). Freestanding: no allocation, no C library.
// Invariant: an image record names exactly one tree blob; every record and tree name is built by
// the functions here, so a user's image name can never collide with another kind of blob ('+'
// is not allowed in image names).
#pragma once

#include "store/protocol.hpp"

namespace store {

// An image reference: 1-MAX_IMAGE_NAME_BYTES bytes of [A-Za-z0-9._/:@-], starting with a letter or
// digit ("busybox", "ghcr.io/acme/hello:1.2"). A reference without a tag (no ':' after its last
// '/') and without a digest ('@') means ":latest", as for docker.
constexpr u64 MAX_IMAGE_NAME_BYTES = 100;

constexpr bool is_image_name_byte(u8 c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || c == '/' || c == ':' || c == '@';
}

// True when text[0, length) starts with `prefix`.
inline bool has_prefix(const char* text, u64 length, const char* prefix) {
  u64 i = 0;
  for (; prefix[i] != '\0'; ++i)
    if (i >= length || text[i] != prefix[i]) return false;
  return true;
}

// Copies `length` bytes of `text` into `out` (NAME_BYTES) as a normalised reference, in docker's
// familiar form: "docker.io/" and then "library/" dropped ("docker.io/library/busybox" is
// "busybox"), ":latest" added when it has no tag or digest. False when it is not a valid reference.
inline bool normalise_image_name(const char* text, u64 length, char (&out)[NAME_BYTES]) {
  if (has_prefix(text, length, "docker.io/")) {
    text += 10;
    length -= 10;
    if (has_prefix(text, length, "library/")) {
      text += 8;
      length -= 8;
    }
  }
  if (length == 0 || length > MAX_IMAGE_NAME_BYTES) return false;
  u8 first = static_cast<u8>(text[0]);
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || (first >= '0' && first <= '9')))
    return false;
  bool tagged = false;
  for (u64 i = 0; i < length; ++i) {
    u8 c = static_cast<u8>(text[i]);
    if (!is_image_name_byte(c)) return false;
    if (c == '/') tagged = false;
    if (c == ':' || c == '@') tagged = true;
  }
  if (text[length - 1] == ':' || text[length - 1] == '/' || text[length - 1] == '@') return false;
  u64 at = 0;
  for (; at < length; ++at) out[at] = text[at];
  if (!tagged) {
    const char* latest = ":latest";
    for (u64 i = 0; latest[i] != '\0'; ++i) out[at++] = latest[i];
  }
  for (; at < NAME_BYTES; ++at) out[at] = '\0';
  return true;
}

constexpr u64 MAX_TENANT = 65535;

// "image+<tenant>+<reference>": the record of a tenant's image (tenants are the gateway's API-key
// tenants; each sees only its own images). `reference` is already normalised.
inline void image_record_name(u64 tenant, const char* reference, char (&out)[NAME_BYTES]) {
  const char* prefix = "image+";
  u64 at = 0;
  for (u64 i = 0; prefix[i] != '\0'; ++i) out[at++] = prefix[i];
  char digits[8];
  u64 count = 0;
  do {
    digits[count++] = static_cast<char>('0' + tenant % 10);
    tenant /= 10;
  } while (tenant != 0 && count < sizeof digits);
  while (count > 0) out[at++] = digits[--count];
  out[at++] = '+';
  for (u64 i = 0; reference[i] != '\0' && at + 1 < NAME_BYTES; ++i) out[at++] = reference[i];
  for (; at < NAME_BYTES; ++at) out[at] = '\0';
}

// The image record (a blob of at most MAX_IMAGE_RECORD_BYTES): this header, then the strings,
// each NUL-terminated: working directory, user, `entrypoint_count` entrypoint words,
// `cmd_count` command words, `env_count` "KEY=VALUE" strings.
constexpr u64 IMAGE_RECORD_MAGIC = 0x3147414d49454d4dull;  // "MMEIMAG1", little-endian.
constexpr u64 MAX_IMAGE_RECORD_BYTES = 64 * 1024;
constexpr u32 IMAGE_HAS_ENTRYPOINT = 1;  // Absent (or null) differs from an empty list.
constexpr u32 IMAGE_HAS_CMD = 2;

struct ImageRecord {
  u64 magic;
  u64 record_bytes;      // Header and strings.
  u64 tree_bytes;        // The packed tree's size.
  u64 unpacked_bytes;    // The layers' decompressed bytes.
  char tree[NAME_BYTES];  // The tree blob's name ("tree+<16 hex digits>").
  char digest[80];       // "sha256:<64 hex>": the manifest's (docker-archive: the configuration's).
  char created[48];      // The configuration's `created`, cut to fit; "" when absent.
  u32 flags;
  u32 entrypoint_count;
  u32 cmd_count;
  u32 env_count;
  u32 layers;
  u32 strings_bytes;
};
static_assert(sizeof(ImageRecord) == 312);

// Checks a whole record held in `bytes` (`length` bytes) and copies its header out: false when
// it is malformed (wrong magic or sizes, strings not as many as the counts say, unterminated text).
inline bool check_image_record(const u8* bytes, u64 length, ImageRecord& header) {
  if (length < sizeof(ImageRecord)) return false;
  __builtin_memcpy(&header, bytes, sizeof header);
  if (header.magic != IMAGE_RECORD_MAGIC || header.record_bytes != length || length > MAX_IMAGE_RECORD_BYTES ||
      header.strings_bytes != length - sizeof(ImageRecord))
    return false;
  u64 strings = 0;
  for (u64 i = sizeof(ImageRecord); i < length; ++i)
    if (bytes[i] == 0) ++strings;
  if (length > sizeof(ImageRecord) && bytes[length - 1] != 0) return false;
  u64 expected = 2 + u64{header.entrypoint_count} + header.cmd_count + header.env_count;
  if (strings != expected) return false;
  if (header.tree[NAME_BYTES - 1] != 0 || header.digest[sizeof header.digest - 1] != 0 ||
      header.created[sizeof header.created - 1] != 0)
    return false;
  return true;
}

}  // namespace store
