// Fuzz target: the image importer (user/imagefs/import) driving the real imagefs::Writer. The
// first input byte picks what the rest is: 0 a whole archive; 1 a layer tar and 2 an image
// configuration, each wrapped by the target into an OCI archive with correct digests so that the
// bytes reach the layer walker and the configuration reader. Beyond not crashing: every path the
// tree sees is normalised (no "/" at either end, no "", "." or ".." component, within MAX_PATH);
// no call reaches the tree after one failed; an error has a message and a success a sha256
// digest; the same archive fed whole and in 7-byte pieces gives the same answer; an accepted
// tree packs into exactly packed_size() bytes that the Reader opens.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "check.hpp"
#include "imagefs/import/importer.hpp"
#include "imagefs/import/writer_tree_sink.hpp"
#include "imagefs/reader.hpp"
#include "sha256/sha256.hpp"

using namespace imagefs;

namespace {

class HeapArena final : public Arena {
 public:
  ~HeapArena() {
    for (void* block : blocks_) std::free(block);
  }
  void* allocate(u64 bytes) override {
    if (bytes > (64u << 20) - used_) return nullptr;
    used_ += bytes;
    void* block = std::aligned_alloc(16, (bytes + 15) & ~u64{15});
    if (block != nullptr) blocks_.push_back(block);
    return block;
  }

 private:
  std::vector<void*> blocks_;
  u64 used_ = 0;
};

bool normalised(const char* path, u64 length) {
  if (length > MAX_PATH) return false;
  if (length == 0) return true;
  if (path[0] == '/' || path[length - 1] == '/') return false;
  u64 start = 0;
  for (u64 i = 0; i <= length; ++i) {
    if (i < length && path[i] == '\0') return false;
    if (i == length || path[i] == '/') {
      u64 component = i - start;
      if (component == 0 || component > MAX_NAME) return false;
      if ((component == 1 && path[start] == '.') || (component == 2 && path[start] == '.' && path[start + 1] == '.')) return false;
      start = i + 1;
    }
  }
  return true;
}

// Checks every call, then forwards it to the real Writer.
class CheckedTree final : public TreeSink {
 public:
  explicit CheckedTree(TreeSink& inner) : inner_(inner) {}
  WriterStatus directory(const char* path, u64 length, Metadata metadata) override {
    FUZZ_CHECK(normalised(path, length));
    return note(inner_.directory(path, length, metadata));
  }
  WriterStatus symlink(const char* path, u64 length, Metadata metadata, const char* target, u64 target_length) override {
    FUZZ_CHECK(length > 0 && normalised(path, length));
    return note(inner_.symlink(path, length, metadata, target, target_length));
  }
  WriterStatus hardlink(const char* path, u64 length, const char* existing, u64 existing_length) override {
    FUZZ_CHECK(length > 0 && normalised(path, length) && existing_length > 0 && normalised(existing, existing_length));
    return note(inner_.hardlink(path, length, existing, existing_length));
  }
  WriterStatus file(const char* path, u64 length, Metadata metadata, u64 size) override {
    FUZZ_CHECK(length > 0 && normalised(path, length));
    FUZZ_CHECK(metadata.mode <= 07777);
    return note(inner_.file(path, length, metadata, size));
  }
  WriterStatus data(const void* bytes, u64 length) override { return note(inner_.data(bytes, length)); }
  // A whiteout over nothing (no such path, a parent that is no directory) is not an error: the
  // importer goes on after those answers, and after no other.
  WriterStatus remove(const char* path, u64 length) override {
    FUZZ_CHECK(length > 0 && normalised(path, length));
    return note(inner_.remove(path, length), true);
  }
  WriterStatus clear(const char* path, u64 length) override {
    FUZZ_CHECK(normalised(path, length));
    return note(inner_.clear(path, length), true);
  }
  bool failed = false;

