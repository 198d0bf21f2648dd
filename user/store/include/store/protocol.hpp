// The image store's IPC protocol: what clients send to the store server (user/store/) on its
// endpoint `store`, and what it answers. Shared by the server, its clients and the host unit tests;
// docs/STORE.md explains it.
// Invariant: every reply's label is a Status; each message's words are one struct below (named
// beside its request), moved by sys/protocol.hpp; names and digests travel NUL-padded in fixed
// fields; numbers only grow (new requests and statuses are appended, never renumbered).
#pragma once

#include <stddef.h>

#include "abi/syscall.hpp"
#include "abi/types.hpp"

namespace store {

using metteagle::abi::u32;
using metteagle::abi::u64;
using metteagle::abi::u8;

// A name: 1-127 bytes of [A-Za-z0-9._:/@+-] ("python:3.11", "docker.io/library/debian:12").
constexpr u64 NAME_BYTES = 128;
constexpr u64 NAME_WORDS = NAME_BYTES / 8;  // 16.
// A digest: 0-143 bytes of [A-Za-z0-9._:+=-] ("sha256:<64 hex>", "sha512:<128 hex>").
constexpr u64 DIGEST_BYTES = 144;
constexpr u64 DIGEST_WORDS = DIGEST_BYTES / 8;  // 18.
constexpr u64 UNKNOWN_SIZE = ~u64{0};
// The largest blob: what one lazily committed Memory can hold (OPEN hands one out).
constexpr u64 MAX_BLOB_BYTES = metteagle::abi::LAZY_MAX_PAGES * 4096;
// The most bytes one WRITE takes from the client's buffer.
constexpr u64 MAX_WRITE_BYTES = 4ull << 20;

enum Request : u32 {
  // CreateRequest (size_hint UNKNOWN_SIZE: not known; a known size is reserved on disk at once, so
  // a blob that cannot fit is refused here; flags 0).
  // capabilities[0]: the client's write buffer (Memory, Read), kept with the handle.
  // Reply: HandleReply (the write handle).
  CREATE = 1,
  // WriteRequest (offset in the write buffer, length 1-MAX_WRITE_BYTES).
  // Reply: WriteReply (bytes written so far). BAD_REQUEST and BAD_BUFFER leave the handle as it was;
  // any other failure (NO_SPACE, IO_ERROR, ...) ends it and gives back everything it took, so
  // nothing of the blob is left.
  WRITE = 2,
  // HandleRequest (a write handle). The data is made durable, then the catalog entry; only then
  // does the name appear. Reply: CommitReply.
  COMMIT = 3,
  ABORT = 4,  // HandleRequest (a write handle). Drops everything written.
  // ListRequest (the first entry, in name order). Reply: ListReply.
  LIST = 5,
  // NameRequest. Reply: StatReply.
  STAT = 6,
  // NameRequest. Refused with OPEN_ELSEWHERE while any client holds the blob open.
  DELETE = 7,
  // NameRequest. Reply: OpenReply; capabilities[0]: Memory (Read only) of
  // at least max(size, 1) bytes rounded to pages, holding the blob's bytes then zeros. Every
  // opener of the same blob gets the same Memory, loaded from disk once; it is released (and the
  // capabilities of every opener revoked) when the last opener closes.
  OPEN = 8,
  CLOSE = 9,  // HandleRequest (a read handle).
  INFO = 10,  // Reply: StoreInfo.
  // Imports an image archive (OCI layout or docker-archive, plain or gzip; docs/IMAGES.md):
  // ImportRequest (tenant 0-MAX_TENANT; reference: store/image.hpp, all zero: the name the archive
  // gives; flags 0); capabilities[0]: the client's write buffer, as CREATE.
  // Reply: HandleReply (an import handle). WRITE streams the archive's bytes into it (each file of the
  // archive is spooled on the disk as it arrives; nothing is kept whole in memory), ABORT drops
  // everything, COMMIT verifies and unpacks it, writes the packed tree and the image record and
  // answers ImportReply. A refused archive is IMPORT_FAILED (ImportFailure in the words) and
  // leaves nothing behind; the handle ends with it.
  IMPORT = 11,
  // ImageListRequest (index in reference order). Reply: ImageListReply.
  IMAGE_LIST = 12,
  // ImageRequest. Deletes the record and the tree; OPEN_ELSEWHERE while the
  // tree is open (a deployed function uses it).
  IMAGE_DELETE = 13,
};

enum Status : u32 {
  STATUS_OK = 0,
  STATUS_BAD_REQUEST = 1,      // Malformed request: short, bad name or digest, bad flags or sizes.
  STATUS_NOT_FOUND = 2,        // No committed entry of that name.
  STATUS_NAME_TAKEN = 3,       // CREATE of a name that exists or is being written.
  STATUS_NO_SPACE = 4,         // The disk cannot hold the blob (or the next part of it).
  STATUS_OPEN_ELSEWHERE = 5,   // DELETE of a blob some client holds open.
  STATUS_BAD_HANDLE = 6,       // No such write or read handle for this client.
  STATUS_BAD_BUFFER = 7,       // No write buffer, or offset + length beyond it, or unreadable.
  STATUS_TOO_MANY_HANDLES = 8, // The client holds MAX_HANDLES_PER_CLIENT handles already.
  STATUS_OUT_OF_MEMORY = 9,    // The store's own memory quota cannot load or track this.
  STATUS_IO_ERROR = 10,        // The disk reported an error; the operation had no effect.
  STATUS_CORRUPT = 11,         // The blob's bytes on disk no longer match their checksum.
  STATUS_CATALOG_FULL = 12,    // The catalog's journal cannot hold the live entries.
  STATUS_TOO_FRAGMENTED = 13,  // The free space is in too many pieces for one blob.
  STATUS_TOO_LARGE = 14,       // Beyond MAX_BLOB_BYTES.
  STATUS_UNSUPPORTED = 15,     // A request this store does not implement.
  STATUS_NO_DISK = 16,         // The store runs without a usable disk.
  STATUS_IMPORT_FAILED = 17,   // The archive was refused: ImportFailure says why.
  STATUS_BUSY = 18,            // MAX_IMPORTS imports are running; retry later.
};

constexpr const char* status_name(u64 status) {
  constexpr const char* NAMES[] = {"OK",           "BAD_REQUEST",   "NOT_FOUND",         "NAME_TAKEN",
                                   "NO_SPACE",     "OPEN_ELSEWHERE", "BAD_HANDLE",       "BAD_BUFFER",
                                   "TOO_MANY_HANDLES", "OUT_OF_MEMORY", "IO_ERROR",       "CORRUPT",
                                   "CATALOG_FULL", "TOO_FRAGMENTED", "TOO_LARGE",         "UNSUPPORTED",
                                   "NO_DISK",      "IMPORT_FAILED",  "BUSY"};
  return status < sizeof NAMES / sizeof NAMES[0] ? NAMES[status] : "UNKNOWN";
}

// Handles (write and read together) one client (badge) may hold at once.
constexpr u64 MAX_HANDLES_PER_CLIENT = 64;

// The messages (besides StatReply, StoreInfo, ImportReply, ImportFailure and ImageListReply below).
struct CreateRequest {
  char name[NAME_BYTES];
  char digest[DIGEST_BYTES];
  u64 size_hint;
  u64 flags;
};
static_assert(offsetof(CreateRequest, digest) == 128 && offsetof(CreateRequest, size_hint) == 272 &&
              sizeof(CreateRequest) == 36 * 8);
struct HandleRequest {  // COMMIT, ABORT, CLOSE; the first word of WRITE.
  u64 handle;
};
struct HandleReply {  // CREATE, IMPORT.
  u64 handle;
};
struct WriteRequest {
  u64 handle;
  u64 offset;
  u64 length;
};
struct WriteReply {
  u64 written;
};
struct CommitReply {
  u64 size;
  u64 checksum;  // CRC-32C of the bytes.
};
struct ListRequest {
  u64 first;
};
// The message ends after the names used: `count` names back to back, each ending with a NUL byte.
struct ListReply {
  u64 total;
  u64 count;
  char names[metteagle::abi::MESSAGE_WORDS * 8 - 16];
};
static_assert(offsetof(ListReply, names) == 16);
struct NameRequest {  // STAT, DELETE, OPEN.
  char name[NAME_BYTES];
};
struct OpenReply {
  u64 handle;
  u64 size;
};

// Reply of STAT.
struct StatReply {
  u64 size;
  u64 checksum;     // CRC-32C of the bytes.
  u64 openers;      // Read handles open on it now (all clients).
  u64 sequence;     // Commit order: larger is newer.
  char digest[DIGEST_BYTES];
};

// Reply of INFO.
struct StoreInfo {
  u64 disk_bytes;          // The whole device.
  u64 data_bytes;          // What blobs can use in all (the device minus superblocks and catalog).
  u64 free_bytes;          // Not used by committed blobs nor reserved by open writes.
  u64 entries;             // Committed entries.
  u64 catalog_bytes;       // The catalog's journal half.
  u64 catalog_used_bytes;  // Of which in use (snapshot plus records since).
  u64 open_blobs;          // Blobs loaded in memory (shared by their openers).
  u64 writes;              // Write handles open.
  u64 block_bytes;         // Allocation unit.
  u64 generation;          // The catalog's superblock generation: 1 after format, +1 per compaction.
  u64 device_requests;     // Requests sent to the disk since the store started.
  u64 device_most_in_flight;  // The most requests the disk held at once.
};

constexpr bool is_name_byte(u8 c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '/' || c == '@' || c == '+' || c == '-';
}
constexpr bool is_digest_byte(u8 c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '+' || c == '=' || c == '-';
}

// Packs a NUL-terminated string into a field of `bytes` bytes (NUL-padded, truncated).
inline void pack_text(const char* text, char* field, u64 bytes) {
  for (u64 i = 0; i < bytes; ++i) field[i] = 0;
  for (u64 i = 0; i + 1 < bytes && text[i] != '\0'; ++i) field[i] = text[i];
}

// Unpacks and validates a field of `bytes` bytes: at least `minimum` bytes before the first NUL,
// fewer than `bytes`, all allowed, NUL padding after. `out` gets the text with its NUL.
template <bool (*Allowed)(u8)>
inline bool unpack_text(const char* field, u64 bytes, u64 minimum, char* out) {
  const auto* source = reinterpret_cast<const u8*>(field);
  u64 length = 0;
  while (length < bytes && source[length] != 0) ++length;
  if (length < minimum || length >= bytes) return false;
  for (u64 i = length; i < bytes; ++i)
    if (source[i] != 0) return false;
  for (u64 i = 0; i < length; ++i) {
    if (!Allowed(source[i])) return false;
    out[i] = static_cast<char>(source[i]);
  }
  out[length] = '\0';
  return true;
}
inline bool unpack_name(const char (&field)[NAME_BYTES], char (&name)[NAME_BYTES]) {
  return unpack_text<is_name_byte>(field, NAME_BYTES, 1, name);
}
inline bool unpack_digest(const char (&field)[DIGEST_BYTES], char (&digest)[DIGEST_BYTES]) {
  return unpack_text<is_digest_byte>(field, DIGEST_BYTES, 0, digest);
}

// Imports running at once (each holds the tree it builds in memory until COMMIT).
constexpr u64 MAX_IMPORTS = 2;

struct ImportRequest {
  u64 tenant;
  char reference[NAME_BYTES];
  u64 flags;
};
static_assert(offsetof(ImportRequest, reference) == 8 && sizeof(ImportRequest) == 18 * 8);

// Reply of an import's COMMIT.
struct ImportReply {
  u64 tree_bytes;
  u64 record_bytes;
  char digest[80];
  char name[NAME_BYTES];  // The normalised reference the image was stored under.
};

// IMPORT_FAILED's words: ImportFailure: the importer's error (imagefs::ImportError) or one of the
// codes below, then the error's snake_case name and a sentence naming the problem, each
// NUL-terminated; the message ends after them.
constexpr u64 IMPORT_NO_NAME = 200;    // Neither the request nor the archive names the image.
constexpr u64 IMPORT_BAD_NAME = 201;   // The archive's name is not a valid reference.
constexpr u64 IMPORT_NO_SPACE = 202;   // The packed tree does not fit the disk.
constexpr u64 IMPORT_IN_USE = 203;     // An image of that name is in use by a deployed function.
constexpr u64 IMPORT_MESSAGE_BYTES = (metteagle::abi::MESSAGE_WORDS - 1) * 8;
struct ImportFailure {
  u64 code;
  char text[IMPORT_MESSAGE_BYTES];
};
static_assert(offsetof(ImportFailure, text) == 8);

struct ImageListRequest {
  u64 tenant;
  u64 index;
};
struct ImageRequest {  // IMAGE_DELETE.
  u64 tenant;
  char reference[NAME_BYTES];
};

// Reply of IMAGE_LIST.
struct ImageListReply {
  u64 total;        // The tenant's images.
  u64 present;      // 1 when `index` < total (the fields below are filled).
  u64 tree_bytes;
  u64 sequence;     // The record's commit order.
  char digest[80];
  char created[48];
  char name[NAME_BYTES];
};

// Every message fits one IPC message (sys::MessageBody checks it again where one is sent).
static_assert(sizeof(CreateRequest) <= metteagle::abi::MESSAGE_WORDS * 8);
static_assert(sizeof(ListReply) <= metteagle::abi::MESSAGE_WORDS * 8);
static_assert(sizeof(StatReply) <= metteagle::abi::MESSAGE_WORDS * 8);
static_assert(sizeof(StoreInfo) <= metteagle::abi::MESSAGE_WORDS * 8);
static_assert(sizeof(ImportReply) <= metteagle::abi::MESSAGE_WORDS * 8);
static_assert(sizeof(ImportFailure) <= metteagle::abi::MESSAGE_WORDS * 8);
static_assert(sizeof(ImageListReply) <= metteagle::abi::MESSAGE_WORDS * 8);

}  // namespace store
