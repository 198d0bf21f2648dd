// The importer end to end on a model of the Writer: real archives made by umoci and skopeo
// (make-archives) unpack to exactly the expected tree, and every bad input is refused with its
// exact error and message, before any call reaches the tree where the input alone shows it.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imagefs/import/writer_tree_sink.hpp"
#include "imagefs/reader.hpp"
#include "support.hpp"

using namespace import_test;

namespace {

const std::string ARCHIVES = IMPORT_TEST_ARCHIVES;

// The expected tree, listed like ModelTree::listing() from the directory make-archives left.
void list_directory(const std::string& root, const std::string& relative, std::map<std::string, std::string>& lines,
                    std::map<std::string, struct stat>& stats) {
  std::string full = root + (relative.empty() ? "" : "/" + relative);
  struct stat status;
  ASSERT_EQ(lstat(full.c_str(), &status), 0) << full;
  stats[relative] = status;
  char line[64];
  std::snprintf(line, sizeof line, " %04o %u:%u", status.st_mode & 07777, status.st_uid, status.st_gid);
  std::string text = "/" + relative;
  if (S_ISDIR(status.st_mode)) {
    lines[relative] = text + " dir" + line + "\n";
    DIR* directory = opendir(full.c_str());
    ASSERT_NE(directory, nullptr);
    while (dirent* entry = readdir(directory)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      list_directory(root, relative.empty() ? name : relative + "/" + name, lines, stats);
    }
    closedir(directory);
  } else if (S_ISLNK(status.st_mode)) {
    char target[4096];
    ssize_t length = readlink(full.c_str(), target, sizeof target);
    lines[relative] = text + " symlink" + line + " -> " + std::string(target, static_cast<size_t>(length)) + "\n";
  } else {
    lines[relative] = text + " file" + line + " " + std::to_string(status.st_size) + "\n";
  }
}

// The model tree equals the expected directory: listing, file bytes, mtimes of files and
// symlinks (directories' change as the expected tree is made), and the hard link is one file.
void expect_expected_tree(const ModelTree& tree) {
  std::map<std::string, std::string> lines;
  std::map<std::string, struct stat> stats;
  list_directory(ARCHIVES + "/expected", "", lines, stats);
  std::string expected;
  for (const auto& [path, line] : lines) expected += line;
  EXPECT_EQ(tree.listing(), expected);
  for (const auto& [path, node] : tree.nodes_) {
    if (!stats.count(path)) continue;
    const struct stat& status = stats.at(path);
    if (node.type == NodeType::File) {
      EXPECT_EQ(node.file->bytes, read_file(ARCHIVES + "/expected/" + path)) << path;
      EXPECT_EQ(node.file->metadata.mtime, status.st_mtim.tv_sec) << path;
    } else if (node.type == NodeType::Symlink) {
      EXPECT_EQ(node.metadata.mtime, status.st_mtim.tv_sec) << path;
    }
  }
  ASSERT_TRUE(tree.nodes_.count("bin/tool") && tree.nodes_.count("bin/tool-hardlink"));
  EXPECT_EQ(tree.nodes_.at("bin/tool").file, tree.nodes_.at("bin/tool-hardlink").file);
  EXPECT_EQ(stats.at("bin/tool").st_ino, stats.at("bin/tool-hardlink").st_ino);
  EXPECT_EQ(tree.calls_after_failure_, 0);
  EXPECT_FALSE(tree.failed_);
}

std::vector<std::string> strings(const StringList& list) { return std::vector<std::string>(list.items, list.items + list.count); }

void expect_expected_config(const ImageConfig& config) {
  EXPECT_TRUE(config.has_entrypoint);
  EXPECT_EQ(strings(config.entrypoint), (std::vector<std::string>{"/bin/tool", "--flag"}));
  EXPECT_TRUE(config.has_cmd);
  EXPECT_EQ(strings(config.cmd), (std::vector<std::string>{"first", "second \"quoted\""}));
  EXPECT_EQ(strings(config.env), (std::vector<std::string>{"PATH=/usr/bin:/bin", "GREETING=h\xc3\xa9llo w\xc3\xb6rld"}));
  EXPECT_STREQ(config.working_dir, "/srv");
  EXPECT_STREQ(config.user, "1000:1001");
  EXPECT_EQ(config.layers, 4u);
}

std::string member_of(const std::string& archive_path, const std::string& member) {
  std::string command = "tar -xOf " + archive_path + " " + member;
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
  pclose(pipe);
  return out;
}

TEST(ImportArchives, OciArchiveFromSkopeoUnpacksToTheExpectedTree) {
  ModelTree tree;
  Outcome outcome = import_archive(read_file(ARCHIVES + "/oci.tar"), tree);
  ASSERT_EQ(outcome.error, ImportError::None) << outcome.message;
  EXPECT_EQ(outcome.message, "");
  expect_expected_tree(tree);
  expect_expected_config(outcome.config);
  EXPECT_EQ(outcome.config.form, ArchiveForm::OciLayout);
  EXPECT_STREQ(outcome.config.name, "example/app:1");
  // The image's digest is the manifest's, as index.json names it.
  std::string index = member_of(ARCHIVES + "/oci.tar", "index.json");
  auto at = index.find("sha256:");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(std::string(outcome.config.digest), index.substr(at, 71));
  // The whiteout and the opaque directory went through the tree's own calls.
  EXPECT_EQ(std::count(tree.log_.begin(), tree.log_.end(), "remove gone"), 1);
  EXPECT_EQ(std::count(tree.log_.begin(), tree.log_.end(), "clear opaque"), 1);
}

TEST(ImportArchives, DockerArchiveFromSkopeoUnpacksToTheSameTreePlainAndGzipped) {
  for (const char* name : {"/docker.tar", "/docker.tar.gz"}) {
    ModelTree tree;
    Outcome outcome = import_archive(read_file(ARCHIVES + name), tree, {}, 1000);
    ASSERT_EQ(outcome.error, ImportError::None) << name << ": " << outcome.message;
    expect_expected_tree(tree);
    expect_expected_config(outcome.config);
    EXPECT_EQ(outcome.config.form, ArchiveForm::DockerArchive);
    EXPECT_STREQ(outcome.config.name, "docker.io/example/app:1");
    std::string manifest = member_of(ARCHIVES + "/docker.tar", "manifest.json");
    auto at = manifest.find("\"Config\":\"");
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(std::string(outcome.config.digest), "sha256:" + manifest.substr(at + 10, 64));
  }
}

TEST(ImportArchives, ZstdLayersFromSkopeoAreAnUnsupportedMediaType) {
  std::string archive = read_file(ARCHIVES + "/oci-zstd.tar");
  ModelTree tree;
  Outcome outcome = import_archive(archive, tree);
  EXPECT_EQ(outcome.error, ImportError::UnsupportedMediaType);
  // The first layer's descriptor, as the manifest lists it.
  std::string index = member_of(ARCHIVES + "/oci-zstd.tar", "index.json");
  std::string manifest = member_of(ARCHIVES + "/oci-zstd.tar", "blobs/sha256/" + index.substr(index.find("sha256:") + 7, 64));
  auto layer = manifest.find("sha256:", manifest.find("\"layers\""));
  EXPECT_EQ(outcome.message, "layer " + manifest.substr(layer, 71) +
                                 ": unsupported media type application/vnd.oci.image.layer.v1.tar+zstd (zstd; only gzip "
                                 "and uncompressed layers are supported)");
  EXPECT_TRUE(tree.log_.empty());
}

// --- Synthesized images: one defect each. ---

OciImage simple_image() {
  OciImage image;
  image.layers.push_back({tar_archive({{'5', "etc/", "", "", 0755}, {'0', "etc/passwd", "root:x:0:0\n"}})});
  image.build_blobs();
  return image;
}

std::string layer_name(const OciImage& image, size_t i) { return "sha256:" + sha256_hex(image.layer_blobs[i]); }

void expect_refused(const std::string& archive, ImportError error, const std::string& message, const ImportLimits& limits = {}) {
  ModelTree tree;
  Outcome outcome = import_archive(archive, tree, limits);
  EXPECT_EQ(outcome.error, error) << outcome.message;
  EXPECT_EQ(outcome.message, message);
  EXPECT_TRUE(tree.log_.empty()) << tree.log_.front();
}

TEST(ImportRefusals, ASimpleImageImportsAndIndexJsonMayComeLast) {
  OciImage image = simple_image();
  for (bool last : {false, true}) {
    ModelTree tree;
    Outcome outcome = import_archive(image.archive(last), tree, {}, 1);
    ASSERT_EQ(outcome.error, ImportError::None) << outcome.message;
    EXPECT_EQ(tree.listing(), "/ dir 0755 0:0\n/etc dir 0755 0:0\n/etc/passwd file 0644 0:0 11\n");
    EXPECT_EQ(std::string(outcome.config.digest), "sha256:" + sha256_hex(image.manifest));
    EXPECT_STREQ(outcome.config.name, "example/test:1");
    EXPECT_FALSE(outcome.config.has_entrypoint);
    EXPECT_EQ(strings(outcome.config.cmd), std::vector<std::string>{"/bin/sh"});
  }
}

TEST(ImportRefusals, ALayerWhoseBytesDoNotMatchItsDigest) {
  OciImage image = simple_image();
  std::string archive = image.archive();
  std::string spoiled = image.layer_blobs[0];
  spoiled[spoiled.size() / 2] ^= 0x55;
  archive.replace(archive.find(image.layer_blobs[0]), spoiled.size(), spoiled);
  expect_refused(archive, ImportError::DigestMismatch,
                 "layer " + layer_name(image, 0) + " digest mismatch: its bytes hash to sha256:" + sha256_hex(spoiled));
}

TEST(ImportRefusals, AConfigurationWhoseBytesDoNotMatchItsDigest) {
  OciImage image = simple_image();
  std::string archive = image.archive();
  std::string spoiled = image.config;
  spoiled[spoiled.find("/bin/sh") + 1] = 'x';
  archive.replace(archive.find(image.config), spoiled.size(), spoiled);
  expect_refused(archive, ImportError::DigestMismatch,
                 "configuration sha256:" + sha256_hex(image.config) + " digest mismatch: its bytes hash to sha256:" +
                     sha256_hex(spoiled));
}

TEST(ImportRefusals, AGzipLayerThatUnpacksToAnotherDiffId) {
  OciImage image = simple_image();
  std::string real_diff = sha256_hex(image.layers[0].tar);
  std::string other_diff = sha256_hex("something else");
  image.config.replace(image.config.find(real_diff), 64, other_diff);
  image.manifest = image.manifest_json();
  image.index = image.index_json();
  expect_refused(image.archive(), ImportError::DigestMismatch,
                 "layer " + layer_name(image, 0) + " digest mismatch: it unpacks to sha256:" + real_diff +
                     ", the configuration's diff_id is sha256:" + other_diff);
}

TEST(ImportRefusals, UnknownAndUnsupportedMediaTypes) {
  OciImage image = simple_image();
  image.layers[0].media_type = "application/vnd.example.layer";
  image.build_blobs();
  expect_refused(image.archive(), ImportError::UnknownMediaType,
                 "layer " + layer_name(image, 0) + ": unknown media type application/vnd.example.layer");
  image.layers[0].media_type = "application/vnd.oci.image.layer.v1.tar+zstd";
  image.build_blobs();
  expect_refused(image.archive(), ImportError::UnsupportedMediaType,
                 "layer " + layer_name(image, 0) +
                     ": unsupported media type application/vnd.oci.image.layer.v1.tar+zstd (zstd; only gzip and "
                     "uncompressed layers are supported)");
  OciImage config_type = simple_image();
  config_type.manifest.replace(config_type.manifest.find("image.config.v1"), 15, "image.conf1g.v1");
  config_type.index = config_type.index_json();
  expect_refused(config_type.archive(), ImportError::UnknownMediaType,
                 "manifest sha256:" + sha256_hex(config_type.manifest) +
                     ": configuration media type application/vnd.oci.image.conf1g.v1+json is unknown");
}

TEST(ImportRefusals, MalformedJsonAndManifests) {
  OciImage image = simple_image();
  image.index = R"({"manifests": [)";
  expect_refused(image.archive(), ImportError::MalformedJson, "index.json is not valid JSON: syntax error at offset 15");
  image.index = R"({"manifests": [], "manifests": []})";
  expect_refused(image.archive(), ImportError::MalformedJson, "index.json is not valid JSON: duplicate key \"manifests\"");
  image.index = R"({"schemaVersion": 2})";
  expect_refused(image.archive(), ImportError::MalformedManifest, "index.json: \"manifests\" is missing");
  std::string deep(100, '[');
  image.index = deep + std::string(100, ']');
  expect_refused(image.archive(), ImportError::MalformedJson, "index.json is not valid JSON: nested too deeply at offset 64");
  OciImage bad_manifest = simple_image();
  bad_manifest.manifest = R"({"schemaVersion": 2, "config": [], "layers": []})";
  bad_manifest.index = bad_manifest.index_json();
  expect_refused(bad_manifest.archive(), ImportError::MalformedManifest,
                 "manifest sha256:" + sha256_hex(bad_manifest.manifest) + ": \"config\" has the wrong type");
}

TEST(ImportRefusals, MissingBlobsSizesAndDigestsThatAreNotSha256) {
  OciImage image = simple_image();
  std::string archive = image.archive();
  std::string missing_name = "blobs/sha256/" + sha256_hex(image.layer_blobs[0]);
  // Rename the blob: the archive no longer holds it.
  archive.replace(archive.find(missing_name), 13, "blobs/sha257/");
  std::string fixed = archive;
  for (size_t block = 0; block < fixed.size(); block += 512) {
    if (fixed.compare(block, 13, "blobs/sha257/") == 0) {
      std::string header = fixed.substr(block, 512);
      std::memset(&header[148], ' ', 8);
      unsigned sum = 0;
      for (char c : header) sum += static_cast<unsigned char>(c);
      std::snprintf(&header[148], 8, "%06o", sum);
      header[155] = ' ';
      fixed.replace(block, 512, header);
    }
  }
  expect_refused(fixed, ImportError::MissingBlob, "layer " + layer_name(image, 0) + " is not in the archive");

  OciImage sized = simple_image();
  std::string size_text = "\"size\":" + std::to_string(sized.layer_blobs[0].size());
  sized.manifest.replace(sized.manifest.find(size_text), size_text.size(), "\"size\":7");
  sized.index = sized.index_json();
  expect_refused(sized.archive(), ImportError::SizeMismatch,
                 "layer " + layer_name(sized, 0) + " is " + std::to_string(sized.layer_blobs[0].size()) +
                     " bytes, its descriptor says 7");

  OciImage sha512 = simple_image();
  sha512.index.replace(sha512.index.find("sha256:"), 7, "sha512:");
  expect_refused(sha512.archive(), ImportError::UnsupportedDigest,
                 "index.json: a manifest digest is not sha256: and 64 lower-case hex digits");
}

TEST(ImportRefusals, TruncatedArchivesAndLayers) {
  OciImage image = simple_image();
  std::string archive = image.archive();
  expect_refused(archive.substr(0, archive.find(image.layer_blobs[0]) + 10), ImportError::ArchiveTruncated,
                 "the archive: the tar archive is truncated");
  expect_refused(archive.substr(0, 700), ImportError::ArchiveTruncated, "the archive: the tar archive is truncated");
  expect_refused("", ImportError::ArchiveTruncated, "the archive is empty");
  expect_refused(tar_archive({{'0', "hello.txt", "hi"}}), ImportError::NotAnImage,
                 "the archive has neither index.json (OCI layout) nor manifest.json (docker-archive)");

  // A layer cut inside a file's data, with digests that match the cut bytes.
  OciImage cut;
  cut.layers.push_back({tar_archive({{'0', "a", std::string(2000, 'a')}}).substr(0, 1500), false});
  cut.build_blobs();
  expect_refused(cut.archive(), ImportError::LayerTruncated, "layer " + layer_name(cut, 0) + ": the tar archive is truncated");
  // A gzip layer cut short.
  OciImage gz = simple_image();
  gz.layer_blobs[0] = gz.layer_blobs[0].substr(0, gz.layer_blobs[0].size() - 6);
  gz.manifest = gz.manifest_json();
  gz.index = gz.index_json();
  expect_refused(gz.archive(), ImportError::LayerTruncated, "layer " + layer_name(gz, 0) + ": gzip data is truncated");
}

TEST(ImportRefusals, PathsThatEscapeTheRoot) {
  // A good first layer does not reach the tree either: every layer is checked first.
  OciImage image;
  image.layers.push_back({tar_archive({{'0', "fine", "x"}})});
  image.layers.push_back({tar_archive({{'5', "etc/"}, {'0', "etc/../../etc/passwd", "evil"}})});
  image.build_blobs();
  expect_refused(image.archive(), ImportError::PathEscapes, "layer " + layer_name(image, 1) + ": path escapes the root: etc/../../etc/passwd");

  OciImage link;
  link.layers.push_back({tar_archive({{'0', "a", "x"}, {'1', "b", "", "../../etc/shadow"}})});
  link.build_blobs();
  expect_refused(link.archive(), ImportError::PathEscapes,
                 "layer " + layer_name(link, 0) + ": hard link target escapes the root: ../../etc/shadow");

  OciImage whiteout;
  whiteout.layers.push_back({tar_archive({{'0', "sub/.wh...", ""}})});
  whiteout.build_blobs();
  expect_refused(whiteout.archive(), ImportError::PathEscapes, "layer " + layer_name(whiteout, 0) + ": path escapes the root: sub/.wh...");
  OciImage dot;
  dot.layers.push_back({tar_archive({{'0', "sub/.wh..", ""}})});
  dot.build_blobs();
  expect_refused(dot.archive(), ImportError::BadPath, "layer " + layer_name(dot, 0) + ": a whiteout names no file: sub/.wh..");

  OciImage nul;
  nul.layers.push_back({tar_archive({{'x', "p", pax_record("path", std::string("a\0b", 3))}, {'0', "x", "1"}})});
  nul.build_blobs();
  expect_refused(nul.archive(), ImportError::BadPath,
                 "layer " + layer_name(nul, 0) + ": bad path (a NUL, a name beyond 255 bytes or a path beyond 4096): a?b");
}

TEST(ImportRefusals, AbsolutePathsBecomeRelativeAndSpecialFilesAreSkipped) {
  OciImage image;
  image.layers.push_back({tar_archive({{'5', "/etc/", "", "", 0700}, {'0', "//etc/./abs", "data", "", 0600, 5, 6, 77},
                                       {'6', "etc/fifo"}, {'3', "etc/tty"}, {'2', "/etc/link", "", "/etc/abs"}})});
  image.build_blobs();
  ModelTree tree;
  Outcome outcome = import_archive(image.archive(), tree);
  ASSERT_EQ(outcome.error, ImportError::None) << outcome.message;
  EXPECT_EQ(tree.listing(), "/ dir 0755 0:0\n/etc dir 0700 0:0\n/etc/abs file 0600 5:6 4\n/etc/link symlink 0644 0:0 -> /etc/abs\n");
  EXPECT_EQ(tree.nodes_.at("etc/abs").file->metadata.mtime, 77);
  EXPECT_EQ(tree.nodes_.at("etc/abs").file->bytes, "data");
}

TEST(ImportRefusals, SymlinksAreNeverFollowed) {
  // A symlink to /etc, then a file below it: the tree sees the file's own path, refuses it
  // (its parent is a symlink), and nothing follows the refusal.
  OciImage image;
  image.layers.push_back({tar_archive({{'5', "etc/"}, {'0', "etc/passwd", "root"}, {'2', "evil", "", "/etc"}})});
  image.layers.push_back({tar_archive({{'0', "evil/passwd", "owned"}, {'0', "later", "x"}})});
  image.build_blobs();
  ModelTree tree;
  Outcome outcome = import_archive(image.archive(), tree);
  EXPECT_EQ(outcome.error, ImportError::ParentNotDirectory);
  EXPECT_EQ(outcome.message, "layer " + layer_name(image, 1) +
                                 ": a parent is missing or is not a directory (symlinks are not followed): evil/passwd");
  EXPECT_EQ(tree.log_.back(), "file evil/passwd 5");
  EXPECT_EQ(tree.calls_after_failure_, 0);
  EXPECT_EQ(tree.nodes_.at("etc/passwd").file->bytes, "root");

  // A whiteout below a symlink removes nothing.
  OciImage whiteout;
  whiteout.layers.push_back({tar_archive({{'5', "etc/"}, {'0', "etc/passwd", "root"}, {'2', "link", "", "etc"}})});
  whiteout.layers.push_back({tar_archive({{'0', "link/.wh.passwd", ""}, {'0', "link/.wh..wh..opq", ""}})});
  whiteout.build_blobs();
  ModelTree kept;
  Outcome second = import_archive(whiteout.archive(), kept);
  ASSERT_EQ(second.error, ImportError::None) << second.message;
  EXPECT_EQ(kept.nodes_.at("etc/passwd").file->bytes, "root");
  EXPECT_EQ(kept.nodes_.at("link").type, NodeType::Symlink);
}

TEST(ImportRefusals, LayerBombsBeyondTheLimits) {
  OciImage image;
  image.layers.push_back({tar_archive({{'0', "zeros", std::string(1 << 20, '\0')}})});
  image.build_blobs();
  EXPECT_LT(image.layer_blobs[0].size(), 4096u);
  ImportLimits limits;
  limits.max_unpacked_bytes = 512 * 1024;
  expect_refused(image.archive(), ImportError::LimitExceeded, "the layers unpack to more than 524288 bytes (the limit)", limits);

  OciImage many;
  std::vector<TarItem> items;
  for (int i = 0; i < 10; ++i) items.push_back({'0', "f" + std::to_string(i), "x"});
  many.layers.push_back({tar_archive(items)});
  many.build_blobs();
  ImportLimits nodes;
  nodes.max_nodes = 5;
  expect_refused(many.archive(), ImportError::LimitExceeded, "the layers hold more than 5 entries (the limit)", nodes);
  ImportLimits layers;
  layers.max_layers = 0;
  expect_refused(many.archive(), ImportError::LimitExceeded, "the image has 1 layers, beyond the limit of 0", layers);
  ImportLimits archive_bytes;
  archive_bytes.max_archive_bytes = 100;
  expect_refused(many.archive(), ImportError::ArchiveTooLarge, "the archive's files exceed the limit of 100 bytes", archive_bytes);
}

TEST(ImportLayers, WhiteoutsHideOnlyLowerLayersWhateverTheirOrderInTheLayer) {
  OciImage image;
  image.layers.push_back({tar_archive({{'5', "a/"}, {'0', "a/x", "1"}, {'0', "a/y", "2"}, {'5', "b/"}, {'0', "b/z", "3"}, {'0', "keep", "4"}})});
  // The opaque marker and a whiteout after this layer's own entries in the same directory.
  image.layers.push_back({tar_archive({{'0', "a/new", "5"}, {'0', "a/.wh..wh..opq", ""}, {'0', "b/.wh.z", ""}, {'0', "c", "6"},
                                       {'0', ".wh.missing", ""}, {'0', "a/.wh..wh.plnk", ""}})});
  image.build_blobs();
  ModelTree tree;
  Outcome outcome = import_archive(image.archive(), tree);
  ASSERT_EQ(outcome.error, ImportError::None) << outcome.message;
  EXPECT_EQ(tree.listing(),
            "/ dir 0755 0:0\n/a dir 0644 0:0\n/a/new file 0644 0:0 1\n/b dir 0644 0:0\n/c file 0644 0:0 1\n/keep file 0644 0:0 1\n");
  EXPECT_EQ(outcome.config.entries, 12u);
}

TEST(ImportLayers, HardLinksShareTheFileAndMissingTargetsAreRefused) {
  OciImage image;
  image.layers.push_back({tar_archive({{'0', "f", "shared", "", 0755}, {'1', "./h", "", "/f"}})});
  image.build_blobs();
  ModelTree tree;
  Outcome outcome = import_archive(image.archive(), tree);
  ASSERT_EQ(outcome.error, ImportError::None) << outcome.message;
  EXPECT_EQ(tree.nodes_.at("h").file, tree.nodes_.at("f").file);
  EXPECT_EQ(std::count(tree.log_.begin(), tree.log_.end(), "hardlink h => f"), 1);

  OciImage missing;
  missing.layers.push_back({tar_archive({{'1', "h", "", "nothing"}, {'0', "after", "x"}})});
  missing.build_blobs();
  ModelTree refused;
  Outcome second = import_archive(missing.archive(), refused);
  EXPECT_EQ(second.error, ImportError::HardlinkTargetMissing);
  EXPECT_EQ(second.message, "layer " + layer_name(missing, 0) + ": hard link to a missing file: nothing");
  EXPECT_EQ(refused.log_.back(), "hardlink h => nothing");
  EXPECT_EQ(refused.calls_after_failure_, 0);
}

TEST(ImportRefusals, ImagesForOtherPlatformsOrSeveralImages) {
  OciImage image = simple_image();
  std::string descriptor = image.index.substr(image.index.find('[') + 1);
  descriptor = descriptor.substr(0, descriptor.rfind(']'));
  std::string arm = descriptor;
  arm.insert(arm.rfind('}'), R"(,"platform":{"os":"linux","architecture":"arm64"})");
  image.index = R"({"schemaVersion":2,"manifests":[)" + arm + "]}";
  expect_refused(image.archive(), ImportError::NoMatchingImage, "index.json names no linux/amd64 image");

  OciImage other = simple_image();
  other.config_settings = R"({"Cmd":["other"]})";
  other.build_blobs();
  std::string other_descriptor = other.index.substr(other.index.find('[') + 1);
  other_descriptor = other_descriptor.substr(0, other_descriptor.rfind(']'));
  OciImage both = simple_image();
  both.index = R"({"schemaVersion":2,"manifests":[)" + descriptor + "," + other_descriptor + "]}";
  expect_refused(both.archive(), ImportError::AmbiguousImage, "index.json names 2 images; import one at a time");
  // A descriptor without its media type is taken for a manifest; an unknown one is refused.
  OciImage untyped = simple_image();
  untyped.index.replace(untyped.index.find(R"("mediaType":"application/vnd.oci.image.manifest.v1+json",)"), 57, "");
  ModelTree untyped_tree;
  EXPECT_EQ(import_archive(untyped.archive(), untyped_tree).error, ImportError::None);
  OciImage weird = simple_image();
  weird.index.replace(weird.index.find("image.manifest.v1"), 17, "image.manifest.v9");
  expect_refused(weird.archive(), ImportError::UnknownMediaType,
                 "index.json: manifest media type application/vnd.oci.image.manifest.v9+json is unknown");
  // The same image twice (two tags) is one image; arm64 next to it is filtered out.
  both.index = R"({"schemaVersion":2,"manifests":[)" + arm + "," + descriptor + "," + descriptor + "]}";
  ModelTree tree;
  Outcome outcome = import_archive(both.archive(), tree);
  EXPECT_EQ(outcome.error, ImportError::None) << outcome.message;
}

TEST(ImportRefusals, DockerArchivesAreVerifiedByNameAndDiffId) {
  std::string layer = tar_archive({{'0', "file", "contents"}});
  std::string archive = docker_archive({layer}, R"({"Entrypoint":["/file"],"Env":null})", "name:tag");
  ModelTree tree;
  Outcome outcome = import_archive(archive, tree);
  ASSERT_EQ(outcome.error, ImportError::None) << outcome.message;
  EXPECT_EQ(tree.listing(), "/ dir 0755 0:0\n/file file 0644 0:0 8\n");
  EXPECT_STREQ(outcome.config.name, "name:tag");
  EXPECT_EQ(strings(outcome.config.entrypoint), std::vector<std::string>{"/file"});
  EXPECT_FALSE(outcome.config.has_cmd);
  EXPECT_EQ(outcome.config.env.count, 0u);

  std::string spoiled_layer = layer;
  spoiled_layer[600] = 'X';  // Inside the file's data.
  std::string spoiled = archive;
  spoiled.replace(spoiled.find(layer), layer.size(), spoiled_layer);
  std::string hex = sha256_hex(layer);
  expect_refused(spoiled, ImportError::DigestMismatch,
                 "layer id" + hex.substr(0, 8) + "/layer.tar digest mismatch: its bytes hash to sha256:" + sha256_hex(spoiled_layer) +
                     ", the configuration's diff_id is sha256:" + hex);

  std::string config_start = R"({"architecture":"amd64")";
  std::string bad_config = archive;
  bad_config.replace(bad_config.find(config_start), config_start.size(), R"({"architecture":"arm64")");
  auto config_at = archive.find(config_start);
  auto config_end = archive.find('\0', config_at);
  std::string config = archive.substr(config_at, config_end - config_at);
  std::string bad = config;
  bad.replace(0, config_start.size(), R"({"architecture":"arm64")");
  expect_refused(bad_config, ImportError::DigestMismatch,
                 "configuration sha256:" + sha256_hex(config) + " digest mismatch: its bytes hash to sha256:" + sha256_hex(bad));
}

TEST(ImportRefusals, ArchiveLinksStayInsideTheArchiveAndEnd) {
  // manifest.json names a layer through links that leave the archive or loop; one that stays inside works.
  auto archive_with = [](const std::vector<TarItem>& links, const std::string& layer_path) {
    std::string layer = tar_archive({{'0', "file", "x"}});
    std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:)" +
                         sha256_hex(layer) + R"("]}})";
    std::vector<TarItem> items{{'0', "layer.tar", layer}, {'0', sha256_hex(config) + ".json", config}};
    items.insert(items.end(), links.begin(), links.end());
    items.push_back({'0', "manifest.json", R"([{"Config":")" + sha256_hex(config) + R"(.json","Layers":[")" + layer_path + R"("]}])"});
    return tar_archive(items);
  };
  expect_refused(archive_with({{'2', "a/layer.tar", "", "../../layer.tar"}}, "a/layer.tar"), ImportError::ArchiveMalformed,
                 "the link a/layer.tar leaves the archive");
  expect_refused(archive_with({{'2', "a", "", "b"}, {'2', "b", "", "a"}}, "a"), ImportError::ArchiveMalformed, "too many links from a");
  ModelTree tree;
  EXPECT_EQ(import_archive(archive_with({{'2', "a/b/layer.tar", "", "../../layer.tar"}}, "a/b/layer.tar"), tree).error, ImportError::None);
}

