// Host tests of the image store's on-disk layout (user/store/layout): CRC-32C, the extent
// allocator, and the Volume over a file-backed disk through restarts, unclean stops, torn writes,
// compactions and thousands of entries.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "checksum.hpp"
#include "extents.hpp"
#include "file_disk.hpp"
#include "volume.hpp"

namespace {

using namespace store;

class HostMemory final : public MemorySource {
 public:
  void* allocate(u64 bytes) override {
    if (limit != 0 && used + bytes > limit) return nullptr;
    used += bytes;
    return aligned_alloc(16, (bytes + 15) / 16 * 16);
  }
  void release(void* block, u64 bytes) override {
    used -= bytes;
    free(block);
  }
  u64 used = 0;
  u64 limit = 0;  // 0: none.
};

u64 counter_nonce() {
  static u64 next = 0x1234;
  return ++next * 0x9e3779b97f4a7c15ull;
}

std::string pattern(u64 length, u64 seed) {
  std::string bytes(length, '\0');
  std::mt19937_64 random(seed);
  for (auto& byte : bytes) byte = static_cast<char>(random());
  return bytes;
}

// Writes a whole blob in pieces of `piece` bytes; returns the first failure.
Status put(Volume& volume, const std::string& name, const std::string& bytes, u64 hint = UNKNOWN_SIZE,
           u64 piece = 10000, const char* digest = "sha256:00") {
  Writer* writer = nullptr;
  Status status = volume.begin(name.c_str(), digest, hint, writer);
  if (status != STATUS_OK) return status;
  for (u64 offset = 0; offset < bytes.size(); offset += piece) {
    u64 length = std::min<u64>(piece, bytes.size() - offset);
    status = volume.append(writer, bytes.data() + offset, length);
    if (status != STATUS_OK) return status;
  }
  return volume.commit(writer);
}

std::string get(Volume& volume, const std::string& name) {
  const Entry* entry = volume.find(name.c_str());
  if (entry == nullptr) return "<missing>";
  std::vector<u8> buffer((entry->size + BLOCK_BYTES - 1) / BLOCK_BYTES * BLOCK_BYTES + 1);
  if (volume.read(*entry, 0, buffer.data(), entry->size) != STATUS_OK) return "<read failed>";
  std::string bytes(reinterpret_cast<char*>(buffer.data()), entry->size);
  if (crc32c(bytes.data(), bytes.size()) != entry->checksum) return "<checksum mismatch>";
  return bytes;
}

struct Mounted {
  explicit Mounted(FileDisk& disk) : volume(disk, memory, counter_nonce) {}
  HostMemory memory;
  Volume volume;
};

TEST(Crc32c, KnownVectorAndStreaming) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  std::string bytes = pattern(10007, 1);
  u32 state = crc32c_start();
  for (u64 offset = 0; offset < bytes.size(); offset += 13)
    state = crc32c_update(state, bytes.data() + offset, std::min<u64>(13, bytes.size() - offset));
  EXPECT_EQ(crc32c_finish(state), crc32c(bytes.data(), bytes.size()));
}

TEST(ExtentAllocator, BuildsTheComplementAndRejectsOverlaps) {
  HostMemory memory;
  ExtentAllocator allocator(memory);
  Vector<Extent> used(memory);
  ASSERT_TRUE(used.push_back({10, 5}));
  ASSERT_TRUE(used.push_back({20, 10}));
  ASSERT_EQ(allocator.build(2, 100, used), STATUS_OK);
  ASSERT_EQ(allocator.free_list().size(), 3u);
  EXPECT_EQ(allocator.free_list()[0].start, 2u);
  EXPECT_EQ(allocator.free_list()[0].blocks, 8u);
  EXPECT_EQ(allocator.free_list()[1].start, 15u);
  EXPECT_EQ(allocator.free_list()[1].blocks, 5u);
  EXPECT_EQ(allocator.free_list()[2].start, 30u);
  EXPECT_EQ(allocator.free_list()[2].blocks, 70u);
  EXPECT_EQ(allocator.free_blocks(), 83u);

  Vector<Extent> overlapping(memory);
  ASSERT_TRUE(overlapping.push_back({10, 5}));
  ASSERT_TRUE(overlapping.push_back({14, 3}));
  EXPECT_EQ(allocator.build(2, 100, overlapping), STATUS_CORRUPT);
  Vector<Extent> outside(memory);
  ASSERT_TRUE(outside.push_back({98, 5}));
  EXPECT_EQ(allocator.build(2, 100, outside), STATUS_CORRUPT);
}

