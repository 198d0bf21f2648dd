// The importer tests' helpers: tar and archive writers, gzip through Debian's gzip, the model tree's listing.
#include "support.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace import_test {

std::string ModelTree::listing() const {
  std::string out;
  for (const auto& [path, node] : nodes_) {
    char line[64];
    std::snprintf(line, sizeof line, " %04o %u:%u", node.metadata.mode, node.metadata.uid, node.metadata.gid);
    if (node.type == NodeType::File) {
      std::snprintf(line, sizeof line, " %04o %u:%u", node.file->metadata.mode, node.file->metadata.uid,
                    node.file->metadata.gid);
    }
    out += "/" + path + (node.type == NodeType::Directory ? " dir" : node.type == NodeType::File ? " file" : " symlink") + line;
    if (node.type == NodeType::File) out += " " + std::to_string(node.file->bytes.size());
    if (node.type == NodeType::Symlink) out += " -> " + node.target;
    out += "\n";
  }
  return out;
}

namespace {

// A NUL-terminated octal field of `width` bytes (the value must fit).
void octal(char* field, size_t width, unsigned long long value) {
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[width - 1] = '\0';
}

}  // namespace

std::string tar_header(const TarItem& item, unsigned long long size) {
  char header[512] = {};
  std::memcpy(header, item.path.data(), std::min<size_t>(item.path.size(), 100));
  octal(header + 100, 8, item.mode);
  octal(header + 108, 8, item.uid);
  octal(header + 116, 8, item.gid);
  octal(header + 124, 12, size);
  octal(header + 136, 12, static_cast<unsigned long long>(item.mtime));
  header[156] = item.type;
  std::memcpy(header + 157, item.link.data(), std::min<size_t>(item.link.size(), 100));
  std::memcpy(header + 257, "ustar\0" "00", 8);
  std::memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : header) sum += static_cast<unsigned char>(c);
  std::snprintf(header + 148, 8, "%06o", sum);
  header[155] = ' ';
  return std::string(header, 512);
}

std::string tar_archive(const std::vector<TarItem>& items, bool end_blocks) {
  std::string out;
  for (const auto& item : items) {
    out += tar_header(item, item.body.size());
    out += item.body;
    out += std::string((512 - item.body.size() % 512) % 512, '\0');
  }
  if (end_blocks) out += std::string(1024, '\0');
  return out;
}

std::string pax_record(const std::string& key, const std::string& value) {
  std::string body = " " + key + "=" + value + "\n";
  size_t length = body.size() + 1;
  while (std::to_string(length).size() + body.size() != length) ++length;
  return std::to_string(length) + body;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string gzip(const std::string& bytes) {
  char input[] = "/tmp/import-test-XXXXXX";
  int descriptor = mkstemp(input);
  if (descriptor < 0) std::abort();
  if (write(descriptor, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) std::abort();
  close(descriptor);
  std::string command = std::string("gzip -n -c ") + input;
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[65536];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
  if (pclose(pipe) != 0) std::abort();
  unlink(input);
  return out;
}

std::string sha256_hex(const std::string& bytes) {
  char hex[hashing::Sha256::HEX_BYTES];
  hashing::sha256_hex(bytes.data(), bytes.size(), hex);
  return hex;
}

std::string OciImage::config_json() const {
  std::string diff_ids;
  for (const auto& layer : layers) diff_ids += std::string(diff_ids.empty() ? "" : ",") + "\"sha256:" + sha256_hex(layer.tar) + "\"";
  return R"({"architecture":"amd64","os":"linux","config":)" + config_settings + R"(,"rootfs":{"type":"layers","diff_ids":[)" +
         diff_ids + "]}}";
}

std::string OciImage::manifest_json() const {
  std::string out = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:)" +
                    sha256_hex(config) + R"(","size":)" + std::to_string(config.size()) + R"(},"layers":[)";
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string type = layers[i].media_type;
    if (type.empty()) {
      type = layers[i].compress ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar";
    }
    out += std::string(i == 0 ? "" : ",") + R"({"mediaType":")" + type + R"(","digest":"sha256:)" + sha256_hex(layer_blobs[i]) +
           R"(","size":)" + std::to_string(layer_blobs[i].size()) + "}";
  }
  return out + "]}";
}

