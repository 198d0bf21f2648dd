// store::Volume: the image store's on-disk layout and its catalog of named blobs.
//
// Disk, in 4 KiB blocks: block 0 and block 1 hold the two superblock copies (generation g is
// written to block g % 2, so the newest durable copy is never the one being overwritten); then the
// catalog journal, two halves of equal size; then the data area, where blobs live in extents.
// The catalog is a log in the active half: a snapshot of every entry (ADD records) followed by
// the records of later commits and deletes. When the half is full, the live entries are written to
// the other half as a new snapshot, and a new superblock (next generation, new epoch) makes that
// half active. Every record carries the volume id, the epoch and its sequence number and is
// checksummed; replay stops at the first record that is not the next valid one, so a torn append
// leaves the catalog as it was before it. The free space is the complement of the extents the
// catalog names, recomputed at mount.
//
// Invariants: a blob's bytes are flushed before its ADD record is written, and the record is
// flushed before the name becomes visible; extents of a deleted entry are reused only after its
// DELETE record is durable; a journal sector that holds a durable record is never written again
// within its epoch.
#pragma once

#include "block_device.hpp"
#include "extents.hpp"

namespace store {

constexpr u64 BLOCK_BYTES = 4096;
constexpr u64 SUPERBLOCK_MAGIC = 0x31726f7453454d4dull;  // "MMEStor1", little-endian.
constexpr u32 LAYOUT_VERSION = 1;
constexpr u32 RECORD_MAGIC = 0x4c474f4cu;               // "LOGL"
constexpr u32 RECORD_ADD = 1;
constexpr u32 RECORD_DELETE = 2;
// A blob's extents are listed in its catalog record; this bounds the record (17 KiB).
constexpr u64 MAX_EXTENTS_PER_BLOB = 1024;
// The smallest disk the layout accepts (superblocks, two 16-block halves, some data).
constexpr u64 MINIMUM_DISK_BLOCKS = 64;
constexpr u64 MAX_RECORD_BYTES = (40 + 296 + 16 * MAX_EXTENTS_PER_BLOB + 511) / 512 * 512;

struct Superblock {
  u64 magic;
  u32 version;
  u32 checksum;            // CRC-32C of the first sector with this field zero.
  u64 generation;          // Incremented by every superblock write; g lives in block g % 2.
  u64 volume_id;           // Chosen at format; every record carries it.
  u64 block_bytes;
  u64 total_blocks;        // The device at format (a larger device later is not used beyond it).
  u64 journal_start;       // First block of half 0.
  u64 half_blocks;         // Blocks per half.
  u64 active_half;         // 0 or 1.
  u64 epoch;               // Records of the active half carry it; a fresh nonce per compaction.
  u64 data_start;          // First block of the data area.
};
static_assert(sizeof(Superblock) <= SECTOR_BYTES);

struct RecordHeader {
  u32 magic;
  u32 checksum;   // CRC-32C of the whole record (length bytes) with this field zero.
  u64 volume_id;
  u64 epoch;
  u64 sequence;   // 1, 2, ... within an epoch.
  u32 kind;
  u32 length;     // Bytes, a multiple of SECTOR_BYTES.
};
static_assert(sizeof(RecordHeader) == 40);

struct AddRecord {
  char name[NAME_BYTES];
  char digest[DIGEST_BYTES];
  u64 size;
  u64 entry_sequence;
  u32 data_checksum;
  u32 extent_count;
  // Followed by extent_count Extents.
};
static_assert(sizeof(AddRecord) == 296);

struct DeleteRecord {
  char name[NAME_BYTES];
};

struct Entry {
  char name[NAME_BYTES];
  char digest[DIGEST_BYTES];
  u64 size;
  u64 sequence;     // Commit order.
  u32 checksum;     // CRC-32C of the bytes.
  u32 extent_count;
  Extent* extents;  // From the volume's memory source.
};

// A blob being written: its reserved extents, the bytes so far and the partial last block.
struct Writer {
  char name[NAME_BYTES];
  char digest[DIGEST_BYTES];
  Extent* extents;          // Reserved (allocated) extents, in file order.
  u32 extent_count;
  u32 extent_capacity;
  u64 reserved_blocks;      // Sum of the extents.
  u64 bytes;                // Written so far (including the tail).
  u64 blocks_written;       // Whole blocks on disk so far.
  u32 checksum_state;
  u32 tail_length;          // Bytes in tail (< BLOCK_BYTES).
  u8 tail[BLOCK_BYTES];
};

struct VolumeFigures {
  u64 disk_bytes;
  u64 data_bytes;
  u64 free_bytes;
  u64 entries;
  u64 catalog_bytes;
  u64 catalog_used_bytes;
  u64 writers;
};

class Volume {
 public:
  // `nonce` gives a fresh unpredictable number for each compaction's epoch (the guest mixes the
  // TSC in), so records of an attempt whose superblock never became durable are never replayed.
  Volume(BlockDevice& device, MemorySource& memory, u64 (*nonce)());
  ~Volume();
  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;