TEST(ExtentAllocator, FirstFitContinuationLargestAndMerging) {
  HostMemory memory;
  ExtentAllocator allocator(memory);
  Vector<Extent> used(memory);
  ASSERT_TRUE(used.push_back({10, 5}));
  ASSERT_TRUE(used.push_back({20, 10}));
  ASSERT_EQ(allocator.build(0, 40, used), STATUS_OK);  // Free: [0,10) [15,20) [30,40).
  Extent first = allocator.allocate(4);
  EXPECT_EQ(first.start, 0u);
  EXPECT_EQ(first.blocks, 4u);
  Extent continued = allocator.allocate(3, 4);  // Continues where the first ended.
  EXPECT_EQ(continued.start, 4u);
  EXPECT_EQ(continued.blocks, 3u);
  Extent fit = allocator.allocate(8);  // [7,10) and [15,20) are too small: the first that fits.
  EXPECT_EQ(fit.start, 30u);
  EXPECT_EQ(fit.blocks, 8u);
  Extent largest = allocator.allocate(50);  // Nothing holds 50: the largest piece, [15,20).
  EXPECT_EQ(largest.start, 15u);
  EXPECT_EQ(largest.blocks, 5u);
  EXPECT_EQ(allocator.free_blocks(), 5u);  // [7,10) and [38,40).
  ASSERT_EQ(allocator.release(continued), STATUS_OK);  // Joins [7,10) on its right.
  ASSERT_EQ(allocator.release(first), STATUS_OK);      // Joins on its right too.
  ASSERT_EQ(allocator.free_list().size(), 2u);
  EXPECT_EQ(allocator.free_list()[0].start, 0u);
  EXPECT_EQ(allocator.free_list()[0].blocks, 10u);
  ASSERT_EQ(allocator.release(largest), STATUS_OK);  // Alone between used [10,15) and [20,30).
  ASSERT_EQ(allocator.release(fit), STATUS_OK);      // Joins [38,40) on its left... from the right.
  ASSERT_EQ(allocator.free_list().size(), 3u);
  EXPECT_EQ(allocator.free_list()[2].start, 30u);
  EXPECT_EQ(allocator.free_list()[2].blocks, 10u);
  EXPECT_EQ(allocator.free_blocks(), 25u);
  EXPECT_EQ(allocator.allocate(0).blocks, 0u);
}

TEST(Volume, BlankDiskIsNotFoundAndFormatGivesAnEmptyCatalog) {
  FileDisk disk(4 << 20);
  {
    Mounted blank(disk);
    EXPECT_EQ(blank.volume.mount(), STATUS_NOT_FOUND);
  }
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  Mounted mounted(disk);
  ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
  VolumeFigures figures = mounted.volume.figures();
  EXPECT_EQ(figures.entries, 0u);
  EXPECT_EQ(figures.disk_bytes, 4u << 20);
  // 1024 blocks: two superblocks, two halves of 16 blocks, the rest is data.
  EXPECT_EQ(figures.data_bytes, (1024u - 2 - 32) * BLOCK_BYTES);
  EXPECT_EQ(figures.free_bytes, figures.data_bytes);
  EXPECT_EQ(figures.catalog_used_bytes, 0u);
}

TEST(Volume, TooSmallDiskIsRefused) {
  FileDisk disk(MINIMUM_DISK_BLOCKS * BLOCK_BYTES - BLOCK_BYTES);
  EXPECT_EQ(Volume::format(disk, counter_nonce), STATUS_NO_SPACE);
}