std::string OciImage::index_json() const {
  return R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" +
         sha256_hex(manifest) + R"(","size":)" + std::to_string(manifest.size()) +
         R"(,"annotations":{"org.opencontainers.image.ref.name":")" + reference + R"("}}]})";
}

void OciImage::build_blobs() {
  layer_blobs.clear();
  for (const auto& layer : layers) layer_blobs.push_back(layer.compress ? gzip(layer.tar) : layer.tar);
  config = config_json();
  manifest = manifest_json();
  index = index_json();
}

std::string OciImage::archive(bool index_last, const std::vector<TarItem>& extra) const {
  std::vector<TarItem> items;
  TarItem index_item{'0', "index.json", index};
  if (!index_last) items.push_back(index_item);
  items.push_back({'0', "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"});
  items.push_back({'5', "blobs/"});
  items.push_back({'5', "blobs/sha256/"});
  for (const auto& blob : layer_blobs) items.push_back({'0', "blobs/sha256/" + sha256_hex(blob), blob});
  items.push_back({'0', "blobs/sha256/" + sha256_hex(config), config});
  items.push_back({'0', "blobs/sha256/" + sha256_hex(manifest), manifest});
  for (const auto& item : extra) items.push_back(item);
  if (index_last) items.push_back(index_item);
  return tar_archive(items);
}

std::string docker_archive(const std::vector<std::string>& layer_tars, const std::string& settings, const std::string& tag) {
  std::string diff_ids;
  std::string layer_names;
  std::vector<TarItem> items;
  for (const auto& tar : layer_tars) {
    std::string hex = sha256_hex(tar);
    diff_ids += std::string(diff_ids.empty() ? "" : ",") + "\"sha256:" + hex + "\"";
    // The legacy layout: a directory per layer whose layer.tar links to the blob.
    items.push_back({'0', hex + ".tar", tar});
    items.push_back({'5', "id" + hex.substr(0, 8) + "/"});
    items.push_back({'2', "id" + hex.substr(0, 8) + "/layer.tar", "", "../" + hex + ".tar"});
    layer_names += std::string(layer_names.empty() ? "" : ",") + "\"id" + hex.substr(0, 8) + "/layer.tar\"";
  }
  std::string config = R"({"architecture":"amd64","os":"linux","config":)" + settings +
                       R"(,"rootfs":{"type":"layers","diff_ids":[)" + diff_ids + "]}}";
  std::string config_name = sha256_hex(config) + ".json";
  items.push_back({'0', config_name, config});
  items.push_back({'0', "manifest.json", R"([{"Config":")" + config_name + R"(","RepoTags":[")" + tag + R"("],"Layers":[)" + layer_names + "]}]"});
  return tar_archive(items);
}

Outcome import_archive(const std::string& archive, ModelTree& tree, const ImportLimits& limits, u64 piece) {
  Outcome outcome;
  outcome.arena = std::make_shared<HeapArena>();
  auto spool = std::make_unique<MemoryBlobSpool>(*outcome.arena, 1ull << 32);
  auto importer = std::make_unique<Importer>(*outcome.arena, *spool, limits);
  ImportError error = ImportError::None;
  for (size_t at = 0; at < archive.size() && error == ImportError::None; at += piece) {
    error = importer->feed(archive.data() + at, std::min<size_t>(piece, archive.size() - at));
  }
  if (error == ImportError::None) error = importer->finish(tree, outcome.config);
  outcome.error = error;
  outcome.message = importer->message();
  return outcome;
}

}  // namespace import_test
