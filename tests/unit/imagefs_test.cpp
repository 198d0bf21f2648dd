// imagefs::Writer and Reader: trees built in any order pack into format.hpp's layout and read
// back exactly; replacement, whiteouts and hard links follow OCI layer rules; every failed call
// leaves the tree unchanged; path resolution follows symlinks without leaving the root.
#include "imagefs/reader.hpp"
#include "imagefs/writer.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

using imagefs::Metadata;
using imagefs::Reader;
using imagefs::ReadError;
using imagefs::Writer;
using imagefs::WriterError;
using imagefs::WriterStatus;

namespace {

// malloc-backed arena with an optional budget, so tests can exhaust it on purpose.
class TestArena final : public imagefs::Arena {
 public:
  explicit TestArena(size_t budget = SIZE_MAX) : budget_(budget) {}
  ~TestArena() {
    for (void* block : blocks_) std::free(block);
  }
  void* allocate(imagefs::u64 bytes) override {
    if (bytes > budget_ - used_) return nullptr;
    used_ += bytes;
    void* block = std::aligned_alloc(16, (bytes + 15) & ~size_t{15});
    blocks_.push_back(block);
    return block;
  }
  size_t budget_;
  size_t used_ = 0;
  std::vector<void*> blocks_;
};

class VectorSink final : public imagefs::Sink {
 public:
  bool write(const void* bytes, imagefs::u64 length) override {
    if (fail_after_ >= 0 && static_cast<long>(data_.size() + length) > fail_after_) return false;
    const auto* begin = static_cast<const unsigned char*>(bytes);
    data_.insert(data_.end(), begin, begin + length);
    return true;
  }
  std::vector<unsigned char> data_;
  long fail_after_ = -1;
};

// A packed image in page-aligned memory, as the manager and personality hold it.
struct Packed {
  std::unique_ptr<unsigned char, decltype(&std::free)> memory{nullptr, &std::free};
  size_t size = 0;
  Reader reader;
};

std::unique_ptr<Packed> pack(Writer& writer) {
  VectorSink sink;
  WriterStatus status = writer.finish(sink);
  EXPECT_TRUE(status.ok) << imagefs::writer_error_text(status.error);
  EXPECT_EQ(sink.data_.size(), writer.packed_size());
  auto packed = std::make_unique<Packed>();
  packed->size = sink.data_.size();
  packed->memory.reset(static_cast<unsigned char*>(std::aligned_alloc(4096, packed->size)));
  std::memcpy(packed->memory.get(), sink.data_.data(), packed->size);
  EXPECT_TRUE(packed->reader.open(packed->memory.get(), packed->size));
  return packed;
}

Metadata meta(unsigned mode, unsigned uid = 0, unsigned gid = 0, long mtime = 1577836800) {
  return Metadata{mode, uid, gid, mtime};
}

WriterStatus dir(Writer& w, const std::string& path, unsigned mode = 0755) {
  return w.directory(path.data(), path.size(), meta(mode));
}

WriterStatus put_file(Writer& w, const std::string& path, const std::string& contents, unsigned mode = 0644,
                      unsigned uid = 0) {
  WriterStatus status = w.file(path.data(), path.size(), meta(mode, uid), contents.size());
  if (!status.ok) return status;
  return w.data(contents.data(), contents.size());
}

WriterStatus link_to(Writer& w, const std::string& path, const std::string& target) {
  return w.symlink(path.data(), path.size(), meta(0777), target.data(), target.size());
}

// Whole-tree dump through the reader: path -> "type mode uid nlink size contents-or-target".
void dump(const Reader& reader, imagefs::u32 directory, const std::string& prefix,
          std::map<std::string, std::string>& out) {
  std::string previous;
  for (imagefs::u64 i = 0; i < reader.entry_count(directory); ++i) {
    imagefs::DirectoryEntry entry{};
    EXPECT_TRUE(reader.entry(directory, i, entry));
    std::string name(entry.name, entry.length);
    EXPECT_LT(previous, name) << "entries must be sorted";
    previous = name;
    imagefs::Stat stat{};
    EXPECT_TRUE(reader.stat(entry.inode, stat));
    EXPECT_EQ(entry.type, stat.mode >> 12);
    std::string line = std::to_string(stat.mode) + " " + std::to_string(stat.uid) + " " + std::to_string(stat.nlink);
    std::string path = prefix + name;
    if ((stat.mode & imagefs::TYPE_MASK) == imagefs::TYPE_DIRECTORY) {
      out[path] = "d " + line;
      dump(reader, entry.inode, path + "/", out);
    } else if ((stat.mode & imagefs::TYPE_MASK) == imagefs::TYPE_SYMLINK) {
      const char* target = nullptr;
      imagefs::u64 length = 0;
      EXPECT_TRUE(reader.symlink_target(entry.inode, target, length));
      out[path] = "l " + line + " -> " + std::string(target, length);
    } else {
      imagefs::u64 offset = 0;
      imagefs::u64 length = 0;
      EXPECT_TRUE(reader.file_extent(entry.inode, offset, length));
      EXPECT_EQ(offset % 4096, 0u);
      std::string contents(reinterpret_cast<const char*>(reader.base()) + offset, length);
      // The page's tail after the contents is zero.
      for (imagefs::u64 at = offset + length; at < imagefs::round_up_page(offset + length); ++at) {
        EXPECT_EQ(reader.base()[at], 0);
      }
      out[path] = "f " + line + " " + contents;
    }
  }
}

std::map<std::string, std::string> read_back(Writer& writer) {
  auto packed = pack(writer);
  std::map<std::string, std::string> tree;
  dump(packed->reader, imagefs::ROOT_INODE, "", tree);
  return tree;
}

TEST(ImagefsWriter, EmptyTreeIsARootDirectory) {
  TestArena arena;
  Writer writer(arena);
  EXPECT_EQ(writer.node_count(), 1u);
  EXPECT_EQ(writer.packed_size(), 4096u);
  auto packed = pack(writer);
  imagefs::Stat stat{};
  ASSERT_TRUE(packed->reader.stat(imagefs::ROOT_INODE, stat));
  EXPECT_EQ(stat.mode, imagefs::TYPE_DIRECTORY | 0755);
  EXPECT_EQ(stat.nlink, 2u);
  EXPECT_EQ(packed->reader.entry_count(imagefs::ROOT_INODE), 0u);
}

TEST(ImagefsWriter, BuildsATreeAndReadsItBackExactly) {
  TestArena arena;
  Writer writer(arena);
  ASSERT_TRUE(dir(writer, "usr").ok);
  ASSERT_TRUE(dir(writer, "usr/bin").ok);
  ASSERT_TRUE(put_file(writer, "usr/bin/tool", "#!binary\n", 0755, 12).ok);
  ASSERT_TRUE(put_file(writer, "empty", "").ok);
  ASSERT_TRUE(put_file(writer, "big", std::string(5000, 'x')).ok);
  ASSERT_TRUE(link_to(writer, "bin", "usr/bin").ok);
  ASSERT_TRUE(dir(writer, "etc", 0700).ok);
  EXPECT_EQ(writer.node_count(), 8u);
  auto tree = read_back(writer);
  std::map<std::string, std::string> expected = {
      {"big", "f 33188 0 1 " + std::string(5000, 'x')},
      {"bin", "l 41471 0 1 -> usr/bin"},
      {"empty", "f 33188 0 1 "},
      {"etc", "d 16832 0 2"},
      {"usr", "d 16877 0 3"},
      {"usr/bin", "d 16877 0 2"},
      {"usr/bin/tool", "f 33261 12 1 #!binary\n"},
  };
  EXPECT_EQ(tree, expected);
  // Header, 8 inodes, 7 entries, names and target in one page; then 1 + 2 + 0 pages of data.
  EXPECT_EQ(writer.packed_size(), 4096u * 4);
}

TEST(ImagefsWriter, EntriesInAnyOrderComeOutSorted) {
  TestArena arena;
  Writer writer(arena);
  const char* names[] = {"zeta", "alpha", "a", "ab", "Zebra", "aa", "b\xc3\xa9", "mid"};
  for (const char* name : names) ASSERT_TRUE(put_file(writer, name, name).ok);
  auto packed = pack(writer);
  std::vector<std::string> listed;
  for (imagefs::u64 i = 0; i < packed->reader.entry_count(imagefs::ROOT_INODE); ++i) {
    imagefs::DirectoryEntry entry{};
    ASSERT_TRUE(packed->reader.entry(imagefs::ROOT_INODE, i, entry));
    listed.emplace_back(entry.name, entry.length);
  }
  EXPECT_EQ(listed, (std::vector<std::string>{"Zebra", "a", "aa", "ab", "alpha", "b\xc3\xa9", "mid", "zeta"}));
  for (const char* name : names) {
    imagefs::u32 found = 0;
    ASSERT_EQ(packed->reader.lookup(imagefs::ROOT_INODE, name, std::strlen(name), found), ReadError::None) << name;
    imagefs::u64 offset = 0;
    imagefs::u64 length = 0;
    ASSERT_TRUE(packed->reader.file_extent(found, offset, length));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(packed->reader.base()) + offset, length), name);
  }
  imagefs::u32 found = 0;
  EXPECT_EQ(packed->reader.lookup(imagefs::ROOT_INODE, "b", 1, found), ReadError::NotFound);
  EXPECT_EQ(packed->reader.lookup(imagefs::ROOT_INODE, "zz", 2, found), ReadError::NotFound);
}