TEST(Volume, CommittedBlobsSurviveARestartByteForByte) {
  FileDisk disk(16 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  std::map<std::string, std::string> blobs;
  u64 sizes[] = {0, 1, 4095, 4096, 4097, (1 << 20) + 3, 3 << 20};
  {
    Mounted mounted(disk);
    ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
    u64 seed = 10;
    for (u64 size : sizes) {
      std::string name = "blob:" + std::to_string(size);
      blobs[name] = pattern(size, seed++);
      ASSERT_EQ(put(mounted.volume, name, blobs[name], UNKNOWN_SIZE, 1000 + size % 7777), STATUS_OK) << name;
    }
    // One with a known size, written in odd pieces, and a digest.
    blobs["python:3.11"] = pattern(200000, 99);
    ASSERT_EQ(put(mounted.volume, "python:3.11", blobs["python:3.11"], 200000, 333, "sha256:abc"), STATUS_OK);
    for (auto& [name, bytes] : blobs) EXPECT_EQ(get(mounted.volume, name), bytes) << name;
  }
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.entry_count(), blobs.size());
  for (auto& [name, bytes] : blobs) EXPECT_EQ(get(again.volume, name), bytes) << name;
  EXPECT_STREQ(again.volume.find("python:3.11")->digest, "sha256:abc");
  // Sorted by name, and sizes exact.
  for (u64 index = 1; index < again.volume.entry_count(); ++index)
    EXPECT_LT(std::string(again.volume.entry_at(index - 1).name), std::string(again.volume.entry_at(index).name));
  EXPECT_EQ(again.volume.find("blob:4097")->size, 4097u);
  // The free space is exactly the data area minus the blobs' whole blocks.
  u64 used_blocks = 0;
  for (auto& [name, bytes] : blobs) used_blocks += (bytes.size() + BLOCK_BYTES - 1) / BLOCK_BYTES;
  VolumeFigures figures = again.volume.figures();
  EXPECT_EQ(figures.free_bytes, figures.data_bytes - used_blocks * BLOCK_BYTES);
}

TEST(Volume, AnUncommittedBlobLeavesNothingAfterAnUncleanStop) {
  FileDisk disk(8 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  u64 free_before = 0;
  {
    Mounted mounted(disk);
    ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
    ASSERT_EQ(put(mounted.volume, "kept", pattern(5000, 1)), STATUS_OK);
    free_before = mounted.volume.figures().free_bytes;
    Writer* writer = nullptr;
    ASSERT_EQ(mounted.volume.begin("unfinished", "", UNKNOWN_SIZE, writer), STATUS_OK);
    std::string bytes = pattern(300000, 2);
    ASSERT_EQ(mounted.volume.append(writer, bytes.data(), bytes.size()), STATUS_OK);
    EXPECT_LT(mounted.volume.figures().free_bytes, free_before);
    // The machine stops here: no commit, no abort.
  }
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.find("unfinished"), nullptr);
  EXPECT_EQ(again.volume.entry_count(), 1u);
  EXPECT_EQ(get(again.volume, "kept"), pattern(5000, 1));
  EXPECT_EQ(again.volume.figures().free_bytes, free_before);
}

