// The importer's archive logic: spooling the outer tar (hashing every file as it arrives), then
// reading index.json / manifest.json, the manifests and the configuration, verifying every blob,
// and handing the layers to the walker (layer.cpp).
#include <new>

#include "internal.hpp"

namespace imagefs {

const char* import_error_name(ImportError error) {
  switch (error) {
    case ImportError::None: return "none";
    case ImportError::ArchiveTruncated: return "archive_truncated";
    case ImportError::ArchiveMalformed: return "archive_malformed";
    case ImportError::ArchiveTooLarge: return "archive_too_large";
    case ImportError::NotAnImage: return "not_an_image";
    case ImportError::MalformedJson: return "malformed_json";
    case ImportError::MalformedManifest: return "malformed_manifest";
    case ImportError::UnknownMediaType: return "unknown_media_type";
    case ImportError::UnsupportedMediaType: return "unsupported_media_type";
    case ImportError::UnsupportedDigest: return "unsupported_digest";
    case ImportError::MissingBlob: return "missing_blob";
    case ImportError::SizeMismatch: return "size_mismatch";
    case ImportError::DigestMismatch: return "digest_mismatch";
    case ImportError::NoMatchingImage: return "no_matching_image";
    case ImportError::AmbiguousImage: return "ambiguous_image";
    case ImportError::LayerTruncated: return "layer_truncated";
    case ImportError::LayerMalformed: return "layer_malformed";
    case ImportError::PathEscapes: return "path_escapes";
    case ImportError::BadPath: return "bad_path";
    case ImportError::LimitExceeded: return "limit_exceeded";
    case ImportError::ParentNotDirectory: return "parent_not_directory";
    case ImportError::HardlinkTargetMissing: return "hardlink_target_missing";
    case ImportError::HardlinkToDirectory: return "hardlink_to_directory";
    case ImportError::TreeFailed: return "tree_failed";
  }
  return "unknown";
}

namespace {

constexpr const char* OCI_INDEX = "application/vnd.oci.image.index.v1+json";
constexpr const char* OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
constexpr const char* DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
constexpr u32 MAX_INDEX_DEPTH = 4;
constexpr u32 MAX_LINK_HOPS = 8;
constexpr u64 NAME_BYTES = TAR_MAX_NAME + 1;
constexpr u64 SCRATCH_BYTES = 2 * NAME_BYTES;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool parse_hex_digest(const char* hex, u64 length, u8* digest) {
  if (length != 2 * DIGEST_BYTES) return false;
  for (u64 i = 0; i < DIGEST_BYTES; ++i) {
    int high = hex_digit(hex[2 * i]);
    int low = hex_digit(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    digest[i] = static_cast<u8>(high * 16 + low);
  }
  return true;
}

void digest_text(const u8* digest, char* out) {
  static constexpr char HEX[] = "0123456789abcdef";
  copy_bytes(out, "sha256:", 7);
  for (u64 i = 0; i < DIGEST_BYTES; ++i) {
    out[7 + 2 * i] = HEX[digest[i] >> 4];
    out[8 + 2 * i] = HEX[digest[i] & 15];
  }
  out[7 + 2 * DIGEST_BYTES] = '\0';
}

// An archive name without its leading "/" and "./" parts.
void trim_archive_name(const char*& name, u64& length) {
  for (;;) {
    if (length > 0 && name[0] == '/') {
      ++name;
      --length;
    } else if (length > 1 && name[0] == '.' && name[1] == '/') {
      name += 2;
      length -= 2;
    } else {
      return;
    }
  }
}

bool is_manifest_type(JsonValue type) {
  return json_string_equals(type, OCI_MANIFEST) || json_string_equals(type, DOCKER_MANIFEST);
}

bool is_index_type(JsonValue type) { return json_string_equals(type, OCI_INDEX) || json_string_equals(type, DOCKER_LIST); }

}  // namespace

bool parse_digest(const char* text, u64 length, u8* digest) {
  return length == 7 + 2 * DIGEST_BYTES && starts_with(text, length, "sha256:") && parse_hex_digest(text + 7, length - 7, digest);
}

// The outer archive's reader: gzip (when the archive is compressed) feeds tar, tar feeds the spool.
class Importer::Outer final : public TarVisitor, public GzipOutput {
 public:
  Outer(Importer& importer, Arena& arena) : importer_(importer), tar_(*this), gzip_(arena) {}
  bool entry(const TarEntry& entry) override { return importer_.outer_entry(entry) == ImportError::None; }
  bool data(const u8* bytes, u64 length) override { return importer_.outer_data(bytes, length) == ImportError::None; }
  bool write(const u8* bytes, u64 length) override { return importer_.feed_tar(bytes, length) == ImportError::None; }

