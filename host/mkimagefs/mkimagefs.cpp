// mkimagefs: packs a host directory tree into a packed image tree (docs/IMAGES.md) through
// imagefs::Writer — modes, owners, mtimes, symlinks and hard links as they are on disk, or with
// the owner and mtime forced (--uid, --gid, --mtime) for reproducible trees.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "imagefs/writer.hpp"
#include "imagefs_host/imagefs_host.hpp"

namespace {

using imagefs_host::FileSink;
using imagefs_host::HeapArena;

struct Options {
  std::optional<imagefs::u32> uid;
  std::optional<imagefs::u32> gid;
  std::optional<imagefs::i64> mtime;
  std::string directory;
  std::string output;
};

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: mkimagefs [--uid N] [--gid N] [--mtime SECONDS] DIRECTORY OUTPUT\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    auto number = [&](const char* what) {
      if (i + 1 >= argc) usage();
      char* end = nullptr;
      long long value = std::strtoll(argv[++i], &end, 10);
      if (*end != '\0') {
        std::fprintf(stderr, "mkimagefs: %s must be a number\n", what);
        std::exit(2);
      }
      return value;
    };
    if (argument == "--uid") options.uid = static_cast<imagefs::u32>(number("--uid"));
    else if (argument == "--gid") options.gid = static_cast<imagefs::u32>(number("--gid"));
    else if (argument == "--mtime") options.mtime = number("--mtime");
    else if (!argument.empty() && argument[0] == '-') usage();
    else positional.push_back(argument);
  }
  if (positional.size() != 2) usage();
  options.directory = positional[0];
  options.output = positional[1];
  return options;
}

bool check(imagefs::WriterStatus status, const std::string& path) {
  if (status.ok) return true;
  std::fprintf(stderr, "mkimagefs: %s: %s\n", path.c_str(), imagefs::writer_error_text(status.error));
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  namespace fs = std::filesystem;
  HeapArena arena;
  imagefs::Writer writer(arena);
  auto metadata = [&](const struct stat& info) {
    return imagefs::Metadata{info.st_mode & 07777u, options.uid.value_or(info.st_uid), options.gid.value_or(info.st_gid),
                             options.mtime.value_or(info.st_mtim.tv_sec)};
  };
  struct stat root_info{};
  if (lstat(options.directory.c_str(), &root_info) != 0 || !S_ISDIR(root_info.st_mode)) {
    std::fprintf(stderr, "mkimagefs: %s is not a directory\n", options.directory.c_str());
    return 1;
  }
  if (!check(writer.directory("", 0, metadata(root_info)), "/")) return 1;

  // (device, inode) of each regular file with several names -> its first path in the image.
  std::map<std::pair<dev_t, ino_t>, std::string> first_names;
  std::error_code error;
  fs::recursive_directory_iterator walk(options.directory, fs::directory_options::none, error);
  if (error) {
    std::fprintf(stderr, "mkimagefs: %s: %s\n", options.directory.c_str(), error.message().c_str());
    return 1;
  }
  // Sorted walk is not needed (the Writer sorts), but parents always come before children.
  for (auto it = fs::begin(walk); it != fs::end(walk); it.increment(error)) {
    if (error) {
      std::fprintf(stderr, "mkimagefs: %s\n", error.message().c_str());
      return 1;
    }
    const fs::path& host_path = it->path();
    std::string path = host_path.lexically_relative(options.directory).generic_string();
    struct stat info{};
    if (lstat(host_path.c_str(), &info) != 0) {
      std::fprintf(stderr, "mkimagefs: %s: %s\n", host_path.c_str(), std::strerror(errno));
      return 1;
    }
    if (S_ISDIR(info.st_mode)) {
      if (!check(writer.directory(path.data(), path.size(), metadata(info)), path)) return 1;
    } else if (S_ISLNK(info.st_mode)) {
      std::vector<char> target(static_cast<size_t>(info.st_size) + 1);
      ssize_t length = readlink(host_path.c_str(), target.data(), target.size());
      if (length < 0 || static_cast<size_t>(length) >= target.size()) {
        std::fprintf(stderr, "mkimagefs: %s: cannot read the link\n", host_path.c_str());
        return 1;
      }
      if (!check(writer.symlink(path.data(), path.size(), metadata(info), target.data(), static_cast<imagefs::u64>(length)),
                 path)) {
        return 1;
      }
    } else if (S_ISREG(info.st_mode)) {
      if (info.st_nlink > 1) {
        auto key = std::make_pair(info.st_dev, info.st_ino);
        auto found = first_names.find(key);
        if (found != first_names.end()) {
          if (!check(writer.hardlink(path.data(), path.size(), found->second.data(), found->second.size()), path)) return 1;
          continue;
        }
        first_names.emplace(key, path);
      }
      std::ifstream input(host_path, std::ios::binary);
      if (!input) {
        std::fprintf(stderr, "mkimagefs: %s: cannot open\n", host_path.c_str());
        return 1;
      }
      auto size = static_cast<imagefs::u64>(info.st_size);
      if (!check(writer.file(path.data(), path.size(), metadata(info), size), path)) return 1;
      std::vector<char> buffer(1 << 16);
      imagefs::u64 remaining = size;
      while (remaining > 0) {
        auto step = static_cast<std::streamsize>(std::min<imagefs::u64>(remaining, buffer.size()));
        input.read(buffer.data(), step);
        if (input.gcount() != step) {
          std::fprintf(stderr, "mkimagefs: %s: changed while being read\n", host_path.c_str());
          return 1;
        }
        if (!check(writer.data(buffer.data(), static_cast<imagefs::u64>(step)), path)) return 1;
        remaining -= static_cast<imagefs::u64>(step);
      }
    } else {
      std::fprintf(stderr, "mkimagefs: %s: devices, FIFOs and sockets are not image files; skipped\n", path.c_str());
    }
  }
  std::string temporary = options.output + ".partial";
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  if (out == nullptr) {
    std::fprintf(stderr, "mkimagefs: %s: %s\n", temporary.c_str(), std::strerror(errno));
    return 1;
  }
  FileSink sink(out);
  bool written = check(writer.finish(sink), options.output);
  written = std::fclose(out) == 0 && written;
  if (!written || std::rename(temporary.c_str(), options.output.c_str()) != 0) {
    std::remove(temporary.c_str());
    std::fprintf(stderr, "mkimagefs: writing %s failed\n", options.output.c_str());
    return 1;
  }
  std::printf("%s: %llu nodes, %llu bytes\n", options.output.c_str(), static_cast<unsigned long long>(writer.node_count()),
              static_cast<unsigned long long>(writer.packed_size()));
  return 0;
}