TEST(Volume, NamesAreCheckedAndTakenNamesRefused) {
  FileDisk disk(4 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  Mounted mounted(disk);
  ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
  Writer* writer = nullptr;
  EXPECT_EQ(mounted.volume.begin("", "", 0, writer), STATUS_BAD_REQUEST);
  EXPECT_EQ(mounted.volume.begin("bad name", "", 0, writer), STATUS_BAD_REQUEST);
  EXPECT_EQ(mounted.volume.begin("ok", "bad digest!", 0, writer), STATUS_BAD_REQUEST);
  EXPECT_EQ(mounted.volume.begin(std::string(128, 'a').c_str(), "", 0, writer), STATUS_BAD_REQUEST);
  ASSERT_EQ(mounted.volume.begin(std::string(127, 'a').c_str(), "", 0, writer), STATUS_OK);
  mounted.volume.abort(writer);
  ASSERT_EQ(put(mounted.volume, "docker.io/library/debian:12", "x"), STATUS_OK);
  EXPECT_EQ(mounted.volume.begin("docker.io/library/debian:12", "", 0, writer), STATUS_NAME_TAKEN);
  Writer* pending = nullptr;
  ASSERT_EQ(mounted.volume.begin("pending", "", UNKNOWN_SIZE, pending), STATUS_OK);
  EXPECT_EQ(mounted.volume.begin("pending", "", UNKNOWN_SIZE, writer), STATUS_NAME_TAKEN);
  mounted.volume.abort(pending);
  EXPECT_EQ(mounted.volume.begin("pending", "", UNKNOWN_SIZE, writer), STATUS_OK);
  mounted.volume.abort(writer);
}

TEST(Volume, ABlobThatDoesNotFitIsRefusedAndLeavesNothing) {
  FileDisk disk(4 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  Mounted mounted(disk);
  ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
  ASSERT_EQ(put(mounted.volume, "small", pattern(10000, 3)), STATUS_OK);
  u64 free_before = mounted.volume.figures().free_bytes;
  // A known size beyond the free space: refused at once.
  Writer* writer = nullptr;
  EXPECT_EQ(mounted.volume.begin("huge", "", free_before + 1, writer), STATUS_NO_SPACE);
  EXPECT_EQ(writer, nullptr);
  EXPECT_EQ(mounted.volume.figures().free_bytes, free_before);
  EXPECT_EQ(mounted.volume.figures().writers, 0u);
  // Exactly the free space fits (then nothing is left).
  ASSERT_EQ(mounted.volume.begin("exact", "", free_before, writer), STATUS_OK);
  EXPECT_EQ(mounted.volume.figures().free_bytes, 0u);
  mounted.volume.abort(writer);
  EXPECT_EQ(mounted.volume.figures().free_bytes, free_before);
  // Unknown size: the append that runs out fails, and the writer's space comes back.
  ASSERT_EQ(mounted.volume.begin("stream", "", UNKNOWN_SIZE, writer), STATUS_OK);
  std::string chunk = pattern(256 * 1024, 4);
  Status status = STATUS_OK;
  u64 appended = 0;
  while (status == STATUS_OK && appended <= free_before) {
    status = mounted.volume.append(writer, chunk.data(), chunk.size());
    appended += chunk.size();
  }
  EXPECT_EQ(status, STATUS_NO_SPACE);
  EXPECT_EQ(mounted.volume.figures().free_bytes, free_before);
  EXPECT_EQ(mounted.volume.figures().writers, 0u);
  EXPECT_EQ(mounted.volume.find("stream"), nullptr);
  EXPECT_EQ(get(mounted.volume, "small"), pattern(10000, 3));
  // And after a restart, the same.
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.entry_count(), 1u);
  EXPECT_EQ(again.volume.figures().free_bytes, free_before);
}

TEST(Volume, DeletesPersistAndTheirSpaceIsReused) {
  FileDisk disk(4 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  u64 free_empty = 0;
  {
    Mounted mounted(disk);
    ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
    free_empty = mounted.volume.figures().free_bytes;
    ASSERT_EQ(put(mounted.volume, "a", pattern(free_empty - 8 * BLOCK_BYTES, 5)), STATUS_OK);
    EXPECT_EQ(put(mounted.volume, "b", pattern(9 * BLOCK_BYTES, 6)), STATUS_NO_SPACE);
    EXPECT_EQ(mounted.volume.remove("missing"), STATUS_NOT_FOUND);
    ASSERT_EQ(mounted.volume.remove("a"), STATUS_OK);
    EXPECT_EQ(mounted.volume.figures().free_bytes, free_empty);
    ASSERT_EQ(put(mounted.volume, "b", pattern(9 * BLOCK_BYTES, 6)), STATUS_OK);
  }
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.find("a"), nullptr);
  EXPECT_EQ(get(again.volume, "b"), pattern(9 * BLOCK_BYTES, 6));
  EXPECT_EQ(again.volume.figures().free_bytes, free_empty - 9 * BLOCK_BYTES);
}

// Tears the catalog record of a commit at every interesting point: nothing of it, a part of its
// sector, the whole record but no flush. The entry is there only when the record is whole.
TEST(Volume, ATornCatalogRecordFallsBackToThePreviousCatalog) {
  for (u64 torn : {u64{0}, u64{40}, u64{300}}) {
    FileDisk disk(4 << 20);
    ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
    {
      Mounted mounted(disk);
      ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
      ASSERT_EQ(put(mounted.volume, "first", pattern(7000, 7)), STATUS_OK);
      Writer* writer = nullptr;
      ASSERT_EQ(mounted.volume.begin("second", "", UNKNOWN_SIZE, writer), STATUS_OK);
      std::string bytes = pattern(5000, 8);
      ASSERT_EQ(mounted.volume.append(writer, bytes.data(), bytes.size()), STATUS_OK);
      // The commit writes the tail block (1), then the record (2): the record is torn.
      disk.stop_after_writes(2, torn);
      (void)mounted.volume.commit(writer);
      ASSERT_TRUE(disk.stopped());
    }
    disk.restart();
    Mounted again(disk);
    ASSERT_EQ(again.volume.mount(), STATUS_OK) << torn;
    EXPECT_EQ(again.volume.entry_count(), 1u) << torn;
    EXPECT_EQ(again.volume.find("second"), nullptr) << torn;
    EXPECT_EQ(get(again.volume, "first"), pattern(7000, 7)) << torn;
    // The log goes on over the torn record.
    ASSERT_EQ(put(again.volume, "third", pattern(100, 9)), STATUS_OK);
    Mounted third(disk);
    ASSERT_EQ(third.volume.mount(), STATUS_OK);
    EXPECT_EQ(third.volume.entry_count(), 2u);
    EXPECT_EQ(get(third.volume, "third"), pattern(100, 9));
  }
}

TEST(Volume, ACorruptedRecordEndsTheReplayThere) {
  FileDisk disk(4 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  {
    Mounted mounted(disk);
    ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
    for (int index = 0; index < 3; ++index)
      ASSERT_EQ(put(mounted.volume, "entry" + std::to_string(index), pattern(10, index)), STATUS_OK);
  }
  // Flip a byte in the second record's name (records are one sector each, half 0 at block 2).
  u64 second = 2 * BLOCK_BYTES + SECTOR_BYTES + sizeof(RecordHeader) + 3;
  disk.poke(second, disk.peek(second) ^ 0x20);
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.entry_count(), 1u);
  EXPECT_NE(again.volume.find("entry0"), nullptr);
}

// Fills the active half of the catalog exactly, without changing which entries exist in the end
// except "pad" (present or not), so the next record needs a compaction.
void fill_half(Volume& volume) {
  u64 half = volume.superblock().half_blocks * BLOCK_BYTES;
  while (volume.journal_used_bytes() + SECTOR_BYTES <= half) {
    if (volume.journal_used_bytes() + 2 * SECTOR_BYTES <= half) {
      ASSERT_EQ(put(volume, "churn", "c"), STATUS_OK);
      ASSERT_EQ(volume.remove("churn"), STATUS_OK);
    } else if (volume.find("pad") == nullptr) {
      ASSERT_EQ(put(volume, "pad", "p"), STATUS_OK);
    } else {
      ASSERT_EQ(volume.remove("pad"), STATUS_OK);
    }
  }
}

TEST(Volume, ATornSuperblockFallsBackToTheOtherCopy) {
  FileDisk disk(1 << 20);  // 256 blocks: halves of 16 blocks, 128 one-sector records.
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  u64 generation = 0;
  {
    Mounted mounted(disk);
    ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
    generation = mounted.volume.superblock().generation;
    // Fill the half with records: 10 entries, then add/delete pairs.
    for (int index = 0; index < 10; ++index)
      ASSERT_EQ(put(mounted.volume, "keep" + std::to_string(index), pattern(100, index)), STATUS_OK);
    fill_half(mounted.volume);
    ASSERT_EQ(mounted.volume.remove("pad"), mounted.volume.find("pad") ? STATUS_OK : STATUS_NOT_FOUND);
    fill_half(mounted.volume);
    ASSERT_EQ(mounted.volume.superblock().generation, generation);  // No compaction yet.
    // The next commit compacts: tail block (1), snapshot (2), superblock (3, torn after its
    // checksum, before its generation).
    Writer* writer = nullptr;
    ASSERT_EQ(mounted.volume.begin("late", "", UNKNOWN_SIZE, writer), STATUS_OK);
    ASSERT_EQ(mounted.volume.append(writer, "late", 4), STATUS_OK);
    disk.stop_after_writes(3, 16);
    EXPECT_EQ(mounted.volume.commit(writer), STATUS_OK);  // It cannot tell; the disk lost it.
    ASSERT_TRUE(disk.stopped());
  }
  disk.restart();
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.superblock().generation, generation);
  EXPECT_EQ(again.volume.entry_count(), 10u + (again.volume.find("pad") != nullptr ? 1 : 0));
  EXPECT_EQ(again.volume.find("late"), nullptr);
  for (int index = 0; index < 10; ++index)
    EXPECT_EQ(get(again.volume, "keep" + std::to_string(index)), pattern(100, index));
}

