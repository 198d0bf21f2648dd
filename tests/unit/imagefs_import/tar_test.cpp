// The streaming tar reader: entries and data whatever the piece size, PAX and GNU names, base-256
// numbers, and each malformed or truncated archive refused with its own error.
#include <gtest/gtest.h>

#include "support.hpp"

using namespace import_test;

namespace {

struct Seen {
  TarType type;
  std::string path;
  std::string link;
  std::string data;
  u32 mode, uid, gid;
  i64 mtime;
};

class Recorder final : public TarVisitor {
 public:
  bool entry(const TarEntry& entry) override {
    if (refuse_at_ == static_cast<int>(seen_.size())) return false;
    seen_.push_back({entry.type, std::string(entry.path, entry.path_length), std::string(entry.link, entry.link_length), "",
                     entry.mode, entry.uid, entry.gid, entry.mtime});
    return true;
  }
  bool data(const u8* bytes, u64 length) override {
    seen_.back().data.append(reinterpret_cast<const char*>(bytes), length);
    return true;
  }
  std::vector<Seen> seen_;
  int refuse_at_ = -1;
};

TarError read_all(const std::string& archive, Recorder& recorder, u64 piece) {
  auto reader = std::make_unique<TarReader>(recorder);
  for (u64 at = 0; at < archive.size(); at += piece) {
    TarError error = reader->feed(reinterpret_cast<const u8*>(archive.data()) + at, std::min<u64>(piece, archive.size() - at));
    if (error != TarError::None) return error;
  }
  return reader->finish();
}

std::vector<TarItem> sample() {
  std::string long_name = std::string(150, 'n') + "/" + std::string(120, 'm');
  std::string long_link = std::string(300, 'l');
  return {
      {'5', "dir/", "", "", 0755, 1, 2, 1000},
      {'0', "dir/file", "hello world", "", 04711, 3, 4, 2000},
      {'2', "dir/symlink", "", "../target", 0777},
      {'1', "dir/hard", "", "dir/file", 0644},
      {'6', "fifo", "", "", 0600},
      {'x', "PaxHeaders/x", pax_record("path", long_name) + pax_record("linkpath", long_link) + pax_record("mtime", "-12.5") +
                                pax_record("uid", "4000000000") + pax_record("SCHILY.xattr.user.a", "ignored")},
      {'2', "short", "", "short-link", 0777},
      {'L', "././@LongLink", std::string(200, 'g') + '\0'},
      {'0', "truncated-name", std::string(1000, 'z'), "", 0600},
  };
}

TEST(ImportTar, ReadsEveryEntryWhateverThePieceSize) {
  std::string archive = tar_archive(sample());
  for (u64 piece : {1ull, 7ull, 512ull, 513ull, 1ull << 20}) {
    Recorder recorder;
    ASSERT_EQ(read_all(archive, recorder, piece), TarError::None) << piece;
    ASSERT_EQ(recorder.seen_.size(), 7u);
    const auto& seen = recorder.seen_;
    EXPECT_EQ(seen[0].type, TarType::Directory);
    EXPECT_EQ(seen[0].path, "dir/");
    EXPECT_EQ(seen[0].mode, 0755u);
    EXPECT_EQ(seen[0].uid, 1u);
    EXPECT_EQ(seen[0].gid, 2u);
    EXPECT_EQ(seen[0].mtime, 1000);
    EXPECT_EQ(seen[1].type, TarType::File);
    EXPECT_EQ(seen[1].data, "hello world");
    EXPECT_EQ(seen[1].mode, 04711u);
    EXPECT_EQ(seen[2].type, TarType::Symlink);
    EXPECT_EQ(seen[2].link, "../target");
    EXPECT_EQ(seen[3].type, TarType::Hardlink);
    EXPECT_EQ(seen[3].link, "dir/file");
    EXPECT_EQ(seen[4].type, TarType::Special);
    EXPECT_EQ(seen[5].type, TarType::Symlink);
    EXPECT_EQ(seen[5].path, std::string(150, 'n') + "/" + std::string(120, 'm'));
    EXPECT_EQ(seen[5].link, std::string(300, 'l'));
    EXPECT_EQ(seen[5].mtime, -12);
    EXPECT_EQ(seen[5].uid, 4000000000u);
    EXPECT_EQ(seen[6].path, std::string(200, 'g'));
    EXPECT_EQ(seen[6].data, std::string(1000, 'z'));
  }
}

TEST(ImportTar, ReadsBase256NumbersAndUstarPrefixes) {
  std::string header = tar_header({'0', "name"}, 5);
  // size 5 in base-256, a prefix "pre/fix".
  std::memset(&header[124], 0, 12);
  header[124] = static_cast<char>(0x80);
  header[135] = 5;
  std::memcpy(&header[345], "pre/fix", 7);
  std::memset(&header[148], ' ', 8);
  unsigned sum = 0;
  for (char c : header) sum += static_cast<unsigned char>(c);
  std::snprintf(&header[148], 8, "%06o", sum);
  std::string archive = header + "abcde" + std::string(507, '\0') + std::string(1024, '\0');
  Recorder recorder;
  ASSERT_EQ(read_all(archive, recorder, 100), TarError::None);
  ASSERT_EQ(recorder.seen_.size(), 1u);
  EXPECT_EQ(recorder.seen_[0].path, "pre/fix/name");
  EXPECT_EQ(recorder.seen_[0].data, "abcde");
}

TEST(ImportTar, AcceptsAMissingEndAndAMissingLastPaddingAsUmociWritesThem) {
  std::string archive = tar_archive({{'0', "a", "12345"}}, false);
  Recorder recorder;
  EXPECT_EQ(read_all(archive.substr(0, 512 + 5), recorder, 3), TarError::None);
  EXPECT_EQ(recorder.seen_.size(), 1u);
  Recorder again;
  EXPECT_EQ(read_all(archive, again, 3), TarError::None);
}

TEST(ImportTar, RefusesTruncationInsideAHeaderOrData) {
  std::string archive = tar_archive(sample());
  // Inside the first header, inside the file's data, inside the PAX data, right after the PAX header.
  for (u64 cut : {100ull, 512ull + 512 + 5, 512ull * 7 + 10}) {
    Recorder recorder;
    EXPECT_EQ(read_all(archive.substr(0, cut), recorder, 64), TarError::Truncated) << cut;
  }
  std::string pax_only = tar_archive({{'x', "p", pax_record("path", "x")}}, false);
  Recorder recorder;
  EXPECT_EQ(read_all(pax_only, recorder, 64), TarError::Truncated);
  EXPECT_TRUE(recorder.seen_.empty());
}

TEST(ImportTar, RefusesBadHeaders) {
  std::string good = tar_archive({{'0', "a", "x"}});
  std::string bad_checksum = good;
  bad_checksum[0] = 'b';
  Recorder r1;
  EXPECT_EQ(read_all(bad_checksum, r1, 512), TarError::BadChecksum);
  EXPECT_TRUE(r1.seen_.empty());

  TarItem sparse{'S', "sparse", ""};
  Recorder r2;
  EXPECT_EQ(read_all(tar_archive({sparse}), r2, 512), TarError::UnsupportedType);
  Recorder r3;
  EXPECT_EQ(read_all(tar_archive({{'x', "p", pax_record("GNU.sparse.major", "1")}, {'0', "a", "x"}}), r3, 512),
            TarError::UnsupportedType);
  Recorder r4;
  EXPECT_EQ(read_all(tar_archive({{'x', "p", "99 path=x\n"}, {'0', "a"}}), r4, 512), TarError::BadExtendedHeader);
  Recorder r5;
  EXPECT_EQ(read_all(tar_archive({{'L', "l", std::string(5000, 'a')}, {'0', "a"}}), r5, 512), TarError::NameTooLong);
  // One zero block, then a header: damage, not an end.
  Recorder r6;
  EXPECT_EQ(read_all(std::string(512, '\0') + good, r6, 512), TarError::BadHeader);
  // A size field that is not octal.
  std::string header = tar_header({'0', "a"}, 0);
  header[124] = '9';
  std::memset(&header[148], ' ', 8);
  unsigned sum = 0;
  for (char c : header) sum += static_cast<unsigned char>(c);
  std::snprintf(&header[148], 8, "%06o", sum);
  Recorder r7;
  EXPECT_EQ(read_all(header + std::string(1024, '\0'), r7, 512), TarError::BadHeader);
}

TEST(ImportTar, StopsForGoodWhenTheVisitorRefuses) {
  std::string archive = tar_archive(sample());
  Recorder recorder;
  recorder.refuse_at_ = 1;
  auto reader = std::make_unique<TarReader>(recorder);
  EXPECT_EQ(reader->feed(reinterpret_cast<const u8*>(archive.data()), archive.size()), TarError::Visitor);
  EXPECT_EQ(recorder.seen_.size(), 1u);
  EXPECT_EQ(reader->feed(reinterpret_cast<const u8*>(archive.data()), 512), TarError::Visitor);
  EXPECT_EQ(reader->finish(), TarError::Visitor);
  EXPECT_EQ(recorder.seen_.size(), 1u);
}

TEST(ImportGzip, InflatesConcatenatedMembersAndRefusesDamage) {
  class Collect final : public GzipOutput {
   public:
    bool write(const u8* bytes, u64 length) override {
      out.append(reinterpret_cast<const char*>(bytes), length);
      return true;
    }
    std::string out;
  };
  std::string text(300000, '\0');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>((i * 7919) % 251);
  std::string compressed = gzip(text) + gzip("tail");
  HeapArena arena;
  GzipReader reader(arena);
  for (u64 piece : {1ull, 4096ull, 1ull << 24}) {
    Collect collect;
    ASSERT_EQ(reader.reset(), GzipError::None);
    for (u64 at = 0; at < compressed.size(); at += piece) {
      ASSERT_EQ(reader.feed(reinterpret_cast<const u8*>(compressed.data()) + at, std::min<u64>(piece, compressed.size() - at), collect),
                GzipError::None);
    }
    EXPECT_EQ(reader.finish(), GzipError::None);
    EXPECT_EQ(collect.out, text + "tail");
  }
  Collect truncated;
  ASSERT_EQ(reader.reset(), GzipError::None);
  ASSERT_EQ(reader.feed(reinterpret_cast<const u8*>(compressed.data()), 1000, truncated), GzipError::None);
  EXPECT_EQ(reader.finish(), GzipError::Truncated);
  // A flipped bit in the CRC trailer of the first member.
  std::string damaged = gzip("some text");
  damaged[damaged.size() - 8] ^= 1;
  Collect corrupt;
  ASSERT_EQ(reader.reset(), GzipError::None);
  EXPECT_EQ(reader.feed(reinterpret_cast<const u8*>(damaged.data()), damaged.size(), corrupt), GzipError::Corrupt);
  EXPECT_EQ(reader.finish(), GzipError::Corrupt);
}

}  // namespace