TEST(ImagefsWriter, LaterEntriesReplaceEarlierOnes) {
  TestArena arena;
  Writer writer(arena);
  ASSERT_TRUE(dir(writer, "d").ok);
  ASSERT_TRUE(put_file(writer, "d/inner", "1").ok);
  ASSERT_TRUE(put_file(writer, "f", "old contents").ok);
  // A file over a file: new contents and metadata.
  ASSERT_TRUE(put_file(writer, "f", "new", 0600, 7).ok);
  // A directory over a directory keeps its children and takes the new metadata.
  ASSERT_TRUE(dir(writer, "d", 0711).ok);
  auto tree = read_back(writer);
  EXPECT_EQ(tree["f"], "f 33152 7 1 new");
  EXPECT_EQ(tree["d"], "d 16841 0 2");
  EXPECT_EQ(tree["d/inner"], "f 33188 0 1 1");
  // A file over a directory drops everything below it, and the totals follow.
  ASSERT_TRUE(put_file(writer, "d", "now a file").ok);
  EXPECT_EQ(writer.node_count(), 3u);
  tree = read_back(writer);
  EXPECT_EQ(tree.size(), 2u);
  EXPECT_EQ(tree["d"], "f 33188 0 1 now a file");
  // A directory over a file, and a symlink over a directory.
  ASSERT_TRUE(dir(writer, "f").ok);
  ASSERT_TRUE(put_file(writer, "f/x", "x").ok);
  ASSERT_TRUE(link_to(writer, "f", "/elsewhere").ok);
  tree = read_back(writer);
  EXPECT_EQ(tree.size(), 2u);
  EXPECT_EQ(tree["f"], "l 41471 0 1 -> /elsewhere");
  EXPECT_EQ(writer.node_count(), 3u);
}

