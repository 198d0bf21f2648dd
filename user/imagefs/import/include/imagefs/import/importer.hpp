// The image importer: reads an image archive as a byte stream (an OCI image layout archive or a
// docker-archive, either possibly gzip-compressed), spools its files, and once the stream ends
// verifies every blob against its digest, checks every layer whole, and only then applies the
// layers in order (with whiteouts) to a TreeSink, returning the image's configuration.
// Invariant: the first error stops the import for good; after it nothing more reaches the spool
// or the tree, and error()/message() name the problem precisely (for a 4xx answer).
#pragma once

#include "imagefs/import/gzip.hpp"
#include "imagefs/import/json.hpp"
#include "imagefs/import/spool.hpp"
#include "imagefs/import/tar.hpp"
#include "imagefs/import/tree_sink.hpp"
#include "imagefs/import/types.hpp"

namespace imagefs {

enum class ImportError : u8 {
  None = 0,
  ArchiveTruncated,      // the archive ends inside a tar header or an entry's data
  ArchiveMalformed,      // a bad tar header in the archive, corrupt gzip, a file named twice
  ArchiveTooLarge,       // beyond max_archive_bytes or max_archive_entries, or the spool is full
  NotAnImage,            // neither index.json nor manifest.json in the archive
  MalformedJson,         // a JSON document that does not parse (too deep, bad syntax, duplicate key)
  MalformedManifest,     // JSON that parses but lacks a field or has one of the wrong type
  UnknownMediaType,      // a media type that is not an OCI or docker image type
  UnsupportedMediaType,  // a known media type this importer cannot read (zstd layers)
  UnsupportedDigest,     // a digest that is not "sha256:" and 64 hex digits, or a blob without one
  MissingBlob,           // a blob the manifest names is not in the archive
  SizeMismatch,          // a blob's size differs from its descriptor's
  DigestMismatch,        // a blob's sha256 differs from its digest (or a layer from its diff_id)
  NoMatchingImage,       // no linux/amd64 image in the archive
  AmbiguousImage,        // more than one image in the archive
  LayerTruncated,        // a layer's tar or gzip data ends early
  LayerMalformed,        // a bad tar header, an unsupported entry type or corrupt gzip in a layer
  PathEscapes,           // a ".." component in an entry's path, whiteout or hard link target
  BadPath,               // a path with a NUL, too long, a component beyond 255 bytes, a root that is no directory
  LimitExceeded,         // unpacked bytes, entries or layers beyond the configured limits
  ParentNotDirectory,    // an entry below something that is not a directory (symlinks are not followed)
  HardlinkTargetMissing, // a hard link to a path that does not exist
  HardlinkToDirectory,   // a hard link to a directory or a symlink
  TreeFailed,            // out of memory: the importer's arena or the tree builder's
};

const char* import_error_name(ImportError error);

struct ImportLimits {
  u64 max_archive_bytes = 4ull << 30;     // The archive as spooled (its files' bytes).
  u32 max_archive_entries = 4096;         // Files and links in the archive (at most MemoryBlobSpool::MAX_BLOBS files).
  u64 max_json_bytes = 4ull << 20;        // index.json, manifests, manifest.json, configuration.
  u32 max_layers = 128;
  u64 max_unpacked_bytes = 8ull << 30;    // All layers' decompressed tar bytes together.
  u64 max_nodes = 1000000;                // All layers' entries together.
};

enum class ArchiveForm : u8 { Unknown, OciLayout, DockerArchive };

struct StringList {
  const char* const* items = nullptr;  // NUL-terminated strings.
  u32 count = 0;
};

struct ImageConfig {
  ArchiveForm form = ArchiveForm::Unknown;
  char digest[72] = {};  // "sha256:" + 64 hex: the manifest's digest (docker-archive: the configuration's, its image ID).
  const char* name = "";  // The archive's name for the image (OCI ref.name annotation, docker RepoTags[0]), "" if none.
  bool has_entrypoint = false;  // Entrypoint and Cmd may be absent or null, which differs from empty.
  StringList entrypoint;
  bool has_cmd = false;
  StringList cmd;
  StringList env;
  const char* working_dir = "";
  const char* user = "";
  const char* created = "";  // The configuration's `created` (RFC 3339), "" when absent.
  u32 layers = 0;
  u64 unpacked_bytes = 0;  // Decompressed layer bytes.
  u64 entries = 0;         // Layer entries applied (whiteouts included).
};

class Importer {
 public:
  static constexpr u64 MESSAGE_BYTES = 640;

  Importer(Arena& arena, BlobSpool& spool, const ImportLimits& limits);

  // The next bytes of the archive.
  ImportError feed(const void* bytes, u64 length);
  // The archive is complete: verify it and build the tree.
  ImportError finish(TreeSink& tree, ImageConfig& config);

  ImportError error() const { return error_; }
  const char* message() const { return message_; }

  // Internals shared with the layer walker (layer.cpp); not for callers.
  struct ArchiveFile;
  struct Layer;
  class Message;
  ImportError fail(ImportError error, const Message& message);

 private:
  class Outer;
  class LayerWalker;
  friend class Outer;
  friend class LayerWalker;

  ImportError fail_text(ImportError error, const char* text);
  ImportError outer_entry(const TarEntry& entry);
  ImportError outer_data(const u8* bytes, u64 length);
  ImportError feed_tar(const u8* bytes, u64 length);
  ImportError end_of_archive();
  // The archive file at `name`, following the archive's own links (docker's layer.tar).
  ImportError find_file(const char* name, u64 name_length, const ArchiveFile*& file);
  ImportError load_json(const ArchiveFile& file, const char* what, JsonValue& root, const char** text = nullptr);
  ImportError load_descriptor_blob(JsonValue descriptor, const char* what, const ArchiveFile*& file, char* digest_text);
  ImportError allocate_layers(u64 layer_count);
  ImportError read_oci(ImageConfig& config, JsonValue& config_root);
  ImportError read_docker(ImageConfig& config, JsonValue& config_root);
  ImportError read_config(JsonValue config_root, ImageConfig& config);
  ImportError walk_layers(TreeSink* tree, ImageConfig& config);
  // A member of the given type; absent is an error only when `required`; a duplicate key never passes.
  ImportError lookup(JsonValue object, const char* key, JsonType type, bool required, const char* what, JsonValue& out,
                     bool& present);
  ImportError copy_string(JsonValue value, const char* what, const char*& out);
  ImportError copy_string_list(JsonValue value, const char* what, StringList& out);

  Arena& arena_;
  BlobSpool& spool_;
  ImportLimits limits_;
  ImportError error_ = ImportError::None;
  char message_[MESSAGE_BYTES] = {};

  // The outer archive.
  bool sniffed_ = false;   // The first bytes decided between tar and gzip.
  bool outer_gzip_ = false;
  u8 sniff_[4] = {};
  u64 sniff_length_ = 0;
  Outer* outer_ = nullptr;
  ArchiveFile* files_ = nullptr;
  u32 file_count_ = 0;
  u64 archive_bytes_ = 0;
  ArchiveFile* current_ = nullptr;  // The file whose data is arriving.
  u64 current_written_ = 0;
  bool finished_ = false;

  char* scratch_ = nullptr;  // Name buffers for find_file, from the arena.
  Layer* layers_ = nullptr;
  u32 layer_count_ = 0;
};

}  // namespace imagefs