TEST(ImportRefusals, NothingMoreHappensAfterAnError) {
  OciImage image = simple_image();
  std::string archive = image.archive();
  HeapArena arena;
  MemoryBlobSpool spool(arena, 1 << 20);
  Importer importer(arena, spool, {});
  std::string bad = archive;
  bad[0] ^= 1;  // The first header's checksum.
  EXPECT_EQ(importer.feed(bad.data(), bad.size()), ImportError::ArchiveMalformed);
  EXPECT_STREQ(importer.message(), "the archive: a tar header's checksum does not match");
  EXPECT_EQ(importer.feed(archive.data(), archive.size()), ImportError::ArchiveMalformed);
  ModelTree tree;
  ImageConfig config;
  EXPECT_EQ(importer.finish(tree, config), ImportError::ArchiveMalformed);
  EXPECT_STREQ(importer.message(), "the archive: a tar header's checksum does not match");
  EXPECT_TRUE(tree.log_.empty());
  EXPECT_EQ(spool.used_bytes(), 0u);
}

// --- Through the real Writer: the packed tree, read back by imagefs::Reader. ---

class VectorSink final : public Sink {
 public:
  bool write(const void* bytes, u64 length) override {
    data_.append(static_cast<const char*>(bytes), length);
    return true;
  }
  std::string data_;
};