TEST(ImagefsWriter, WhiteoutsRemoveAndClear) {
  TestArena arena;
  Writer writer(arena);
  ASSERT_TRUE(dir(writer, "a").ok);
  ASSERT_TRUE(dir(writer, "a/b").ok);
  ASSERT_TRUE(dir(writer, "a/b/c").ok);
  ASSERT_TRUE(put_file(writer, "a/b/c/deep", std::string(9000, 'd')).ok);
  ASSERT_TRUE(put_file(writer, "a/b/f1", "1").ok);
  ASSERT_TRUE(put_file(writer, "a/b/f2", "2").ok);
  ASSERT_TRUE(put_file(writer, "a/keep", "k").ok);
  ASSERT_TRUE(put_file(writer, "top", "t").ok);
  imagefs::u64 full_size = writer.packed_size();
  // remove() takes the subtree; the data it held no longer counts.
  ASSERT_TRUE(writer.remove("a/b", 3).ok);
  EXPECT_EQ(writer.node_count(), 4u);
  EXPECT_EQ(writer.packed_size(), full_size - 4096u * 5);
  auto tree = read_back(writer);
  EXPECT_EQ(tree, (std::map<std::string, std::string>{
                      {"a", "d 16877 0 2"}, {"a/keep", "f 33188 0 1 k"}, {"top", "f 33188 0 1 t"}}));
  // Nothing there, or a parent that is missing or a file: not an error, nothing changes.
  EXPECT_TRUE(writer.remove("a/b", 3).ok);
  EXPECT_TRUE(writer.remove("missing/x", 9).ok);
  EXPECT_TRUE(writer.remove("top/x", 5).ok);
  EXPECT_EQ(read_back(writer), tree);
  // clear() empties a directory and keeps it.
  ASSERT_TRUE(put_file(writer, "a/second", "s").ok);
  ASSERT_TRUE(writer.clear("a", 1).ok);
  tree = read_back(writer);
  EXPECT_EQ(tree, (std::map<std::string, std::string>{{"a", "d 16877 0 2"}, {"top", "f 33188 0 1 t"}}));
  EXPECT_EQ(writer.clear("top", 3).error, WriterError::NotADirectory);
  EXPECT_EQ(writer.clear("nothing", 7).error, WriterError::NoSuchEntry);
  // The root can be cleared (an opaque root), never removed.
  EXPECT_EQ(writer.remove("", 0).error, WriterError::BadPath);
  ASSERT_TRUE(writer.clear("", 0).ok);
  EXPECT_EQ(writer.node_count(), 1u);
  EXPECT_EQ(writer.packed_size(), 4096u);
  EXPECT_TRUE(read_back(writer).empty());
}

