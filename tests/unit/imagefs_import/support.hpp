// Host helpers for the importer's tests: an Arena over malloc, a model of the Writer's contract
// that records every call (ModelTree), a tar writer, gzip through Debian's gzip, and an OCI /
// docker archive builder with correct digests that a test can then spoil one way at a time.
#pragma once

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "imagefs/import/importer.hpp"
#include "sha256/sha256.hpp"

namespace import_test {

using namespace imagefs;

class HeapArena final : public Arena {
 public:
  ~HeapArena() {
    for (void* block : blocks_) std::free(block);
  }
  void* allocate(u64 bytes) override {
    if (bytes > limit_ - used_) return nullptr;
    used_ += bytes;
    void* block = std::aligned_alloc(16, (bytes + 15) / 16 * 16);
    if (block != nullptr) blocks_.push_back(block);
    return block;
  }
  u64 limit_ = 1ull << 32;
  u64 used_ = 0;

 private:
  std::vector<void*> blocks_;
};

enum class NodeType { Directory, File, Symlink };

struct Content {
  std::string bytes;
  Metadata metadata{};
};

struct ModelNode {
  NodeType type;
  Metadata metadata{};
  std::shared_ptr<Content> file;  // Shared by hard links.
  std::string target;
};

// The Writer's contract (writer.hpp) over a map from path to node; every call is logged, and a
// call that follows a failed one is counted (the importer must never make one).
class ModelTree final : public TreeSink {
 public:
  ModelTree() { nodes_[""] = {NodeType::Directory, {0755, 0, 0, 0}, nullptr, {}}; }

  std::map<std::string, ModelNode> nodes_;
  std::vector<std::string> log_;
  bool failed_ = false;
  int calls_after_failure_ = 0;

  WriterStatus directory(const char* path, u64 length, Metadata metadata) override {
    std::string name(path, length);
    log_.push_back("directory " + name);
    if (!parent_ok(name)) return result(WriterError::NoParent);
    auto existing = nodes_.find(name);
    if (existing != nodes_.end() && existing->second.type == NodeType::Directory) {
      existing->second.metadata = metadata;
      return result_ok();
    }
    drop(name);
    nodes_[name] = {NodeType::Directory, metadata, nullptr, {}};
    return result_ok();
  }
  WriterStatus symlink(const char* path, u64 length, Metadata metadata, const char* target, u64 target_length) override {
    std::string name(path, length);
    log_.push_back("symlink " + name + " -> " + std::string(target, target_length));
    if (name.empty()) return result(WriterError::BadPath);
    if (!parent_ok(name)) return result(WriterError::NoParent);
    drop(name);
    nodes_[name] = {NodeType::Symlink, metadata, nullptr, std::string(target, target_length)};
    return result_ok();
  }
  WriterStatus hardlink(const char* path, u64 length, const char* existing, u64 existing_length) override {
    std::string name(path, length);
    std::string old(existing, existing_length);
    log_.push_back("hardlink " + name + " => " + old);
    if (name.empty() || old.empty()) return result(WriterError::BadPath);
    if (!parent_ok(name)) return result(WriterError::NoParent);
    if (!parent_ok(old)) return result(WriterError::NoSuchEntry);
    auto target = nodes_.find(old);
    if (target == nodes_.end()) return result(WriterError::NoSuchEntry);
    if (target->second.type != NodeType::File) return result(WriterError::HardlinkToDirectory);
    ModelNode copy = target->second;
    drop(name);
    nodes_[name] = copy;
    return result_ok();
  }
  WriterStatus file(const char* path, u64 length, Metadata metadata, u64 size) override {
    std::string name(path, length);
    log_.push_back("file " + name + " " + std::to_string(size));
    if (name.empty()) return result(WriterError::BadPath);
    if (remaining_ != 0) return result(WriterError::SizeMismatch);
    if (!parent_ok(name)) return result(WriterError::NoParent);
    drop(name);
    auto content = std::make_shared<Content>();
    content->metadata = metadata;
    nodes_[name] = {NodeType::File, metadata, content, {}};
    open_ = content;
    remaining_ = size;
    return result_ok();
  }
  WriterStatus data(const void* bytes, u64 length) override {
    if (failed_) ++calls_after_failure_;
    if (length > remaining_ || !open_) return result(WriterError::SizeMismatch);
    open_->bytes.append(static_cast<const char*>(bytes), length);
    remaining_ -= length;
    return result_ok();
  }
  WriterStatus remove(const char* path, u64 length) override {
    std::string name(path, length);
    log_.push_back("remove " + name);
    if (!parent_ok(name)) return result(WriterError::NoParent);
    drop(name);
    return result_ok();
  }
  WriterStatus clear(const char* path, u64 length) override {
    std::string name(path, length);
    log_.push_back("clear " + name);
    if (!name.empty() && !parent_ok(name)) return result(WriterError::NoParent);
    auto node = nodes_.find(name);
    if (node == nodes_.end()) return result(WriterError::NoSuchEntry);
    if (node->second.type != NodeType::Directory) return result(WriterError::NotADirectory);
    std::string prefix = name.empty() ? "" : name + "/";
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      if (it->first != name && it->first.compare(0, prefix.size(), prefix) == 0) {
        it = nodes_.erase(it);
      } else {
        ++it;
      }
    }
    return result_ok();
  }