// A compaction whose superblock was lost wrote a snapshot with its own epoch into the other half;
// after a delete and a second compaction into the same half, none of the first attempt's records
// may come back (each compaction draws a fresh epoch).
TEST(Volume, RecordsOfALostCompactionNeverComeBack) {
  FileDisk disk(1 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  {
    Mounted mounted(disk);
    ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
    for (int index = 0; index < 5; ++index)
      ASSERT_EQ(put(mounted.volume, "e" + std::to_string(index), pattern(100, index)), STATUS_OK);
    fill_half(mounted.volume);
    Writer* writer = nullptr;
    ASSERT_EQ(mounted.volume.begin("late", "", UNKNOWN_SIZE, writer), STATUS_OK);
    ASSERT_EQ(mounted.volume.append(writer, "x", 1), STATUS_OK);
    disk.stop_after_writes(3, 0);  // The superblock write is lost entirely.
    (void)mounted.volume.commit(writer);
  }
  disk.restart();
  {
    Mounted mounted(disk);
    ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
    if (mounted.volume.find("pad") != nullptr) {
      ASSERT_EQ(mounted.volume.remove("pad"), STATUS_OK);
    }
    ASSERT_EQ(mounted.volume.entry_count(), 5u);
    ASSERT_EQ(mounted.volume.remove("e4"), STATUS_OK);
    u64 generation = mounted.volume.superblock().generation;
    fill_half(mounted.volume);
    if (mounted.volume.find("pad") != nullptr) {  // Keep the half full without the pad entry.
      ASSERT_EQ(mounted.volume.remove("pad"), STATUS_OK);
      fill_half(mounted.volume);
    }
    ASSERT_EQ(mounted.volume.find("pad"), nullptr);
    ASSERT_EQ(put(mounted.volume, "after", "y"), STATUS_OK);  // Compacts for real.
    ASSERT_EQ(mounted.volume.superblock().generation, generation + 1);
  }
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.entry_count(), 5u);  // e0-e3 and "after".
  EXPECT_EQ(again.volume.find("e4"), nullptr);
  EXPECT_EQ(again.volume.find("late"), nullptr);
  EXPECT_EQ(get(again.volume, "after"), "y");
}