  // Writes a fresh, empty layout (generation 1) over the whole device.
  [[nodiscard]] static Status format(BlockDevice& device, u64 (*nonce)());
  // Reads the newest valid superblock and replays the catalog. NOT_FOUND when neither
  // superblock has the magic (a blank disk, to be formatted); CORRUPT when the layout is damaged
  // beyond what the fallbacks cover; IO_ERROR; OUT_OF_MEMORY.
  [[nodiscard]] Status mount();

  // Starts a blob. size_hint (or UNKNOWN_SIZE) is reserved at once, so a known size that does not
  // fit is refused with NO_SPACE here.
  [[nodiscard]] Status begin(const char* name, const char* digest, u64 size_hint, Writer*& writer);
  // Appends bytes; on any failure the writer is ended (everything released) and must not be used.
  [[nodiscard]] Status append(Writer* writer, const void* bytes, u64 length);
  // Makes the blob durable and visible; the writer is ended whatever the outcome.
  [[nodiscard]] Status commit(Writer* writer, const Entry** committed = nullptr);
  void abort(Writer* writer);
  [[nodiscard]] Status remove(const char* name);

  const Entry* find(const char* name) const;
  u64 entry_count() const { return entries_.size(); }
  const Entry& entry_at(u64 index) const { return *entries_[index]; }
  // Reads `length` bytes of the blob from `offset` (both multiples of BLOCK_BYTES, or the read
  // ends at the blob's last block) into target, whole blocks (the last one zero-padded on disk).
  [[nodiscard]] Status read(const Entry& entry, u64 offset, void* target, u64 length);

  VolumeFigures figures() const;
  const Superblock& superblock() const { return superblock_; }
  u64 journal_used_bytes() const { return journal_used_; }

 private:
  [[nodiscard]] Status read_superblock(u64 slot, Superblock& superblock, bool& has_magic);
  [[nodiscard]] Status replay();
  [[nodiscard]] Status apply(const RecordHeader& header, const u8* payload, u64 payload_bytes);
  [[nodiscard]] Status rebuild_free_space();
  // Appends the record whose payload the caller built at record_ + sizeof(RecordHeader).
  [[nodiscard]] Status append_record(u32 kind, u64 payload_bytes);
  u64 build_add(u8* target, const Entry& entry, u64 epoch, u64 sequence);
  // Writes the live entries (but `left_out`) to the other half and makes it active, leaving
  // reserve_bytes free after them; CATALOG_FULL when they do not fit.
  [[nodiscard]] Status compact(u64 reserve_bytes, const Entry* left_out = nullptr);
  [[nodiscard]] Status write_superblock(const Superblock& superblock);
  [[nodiscard]] Status write_blocks(Writer* writer, const u8* bytes, u64 blocks);
  [[nodiscard]] Status reserve(Writer* writer, u64 blocks);
  [[nodiscard]] Status insert_entry(Entry* entry);
  u64 find_index(const char* name, bool& found) const;
  bool name_pending(const char* name) const;
  void end_writer(Writer* writer, bool release_extents);
  void free_entry(Entry* entry);
  u64 half_offset(u64 half) const { return (superblock_.journal_start + half * superblock_.half_blocks) * BLOCK_BYTES; }
  u64 record_bytes(u64 payload_bytes) const;

  BlockDevice& device_;
  MemorySource& memory_;
  Superblock superblock_{};
  ExtentAllocator free_;
  Vector<Entry*> entries_;   // Sorted by name.
  Vector<Writer*> writers_;  // Open writers (their names are taken).
  u64 journal_used_ = 0;     // Bytes of the active half in use.
  u64 next_record_ = 1;      // Sequence of the next record in this epoch.
  u64 next_entry_sequence_ = 1;
  u64 (*nonce_)();
  u8* scratch_ = nullptr;    // SCRATCH_BYTES for replay and compaction.
  u8* record_ = nullptr;     // MAX_RECORD_BYTES for the record being appended.
  bool mounted_ = false;
  bool failed_ = false;      // A catalog write failed: no further changes until the next mount.
};

}  // namespace store