  // Entries below the root, one line each, sorted: "path type mode uid:gid [size|-> target]".
  std::string listing() const;

 private:
  WriterStatus result(WriterError error) {
    if (failed_) ++calls_after_failure_;
    failed_ = true;
    return WriterStatus::failure(error);
  }
  WriterStatus result_ok() {
    if (failed_) ++calls_after_failure_;
    return WriterStatus::success();
  }
  bool parent_ok(const std::string& name) const {
    auto slash = name.rfind('/');
    std::string parent = slash == std::string::npos ? "" : name.substr(0, slash);
    auto node = nodes_.find(parent);
    return node != nodes_.end() && node->second.type == NodeType::Directory;
  }
  void drop(const std::string& name) {
    nodes_.erase(name);
    std::string prefix = name + "/";
    for (auto it = nodes_.lower_bound(prefix); it != nodes_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = nodes_.erase(it);
    }
  }
  std::shared_ptr<Content> open_;
  u64 remaining_ = 0;
};

// One tar entry as a test wants it; `raw_type` overrides the type flag when not 0.
struct TarItem {
  char type = '0';  // '0' file, '1' hard link, '2' symlink, '5' directory, '6' FIFO, ...
  std::string path;
  std::string body;  // File data (or the extension's records for 'x' / 'L').
  std::string link;
  unsigned mode = 0644;
  unsigned uid = 0;
  unsigned gid = 0;
  long long mtime = 1600000000;
};

// A ustar header for the item (names beyond 100 bytes need an 'x' or 'L' item before it).
std::string tar_header(const TarItem& item, unsigned long long size);
// A whole archive with the two end blocks.
std::string tar_archive(const std::vector<TarItem>& items, bool end_blocks = true);
std::string pax_record(const std::string& key, const std::string& value);
std::string gzip(const std::string& bytes);
std::string sha256_hex(const std::string& bytes);
std::string read_file(const std::string& path);

// An OCI image layout archive built from layers and a configuration, with correct digests.
struct OciImage {
  struct Layer {
    std::string tar;
    bool compress = true;
    std::string media_type;  // Empty: the standard one for `compress`.
  };
  std::vector<Layer> layers;
  std::string config_settings = R"({"Cmd":["/bin/sh"]})";
  std::string reference = "example/test:1";

  // Filled by build(): the blobs and documents as written.
  std::vector<std::string> layer_blobs;
  std::string config;
  std::string manifest;
  std::string index;
  std::string config_json() const;
  std::string manifest_json() const;
  std::string index_json() const;
  void build_blobs();
  // The archive with index.json first or last; `extra` entries are appended.
  std::string archive(bool index_last = false, const std::vector<TarItem>& extra = {}) const;
};

std::string docker_archive(const std::vector<std::string>& layer_tars, const std::string& settings,
                           const std::string& tag);

// Imports `archive` (fed in pieces of `piece` bytes) into a ModelTree.
struct Outcome {
  std::shared_ptr<HeapArena> arena;  // Holds the configuration's strings.
  ImportError error;
  std::string message;
  ImageConfig config;
};
Outcome import_archive(const std::string& archive, ModelTree& tree, const ImportLimits& limits = {}, u64 piece = 4093);

}  // namespace import_test