struct PackedImage {
  std::unique_ptr<char, decltype(&std::free)> memory{nullptr, &std::free};
  Reader reader;
};

// Imports into a Writer, packs it, and opens the packed tree in page-aligned memory.
Outcome import_packed(const std::string& archive, PackedImage& packed) {
  auto arena = std::make_shared<HeapArena>();
  auto writer = std::make_unique<Writer>(*arena);
  WriterTreeSink sink(*writer);
  MemoryBlobSpool spool(*arena, 1ull << 32);
  Importer importer(*arena, spool, {});
  Outcome outcome;
  outcome.arena = arena;
  outcome.error = importer.feed(archive.data(), archive.size());
  if (outcome.error == ImportError::None) outcome.error = importer.finish(sink, outcome.config);
  outcome.message = importer.message();
  VectorSink bytes;
  EXPECT_TRUE(writer->finish(bytes).ok);
  packed.memory.reset(static_cast<char*>(std::aligned_alloc(4096, (bytes.data_.size() + 4095) / 4096 * 4096)));
  std::memcpy(packed.memory.get(), bytes.data_.data(), bytes.data_.size());
  EXPECT_TRUE(packed.reader.open(packed.memory.get(), bytes.data_.size()));
  return outcome;
}

// The packed tree listed like ModelTree::listing(), with every file's bytes and mtimes.
void list_packed(const PackedImage& packed, u32 inode, const std::string& path, std::map<std::string, std::string>& lines,
                 std::map<std::string, std::string>& contents, std::map<std::string, imagefs::Stat>& stats) {
  imagefs::Stat stat{};
  ASSERT_TRUE(packed.reader.stat(inode, stat));
  stats[path] = stat;
  char line[64];
  std::snprintf(line, sizeof line, " %04o %u:%u", stat.mode & 07777, stat.uid, stat.gid);
  u32 type = stat.mode & imagefs::TYPE_MASK;
  if (type == imagefs::TYPE_DIRECTORY) {
    lines[path] = "/" + path + " dir" + line + "\n";
    for (u64 i = 0; i < packed.reader.entry_count(inode); ++i) {
      imagefs::DirectoryEntry entry{};
      ASSERT_TRUE(packed.reader.entry(inode, i, entry));
      std::string name(entry.name, entry.length);
      list_packed(packed, entry.inode, path.empty() ? name : path + "/" + name, lines, contents, stats);
    }
  } else if (type == imagefs::TYPE_SYMLINK) {
    const char* target;
    u64 length;
    ASSERT_TRUE(packed.reader.symlink_target(inode, target, length));
    lines[path] = "/" + path + " symlink" + line + " -> " + std::string(target, length) + "\n";
  } else {
    u64 offset;
    u64 length;
    ASSERT_TRUE(packed.reader.file_extent(inode, offset, length));
    contents[path] = std::string(reinterpret_cast<const char*>(packed.reader.base()) + offset, length);
    lines[path] = "/" + path + " file" + line + " " + std::to_string(length) + "\n";
  }
}