TEST(ImagefsWriter, HardLinksShareOneInode) {
  TestArena arena;
  Writer writer(arena);
  ASSERT_TRUE(dir(writer, "bin").ok);
  ASSERT_TRUE(put_file(writer, "bin/gzip", std::string(100, 'g'), 0755).ok);
  ASSERT_TRUE(writer.hardlink("bin/gunzip", 10, "bin/gzip", 8).ok);
  ASSERT_TRUE(writer.hardlink("zcat", 4, "bin/gunzip", 10).ok);
  EXPECT_EQ(writer.node_count(), 3u);
  // Contents stored once: header page + one data page.
  EXPECT_EQ(writer.packed_size(), 4096u * 2);
  auto packed = pack(writer);
  imagefs::Resolution a = packed->reader.resolve(0, "bin/gzip", 8, true);
  imagefs::Resolution b = packed->reader.resolve(0, "/zcat", 5, true);
  ASSERT_EQ(a.error, ReadError::None);
  ASSERT_EQ(b.error, ReadError::None);
  EXPECT_EQ(a.inode, b.inode);
  imagefs::Stat stat{};
  ASSERT_TRUE(packed->reader.stat(a.inode, stat));
  EXPECT_EQ(stat.nlink, 3u);
  // Removing a name keeps the others; replacing a name by itself changes nothing.
  ASSERT_TRUE(writer.remove("bin/gzip", 8).ok);
  ASSERT_TRUE(writer.hardlink("zcat", 4, "zcat", 4).ok);
  auto tree = read_back(writer);
  EXPECT_EQ(tree["zcat"], "f 33261 0 2 " + std::string(100, 'g'));
  EXPECT_EQ(tree["bin/gunzip"], tree["zcat"]);
  ASSERT_TRUE(writer.remove("zcat", 4).ok);
  ASSERT_TRUE(writer.remove("bin/gunzip", 10).ok);
  EXPECT_EQ(writer.node_count(), 2u);
  EXPECT_EQ(writer.packed_size(), 4096u);
  // A hard link over its own directory: the link survives the directory it replaces.
  ASSERT_TRUE(put_file(writer, "bin/sh", "sh").ok);
  ASSERT_TRUE(writer.hardlink("bin", 3, "bin/sh", 6).ok);
  tree = read_back(writer);
  EXPECT_EQ(tree, (std::map<std::string, std::string>{{"bin", "f 33188 0 1 sh"}}));
}