  Importer& importer_;
  TarReader tar_;
  GzipReader gzip_;
  hashing::Sha256 hash_;
};

Importer::Importer(Arena& arena, BlobSpool& spool, const ImportLimits& limits)
    : arena_(arena), spool_(spool), limits_(limits) {}

ImportError Importer::fail(ImportError error, const Message& message) { return fail_text(error, message.c_str()); }

ImportError Importer::fail_text(ImportError error, const char* text) {
  if (error_ != ImportError::None) return error_;
  error_ = error;
  u64 length = string_length(text);
  if (length >= MESSAGE_BYTES) length = MESSAGE_BYTES - 1;
  copy_bytes(message_, text, length);
  message_[length] = '\0';
  return error;
}

ImportError Importer::feed(const void* bytes, u64 length) {
  if (error_ != ImportError::None) return error_;
  if (finished_) return fail_text(ImportError::ArchiveMalformed, "bytes after the end of the archive");
  if (outer_ == nullptr) {
    void* outer_memory = arena_.allocate(sizeof(Outer));
    files_ = static_cast<ArchiveFile*>(arena_.allocate(sizeof(ArchiveFile) * limits_.max_archive_entries));
    if (outer_memory == nullptr || files_ == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for the archive's file table");
    outer_ = new (outer_memory) Outer(*this, arena_);
  }
  auto* input = static_cast<const u8*>(bytes);
  if (!sniffed_) {
    // The first two bytes tell a gzip-compressed archive from a plain tar.
    while (length > 0 && sniff_length_ < 2) {
      sniff_[sniff_length_++] = *input++;
      --length;
    }
    if (sniff_length_ < 2) return ImportError::None;
    sniffed_ = true;
    outer_gzip_ = looks_like_gzip(sniff_, sniff_length_);
    if (outer_gzip_ && outer_->gzip_.reset() != GzipError::None) return fail_text(ImportError::TreeFailed, "out of memory for gzip");
    if (outer_gzip_) {
      GzipError gzip_error = outer_->gzip_.feed(sniff_, sniff_length_, *outer_);
      if (error_ != ImportError::None) return error_;
      if (gzip_error != GzipError::None) return fail_text(ImportError::ArchiveMalformed, "the archive's gzip data is corrupt");
    } else if (feed_tar(sniff_, sniff_length_) != ImportError::None) {
      return error_;
    }
  }
  if (length == 0) return error_;
  if (outer_gzip_) {
    GzipError gzip_error = outer_->gzip_.feed(input, length, *outer_);
    if (error_ != ImportError::None) return error_;
    if (gzip_error == GzipError::OutOfMemory) return fail_text(ImportError::TreeFailed, "out of memory for gzip");
    if (gzip_error != GzipError::None) return fail_text(ImportError::ArchiveMalformed, "the archive's gzip data is corrupt");
    return ImportError::None;
  }
  return feed_tar(input, length);
}

ImportError Importer::feed_tar(const u8* bytes, u64 length) {
  if (error_ != ImportError::None) return error_;
  TarError error = outer_->tar_.feed(bytes, length);
  if (error == TarError::None || error == TarError::Visitor) return error_;
  Message message;
  message.text("the archive: ").text(tar_error_text(error));
  return fail(error == TarError::Truncated ? ImportError::ArchiveTruncated : ImportError::ArchiveMalformed, message);
}

ImportError Importer::outer_entry(const TarEntry& entry) {
  if (entry.type == TarType::Directory || entry.type == TarType::Special) return ImportError::None;
  if (file_count_ == limits_.max_archive_entries) {
    Message message;
    message.text("the archive holds more than ").number(limits_.max_archive_entries).text(" files");
    return fail(ImportError::ArchiveTooLarge, message);
  }
  const char* name = entry.path;
  u64 name_length = entry.path_length;
  trim_archive_name(name, name_length);
  ArchiveFile& file = files_[file_count_];
  file = {};
  file.name = static_cast<char*>(arena_.allocate(name_length + 1));
  if (file.name == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for the archive's file table");
  copy_bytes(file.name, name, name_length);
  file.name[name_length] = '\0';
  file.name_length = name_length;
  if (entry.type == TarType::Symlink || entry.type == TarType::Hardlink) {
    file.is_link = true;
    file.link = static_cast<char*>(arena_.allocate(entry.link_length + 1));
    if (file.link == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for the archive's file table");
    copy_bytes(file.link, entry.link, entry.link_length);
    file.link[entry.link_length] = '\0';
    file.link_length = entry.link_length;
    // A hard link in a tar names its target from the archive's root, a symlink from its directory.
    if (entry.type == TarType::Hardlink) {
      const char* target = file.link;
      u64 target_length = file.link_length;
      trim_archive_name(target, target_length);
      // Rewritten as an absolute name, which the resolver reads from the archive's root.
      char* absolute = static_cast<char*>(arena_.allocate(target_length + 2));
      if (absolute == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for the archive's file table");
      absolute[0] = '/';
      copy_bytes(absolute + 1, target, target_length);
      absolute[target_length + 1] = '\0';
      file.link = absolute;
      file.link_length = target_length + 1;
    }
    ++file_count_;
    return ImportError::None;
  }
  if (entry.size > limits_.max_archive_bytes - archive_bytes_) {
    Message message;
    message.text("the archive's files exceed the limit of ").number(limits_.max_archive_bytes).text(" bytes");
    return fail(ImportError::ArchiveTooLarge, message);
  }
  if (!spool_.create(entry.size, file.blob)) {
    Message message;
    message.text("no room to keep ").path(name, name_length).text(" (").number(entry.size).text(" bytes)");
    return fail(ImportError::ArchiveTooLarge, message);
  }
  archive_bytes_ += entry.size;
  file.size = entry.size;
  ++file_count_;
  outer_->hash_ = hashing::Sha256();
  if (entry.size == 0) {
    outer_->hash_.finish(file.digest);
    current_ = nullptr;
  } else {
    current_ = &file;
    current_written_ = 0;
  }
  return ImportError::None;
}

ImportError Importer::outer_data(const u8* bytes, u64 length) {
  ArchiveFile& file = *current_;
  if (!spool_.write(file.blob, current_written_, bytes, length)) {
    Message message;
    message.text("could not keep ").path(file.name, file.name_length);
    return fail(ImportError::ArchiveTooLarge, message);
  }
  outer_->hash_.update(bytes, length);
  current_written_ += length;
  if (current_written_ == file.size) {
    outer_->hash_.finish(file.digest);
    current_ = nullptr;
  }
  return ImportError::None;
}

ImportError Importer::end_of_archive() {
  if (outer_ == nullptr || sniff_length_ == 0) return fail_text(ImportError::ArchiveTruncated, "the archive is empty");
  if (!sniffed_) {
    // A one-byte archive: not gzip, and too short for tar.
    sniffed_ = true;
    if (feed_tar(sniff_, sniff_length_) != ImportError::None) return error_;
  }
  if (outer_gzip_) {
    GzipError gzip_error = outer_->gzip_.finish();
    if (gzip_error == GzipError::Truncated) return fail_text(ImportError::ArchiveTruncated, "the archive's gzip data is truncated");
    if (gzip_error != GzipError::None) return fail_text(ImportError::ArchiveMalformed, "the archive's gzip data is corrupt");
  }
  TarError error = outer_->tar_.finish();
  if (error != TarError::None) {
    Message message;
    message.text("the archive: ").text(tar_error_text(error));
    return fail(error == TarError::Truncated ? ImportError::ArchiveTruncated : ImportError::ArchiveMalformed, message);
  }
  return ImportError::None;
}

ImportError Importer::find_file(const char* name, u64 name_length, const ArchiveFile*& found) {
  found = nullptr;
  if (scratch_ == nullptr) {
    // Two name buffers, taken once: link resolution must not need stack in proportion to names.
    scratch_ = static_cast<char*>(arena_.allocate(2 * SCRATCH_BYTES));
    if (scratch_ == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for resolving a name");
  }
  char* joined = scratch_;
  char* resolved = scratch_ + SCRATCH_BYTES;
  for (u32 hops = 0;; ++hops) {
    trim_archive_name(name, name_length);
    found = nullptr;
    for (u32 i = 0; i < file_count_; ++i) {
      if (files_[i].name_length != name_length || !bytes_equal(files_[i].name, name, name_length)) continue;
      if (found != nullptr) {
        Message message;
        message.text("the archive holds ").path(name, name_length).text(" twice");
        return fail(ImportError::ArchiveMalformed, message);
      }
      found = &files_[i];
    }
    if (found == nullptr) {
      Message message;
      message.text("the archive has no file ").path(name, name_length);
      return fail(ImportError::MissingBlob, message);
    }
    if (!found->is_link) return ImportError::None;
    if (hops == MAX_LINK_HOPS) {
      Message message;
      message.text("too many links from ").path(name, name_length);
      return fail(ImportError::ArchiveMalformed, message);
    }
    // The target, relative to the link's directory unless absolute; ".." may not leave the archive.
    u64 directory = 0;
    if (found->link_length == 0 || found->link[0] != '/') {
      directory = name_length;
      while (directory > 0 && name[directory - 1] != '/') --directory;
    }
    // Cannot happen while archive names stay within TAR_MAX_NAME (a name that continues the walk
    // is an archive entry's): kept so that the buffers hold whatever the tar reader allows.
    if (directory + found->link_length > SCRATCH_BYTES) {
      Message message;
      message.text("the link ").path(name, name_length).text(" names too long a path");
      return fail(ImportError::ArchiveMalformed, message);
    }
    // `name` may lie in `resolved` (the previous hop): it is copied out before `resolved` is rewritten.
    copy_bytes(joined, name, directory);
    copy_bytes(joined + directory, found->link, found->link_length);
    u64 joined_length = directory + found->link_length;
    u64 resolved_length = 0;
    u64 at = 0;
    while (at < joined_length) {
      u64 end = at;
      while (end < joined_length && joined[end] != '/') ++end;
      u64 length = end - at;
      if (length == 2 && joined[at] == '.' && joined[at + 1] == '.') {
        if (resolved_length == 0) {
          Message message;
          message.text("the link ").path(found->name, found->name_length).text(" leaves the archive");
          return fail(ImportError::ArchiveMalformed, message);
        }
        while (resolved_length > 0 && resolved[resolved_length - 1] != '/') --resolved_length;
        if (resolved_length > 0) --resolved_length;
      } else if (length > 0 && !(length == 1 && joined[at] == '.')) {
        if (resolved_length > 0) resolved[resolved_length++] = '/';
        copy_bytes(resolved + resolved_length, joined + at, length);
        resolved_length += length;
      }
      at = end + 1;
    }
    name = resolved;
    name_length = resolved_length;
  }
}

// The layer table for `layer_count` layers, refused beyond the configured limit.
ImportError Importer::allocate_layers(u64 layer_count) {
  if (layer_count > limits_.max_layers) {
    Message message;
    message.text("the image has ").number(layer_count).text(" layers, beyond the limit of ").number(limits_.max_layers);
    return fail(ImportError::LimitExceeded, message);
  }
  layers_ = static_cast<Layer*>(arena_.allocate(sizeof(Layer) * (layer_count == 0 ? 1 : layer_count)));
  if (layers_ == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for the layer table");
  return ImportError::None;
}

ImportError Importer::load_json(const ArchiveFile& file, const char* what, JsonValue& root, const char** text_out) {
  if (file.size > limits_.max_json_bytes) {
    Message message;
    message.text(what).text(" is ").number(file.size).text(" bytes, beyond the limit of ").number(limits_.max_json_bytes);
    return fail(ImportError::LimitExceeded, message);
  }
  auto* text = static_cast<char*>(arena_.allocate(file.size + 1));
  if (text == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for a JSON document");
  if (!spool_.read(file.blob, 0, text, file.size)) return fail_text(ImportError::ArchiveTooLarge, "the spool could not read a blob back");
  text[file.size] = '\0';
  JsonParse parse = json_parse(text, file.size);
  if (parse.error != JsonError::None) {
    Message message;
    message.text(what).text(" is not valid JSON: ").text(json_error_text(parse.error)).text(" at offset ").number(parse.offset);
    return fail(ImportError::MalformedJson, message);
  }
  root = parse.root;
  if (text_out != nullptr) *text_out = text;
  return ImportError::None;
}

ImportError Importer::lookup(JsonValue object, const char* key, JsonType type, bool required, const char* what,
                             JsonValue& out, bool& present) {
  present = false;
  JsonMember member = json_member(object, key);
  if (member.duplicate) {
    Message message;
    message.text(what).text(" is not valid JSON: duplicate key \"").text(key).text("\"");
    return fail(ImportError::MalformedJson, message);
  }
  // The JSON null counts as absent for optional members.
  if (member.found && !(member.value.type == JsonType::Null && !required)) {
    if (member.value.type != type) {
      Message message;
      message.text(what).text(": \"").text(key).text("\" has the wrong type");
      return fail(ImportError::MalformedManifest, message);
    }
    out = member.value;
    present = true;
  } else if (required) {
    Message message;
    message.text(what).text(": \"").text(key).text("\" is missing");
    return fail(ImportError::MalformedManifest, message);
  }
  return ImportError::None;
}

ImportError Importer::load_descriptor_blob(JsonValue descriptor, const char* what, const ArchiveFile*& file,
                                           char* digest_out) {
  if (descriptor.type != JsonType::Object) {
    Message message;
    message.text("the descriptor of the ").text(what).text(" is not an object");
    return fail(ImportError::MalformedManifest, message);
  }
  JsonValue digest{};
  bool digest_present = false;
  if (lookup(descriptor, "digest", JsonType::String, true, what, digest, digest_present) != ImportError::None) return error_;
  JsonValue size{};
  bool size_present = false;
  if (lookup(descriptor, "size", JsonType::Number, true, what, size, size_present) != ImportError::None) return error_;
  char text[80];
  u64 text_length;
  u8 expected[DIGEST_BYTES];
  bool fits = json_string(digest, text, sizeof text, text_length);
  if (!fits || !parse_digest(text, text_length, expected)) {
    Message message;
    message.text(what).text(" digest ");
    if (fits) {
      message.path(text, text_length);
    } else {
      message.text("(too long)");
    }
    message.text(" is not sha256: and 64 lower-case hex digits");
    return fail(ImportError::UnsupportedDigest, message);
  }
  u64 expected_size;
  if (!json_unsigned(size, expected_size)) {
    Message message;
    message.text(what).text(" ").path(text, text_length).text(": \"size\" is not a byte count");
    return fail(ImportError::MalformedManifest, message);
  }
  char name[13 + 2 * DIGEST_BYTES + 1];
  copy_bytes(name, "blobs/sha256/", 13);
  copy_bytes(name + 13, text + 7, 2 * DIGEST_BYTES);
  const ArchiveFile* blob;
  if (find_file(name, 13 + 2 * DIGEST_BYTES, blob) != ImportError::None) {
    if (error_ != ImportError::MissingBlob) return error_;
    // Rephrase: the reader wants to know which blob of which document is missing.
    error_ = ImportError::None;
    Message message;
    message.text(what).text(" ").path(text, text_length).text(" is not in the archive");
    return fail(ImportError::MissingBlob, message);
  }
  if (blob->size != expected_size) {
    Message message;
    message.text(what).text(" ").path(text, text_length).text(" is ").number(blob->size).text(" bytes, its descriptor says ").number(expected_size);
    return fail(ImportError::SizeMismatch, message);
  }
  if (!bytes_equal(blob->digest, expected, DIGEST_BYTES)) {
    Message message;
    message.text(what).text(" ").path(text, text_length).text(" digest mismatch: its bytes hash to ").digest(blob->digest);
    return fail(ImportError::DigestMismatch, message);
  }
  file = blob;
  if (digest_out != nullptr) digest_text(expected, digest_out);
  return ImportError::None;
}

ImportError Importer::copy_string(JsonValue value, const char* what, const char*& out) {
  if (json_string_has_nul(value)) {
    Message message;
    message.text("configuration: ").text(what).text(" contains a NUL character");
    return fail(ImportError::MalformedManifest, message);
  }
  u64 length = json_string_length(value);
  auto* copy = static_cast<char*>(arena_.allocate(length + 1));
  if (copy == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for the configuration");
  u64 written;
  (void)json_string(value, copy, length + 1, written);  // Fits: the buffer has the decoded length.
  out = copy;
  return ImportError::None;
}

ImportError Importer::copy_string_list(JsonValue value, const char* what, StringList& out) {
  u64 count = json_count(value);
  auto** items = static_cast<const char**>(arena_.allocate(sizeof(const char*) * (count == 0 ? 1 : count)));
  if (items == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for the configuration");
  JsonCursor cursor(value);
  JsonValue element;
  u32 index = 0;
  while (cursor.next(element)) {
    if (element.type != JsonType::String) {
      Message message;
      message.text("configuration: ").text(what).text(" is not an array of strings");
      return fail(ImportError::MalformedManifest, message);
    }
    if (copy_string(element, what, items[index]) != ImportError::None) return error_;
    ++index;
  }
  out.items = items;
  out.count = index;
  return ImportError::None;
}

ImportError Importer::read_oci(ImageConfig& config, JsonValue& config_root) {
  const ArchiveFile* index_file;
  if (find_file("index.json", 10, index_file) != ImportError::None) return error_;
  JsonValue root;
  if (load_json(*index_file, "index.json", root) != ImportError::None) return error_;
  char what[96] = "index.json";
  char chosen_digest[72] = {};
  for (u32 depth = 0;; ++depth) {
    if (root.type != JsonType::Object) {
      Message message;
      message.text(what).text(" is not a JSON object");
      return fail(ImportError::MalformedManifest, message);
    }
    JsonValue manifests{};
    bool manifests_present = false;
    if (lookup(root, "manifests", JsonType::Array, true, what, manifests, manifests_present) != ImportError::None) return error_;
    // The candidates: linux/amd64 or without a platform; the same digest named twice is one image.
    JsonCursor cursor(manifests);
    JsonValue descriptor;
    JsonValue chosen{};
    u32 distinct = 0;
    u8 chosen_bytes[DIGEST_BYTES] = {};
    while (cursor.next(descriptor)) {
      if (descriptor.type != JsonType::Object) {
        Message message;
        message.text(what).text(": a manifest descriptor is not an object");
        return fail(ImportError::MalformedManifest, message);
      }
      JsonValue platform{};
      bool platform_present = false;
      if (lookup(descriptor, "platform", JsonType::Object, false, what, platform, platform_present) != ImportError::None) return error_;
      if (platform_present) {
        JsonValue os{};
        bool os_present = false;
        if (lookup(platform, "os", JsonType::String, false, what, os, os_present) != ImportError::None) return error_;
        JsonValue architecture{};
        bool architecture_present = false;
        if (lookup(platform, "architecture", JsonType::String, false, what, architecture, architecture_present) != ImportError::None) return error_;
        if ((os_present && !json_string_equals(os, "linux")) ||
            (architecture_present && !json_string_equals(architecture, "amd64"))) {
          continue;
        }
      }
      JsonValue digest{};
      bool digest_present = false;
      if (lookup(descriptor, "digest", JsonType::String, true, what, digest, digest_present) != ImportError::None) return error_;
      char text[80];
      u64 length;
      u8 bytes[DIGEST_BYTES];
      if (!json_string(digest, text, sizeof text, length) || !parse_digest(text, length, bytes)) {
        Message message;
        message.text(what).text(": a manifest digest is not sha256: and 64 lower-case hex digits");
        return fail(ImportError::UnsupportedDigest, message);
      }
      if (distinct > 0 && bytes_equal(bytes, chosen_bytes, DIGEST_BYTES)) continue;
      ++distinct;
      chosen = descriptor;
      copy_bytes(chosen_bytes, bytes, DIGEST_BYTES);
    }
    if (distinct == 0) {
      Message message;
      message.text(what).text(" names no linux/amd64 image");
      return fail(ImportError::NoMatchingImage, message);
    }
    if (distinct > 1) {
      Message message;
      message.text(what).text(" names ").number(distinct).text(" images; import one at a time");
      return fail(ImportError::AmbiguousImage, message);
    }
    // Descriptors should carry their media type; one without it is taken for a manifest, whose
    // own schema and media type are checked next.
    JsonValue media_type{};
    bool media_type_present = false;
    if (lookup(chosen, "mediaType", JsonType::String, false, what, media_type, media_type_present) != ImportError::None) return error_;
    if (depth == 0) {
      // The image's name, as skopeo and umoci (ref.name) or containerd (image.name) record it.
      JsonValue annotations{};
      bool annotations_present = false;
      if (lookup(chosen, "annotations", JsonType::Object, false, what, annotations, annotations_present) != ImportError::None) return error_;
      if (annotations_present) {
        JsonMember reference = json_member(annotations, "org.opencontainers.image.ref.name");
        if (!reference.found || reference.value.type != JsonType::String) {
          reference = json_member(annotations, "io.containerd.image.name");
        }
        if (reference.found && reference.value.type == JsonType::String &&
            copy_string(reference.value, "the image name", config.name) != ImportError::None) {
          return error_;
        }
      }
    }
    bool index = media_type_present && is_index_type(media_type);
    if (media_type_present && !index && !is_manifest_type(media_type)) {
      char type[96];
      u64 type_length;
      bool fits = json_string(media_type, type, sizeof type, type_length);
      Message message;
      message.text(what).text(": manifest media type ").path(type, fits ? type_length : sizeof type - 1).text(" is unknown");
      return fail(ImportError::UnknownMediaType, message);
    }
    const ArchiveFile* blob;
    if (load_descriptor_blob(chosen, index ? "index" : "manifest", blob, chosen_digest) != ImportError::None) return error_;
    Message name;
    name.text(index ? "index " : "manifest ").text(chosen_digest);
    copy_bytes(what, name.c_str(), string_length(name.c_str()) + 1);
    if (load_json(*blob, what, root) != ImportError::None) return error_;
    if (!index) break;
    if (depth + 1 == MAX_INDEX_DEPTH) {
      Message message;
      message.text(what).text(": indexes nested deeper than ").number(MAX_INDEX_DEPTH);
      return fail(ImportError::MalformedManifest, message);
    }
  }

  // The manifest: its configuration and layers.
  if (root.type != JsonType::Object) {
    Message message;
    message.text(what).text(" is not a JSON object");
    return fail(ImportError::MalformedManifest, message);
  }
  JsonValue schema{};
  bool schema_present = false;
  if (lookup(root, "schemaVersion", JsonType::Number, true, what, schema, schema_present) != ImportError::None) return error_;
  u64 schema_version;
  if (!json_unsigned(schema, schema_version) || schema_version != 2) {
    Message message;
    message.text(what).text(": schemaVersion is not 2");
    return fail(ImportError::MalformedManifest, message);
  }
  JsonValue own_type{};
  bool own_type_present = false;
  if (lookup(root, "mediaType", JsonType::String, false, what, own_type, own_type_present) != ImportError::None) return error_;
  if (own_type_present && !is_manifest_type(own_type)) {
    Message message;
    message.text(what).text(": its mediaType is not an image manifest's");
    return fail(ImportError::UnknownMediaType, message);
  }
  JsonValue config_descriptor{};
  bool config_descriptor_present = false;
  if (lookup(root, "config", JsonType::Object, true, what, config_descriptor, config_descriptor_present) != ImportError::None) return error_;
  JsonValue layers{};
  bool layers_present = false;
  if (lookup(root, "layers", JsonType::Array, true, what, layers, layers_present) != ImportError::None) return error_;
  {
    JsonValue config_type{};
    bool config_type_present = false;
    if (lookup(config_descriptor, "mediaType", JsonType::String, true, what, config_type, config_type_present) != ImportError::None) return error_;
    if (!json_string_equals(config_type, OCI_CONFIG) && !json_string_equals(config_type, DOCKER_CONFIG)) {
      char type[96];
      u64 type_length;
      bool fits = json_string(config_type, type, sizeof type, type_length);
      Message message;
      message.text(what).text(": configuration media type ").path(type, fits ? type_length : sizeof type - 1).text(" is unknown");
      return fail(ImportError::UnknownMediaType, message);
    }
  }
  const ArchiveFile* config_file;
  char config_digest[72];
  if (load_descriptor_blob(config_descriptor, "configuration", config_file, config_digest) != ImportError::None) return error_;
  Message config_name;
  config_name.text("configuration ").text(config_digest);
  if (load_json(*config_file, config_name.c_str(), config_root) != ImportError::None) return error_;

  if (allocate_layers(json_count(layers)) != ImportError::None) return error_;
  JsonCursor cursor(layers);
  JsonValue descriptor;
  while (cursor.next(descriptor)) {
    Layer& layer = layers_[layer_count_];
    layer = {};
    if (descriptor.type != JsonType::Object) {
      Message message;
      message.text(what).text(": a layer descriptor is not an object");
      return fail(ImportError::MalformedManifest, message);
    }
    JsonValue layer_type{};
    bool layer_type_present = false;
    if (lookup(descriptor, "mediaType", JsonType::String, true, what, layer_type, layer_type_present) != ImportError::None) return error_;
    char type[96];
    u64 type_length;
    bool fits = json_string(layer_type, type, sizeof type, type_length);
    if (!fits) type_length = sizeof type - 1;
    bool gzip = equals(type, type_length, "application/vnd.oci.image.layer.v1.tar+gzip") ||
                equals(type, type_length, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip") ||
                equals(type, type_length, "application/vnd.docker.image.rootfs.diff.tar.gzip") ||
                equals(type, type_length, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");
    bool plain = equals(type, type_length, "application/vnd.oci.image.layer.v1.tar") ||
                 equals(type, type_length, "application/vnd.oci.image.layer.nondistributable.v1.tar") ||
                 equals(type, type_length, "application/vnd.docker.image.rootfs.diff.tar");
    bool zstd = equals(type, type_length, "application/vnd.oci.image.layer.v1.tar+zstd") ||
                equals(type, type_length, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd") ||
                equals(type, type_length, "application/vnd.docker.image.rootfs.diff.tar.zstd");
    JsonMember layer_digest = json_member(descriptor, "digest");
    char digest[80] = "(no digest)";
    u64 digest_length = 11;
    if (layer_digest.found && !json_string(layer_digest.value, digest, sizeof digest, digest_length)) digest_length = 11;
    if (zstd) {
      Message message;
      message.text("layer ").path(digest, digest_length).text(": unsupported media type ").path(type, type_length)
          .text(" (zstd; only gzip and uncompressed layers are supported)");
      return fail(ImportError::UnsupportedMediaType, message);
    }
    if (!gzip && !plain) {
      Message message;
      message.text("layer ").path(digest, digest_length).text(": unknown media type ").path(type, type_length);
      return fail(ImportError::UnknownMediaType, message);
    }
    if (load_descriptor_blob(descriptor, "layer", layer.file, layer.digest) != ImportError::None) return error_;
    layer.compression = gzip ? Compression::Gzip : Compression::None;
    ++layer_count_;
  }
  copy_bytes(config.digest, chosen_digest, sizeof config.digest);
  config.form = ArchiveForm::OciLayout;
  return ImportError::None;
}

ImportError Importer::read_docker(ImageConfig& config, JsonValue& config_root) {
  const ArchiveFile* manifest_file;
  if (find_file("manifest.json", 13, manifest_file) != ImportError::None) return error_;
  JsonValue root;
  if (load_json(*manifest_file, "manifest.json", root) != ImportError::None) return error_;
  const char* what = "manifest.json";
  if (root.type != JsonType::Array) return fail_text(ImportError::MalformedManifest, "manifest.json is not a JSON array");
  u64 images = json_count(root);
  if (images == 0) return fail_text(ImportError::MalformedManifest, "manifest.json lists no image");
  if (images > 1) {
    Message message;
    message.text("manifest.json lists ").number(images).text(" images; import one at a time");
    return fail(ImportError::AmbiguousImage, message);
  }
  JsonCursor images_cursor(root);
  JsonValue image;
  (void)images_cursor.next(image);  // Exactly one element, counted above.
  if (image.type != JsonType::Object) return fail_text(ImportError::MalformedManifest, "manifest.json: the image is not an object");
  JsonValue config_name{};
  bool config_name_present = false;
  if (lookup(image, "Config", JsonType::String, true, what, config_name, config_name_present) != ImportError::None) return error_;
  JsonValue layers{};
  bool layers_present = false;
  if (lookup(image, "Layers", JsonType::Array, true, what, layers, layers_present) != ImportError::None) return error_;
  JsonValue tags{};
  bool tags_present = false;
  if (lookup(image, "RepoTags", JsonType::Array, false, what, tags, tags_present) != ImportError::None) return error_;
  if (tags_present) {
    JsonCursor tags_cursor(tags);
    JsonValue tag;
    if (tags_cursor.next(tag) && tag.type == JsonType::String &&
        copy_string(tag, "the image name", config.name) != ImportError::None) {
      return error_;
    }
  }

  // The configuration's name carries its digest: "<hex>.json" (docker save before 25) or
  // "blobs/sha256/<hex>" (docker save 25 and later).
  // Names go to the arena, not the stack (two 4 KiB names would be a large frame in the guest).
  auto* name = static_cast<char*>(arena_.allocate(2 * NAME_BYTES));
  if (name == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for a name");
  char* layer_name = name + NAME_BYTES;
  u64 name_length;
  if (!json_string(config_name, name, NAME_BYTES, name_length)) {
    return fail_text(ImportError::MalformedManifest, "manifest.json: the Config name is too long");
  }
  const ArchiveFile* config_file;
  if (find_file(name, name_length, config_file) != ImportError::None) return error_;
  const char* base = name;
  u64 base_length = name_length;
  for (u64 i = 0; i < name_length; ++i) {
    if (name[i] == '/') {
      base = name + i + 1;
      base_length = name_length - i - 1;
    }
  }
  if (base_length > 5 && equals(base + base_length - 5, 5, ".json")) base_length -= 5;
  u8 expected[DIGEST_BYTES];
  if (!parse_hex_digest(base, base_length, expected)) {
    Message message;
    message.text("configuration ").path(name, name_length).text(" is not named by its sha256 digest; it cannot be verified");
    return fail(ImportError::UnsupportedDigest, message);
  }
  if (!bytes_equal(expected, config_file->digest, DIGEST_BYTES)) {
    Message message;
    message.text("configuration ").digest(expected).text(" digest mismatch: its bytes hash to ").digest(config_file->digest);
    return fail(ImportError::DigestMismatch, message);
  }
  digest_text(expected, config.digest);
  Message config_what;
  config_what.text("configuration ").digest(expected);
  if (load_json(*config_file, config_what.c_str(), config_root) != ImportError::None) return error_;

  if (allocate_layers(json_count(layers)) != ImportError::None) return error_;
  JsonCursor cursor(layers);
  JsonValue element;
  while (cursor.next(element)) {
    Layer& layer = layers_[layer_count_];
    layer = {};
    u64 layer_name_length;
    if (element.type != JsonType::String || !json_string(element, layer_name, NAME_BYTES, layer_name_length)) {
      return fail_text(ImportError::MalformedManifest, "manifest.json: a layer is not a file name");
    }
    if (find_file(layer_name, layer_name_length, layer.file) != ImportError::None) {
      if (error_ != ImportError::MissingBlob) return error_;
      error_ = ImportError::None;
      Message message;
      message.text("layer ").path(layer_name, layer_name_length).text(" is not in the archive");
      return fail(ImportError::MissingBlob, message);
    }
    // docker save 25 and later names layers by their (possibly compressed) digest: verify it.
    u8 named[DIGEST_BYTES];
    if (starts_with(layer_name, layer_name_length, "blobs/sha256/") &&
        parse_hex_digest(layer_name + 13, layer_name_length - 13, named)) {
      digest_text(named, layer.digest);
      if (!bytes_equal(named, layer.file->digest, DIGEST_BYTES)) {
        Message message;
        message.text("layer ").digest(named).text(" digest mismatch: its bytes hash to ").digest(layer.file->digest);
        return fail(ImportError::DigestMismatch, message);
      }
    } else {
      u64 shown = layer_name_length < sizeof layer.digest - 1 ? layer_name_length : sizeof layer.digest - 1;
      copy_bytes(layer.digest, layer_name, shown);
      layer.digest[shown] = '\0';
    }
    // Docker archives do not say how a layer is compressed: its first bytes do.
    u8 magic[4] = {};
    u64 magic_length = layer.file->size < 4 ? layer.file->size : 4;
    if (!spool_.read(layer.file->blob, 0, magic, magic_length)) return fail_text(ImportError::ArchiveTooLarge, "the spool could not read a blob back");
    if (looks_like_zstd(magic, magic_length)) {
      Message message;
      message.text("layer ").text(layer.digest).text(": unsupported media type (zstd-compressed; only gzip and uncompressed layers are supported)");
      return fail(ImportError::UnsupportedMediaType, message);
    }
    layer.compression = looks_like_gzip(magic, magic_length) ? Compression::Gzip : Compression::None;
    ++layer_count_;
  }
  config.form = ArchiveForm::DockerArchive;
  return ImportError::None;
}

ImportError Importer::read_config(JsonValue root, ImageConfig& config) {
  const char* what = "configuration";
  if (root.type != JsonType::Object) return fail_text(ImportError::MalformedManifest, "the configuration is not a JSON object");
  JsonValue os{};
  bool os_present = false;
  if (lookup(root, "os", JsonType::String, false, what, os, os_present) != ImportError::None) return error_;
  JsonValue architecture{};
  bool architecture_present = false;
  if (lookup(root, "architecture", JsonType::String, false, what, architecture, architecture_present) != ImportError::None) return error_;
  if ((os_present && !json_string_equals(os, "linux")) || (architecture_present && !json_string_equals(architecture, "amd64"))) {
    return fail_text(ImportError::NoMatchingImage, "the image is not for linux/amd64");
  }
  JsonValue rootfs{};
  bool rootfs_present = false;
  if (lookup(root, "rootfs", JsonType::Object, true, what, rootfs, rootfs_present) != ImportError::None) return error_;
  JsonValue diff_ids{};
  bool diff_ids_present = false;
  if (lookup(rootfs, "diff_ids", JsonType::Array, true, what, diff_ids, diff_ids_present) != ImportError::None) return error_;
  u64 count = json_count(diff_ids);
  if (count != layer_count_) {
    Message message;
    message.text("the configuration lists ").number(count).text(" diff_ids for ").number(layer_count_).text(" layers");
    return fail(ImportError::MalformedManifest, message);
  }
  JsonCursor cursor(diff_ids);
  JsonValue element;
  for (u32 i = 0; cursor.next(element); ++i) {
    Layer& layer = layers_[i];
    char text[80];
    u64 length;
    if (element.type != JsonType::String || !json_string(element, text, sizeof text, length) ||
        !parse_digest(text, length, layer.diff_id)) {
      return fail_text(ImportError::UnsupportedDigest, "configuration: a diff_id is not sha256: and 64 lower-case hex digits");
    }
    layer.has_diff_id = true;
    // An uncompressed layer's bytes are its tar: their digest, known already, must be the diff_id.
    if (layer.compression == Compression::None && !bytes_equal(layer.file->digest, layer.diff_id, DIGEST_BYTES)) {
      Message message;
      message.text("layer ").text(layer.digest).text(" digest mismatch: its bytes hash to ").digest(layer.file->digest)
          .text(", the configuration's diff_id is ").digest(layer.diff_id);
      return fail(ImportError::DigestMismatch, message);
    }
  }

  // When the image was made (RFC 3339 text, as the configuration says it; "" when absent).
  JsonValue created{};
  bool created_present = false;
  if (lookup(root, "created", JsonType::String, false, what, created, created_present) != ImportError::None) return error_;
  if (created_present && copy_string(created, "created", config.created) != ImportError::None) return error_;

  JsonValue settings{};
  bool settings_present = false;
  if (lookup(root, "config", JsonType::Object, false, what, settings, settings_present) != ImportError::None) return error_;
  if (!settings_present) return ImportError::None;
  JsonValue entrypoint{};
  bool entrypoint_present = false;
  if (lookup(settings, "Entrypoint", JsonType::Array, false, what, entrypoint, entrypoint_present) != ImportError::None) return error_;
  JsonValue cmd{};
  bool cmd_present = false;
  if (lookup(settings, "Cmd", JsonType::Array, false, what, cmd, cmd_present) != ImportError::None) return error_;
  JsonValue env{};
  bool env_present = false;
  if (lookup(settings, "Env", JsonType::Array, false, what, env, env_present) != ImportError::None) return error_;
  JsonValue working_dir{};
  bool working_dir_present = false;
  if (lookup(settings, "WorkingDir", JsonType::String, false, what, working_dir, working_dir_present) != ImportError::None) return error_;
  JsonValue user{};
  bool user_present = false;
  if (lookup(settings, "User", JsonType::String, false, what, user, user_present) != ImportError::None) return error_;
  if (entrypoint_present) {
    config.has_entrypoint = true;
    if (copy_string_list(entrypoint, "Entrypoint", config.entrypoint) != ImportError::None) return error_;
  }
  if (cmd_present) {
    config.has_cmd = true;
    if (copy_string_list(cmd, "Cmd", config.cmd) != ImportError::None) return error_;
  }
  if (env_present && copy_string_list(env, "Env", config.env) != ImportError::None) return error_;
  if (working_dir_present && copy_string(working_dir, "WorkingDir", config.working_dir) != ImportError::None) return error_;
  if (user_present && copy_string(user, "User", config.user) != ImportError::None) return error_;
  return ImportError::None;
}

ImportError Importer::finish(TreeSink& tree, ImageConfig& config) {
  if (error_ != ImportError::None) return error_;
  if (finished_) return fail_text(ImportError::ArchiveMalformed, "the import was already finished");
  finished_ = true;
  if (end_of_archive() != ImportError::None) return error_;
  config = ImageConfig{};
  JsonValue config_root;
  const ArchiveFile* probe = nullptr;
  bool oci = false;
  for (u32 i = 0; i < file_count_; ++i) {
    if (equals(files_[i].name, files_[i].name_length, "index.json")) oci = true;
    if (equals(files_[i].name, files_[i].name_length, "manifest.json")) probe = &files_[i];
  }
  if (!oci && probe == nullptr) {
    return fail_text(ImportError::NotAnImage, "the archive has neither index.json (OCI layout) nor manifest.json (docker-archive)");
  }
  if ((oci ? read_oci(config, config_root) : read_docker(config, config_root)) != ImportError::None) return error_;
  if (read_config(config_root, config) != ImportError::None) return error_;
  config.layers = layer_count_;
  return walk_layers(&tree, config);
}

}  // namespace imagefs