TEST(Volume, ThousandsOfEntriesAcrossCompactionsAndRestarts) {
  FileDisk disk(256 << 20);  // Halves of 1024 blocks: 8192 one-sector records each.
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  constexpr int COUNT = 6000;
  u64 generation = 0;
  {
    Mounted mounted(disk);
    ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
    generation = mounted.volume.superblock().generation;
    for (int index = 0; index < COUNT; ++index)
      ASSERT_EQ(put(mounted.volume, "image" + std::to_string(index) + ":latest", std::to_string(index)), STATUS_OK);
    for (int index = 0; index < COUNT; index += 2)
      ASSERT_EQ(mounted.volume.remove(("image" + std::to_string(index) + ":latest").c_str()), STATUS_OK);
  }
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.superblock().generation, generation + 1);  // 9,000 records: one compaction.
  ASSERT_EQ(again.volume.entry_count(), static_cast<u64>(COUNT / 2));
  for (int index = 1; index < COUNT; index += 2)
    ASSERT_EQ(get(again.volume, "image" + std::to_string(index) + ":latest"), std::to_string(index)) << index;
  EXPECT_EQ(again.volume.figures().free_bytes, again.volume.figures().data_bytes - (COUNT / 2) * BLOCK_BYTES);
}

TEST(Volume, ACatalogThatCannotHoldItsEntriesIsFull) {
  FileDisk disk(1 << 20);  // 128 records per half.
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  Mounted mounted(disk);
  ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
  int committed = 0;
  Status status = STATUS_OK;
  while (status == STATUS_OK) {
    status = put(mounted.volume, "n" + std::to_string(committed), "");
    if (status == STATUS_OK) ++committed;
  }
  EXPECT_EQ(status, STATUS_CATALOG_FULL);
  EXPECT_EQ(committed, 128);  // 128 sectors: a snapshot of 128 plus the new record do not fit.
  EXPECT_EQ(mounted.volume.entry_count(), 128u);
  EXPECT_EQ(mounted.volume.figures().writers, 0u);
  // A delete still works in a full catalog: the compaction leaves the entry out.
  ASSERT_EQ(mounted.volume.remove("n0"), STATUS_OK);
  ASSERT_EQ(put(mounted.volume, "new", ""), STATUS_OK);
  Mounted again(disk);
  ASSERT_EQ(again.volume.mount(), STATUS_OK);
  EXPECT_EQ(again.volume.entry_count(), 128u);
  EXPECT_EQ(again.volume.find("n0"), nullptr);
  EXPECT_NE(again.volume.find("new"), nullptr);
}