TEST(ImagefsWriter, FailedCallsLeaveTheTreeUnchanged) {
  TestArena arena;
  Writer writer(arena);
  ASSERT_TRUE(dir(writer, "d").ok);
  ASSERT_TRUE(put_file(writer, "d/f", "contents").ok);
  ASSERT_TRUE(link_to(writer, "l", "d").ok);
  auto before = read_back(writer);
  imagefs::u64 nodes = writer.node_count();
  imagefs::u64 size = writer.packed_size();
  auto unchanged = [&] {
    EXPECT_EQ(writer.node_count(), nodes);
    EXPECT_EQ(writer.packed_size(), size);
    EXPECT_EQ(read_back(writer), before);
  };
  for (const std::string& bad : std::vector<std::string>{"", "/abs", "a//b", "./a", "a/.", "../x", "d/..", "d/", std::string("a\0b", 3),
                                std::string(256, 'n'), std::string(4097, 'a')}) {
    EXPECT_EQ(put_file(writer, bad, "x").error, WriterError::BadPath) << bad;
    EXPECT_EQ(link_to(writer, bad, "x").error, WriterError::BadPath) << bad;
  }
  EXPECT_EQ(dir(writer, "/x").error, WriterError::BadPath);
  EXPECT_EQ(link_to(writer, "target-empty", "").error, WriterError::BadPath);
  EXPECT_EQ(link_to(writer, "target-nul", std::string("a\0b", 3)).error, WriterError::BadPath);
  EXPECT_EQ(put_file(writer, "missing/f", "x").error, WriterError::NoParent);
  EXPECT_EQ(put_file(writer, "d/f/under-file", "x").error, WriterError::NoParent);
  // Symlinks are not followed while building: "l" is not a directory here.
  EXPECT_EQ(put_file(writer, "l/f", "x").error, WriterError::NoParent);
  EXPECT_EQ(writer.hardlink("h", 1, "nothing", 7).error, WriterError::NoSuchEntry);
  EXPECT_EQ(writer.hardlink("h", 1, "missing/nothing", 15).error, WriterError::NoSuchEntry);
  EXPECT_EQ(writer.hardlink("h", 1, "d", 1).error, WriterError::HardlinkToDirectory);
  EXPECT_EQ(writer.data("x", 1).error, WriterError::SizeMismatch);
  unchanged();

  // A file whose data is still due: every other call and finish() are refused, more data than
  // announced is refused without copying, then completing it makes the tree whole again.
  ASSERT_TRUE(writer.file("d/g", 3, meta(0644), 4).ok);
  EXPECT_EQ(writer.data("12345", 5).error, WriterError::SizeMismatch);
  EXPECT_EQ(dir(writer, "e").error, WriterError::SizeMismatch);
  EXPECT_EQ(writer.remove("d", 1).error, WriterError::SizeMismatch);
  VectorSink sink;
  EXPECT_EQ(writer.finish(sink).error, WriterError::SizeMismatch);
  EXPECT_TRUE(sink.data_.empty());
  ASSERT_TRUE(writer.data("12", 2).ok);
  ASSERT_TRUE(writer.data("34", 2).ok);
  EXPECT_EQ(writer.data("5", 1).error, WriterError::SizeMismatch);
  EXPECT_EQ(read_back(writer)["d/g"], "f 33188 0 1 1234");
}

TEST(ImagefsWriter, ExhaustedArenaChangesNothing) {
  TestArena arena(8192);
  Writer writer(arena);
  ASSERT_TRUE(dir(writer, "d").ok);
  ASSERT_TRUE(put_file(writer, "d/f", "contents").ok);
  auto before = read_back(writer);
  imagefs::u64 nodes = writer.node_count();
  // The contents need more than the arena has left: refused before anything is linked.
  EXPECT_EQ(put_file(writer, "d/f", std::string(8000, 'x')).error, WriterError::OutOfMemory);
  EXPECT_EQ(writer.node_count(), nodes);
  EXPECT_EQ(read_back(writer), before);
  // Use up the arena with names until one fails; each failure leaves the tree as it was.
  int added = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string name = "d/n" + std::to_string(i);
    WriterStatus status = put_file(writer, name, "");
    if (!status.ok) {
      EXPECT_EQ(status.error, WriterError::OutOfMemory);
      break;
    }
    added += 1;
  }
  ASSERT_LT(added, 1000);
  EXPECT_EQ(writer.node_count(), nodes + static_cast<unsigned>(added));
  EXPECT_EQ(read_back(writer).size(), before.size() + static_cast<size_t>(added));
}

