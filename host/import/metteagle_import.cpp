// metteagle-import ARCHIVE OUT: imports an OCI image layout archive or a docker-archive (plain or
// gzip-compressed; "-" reads standard input) with the guest's own importer, writes the packed image
// tree to OUT and prints the image's configuration as JSON. A refused archive prints the importer's
// error name and message, exits 1 and leaves no OUT.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "imagefs/import/importer.hpp"
#include "imagefs_host/imagefs_host.hpp"
#include "imagefs/import/writer_tree_sink.hpp"

namespace {

using imagefs_host::FileSink;
using imagefs_host::HeapArena;

nlohmann::json list(bool present, const imagefs::StringList& strings) {
  if (!present) return nullptr;
  nlohmann::json out = nlohmann::json::array();
  for (imagefs::u32 i = 0; i < strings.count; ++i) out.push_back(strings.items[i]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Imports an OCI or docker image archive into a packed image tree (docs/IMAGES.md)."};
  std::string archive_path;
  std::string output_path;
  imagefs::ImportLimits limits;
  app.add_option("ARCHIVE", archive_path, "the image archive (oci-archive or docker-archive, may be gzipped; - for stdin)")->required();
  app.add_option("OUT", output_path, "where the packed image tree goes")->required();
  app.add_option("--max-archive-bytes", limits.max_archive_bytes, "bytes of the archive's files kept until the manifest is read");
  app.add_option("--max-unpacked-bytes", limits.max_unpacked_bytes, "decompressed bytes of all layers together");
  app.add_option("--max-nodes", limits.max_nodes, "entries of all layers together");
  app.add_option("--max-layers", limits.max_layers, "layers");
  CLI11_PARSE(app, argc, argv);

  std::FILE* input = archive_path == "-" ? stdin : std::fopen(archive_path.c_str(), "rb");
  if (input == nullptr) {
    std::perror(archive_path.c_str());
    return 1;
  }
  HeapArena arena;
  imagefs::MemoryBlobSpool spool(arena, limits.max_archive_bytes);
  auto importer = std::make_unique<imagefs::Importer>(arena, spool, limits);
  auto writer = std::make_unique<imagefs::Writer>(arena);
  imagefs::WriterTreeSink tree(*writer);
  imagefs::ImageConfig config;
  // The archive is streamed through the importer in pieces, as the image store receives it.
  std::vector<char> buffer(1 << 20);
  imagefs::ImportError error = imagefs::ImportError::None;
  size_t got;
  while (error == imagefs::ImportError::None && (got = std::fread(buffer.data(), 1, buffer.size(), input)) > 0) {
    error = importer->feed(buffer.data(), got);
  }
  if (input != stdin) std::fclose(input);
  if (error == imagefs::ImportError::None) error = importer->finish(tree, config);
  if (error != imagefs::ImportError::None) {
    std::fprintf(stderr, "metteagle-import: %s: %s\n", imagefs::import_error_name(error), importer->message());
    return 1;
  }

  std::string partial = output_path + ".partial";
  std::FILE* output = std::fopen(partial.c_str(), "wb");
  if (output == nullptr) {
    std::perror(partial.c_str());
    return 1;
  }
  FileSink sink(output);
  imagefs::WriterStatus written = writer->finish(sink);
  bool closed = std::fclose(output) == 0;
  if (!written.ok || !closed || std::rename(partial.c_str(), output_path.c_str()) != 0) {
    std::fprintf(stderr, "metteagle-import: writing %s failed: %s\n", output_path.c_str(),
                 written.ok ? "I/O error" : imagefs::writer_error_text(written.error));
    unlink(partial.c_str());
    return 1;
  }

  nlohmann::json out = {
      {"name", config.name},
      {"digest", config.digest},
      {"form", config.form == imagefs::ArchiveForm::OciLayout ? "oci" : "docker"},
      {"entrypoint", list(config.has_entrypoint, config.entrypoint)},
      {"cmd", list(config.has_cmd, config.cmd)},
      {"env", list(true, config.env)},
      {"working_dir", config.working_dir},
      {"user", config.user},
      {"layers", config.layers},
      {"unpacked_bytes", config.unpacked_bytes},
      {"entries", config.entries},
      {"nodes", writer->node_count()},
      {"packed_bytes", writer->packed_size()},
  };
  // Names and values from the archive need not be UTF-8: replace what is not.
  std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}