TEST(Volume, IoErrorsAreReportedAndStopFurtherChanges) {
  FileDisk disk(4 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  Mounted mounted(disk);
  ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
  ASSERT_EQ(put(mounted.volume, "a", "aaaa"), STATUS_OK);
  u64 free_before = mounted.volume.figures().free_bytes;
  disk.fail_writes = true;
  EXPECT_EQ(put(mounted.volume, "b", pattern(10000, 1)), STATUS_IO_ERROR);
  EXPECT_EQ(mounted.volume.figures().free_bytes, free_before);
  disk.fail_writes = false;
  // The data write failed, not the catalog: the volume goes on.
  ASSERT_EQ(put(mounted.volume, "b", "bbbb"), STATUS_OK);
  // A failed catalog write stops every later change until the next mount. An empty blob's commit
  // writes only its record.
  Writer* writer = nullptr;
  ASSERT_EQ(mounted.volume.begin("c", "", UNKNOWN_SIZE, writer), STATUS_OK);
  disk.fail_write_after(1);
  EXPECT_EQ(mounted.volume.commit(writer), STATUS_IO_ERROR);
  EXPECT_EQ(mounted.volume.remove("a"), STATUS_IO_ERROR);
  EXPECT_EQ(mounted.volume.begin("d", "", UNKNOWN_SIZE, writer), STATUS_IO_ERROR);
  disk.fail_reads = true;
  Mounted again(disk);
  EXPECT_EQ(again.volume.mount(), STATUS_IO_ERROR);
}

TEST(Volume, DamagedSuperblocksAreCorruptNotBlank) {
  FileDisk disk(4 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  disk.poke(BLOCK_BYTES + 20, disk.peek(BLOCK_BYTES + 20) ^ 1);  // Generation 1 lives in block 1.
  Mounted mounted(disk);
  EXPECT_EQ(mounted.volume.mount(), STATUS_CORRUPT);
}

TEST(Volume, OutOfMemoryIsReportedNotFatal) {
  FileDisk disk(4 << 20);
  ASSERT_EQ(Volume::format(disk, counter_nonce), STATUS_OK);
  Mounted mounted(disk);
  ASSERT_EQ(mounted.volume.mount(), STATUS_OK);
  mounted.memory.limit = mounted.memory.used + 100;
  Writer* writer = nullptr;
  EXPECT_EQ(mounted.volume.begin("a", "", UNKNOWN_SIZE, writer), STATUS_OUT_OF_MEMORY);
  EXPECT_EQ(mounted.volume.figures().writers, 0u);
}

}  // namespace