 private:
  WriterStatus note(WriterStatus status, bool whiteout = false) {
    FUZZ_CHECK(!failed);  // Nothing after a refusal.
    bool tolerated = whiteout && (status.error == WriterError::NoParent || status.error == WriterError::NotADirectory ||
                                  status.error == WriterError::NoSuchEntry);
    failed = !status.ok && !tolerated;
    return status;
  }
  TreeSink& inner_;
};

class CountingSink final : public Sink {
 public:
  bool write(const void* bytes, u64 length) override {
    data.append(static_cast<const char*>(bytes), length);
    return true;
  }
  std::string data;
};

std::string hex(const std::string& bytes) {
  char out[hashing::Sha256::HEX_BYTES];
  hashing::sha256_hex(bytes.data(), bytes.size(), out);
  return out;
}

void add_file(std::string& tar, const std::string& name, const std::string& body) {
  char header[512] = {};
  std::memcpy(header, name.data(), name.size());
  std::snprintf(header + 100, 8, "%07o", 0644);
  std::snprintf(header + 108, 8, "%07o", 0);
  std::snprintf(header + 116, 8, "%07o", 0);
  std::snprintf(header + 124, 12, "%011llo", static_cast<unsigned long long>(body.size()));
  std::snprintf(header + 136, 12, "%011o", 0);
  header[156] = '0';
  std::memcpy(header + 257, "ustar\0" "00", 8);
  std::memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : header) sum += static_cast<unsigned char>(c);
  std::snprintf(header + 148, 8, "%06o", sum);
  tar.append(header, 512);
  tar += body;
  tar.append((512 - body.size() % 512) % 512, '\0');
}

// An OCI archive of one uncompressed layer with the given configuration settings (or a whole
// configuration document when `config_document` is set).
std::string wrap(const std::string& layer, const std::string& settings, bool config_document) {
  std::string config = config_document ? settings
                                       : R"({"architecture":"amd64","os":"linux","config":)" + settings +
                                             R"(,"rootfs":{"type":"layers","diff_ids":["sha256:)" + hex(layer) + R"("]}})";
  std::string manifest = R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:)" +
                         hex(config) + R"(","size":)" + std::to_string(config.size()) +
                         R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:)" + hex(layer) +
                         R"(","size":)" + std::to_string(layer.size()) + "}]}";
  std::string index = R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" +
                      hex(manifest) + R"(","size":)" + std::to_string(manifest.size()) + "}]}";
  std::string archive;
  add_file(archive, "blobs/sha256/" + hex(layer), layer);
  add_file(archive, "blobs/sha256/" + hex(config), config);
  add_file(archive, "blobs/sha256/" + hex(manifest), manifest);
  add_file(archive, "index.json", index);
  archive.append(1024, '\0');
  return archive;
}

struct Answer {
  ImportError error;
  std::string message;
};

Answer run(const std::string& archive, u64 piece, bool pack) {
  HeapArena arena;
  auto spool = std::make_unique<MemoryBlobSpool>(arena, 16u << 20);
  ImportLimits limits;
  limits.max_unpacked_bytes = 1u << 20;
  limits.max_nodes = 1024;
  limits.max_json_bytes = 64 * 1024;
  auto importer = std::make_unique<Importer>(arena, *spool, limits);
  auto writer = std::make_unique<Writer>(arena);
  WriterTreeSink sink(*writer);
  CheckedTree tree(sink);
  ImageConfig config;
  ImportError error = ImportError::None;
  for (u64 at = 0; at < archive.size() && error == ImportError::None; at += piece) {
    error = importer->feed(archive.data() + at, std::min<u64>(piece, archive.size() - at));
  }
  if (error == ImportError::None) error = importer->finish(tree, config);
  FUZZ_CHECK(error == importer->error());
  if (error != ImportError::None) {
    FUZZ_CHECK(importer->message()[0] != '\0');
  } else {
    FUZZ_CHECK(importer->message()[0] == '\0');
    FUZZ_CHECK(std::strlen(config.digest) == 71 && std::strncmp(config.digest, "sha256:", 7) == 0);
    FUZZ_CHECK(!tree.failed);
    if (pack) {
      CountingSink out;
      u64 expected = writer->packed_size();
      FUZZ_CHECK(writer->finish(out).ok);
      FUZZ_CHECK(out.data.size() == expected);
      void* memory = std::aligned_alloc(4096, (out.data.size() + 4095) / 4096 * 4096);
      std::memcpy(memory, out.data.data(), out.data.size());
      Reader reader;
      FUZZ_CHECK(reader.open(memory, out.data.size()));
      std::free(memory);
    }
  }
  return {error, importer->message()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string archive;
  switch (data[0] % 3) {
    case 0: archive = rest; break;
    case 1: archive = wrap(rest, R"({"Cmd":["/bin/sh"]})", false); break;
    default: archive = wrap(std::string(1024, '\0'), rest, true); break;
  }
  Answer whole = run(archive, archive.size() + 1, true);
  Answer pieces = run(archive, 7, false);
  FUZZ_CHECK(whole.error == pieces.error);
  FUZZ_CHECK(whole.message == pieces.message);
  return 0;
}