TEST(ImagefsWriter, LimitsAreTooLarge) {
  TestArena arena;
  Writer writer(arena);
  EXPECT_EQ(writer.file("huge", 4, meta(0644), imagefs::MAX_IMAGE_BYTES).error, WriterError::TooLarge);
  EXPECT_EQ(writer.file("huge", 4, meta(0644), ~imagefs::u64{0}).error, WriterError::TooLarge);
  EXPECT_EQ(writer.node_count(), 1u);
}

TEST(ImagefsWriter, FailingSinkIsReportedAndFinishCanBeRepeated) {
  TestArena arena;
  Writer writer(arena);
  ASSERT_TRUE(put_file(writer, "f", std::string(10000, 'q')).ok);
  VectorSink failing;
  failing.fail_after_ = 5000;
  EXPECT_EQ(writer.finish(failing).error, WriterError::SinkFailed);
  VectorSink first;
  VectorSink second;
  ASSERT_TRUE(writer.finish(first).ok);
  ASSERT_TRUE(writer.finish(second).ok);
  EXPECT_EQ(first.data_, second.data_);
  EXPECT_EQ(imagefs::check_header(first.data_.data(), first.data_.size()), nullptr);
}

TEST(ImagefsWriter, DeepTreesAreRemovedWithoutRecursion) {
  TestArena arena;
  Writer writer(arena);
  std::string path = "x";
  ASSERT_TRUE(dir(writer, path).ok);
  for (int depth = 0; depth < 2000; ++depth) {
    path += "/x";
    ASSERT_TRUE(dir(writer, path).ok);
  }
  EXPECT_EQ(writer.node_count(), 2002u);
  ASSERT_TRUE(writer.remove("x", 1).ok);
  EXPECT_EQ(writer.node_count(), 1u);
  EXPECT_EQ(writer.packed_size(), 4096u);
}

TEST(ImagefsWriter, ManyEntriesInOneDirectory) {
  TestArena arena;
  Writer writer(arena);
  ASSERT_TRUE(dir(writer, "many").ok);
  for (int i = 2999; i >= 0; --i) ASSERT_TRUE(put_file(writer, "many/" + std::to_string(i), "").ok);
  auto packed = pack(writer);
  imagefs::u32 many = 0;
  ASSERT_EQ(packed->reader.lookup(0, "many", 4, many), ReadError::None);
  EXPECT_EQ(packed->reader.entry_count(many), 3000u);
  for (int i = 0; i < 3000; ++i) {
    std::string name = std::to_string(i);
    imagefs::u32 found = 0;
    ASSERT_EQ(packed->reader.lookup(many, name.data(), name.size(), found), ReadError::None) << name;
  }
}