TEST(ImportPacked, BothArchiveFormsPackToTheExpectedTreeByteForByte) {
  std::map<std::string, std::string> expected_lines;
  std::map<std::string, struct stat> expected_stats;
  list_directory(ARCHIVES + "/expected", "", expected_lines, expected_stats);
  for (const char* name : {"/oci.tar", "/docker.tar", "/docker.tar.gz"}) {
    PackedImage packed;
    Outcome outcome = import_packed(read_file(ARCHIVES + name), packed);
    ASSERT_EQ(outcome.error, ImportError::None) << name << ": " << outcome.message;
    std::map<std::string, std::string> lines;
    std::map<std::string, std::string> contents;
    std::map<std::string, imagefs::Stat> stats;
    list_packed(packed, imagefs::ROOT_INODE, "", lines, contents, stats);
    EXPECT_EQ(lines, expected_lines) << name;
    for (const auto& [path, bytes] : contents) {
      EXPECT_EQ(bytes, read_file(ARCHIVES + "/expected/" + path)) << name << " " << path;
      EXPECT_EQ(stats.at(path).mtime, expected_stats.at(path).st_mtim.tv_sec) << name << " " << path;
    }
    EXPECT_EQ(stats.at("bin/tool").inode, stats.at("bin/tool-hardlink").inode);
    EXPECT_EQ(stats.at("bin/tool").nlink, 2u);
    expect_expected_config(outcome.config);
  }
}

TEST(ImportPacked, ASymlinkedParentStopsTheImportAndNothingLandsOutsideIt) {
  OciImage image;
  image.layers.push_back({tar_archive({{'5', "etc/"}, {'0', "etc/passwd", "root"}, {'2', "evil", "", "/etc"}})});
  image.layers.push_back({tar_archive({{'0', "evil/passwd", "owned"}})});
  image.build_blobs();
  PackedImage packed;
  Outcome outcome = import_packed(image.archive(), packed);
  EXPECT_EQ(outcome.error, ImportError::ParentNotDirectory);
  EXPECT_EQ(outcome.message, "layer " + layer_name(image, 1) +
                                 ": a parent is missing or is not a directory (symlinks are not followed): evil/passwd");
  std::map<std::string, std::string> lines;
  std::map<std::string, std::string> contents;
  std::map<std::string, imagefs::Stat> stats;
  list_packed(packed, imagefs::ROOT_INODE, "", lines, contents, stats);
  EXPECT_EQ(contents, (std::map<std::string, std::string>{{"etc/passwd", "root"}}));
  EXPECT_EQ(lines.count("evil"), 1u);
}

}  // namespace
