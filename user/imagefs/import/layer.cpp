// The layer walker: reads each layer back from the spool (through gzip when compressed) into a
// tar reader. A check pass over every layer verifies its diff_id, its tar structure, its paths
// and the limits before anything reaches the tree; the apply pass then applies each layer's
// whiteouts (which hide only lower layers, so they go first) and then its entries.
#include <new>

#include "internal.hpp"

namespace imagefs {

PathCheck normalise_path(const char* path, u64 length, char* out, u64& out_length) {
  out_length = 0;
  u64 at = 0;
  while (at < length) {
    u64 end = at;
    while (end < length && path[end] != '/') {
      if (path[end] == '\0') return PathCheck::Bad;
      ++end;
    }
    u64 component = end - at;
    if (component == 2 && path[at] == '.' && path[at + 1] == '.') return PathCheck::Escapes;
    if (component > 0 && !(component == 1 && path[at] == '.')) {
      if (component > MAX_NAME) return PathCheck::Bad;
      u64 needed = out_length + (out_length > 0 ? 1 : 0) + component;
      if (needed > MAX_PATH) return PathCheck::Bad;
      if (out_length > 0) out[out_length++] = '/';
      copy_bytes(out + out_length, path + at, component);
      out_length += component;
    }
    at = end + 1;
  }
  return PathCheck::Ok;
}

namespace {

constexpr u64 READ_CHUNK = 65536;
constexpr char WHITEOUT_PREFIX[] = ".wh.";
constexpr char OPAQUE_MARKER[] = ".wh..wh..opq";

}  // namespace

class Importer::LayerWalker final : public TarVisitor, public GzipOutput {
 public:
  enum class Pass : u8 { Check, Whiteouts, Entries };

  LayerWalker(Importer& importer, Arena& arena) : importer_(importer), tar_(*this), gzip_(arena) {}

  ImportError walk(Layer& layer, Pass pass, TreeSink* tree, u8* buffer);
  bool entry(const TarEntry& entry) override;
  bool data(const u8* bytes, u64 length) override;
  bool write(const u8* bytes, u64 length) override;

  u64 unpacked_bytes = 0;
  u64 entries = 0;

 private:
  ImportError fail_layer(ImportError error, const char* what, const char* path, u64 path_length);
  bool tree_failed(WriterStatus status, const char* operation, const char* path, u64 path_length);
  bool whiteout(const char* path, u64 length, u64 base);