class ImagefsResolve : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir(writer_, "usr").ok);
    ASSERT_TRUE(dir(writer_, "usr/lib").ok);
    ASSERT_TRUE(put_file(writer_, "usr/lib/libc.so.6", "libc").ok);
    ASSERT_TRUE(link_to(writer_, "lib", "usr/lib").ok);
    ASSERT_TRUE(dir(writer_, "lib64").ok);
    ASSERT_TRUE(link_to(writer_, "lib64/ld.so", "../lib/libc.so.6").ok);
    ASSERT_TRUE(link_to(writer_, "absolute", "/usr/lib/libc.so.6").ok);
    ASSERT_TRUE(link_to(writer_, "escape", "../../../../usr/lib").ok);
    ASSERT_TRUE(link_to(writer_, "escape_abs", "/../../usr").ok);
    ASSERT_TRUE(link_to(writer_, "loop_a", "loop_b").ok);
    ASSERT_TRUE(link_to(writer_, "loop_b", "loop_a").ok);
    ASSERT_TRUE(link_to(writer_, "dangling", "nothing/here").ok);
    ASSERT_TRUE(link_to(writer_, "to_dangling_parent", "usr/new").ok);
    // A chain of exactly 40 links resolves; 41 is a loop.
    for (int i = 0; i < 41; ++i) {
      std::string target = i == 0 ? "usr" : "c" + std::to_string(i - 1);
      ASSERT_TRUE(link_to(writer_, "c" + std::to_string(i), target).ok);
    }
    packed_ = pack(writer_);
  }
  imagefs::Resolution resolve(const std::string& path, bool follow = true, imagefs::u32 start = 0) {
    return packed_->reader.resolve(start, path.data(), path.size(), follow);
  }
  imagefs::u32 inode_of(const std::string& path) {
    imagefs::Resolution r = resolve(path, false);
    EXPECT_EQ(r.error, ReadError::None) << path;
    return r.inode;
  }
  TestArena arena_;
  Writer writer_{arena_};
  std::unique_ptr<Packed> packed_;
};

TEST_F(ImagefsResolve, FollowsRelativeAndAbsoluteLinks) {
  imagefs::u32 libc = inode_of("usr/lib/libc.so.6");
  EXPECT_EQ(resolve("/lib/libc.so.6").inode, libc);
  EXPECT_EQ(resolve("lib64/ld.so").inode, libc);
  EXPECT_EQ(resolve("/absolute").inode, libc);
  EXPECT_EQ(resolve("./usr/./lib/../lib/libc.so.6").inode, libc);
  EXPECT_EQ(resolve("//usr///lib//libc.so.6").inode, libc);
  // The last link is not followed when asked not to (lstat, readlink).
  imagefs::Resolution r = resolve("absolute", false);
  ASSERT_EQ(r.error, ReadError::None);
  imagefs::Stat stat{};
  ASSERT_TRUE(packed_->reader.stat(r.inode, stat));
  EXPECT_EQ(stat.mode & imagefs::TYPE_MASK, imagefs::TYPE_SYMLINK);
  // A trailing slash follows it and needs a directory.
  EXPECT_EQ(resolve("lib/", false).inode, inode_of("usr/lib"));
  EXPECT_EQ(resolve("usr/lib/libc.so.6/").error, ReadError::NotADirectory);
  EXPECT_EQ(resolve("usr/lib/libc.so.6/x").error, ReadError::NotADirectory);
  // Relative to a starting directory.
  EXPECT_EQ(resolve("libc.so.6", true, inode_of("usr/lib")).inode, libc);
  EXPECT_EQ(resolve("..", true, inode_of("usr/lib")).inode, inode_of("usr"));
  EXPECT_EQ(resolve("/", true, inode_of("usr/lib")).inode, 0u);
  EXPECT_EQ(resolve("c39/lib/libc.so.6").inode, libc);
}

TEST_F(ImagefsResolve, NeverLeavesTheRoot) {
  EXPECT_EQ(resolve("../../..").inode, 0u);
  EXPECT_EQ(resolve("/../../../usr/lib/libc.so.6").inode, inode_of("usr/lib/libc.so.6"));
  EXPECT_EQ(resolve("usr/../../../../lib64").inode, inode_of("lib64"));
  EXPECT_EQ(resolve("escape").inode, inode_of("usr/lib"));
  EXPECT_EQ(resolve("escape_abs").inode, inode_of("usr"));
  EXPECT_EQ(resolve("..", true, inode_of("usr")).inode, 0u);
}