  Importer& importer_;
  TarReader tar_;
  GzipReader gzip_;
  hashing::Sha256 hash_;
  Layer* layer_ = nullptr;
  Pass pass_ = Pass::Check;
  TreeSink* tree_ = nullptr;
  bool forward_data_ = false;  // The current entry's data goes to the tree.
  char path_[MAX_PATH + 1] = {};
  char target_[MAX_PATH + 1] = {};
};

ImportError Importer::LayerWalker::fail_layer(ImportError error, const char* what, const char* path, u64 path_length) {
  Message message;
  message.text("layer ").text(layer_->digest).text(": ").text(what);
  if (path != nullptr) message.path(path, path_length);
  return importer_.fail(error, message);
}

bool Importer::LayerWalker::tree_failed(WriterStatus status, const char* operation, const char* path, u64 path_length) {
  if (status.ok) return false;
  ImportError error = ImportError::TreeFailed;
  const char* what = "the tree refused ";
  switch (status.error) {
    case WriterError::NoParent:
      error = ImportError::ParentNotDirectory;
      what = "a parent is missing or is not a directory (symlinks are not followed): ";
      break;
    case WriterError::NoSuchEntry:
      error = ImportError::HardlinkTargetMissing;
      what = "hard link to a missing file: ";
      break;
    case WriterError::HardlinkToDirectory:
      error = ImportError::HardlinkToDirectory;
      what = "hard link to a directory: ";
      break;
    case WriterError::BadPath:
      error = ImportError::BadPath;
      what = "bad path: ";
      break;
    case WriterError::TooLarge:
      error = ImportError::LimitExceeded;
      what = "the image tree would exceed its size or node limit at ";
      break;
    case WriterError::OutOfMemory:
      what = "out of memory at ";
      break;
    default: break;
  }
  Message message;
  message.text("layer ").text(layer_->digest).text(": ").text(what).path(path, path_length);
  if (error == ImportError::TreeFailed) message.text(" (").text(operation).text(")");
  importer_.fail(error, message);
  return true;
}

// A whiteout entry at `path` whose last component starts at `base`.
bool Importer::LayerWalker::whiteout(const char* path, u64 length, u64 base) {
  const char* name = path + base;
  u64 name_length = length - base;
  u64 directory_length = base > 0 ? base - 1 : 0;
  if (equals(name, name_length, OPAQUE_MARKER)) {
    if (pass_ == Pass::Check) {
      layer_->has_whiteouts = true;
      return true;
    }
    if (pass_ != Pass::Whiteouts) return true;
    WriterStatus status = tree_->clear(path, directory_length);
    // Nothing to hide below a missing path, a symlink (never followed) or a file: a directory
    // this layer brings there replaces them by itself.
    if (!status.ok && (status.error == WriterError::NoParent || status.error == WriterError::NotADirectory ||
                       status.error == WriterError::NoSuchEntry)) {
      return true;
    }
    return !tree_failed(status, "opaque whiteout", path, length);
  }
  // ".wh..wh.*" other than the opaque marker is AUFS bookkeeping, not a whiteout.
  if (starts_with(name, name_length, ".wh..wh.")) return true;
  const char* hidden = name + 4;
  u64 hidden_length = name_length - 4;
  if (hidden_length == 0 || equals(hidden, hidden_length, ".")) {
    fail_layer(ImportError::BadPath, "a whiteout names no file: ", path, length);
    return false;
  }
  if (equals(hidden, hidden_length, "..")) {
    fail_layer(ImportError::PathEscapes, "path escapes the root: ", path, length);
    return false;
  }
  if (pass_ == Pass::Check) {
    layer_->has_whiteouts = true;
    return true;
  }
  if (pass_ != Pass::Whiteouts) return true;
  // The hidden path: the whiteout's directory and the name after ".wh.".
  copy_bytes(target_, path, base);
  copy_bytes(target_ + base, hidden, hidden_length);
  u64 target_length = base + hidden_length;
  WriterStatus status = tree_->remove(target_, target_length);
  if (!status.ok && status.error == WriterError::NoParent) return true;
  return !tree_failed(status, "whiteout", target_, target_length);
}

bool Importer::LayerWalker::entry(const TarEntry& entry) {
  if (importer_.error_ != ImportError::None) return false;
  forward_data_ = false;
  if (pass_ == Pass::Check && ++entries > importer_.limits_.max_nodes) {
    Message message;
    message.text("the layers hold more than ").number(importer_.limits_.max_nodes).text(" entries (the limit)");
    importer_.fail(ImportError::LimitExceeded, message);
    return false;
  }
  u64 length;
  switch (normalise_path(entry.path, entry.path_length, path_, length)) {
    case PathCheck::Ok: break;
    case PathCheck::Escapes:
      fail_layer(ImportError::PathEscapes, "path escapes the root: ", entry.path, entry.path_length);
      return false;
    case PathCheck::Bad:
      fail_layer(ImportError::BadPath, "bad path (a NUL, a name beyond 255 bytes or a path beyond 4096): ", entry.path,
                 entry.path_length);
      return false;
  }
  path_[length] = '\0';
  u64 base = length;
  while (base > 0 && path_[base - 1] != '/') --base;
  if (starts_with(path_ + base, length - base, WHITEOUT_PREFIX)) return whiteout(path_, length, base);
  if (entry.type == TarType::Special) return true;  // Devices and FIFOs have no place in an image.
  if (length == 0 && entry.type != TarType::Directory) {
    fail_layer(ImportError::BadPath, "an entry other than a directory names the root: ", entry.path, entry.path_length);
    return false;
  }
  u64 target_length = 0;
  if (entry.type == TarType::Hardlink) {
    switch (normalise_path(entry.link, entry.link_length, target_, target_length)) {
      case PathCheck::Ok: break;
      case PathCheck::Escapes:
        fail_layer(ImportError::PathEscapes, "hard link target escapes the root: ", entry.link, entry.link_length);
        return false;
      case PathCheck::Bad:
        fail_layer(ImportError::BadPath, "bad hard link target: ", entry.link, entry.link_length);
        return false;
    }
    if (target_length == 0) {
      fail_layer(ImportError::HardlinkToDirectory, "hard link to the root: ", entry.path, entry.path_length);
      return false;
    }
  }
  if (entry.type == TarType::Symlink && entry.link_length > MAX_PATH) {
    fail_layer(ImportError::BadPath, "symlink target beyond 4096 bytes: ", entry.path, entry.path_length);
    return false;
  }
  if (pass_ != Pass::Entries) return true;

  Metadata metadata{entry.mode, entry.uid, entry.gid, entry.mtime};
  WriterStatus status = WriterStatus::success();
  const char* operation = "";
  switch (entry.type) {
    case TarType::Directory:
      status = tree_->directory(path_, length, metadata);
      operation = "directory";
      break;
    case TarType::File:
      status = tree_->file(path_, length, metadata, entry.size);
      operation = "file";
      forward_data_ = status.ok;
      break;
    case TarType::Symlink:
      status = tree_->symlink(path_, length, metadata, entry.link, entry.link_length);
      operation = "symlink";
      break;
    case TarType::Hardlink:
      status = tree_->hardlink(path_, length, target_, target_length);
      operation = "hard link";
      if (!status.ok && status.error == WriterError::NoSuchEntry) {
        tree_failed(status, operation, target_, target_length);
        return false;
      }
      break;
    case TarType::Special: break;
  }
  return !tree_failed(status, operation, path_, length);
}

bool Importer::LayerWalker::data(const u8* bytes, u64 length) {
  if (importer_.error_ != ImportError::None) return false;
  if (!forward_data_) return true;
  return !tree_failed(tree_->data(bytes, length), "file data", path_, string_length(path_));
}

bool Importer::LayerWalker::write(const u8* bytes, u64 length) {
  if (importer_.error_ != ImportError::None) return false;
  if (pass_ == Pass::Check) {
    if (length > importer_.limits_.max_unpacked_bytes - unpacked_bytes) {
      Message message;
      message.text("the layers unpack to more than ").number(importer_.limits_.max_unpacked_bytes).text(" bytes (the limit)");
      importer_.fail(ImportError::LimitExceeded, message);
      return false;
    }
    unpacked_bytes += length;
    hash_.update(bytes, length);
  }
  TarError error = tar_.feed(bytes, length);
  if (error == TarError::None) return true;
  if (error != TarError::Visitor) {
    fail_layer(error == TarError::Truncated ? ImportError::LayerTruncated : ImportError::LayerMalformed, tar_error_text(error),
               nullptr, 0);
  }
  return false;
}

ImportError Importer::LayerWalker::walk(Layer& layer, Pass pass, TreeSink* tree, u8* buffer) {
  layer_ = &layer;
  pass_ = pass;
  tree_ = tree;
  forward_data_ = false;
  tar_.reset();
  hash_ = hashing::Sha256();
  bool gzip = layer.compression == Compression::Gzip;
  if (gzip && gzip_.reset() != GzipError::None) return importer_.fail_text(ImportError::TreeFailed, "out of memory for gzip");
  const ArchiveFile& file = *layer.file;
  for (u64 offset = 0; offset < file.size;) {
    u64 chunk = file.size - offset < READ_CHUNK ? file.size - offset : READ_CHUNK;
    if (!importer_.spool_.read(file.blob, offset, buffer, chunk)) {
      return importer_.fail_text(ImportError::ArchiveTooLarge, "the spool could not read a blob back");
    }
    offset += chunk;
    if (gzip) {
      GzipError error = gzip_.feed(buffer, chunk, *this);
      if (importer_.error_ != ImportError::None) return importer_.error_;
      if (error == GzipError::OutOfMemory) return importer_.fail_text(ImportError::TreeFailed, "out of memory for gzip");
      if (error != GzipError::None) return fail_layer(ImportError::LayerMalformed, gzip_error_text(error), nullptr, 0);
    } else if (!write(buffer, chunk)) {
      return importer_.error_;
    }
  }
  if (gzip) {
    GzipError error = gzip_.finish();
    if (error != GzipError::None) {
      return fail_layer(error == GzipError::Truncated ? ImportError::LayerTruncated : ImportError::LayerMalformed,
                        gzip_error_text(error), nullptr, 0);
    }
  }
  TarError error = tar_.finish();
  if (error != TarError::None) {
    return fail_layer(error == TarError::Truncated ? ImportError::LayerTruncated : ImportError::LayerMalformed,
                      tar_error_text(error), nullptr, 0);
  }
  if (pass == Pass::Check && layer.has_diff_id) {
    u8 digest[DIGEST_BYTES];
    hash_.finish(digest);
    if (!bytes_equal(digest, layer.diff_id, DIGEST_BYTES)) {
      Message message;
      message.text("layer ").text(layer.digest).text(" digest mismatch: it unpacks to ").digest(digest)
          .text(", the configuration's diff_id is ").digest(layer.diff_id);
      return importer_.fail(ImportError::DigestMismatch, message);
    }
  }
  return ImportError::None;
}

ImportError Importer::walk_layers(TreeSink* tree, ImageConfig& config) {
  void* memory = arena_.allocate(sizeof(LayerWalker));
  auto* buffer = static_cast<u8*>(arena_.allocate(READ_CHUNK));
  if (memory == nullptr || buffer == nullptr) return fail_text(ImportError::TreeFailed, "out of memory for the layer walker");
  auto* walker = new (memory) LayerWalker(*this, arena_);
  // Every layer is checked whole before the first call reaches the tree.
  for (u32 i = 0; i < layer_count_; ++i) {
    if (walker->walk(layers_[i], LayerWalker::Pass::Check, nullptr, buffer) != ImportError::None) return error_;
  }
  config.unpacked_bytes = walker->unpacked_bytes;
  config.entries = walker->entries;
  if (tree == nullptr) return ImportError::None;
  for (u32 i = 0; i < layer_count_; ++i) {
    if (layers_[i].has_whiteouts &&
        walker->walk(layers_[i], LayerWalker::Pass::Whiteouts, tree, buffer) != ImportError::None) {
      return error_;
    }
    if (walker->walk(layers_[i], LayerWalker::Pass::Entries, tree, buffer) != ImportError::None) return error_;
  }
  return ImportError::None;
}

}  // namespace imagefs