TEST_F(ImagefsResolve, ReportsErrorsAndWhereANewNameWouldGo) {
  EXPECT_EQ(resolve("loop_a").error, ReadError::Loop);
  EXPECT_EQ(resolve("c40").error, ReadError::Loop);
  EXPECT_EQ(resolve("loop_a", false).error, ReadError::None);
  EXPECT_EQ(resolve("dangling").error, ReadError::NotFound);
  EXPECT_FALSE(resolve("dangling").parent_found);
  EXPECT_EQ(resolve("").error, ReadError::NotFound);
  EXPECT_EQ(resolve(std::string(300, 'a')).error, ReadError::NameTooLong);
  imagefs::Resolution r = resolve("to_dangling_parent");
  EXPECT_EQ(r.error, ReadError::NotFound);
  ASSERT_TRUE(r.parent_found);
  EXPECT_EQ(r.parent, inode_of("usr"));
  EXPECT_EQ(std::string(r.name, r.name_length), "new");
  const std::string new_path = "usr/lib/newfile";  // The name points into the path.
  r = resolve(new_path);
  ASSERT_TRUE(r.parent_found);
  EXPECT_EQ(r.parent, inode_of("usr/lib"));
  EXPECT_EQ(std::string(r.name, r.name_length), "newfile");
  EXPECT_FALSE(resolve("missing/newfile").parent_found);
}

TEST(ImagefsReader, RefusesBadHeadersAndCorruptTables) {
  TestArena arena;
  Writer writer(arena);
  ASSERT_TRUE(put_file(writer, "f", "data").ok);
  ASSERT_TRUE(dir(writer, "d").ok);
  VectorSink sink;
  ASSERT_TRUE(writer.finish(sink).ok);
  std::vector<unsigned char> good = sink.data_;
  auto checked = [](std::vector<unsigned char> blob, size_t length) -> const char* {
    void* memory = std::aligned_alloc(4096, blob.size());
    std::memcpy(memory, blob.data(), blob.size());
    const char* why = imagefs::check_header(memory, length);
    std::free(memory);
    return why;
  };
  EXPECT_EQ(checked(good, good.size()), nullptr);
  EXPECT_NE(checked(good, 40), nullptr);
  EXPECT_NE(checked(good, good.size() - 4096), nullptr);
  auto corrupt = [&](size_t at, unsigned char value) {
    std::vector<unsigned char> bad = good;
    bad[at] = value;
    return checked(bad, bad.size());
  };
  EXPECT_NE(corrupt(0, 'X'), nullptr);                                           // magic
  EXPECT_NE(corrupt(offsetof(imagefs::Header, version), 2), nullptr);
  EXPECT_NE(corrupt(offsetof(imagefs::Header, inode_count), 0), nullptr);
  EXPECT_NE(corrupt(offsetof(imagefs::Header, entry_count), 200), nullptr);
  EXPECT_NE(corrupt(offsetof(imagefs::Header, string_size) + 2, 1), nullptr);
  EXPECT_NE(corrupt(offsetof(imagefs::Header, data_offset) + 1, 0x20), nullptr);
  EXPECT_NE(corrupt(sizeof(imagefs::Header) + 1, 0), nullptr);                    // root type bits

  // Corrupt tables behind a good header: answers are Corrupt or false, never a wild read.
  std::vector<unsigned char> bad = good;
  auto* inodes = reinterpret_cast<imagefs::Inode*>(bad.data() + sizeof(imagefs::Header));
  inodes[0].size = 1000;                       // root claims 1000 entries
  inodes[1].offset = 1u << 30;                 // first child: far outside
  inodes[2].offset = 1u << 30;
  void* memory = std::aligned_alloc(4096, bad.size());
  std::memcpy(memory, bad.data(), bad.size());
  Reader reader;
  ASSERT_TRUE(reader.open(memory, bad.size()));
  imagefs::u32 found = 0;
  EXPECT_EQ(reader.lookup(0, "f", 1, found), ReadError::Corrupt);
  EXPECT_EQ(reader.entry_count(0), 0u);
  imagefs::u64 offset = 0;
  imagefs::u64 length = 0;
  EXPECT_FALSE(reader.file_extent(1, offset, length));
  EXPECT_FALSE(reader.file_extent(2, offset, length));
  EXPECT_EQ(reader.entry_count(1), 0u);
  EXPECT_EQ(reader.inode(3), nullptr);
  imagefs::Stat stat{};
  EXPECT_FALSE(reader.stat(99, stat));
  EXPECT_EQ(reader.resolve(0, "f", 1, true).error, ReadError::Corrupt);
  std::free(memory);
}

}  // namespace
