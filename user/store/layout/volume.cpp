// store::Volume: format, mount (superblock choice, journal replay, free space), the blob write
// path (reserve, append, commit, abort), delete, reads, and the compaction that starts a new epoch.
#include "volume.hpp"

#include "checksum.hpp"

namespace store {
namespace {

constexpr u64 SCRATCH_BYTES = 64 * 1024;
static_assert(SCRATCH_BYTES >= MAX_RECORD_BYTES && SCRATCH_BYTES % SECTOR_BYTES == 0);
constexpr u64 HEADER_BYTES = sizeof(RecordHeader);
// Growth of a blob of unknown size: at least 1 MiB at a time, doubling with what it has, at most
// 64 MiB, so a large blob takes few extents and a small one reserves little.
constexpr u64 MINIMUM_GROWTH_BLOCKS = 256;
constexpr u64 MAXIMUM_GROWTH_BLOCKS = 16384;

u64 round_up(u64 value, u64 unit) { return (value + unit - 1) / unit * unit; }
u64 blocks_for(u64 bytes) { return (bytes + BLOCK_BYTES - 1) / BLOCK_BYTES; }

bool valid_name(const char* name) {
  u64 length = 0;
  while (length < NAME_BYTES && name[length] != '\0') {
    if (!is_name_byte(static_cast<u8>(name[length]))) return false;
    ++length;
  }
  return length > 0 && length < NAME_BYTES;
}

bool valid_digest(const char* digest) {
  u64 length = 0;
  while (length < DIGEST_BYTES && digest[length] != '\0') {
    if (!is_digest_byte(static_cast<u8>(digest[length]))) return false;
    ++length;
  }
  return length < DIGEST_BYTES;
}

// Copies a validated text into a fixed field, NUL-padded (so records are deterministic).
template <u64 Bytes>
void set_text(char (&field)[Bytes], const char* text) {
  fill_bytes(field, 0, Bytes);
  for (u64 index = 0; index + 1 < Bytes && text[index] != '\0'; ++index) field[index] = text[index];
}

u32 superblock_checksum(Superblock superblock) {
  superblock.checksum = 0;
  u8 sector[SECTOR_BYTES] = {};
  copy_bytes(sector, &superblock, sizeof superblock);
  return crc32c(sector, SECTOR_BYTES);
}

u32 record_checksum(u8* record, u64 length) {
  auto* header = reinterpret_cast<RecordHeader*>(record);
  u32 saved = header->checksum;
  header->checksum = 0;
  u32 checksum = crc32c(record, length);
  header->checksum = saved;
  return checksum;
}

void sort_extents(Vector<Extent>& extents) {
  // Heap sort: in place, O(n log n) for any input (a catalog of thousands of blobs).
  Extent* items = extents.data();
  u64 count = extents.size();
  auto sift = [items](u64 root, u64 end) {
    for (;;) {
      u64 child = 2 * root + 1;
      if (child >= end) return;
      if (child + 1 < end && items[child + 1].start > items[child].start) ++child;
      if (items[root].start >= items[child].start) return;
      Extent swapped = items[root];
      items[root] = items[child];
      items[child] = swapped;
      root = child;
    }
  };
  for (u64 index = count / 2; index-- > 0;) sift(index, count);
  for (u64 end = count; end > 1; --end) {
    Extent swapped = items[0];
    items[0] = items[end - 1];
    items[end - 1] = swapped;
    sift(0, end - 1);
  }
}

}  // namespace

Volume::Volume(BlockDevice& device, MemorySource& memory, u64 (*nonce)())
    : device_(device), memory_(memory), free_(memory), entries_(memory), writers_(memory), nonce_(nonce) {}

Volume::~Volume() {
  while (!writers_.empty()) end_writer(writers_[0], false);
  for (u64 index = 0; index < entries_.size(); ++index) free_entry(entries_[index]);
  if (scratch_ != nullptr) memory_.release(scratch_, SCRATCH_BYTES);
  if (record_ != nullptr) memory_.release(record_, MAX_RECORD_BYTES);
}

Status Volume::format(BlockDevice& device, u64 (*nonce)()) {
  u64 total_blocks = device.size() / BLOCK_BYTES;
  if (total_blocks < MINIMUM_DISK_BLOCKS) return STATUS_NO_SPACE;
  u64 half_blocks = total_blocks / 64;
  if (half_blocks < 16) half_blocks = 16;
  if (half_blocks > 8192) half_blocks = 8192;
  Superblock superblock{};
  superblock.magic = SUPERBLOCK_MAGIC;
  superblock.version = LAYOUT_VERSION;
  superblock.generation = 1;
  superblock.volume_id = nonce();
  superblock.block_bytes = BLOCK_BYTES;
  superblock.total_blocks = total_blocks;
  superblock.journal_start = 2;
  superblock.half_blocks = half_blocks;
  superblock.active_half = 0;
  superblock.epoch = nonce();
  superblock.data_start = 2 + 2 * half_blocks;
  superblock.checksum = superblock_checksum(superblock);
  u8 sector[SECTOR_BYTES] = {};
  // Old superblocks and the first record of each half go first, then the new superblock.
  const u64 cleared[] = {0, 2 * BLOCK_BYTES, (2 + half_blocks) * BLOCK_BYTES};
  for (u64 offset : cleared)
    if (Status status = device.write(offset, sector, SECTOR_BYTES); status != STATUS_OK) return status;
  if (Status status = device.flush(); status != STATUS_OK) return status;
  copy_bytes(sector, &superblock, sizeof superblock);
  if (Status status = device.write(BLOCK_BYTES, sector, SECTOR_BYTES); status != STATUS_OK) return status;
  return device.flush();
}

Status Volume::read_superblock(u64 slot, Superblock& superblock, bool& has_magic) {
  u8 sector[SECTOR_BYTES];
  if (Status status = device_.read(slot * BLOCK_BYTES, sector, SECTOR_BYTES); status != STATUS_OK) return status;
  copy_bytes(&superblock, sector, sizeof superblock);
  has_magic = superblock.magic == SUPERBLOCK_MAGIC;
  bool valid = has_magic && superblock.version == LAYOUT_VERSION && superblock.checksum == superblock_checksum(superblock) &&
               superblock.generation % 2 == slot && superblock.block_bytes == BLOCK_BYTES &&
               superblock.total_blocks >= MINIMUM_DISK_BLOCKS && superblock.total_blocks <= device_.size() / BLOCK_BYTES &&
               superblock.journal_start == 2 && superblock.half_blocks >= 16 && superblock.half_blocks <= 8192 &&
               superblock.data_start == 2 + 2 * superblock.half_blocks && superblock.data_start < superblock.total_blocks &&
               superblock.active_half <= 1;
  return valid ? STATUS_OK : STATUS_CORRUPT;
}

Status Volume::mount() {
  if (mounted_) return STATUS_BAD_REQUEST;
  if (device_.size() < MINIMUM_DISK_BLOCKS * BLOCK_BYTES) return STATUS_NO_SPACE;
  if (scratch_ == nullptr) scratch_ = static_cast<u8*>(memory_.allocate(SCRATCH_BYTES));
  if (record_ == nullptr) record_ = static_cast<u8*>(memory_.allocate(MAX_RECORD_BYTES));
  if (scratch_ == nullptr || record_ == nullptr) return STATUS_OUT_OF_MEMORY;
  Superblock candidates[2];
  bool magic[2] = {false, false};
  Status states[2];
  for (u64 slot = 0; slot < 2; ++slot) {
    states[slot] = read_superblock(slot, candidates[slot], magic[slot]);
    if (states[slot] == STATUS_IO_ERROR) return STATUS_IO_ERROR;
  }
  if (!magic[0] && !magic[1]) return STATUS_NOT_FOUND;
  int chosen = -1;
  for (int slot = 0; slot < 2; ++slot)
    if (states[slot] == STATUS_OK && (chosen < 0 || candidates[slot].generation > candidates[chosen].generation))
      chosen = slot;
  if (chosen < 0) return STATUS_CORRUPT;
  superblock_ = candidates[chosen];
  if (Status status = replay(); status != STATUS_OK) return status;
  if (Status status = rebuild_free_space(); status != STATUS_OK) return status;
  mounted_ = true;
  return STATUS_OK;
}

Status Volume::replay() {
  u64 base = half_offset(superblock_.active_half);
  u64 half_bytes = superblock_.half_blocks * BLOCK_BYTES;
  u64 window_start = 0;
  u64 window_length = 0;
  u64 position = 0;
  next_record_ = 1;
  auto load = [&](u64 at) -> Status {
    window_start = at;
    window_length = half_bytes - at < SCRATCH_BYTES ? half_bytes - at : SCRATCH_BYTES;
    return device_.read(base + window_start, scratch_, window_length);
  };
  while (position + SECTOR_BYTES <= half_bytes) {
    if (position + SECTOR_BYTES > window_start + window_length)
      if (Status status = load(position); status != STATUS_OK) return status;
    RecordHeader header;
    copy_bytes(&header, scratch_ + (position - window_start), HEADER_BYTES);
    if (header.magic != RECORD_MAGIC || header.volume_id != superblock_.volume_id || header.epoch != superblock_.epoch ||
        header.sequence != next_record_ || header.length < SECTOR_BYTES || header.length % SECTOR_BYTES != 0 ||
        header.length > MAX_RECORD_BYTES || header.length > half_bytes - position)
      break;  // The end of the log: an unwritten, stale or torn record.
    if (position + header.length > window_start + window_length)
      if (Status status = load(position); status != STATUS_OK) return status;
    u8* record = scratch_ + (position - window_start);
    if (record_checksum(record, header.length) != header.checksum) break;  // Torn: fall back to what came before.
    if (Status status = apply(header, record + HEADER_BYTES, header.length - HEADER_BYTES); status != STATUS_OK)
      return status;
    position += header.length;
    ++next_record_;
  }
  journal_used_ = position;
  return STATUS_OK;
}

Status Volume::apply(const RecordHeader& header, const u8* payload, u64 payload_bytes) {
  // A record whose checksum holds but whose content does not make sense was written so by a bug
  // or by someone else: the catalog is not trusted beyond it.
  if (header.kind == RECORD_DELETE) {
    DeleteRecord record;
    if (payload_bytes < sizeof record) return STATUS_CORRUPT;
    copy_bytes(&record, payload, sizeof record);
    if (record.name[NAME_BYTES - 1] != '\0' || !valid_name(record.name)) return STATUS_CORRUPT;
    bool found = false;
    u64 index = find_index(record.name, found);
    if (!found) return STATUS_CORRUPT;
    free_entry(entries_[index]);
    entries_.erase(index);
    return STATUS_OK;
  }
  if (header.kind != RECORD_ADD) return STATUS_CORRUPT;
  AddRecord record;
  if (payload_bytes < sizeof record) return STATUS_CORRUPT;
  copy_bytes(&record, payload, sizeof record);
  if (record.name[NAME_BYTES - 1] != '\0' || !valid_name(record.name) || record.digest[DIGEST_BYTES - 1] != '\0' ||
      !valid_digest(record.digest) || record.size > MAX_BLOB_BYTES || record.extent_count > MAX_EXTENTS_PER_BLOB ||
      payload_bytes < sizeof record + u64{record.extent_count} * sizeof(Extent))
    return STATUS_CORRUPT;
  auto* entry = static_cast<Entry*>(memory_.allocate(sizeof(Entry)));
  Extent* extents = record.extent_count == 0
                        ? nullptr
                        : static_cast<Extent*>(memory_.allocate(record.extent_count * sizeof(Extent)));
  if (entry == nullptr || (record.extent_count != 0 && extents == nullptr)) {
    if (entry != nullptr) memory_.release(entry, sizeof(Entry));
    if (extents != nullptr) memory_.release(extents, record.extent_count * sizeof(Extent));
    return STATUS_OUT_OF_MEMORY;
  }
  copy_bytes(extents, payload + sizeof record, record.extent_count * sizeof(Extent));
  u64 blocks = 0;
  bool sane = true;
  for (u32 index = 0; index < record.extent_count; ++index) {
    const Extent& extent = extents[index];
    if (extent.blocks == 0 || extent.start < superblock_.data_start || extent.start >= superblock_.total_blocks ||
        extent.blocks > superblock_.total_blocks - extent.start)
      sane = false;
    blocks += extent.blocks;
  }
  copy_bytes(entry->name, record.name, NAME_BYTES);
  copy_bytes(entry->digest, record.digest, DIGEST_BYTES);
  entry->size = record.size;
  entry->sequence = record.entry_sequence;
  entry->checksum = record.data_checksum;
  entry->extent_count = record.extent_count;
  entry->extents = extents;
  if (!sane || blocks != blocks_for(record.size)) {
    free_entry(entry);
    return STATUS_CORRUPT;
  }
  if (record.entry_sequence >= next_entry_sequence_) next_entry_sequence_ = record.entry_sequence + 1;
  Status status = insert_entry(entry);
  if (status != STATUS_OK) free_entry(entry);
  return status;
}

Status Volume::insert_entry(Entry* entry) {
  bool found = false;
  u64 index = find_index(entry->name, found);
  if (found) return STATUS_CORRUPT;  // Two ADDs of one name without a DELETE between.
  return entries_.insert(index, entry) ? STATUS_OK : STATUS_OUT_OF_MEMORY;
}

Status Volume::rebuild_free_space() {
  Vector<Extent> used(memory_);
  for (u64 index = 0; index < entries_.size(); ++index) {
    const Entry& entry = *entries_[index];
    for (u32 piece = 0; piece < entry.extent_count; ++piece)
      if (!used.push_back(entry.extents[piece])) return STATUS_OUT_OF_MEMORY;
  }
  sort_extents(used);
  // Overlapping extents (two blobs claiming one block) make build() report CORRUPT.
  return free_.build(superblock_.data_start, superblock_.total_blocks, used);
}

u64 Volume::find_index(const char* name, bool& found) const {
  u64 low = 0;
  u64 high = entries_.size();
  while (low < high) {
    u64 middle = (low + high) / 2;
    int order = compare_text(entries_[middle]->name, name);
    if (order == 0) {
      found = true;
      return middle;
    }
    if (order < 0)
      low = middle + 1;
    else
      high = middle;
  }
  found = false;
  return low;
}

const Entry* Volume::find(const char* name) const {
  bool found = false;
  u64 index = find_index(name, found);
  return found ? entries_[index] : nullptr;
}

bool Volume::name_pending(const char* name) const {
  for (u64 index = 0; index < writers_.size(); ++index)
    if (compare_text(writers_[index]->name, name) == 0) return true;
  return false;
}

void Volume::free_entry(Entry* entry) {
  if (entry->extents != nullptr) memory_.release(entry->extents, entry->extent_count * sizeof(Extent));
  memory_.release(entry, sizeof(Entry));
}

u64 Volume::record_bytes(u64 payload_bytes) const { return round_up(HEADER_BYTES + payload_bytes, SECTOR_BYTES); }

Status Volume::begin(const char* name, const char* digest, u64 size_hint, Writer*& writer) {
  writer = nullptr;
  if (!mounted_) return STATUS_NO_DISK;
  if (failed_) return STATUS_IO_ERROR;
  if (!valid_name(name) || !valid_digest(digest)) return STATUS_BAD_REQUEST;
  if (find(name) != nullptr || name_pending(name)) return STATUS_NAME_TAKEN;
  u64 blocks = 0;
  if (size_hint != UNKNOWN_SIZE) {
    if (size_hint > MAX_BLOB_BYTES) return STATUS_TOO_LARGE;
    blocks = blocks_for(size_hint);
    if (blocks > free_.free_blocks()) return STATUS_NO_SPACE;
  }
  auto* created = static_cast<Writer*>(memory_.allocate(sizeof(Writer)));
  if (created == nullptr) return STATUS_OUT_OF_MEMORY;
  fill_bytes(created, 0, sizeof(Writer));
  set_text(created->name, name);
  set_text(created->digest, digest);
  created->checksum_state = crc32c_start();
  if (!writers_.push_back(created)) {
    memory_.release(created, sizeof(Writer));
    return STATUS_OUT_OF_MEMORY;
  }
  if (blocks != 0)
    if (Status status = reserve(created, blocks); status != STATUS_OK) {
      end_writer(created, true);
      return status;
    }
  writer = created;
  return STATUS_OK;
}

Status Volume::reserve(Writer* writer, u64 blocks) {
  while (blocks > 0) {
    u64 near = 0;
    if (writer->extent_count > 0) {
      const Extent& last = writer->extents[writer->extent_count - 1];
      near = last.start + last.blocks;
    }
    Extent extent = free_.allocate(blocks, near);
    if (extent.blocks == 0) return STATUS_NO_SPACE;
    if (writer->extent_count > 0 && extent.start == near) {
      writer->extents[writer->extent_count - 1].blocks += extent.blocks;
    } else {
      if (writer->extent_count == writer->extent_capacity) {
        u32 capacity = writer->extent_capacity == 0 ? 4 : writer->extent_capacity * 2;
        if (writer->extent_count == MAX_EXTENTS_PER_BLOB) {
          (void)free_.release(extent);
          return STATUS_TOO_FRAGMENTED;
        }
        if (capacity > MAX_EXTENTS_PER_BLOB) capacity = MAX_EXTENTS_PER_BLOB;
        auto* extents = static_cast<Extent*>(memory_.allocate(capacity * sizeof(Extent)));
        if (extents == nullptr) {
          (void)free_.release(extent);
          return STATUS_OUT_OF_MEMORY;
        }
        if (writer->extents != nullptr) {
          copy_bytes(extents, writer->extents, writer->extent_count * sizeof(Extent));
          memory_.release(writer->extents, writer->extent_capacity * sizeof(Extent));
        }
        writer->extents = extents;
        writer->extent_capacity = capacity;
      }
      writer->extents[writer->extent_count++] = extent;
    }
    writer->reserved_blocks += extent.blocks;
    blocks -= extent.blocks;
  }
  return STATUS_OK;
}

Status Volume::write_blocks(Writer* writer, const u8* bytes, u64 blocks) {
  u64 needed = writer->blocks_written + blocks;
  if (needed > writer->reserved_blocks) {
    u64 missing = needed - writer->reserved_blocks;
    u64 growth = writer->reserved_blocks;
    if (growth < MINIMUM_GROWTH_BLOCKS) growth = MINIMUM_GROWTH_BLOCKS;
    if (growth > MAXIMUM_GROWTH_BLOCKS) growth = MAXIMUM_GROWTH_BLOCKS;
    u64 want = missing > growth ? missing : growth;
    if (want > free_.free_blocks()) want = missing;
    if (missing > free_.free_blocks()) return STATUS_NO_SPACE;
    if (Status status = reserve(writer, want); status != STATUS_OK) return status;
  }
  // The file's block `index` lies in the extent where the running sum passes it.
  u64 index = writer->blocks_written;
  u64 skipped = 0;
  for (u32 piece = 0; piece < writer->extent_count && blocks > 0; ++piece) {
    const Extent& extent = writer->extents[piece];
    if (index >= skipped + extent.blocks) {
      skipped += extent.blocks;
      continue;
    }
    u64 within = index - skipped;
    u64 count = extent.blocks - within < blocks ? extent.blocks - within : blocks;
    if (Status status = device_.write((extent.start + within) * BLOCK_BYTES, bytes, count * BLOCK_BYTES);
        status != STATUS_OK)
      return status;
    bytes += count * BLOCK_BYTES;
    blocks -= count;
    index += count;
    writer->blocks_written += count;
    skipped += extent.blocks;
  }
  return STATUS_OK;
}

Status Volume::append(Writer* writer, const void* source, u64 length) {
  const auto* bytes = static_cast<const u8*>(source);
  Status status = STATUS_OK;
  if (failed_) status = STATUS_IO_ERROR;
  if (status == STATUS_OK && (length > MAX_BLOB_BYTES || writer->bytes + length > MAX_BLOB_BYTES))
    status = STATUS_TOO_LARGE;
  if (status == STATUS_OK) {
    writer->checksum_state = crc32c_update(writer->checksum_state, bytes, length);
    writer->bytes += length;
    if (writer->tail_length > 0) {
      u64 take = BLOCK_BYTES - writer->tail_length < length ? BLOCK_BYTES - writer->tail_length : length;
      copy_bytes(writer->tail + writer->tail_length, bytes, take);
      writer->tail_length += static_cast<u32>(take);
      bytes += take;
      length -= take;
      if (writer->tail_length == BLOCK_BYTES) {
        status = write_blocks(writer, writer->tail, 1);
        writer->tail_length = 0;
      }
    }
    if (status == STATUS_OK && length >= BLOCK_BYTES) {
      u64 whole = length / BLOCK_BYTES;
      status = write_blocks(writer, bytes, whole);
      bytes += whole * BLOCK_BYTES;
      length -= whole * BLOCK_BYTES;
    }
    if (status == STATUS_OK && length > 0) {
      copy_bytes(writer->tail + writer->tail_length, bytes, length);
      writer->tail_length += static_cast<u32>(length);
    }
  }
  if (status != STATUS_OK) end_writer(writer, true);
  return status;
}

u64 Volume::build_add(u8* target, const Entry& entry, u64 epoch, u64 sequence) {
  AddRecord record{};
  copy_bytes(record.name, entry.name, NAME_BYTES);
  copy_bytes(record.digest, entry.digest, DIGEST_BYTES);
  record.size = entry.size;
  record.entry_sequence = entry.sequence;
  record.data_checksum = entry.checksum;
  record.extent_count = entry.extent_count;
  u64 payload = sizeof record + u64{entry.extent_count} * sizeof(Extent);
  u64 length = record_bytes(payload);
  fill_bytes(target, 0, length);
  copy_bytes(target + HEADER_BYTES, &record, sizeof record);
  copy_bytes(target + HEADER_BYTES + sizeof record, entry.extents, u64{entry.extent_count} * sizeof(Extent));
  RecordHeader header{RECORD_MAGIC, 0, superblock_.volume_id, epoch, sequence, RECORD_ADD, static_cast<u32>(length)};
  copy_bytes(target, &header, HEADER_BYTES);
  header.checksum = record_checksum(target, length);
  copy_bytes(target, &header, HEADER_BYTES);
  return length;
}

Status Volume::commit(Writer* writer, const Entry** committed) {
  if (committed != nullptr) *committed = nullptr;
  Status status = failed_ ? STATUS_IO_ERROR : STATUS_OK;
  if (status == STATUS_OK && writer->tail_length > 0) {
    fill_bytes(writer->tail + writer->tail_length, 0, BLOCK_BYTES - writer->tail_length);
    status = write_blocks(writer, writer->tail, 1);
    writer->tail_length = 0;
  }
  if (status != STATUS_OK) {
    end_writer(writer, true);
    return status;
  }
  // Give back what was reserved beyond the last written block.
  u64 keep = writer->blocks_written;
  u64 kept = 0;
  u32 pieces = 0;
  for (u32 piece = 0; piece < writer->extent_count; ++piece) {
    Extent& extent = writer->extents[piece];
    if (kept >= keep) {
      (void)free_.release(extent);
      continue;
    }
    if (kept + extent.blocks > keep) {
      (void)free_.release(Extent{extent.start + (keep - kept), extent.blocks - (keep - kept)});
      extent.blocks = keep - kept;
    }
    kept += extent.blocks;
    pieces = piece + 1;
  }
  writer->extent_count = pieces;
  writer->reserved_blocks = keep;

  // Everything the entry will need in memory is taken before anything durable happens.
  auto* entry = static_cast<Entry*>(memory_.allocate(sizeof(Entry)));
  Extent* extents = pieces == 0 ? nullptr : static_cast<Extent*>(memory_.allocate(pieces * sizeof(Extent)));
  if (entry == nullptr || (pieces != 0 && extents == nullptr) || !entries_.reserve(entries_.size() + 1)) {
    if (entry != nullptr) memory_.release(entry, sizeof(Entry));
    if (extents != nullptr) memory_.release(extents, pieces * sizeof(Extent));
    end_writer(writer, true);
    return STATUS_OUT_OF_MEMORY;
  }
  copy_bytes(entry->name, writer->name, NAME_BYTES);
  copy_bytes(entry->digest, writer->digest, DIGEST_BYTES);
  entry->size = writer->bytes;
  entry->sequence = next_entry_sequence_;
  entry->checksum = crc32c_finish(writer->checksum_state);
  entry->extent_count = pieces;
  entry->extents = extents;
  if (pieces != 0) copy_bytes(extents, writer->extents, pieces * sizeof(Extent));

  // The bytes are durable before the record that names them.
  status = device_.flush();
  if (status == STATUS_OK) {
    u64 length = build_add(record_, *entry, 0, 0);
    status = append_record(RECORD_ADD, length - HEADER_BYTES);
  }
  if (status != STATUS_OK) {
    free_entry(entry);
    end_writer(writer, true);
    return status;
  }
  ++next_entry_sequence_;
  bool found = false;
  u64 index = find_index(entry->name, found);
  (void)entries_.insert(index, entry);  // Cannot fail: reserved above.
  end_writer(writer, false);               // Its extents now belong to the entry.
  if (committed != nullptr) *committed = entry;
  return STATUS_OK;
}

Status Volume::append_record(u32 kind, u64 payload_bytes) {
  u64 length = record_bytes(payload_bytes);
  u64 half_bytes = superblock_.half_blocks * BLOCK_BYTES;
  if (journal_used_ + length > half_bytes)
    if (Status status = compact(length); status != STATUS_OK) return status;
  fill_bytes(record_ + HEADER_BYTES + payload_bytes, 0, length - HEADER_BYTES - payload_bytes);
  RecordHeader header{RECORD_MAGIC, 0, superblock_.volume_id, superblock_.epoch, next_record_, kind,
                      static_cast<u32>(length)};
  copy_bytes(record_, &header, HEADER_BYTES);
  header.checksum = record_checksum(record_, length);
  copy_bytes(record_, &header, HEADER_BYTES);
  Status status = device_.write(half_offset(superblock_.active_half) + journal_used_, record_, length);
  if (status == STATUS_OK) status = device_.flush();
  if (status != STATUS_OK) {
    // The record may or may not be on disk: nothing more is changed until a mount decides.
    failed_ = true;
    return status;
  }
  journal_used_ += length;
  ++next_record_;
  return STATUS_OK;
}

Status Volume::compact(u64 reserve_bytes, const Entry* left_out) {
  u64 target_half = 1 - superblock_.active_half;
  u64 base = half_offset(target_half);
  u64 half_bytes = superblock_.half_blocks * BLOCK_BYTES;
  u64 epoch = nonce_();
  if (epoch == superblock_.epoch) ++epoch;
  u64 position = 0;  // Bytes of the new half written so far.
  u64 filled = 0;    // Bytes waiting in scratch_.
  u64 sequence = 1;
  for (u64 index = 0; index < entries_.size(); ++index) {
    const Entry& entry = *entries_[index];
    if (&entry == left_out) continue;
    u64 length = record_bytes(sizeof(AddRecord) + u64{entry.extent_count} * sizeof(Extent));
    if (position + filled + length + reserve_bytes > half_bytes) return STATUS_CATALOG_FULL;
    if (filled + length > SCRATCH_BYTES) {
      if (Status status = device_.write(base + position, scratch_, filled); status != STATUS_OK) return status;
      position += filled;
      filled = 0;
    }
    filled += build_add(scratch_ + filled, entry, epoch, sequence++);
  }
  // A zero sector after the snapshot ends the log even if the half held records before.
  if (position + filled + reserve_bytes < half_bytes) {
    fill_bytes(scratch_ + filled, 0, SECTOR_BYTES);
    if (Status status = device_.write(base + position, scratch_, filled + SECTOR_BYTES); status != STATUS_OK)
      return status;
  } else if (filled > 0) {
    if (Status status = device_.write(base + position, scratch_, filled); status != STATUS_OK) return status;
  }
  position += filled;
  if (Status status = device_.flush(); status != STATUS_OK) return status;
  Superblock next = superblock_;
  next.generation = superblock_.generation + 1;
  next.active_half = target_half;
  next.epoch = epoch;
  if (Status status = write_superblock(next); status != STATUS_OK) {
    failed_ = true;  // Which superblock a mount will choose is unknown now.
    return status;
  }
  superblock_ = next;
  journal_used_ = position;
  next_record_ = sequence;
  return STATUS_OK;
}

Status Volume::write_superblock(const Superblock& superblock) {
  Superblock written = superblock;
  written.checksum = superblock_checksum(written);
  u8 sector[SECTOR_BYTES] = {};
  copy_bytes(sector, &written, sizeof written);
  if (Status status = device_.write((written.generation % 2) * BLOCK_BYTES, sector, SECTOR_BYTES); status != STATUS_OK)
    return status;
  return device_.flush();
}

void Volume::abort(Writer* writer) { end_writer(writer, true); }

void Volume::end_writer(Writer* writer, bool release_extents) {
  if (release_extents)
    for (u32 piece = 0; piece < writer->extent_count; ++piece) (void)free_.release(writer->extents[piece]);
  if (writer->extents != nullptr) memory_.release(writer->extents, writer->extent_capacity * sizeof(Extent));
  for (u64 index = 0; index < writers_.size(); ++index)
    if (writers_[index] == writer) {
      writers_.erase(index);
      break;
    }
  memory_.release(writer, sizeof(Writer));
}

Status Volume::remove(const char* name) {
  if (!mounted_) return STATUS_NO_DISK;
  if (failed_) return STATUS_IO_ERROR;
  bool found = false;
  u64 index = find_index(name, found);
  if (!found) return STATUS_NOT_FOUND;
  Entry* entry = entries_[index];
  DeleteRecord record{};
  copy_bytes(record.name, entry->name, NAME_BYTES);
  if (journal_used_ + record_bytes(sizeof record) > superblock_.half_blocks * BLOCK_BYTES) {
    // A full half: the new snapshot simply leaves the entry out, so a delete works even when
    // the catalog could not take one more record.
    if (Status status = compact(0, entry); status != STATUS_OK) return status;
  } else {
    copy_bytes(record_ + HEADER_BYTES, &record, sizeof record);
    if (Status status = append_record(RECORD_DELETE, sizeof record); status != STATUS_OK) return status;
  }
  for (u32 piece = 0; piece < entry->extent_count; ++piece) (void)free_.release(entry->extents[piece]);
  entries_.erase(index);
  free_entry(entry);
  return STATUS_OK;
}

Status Volume::read(const Entry& entry, u64 offset, void* target, u64 length) {
  if (offset % BLOCK_BYTES != 0 || offset > entry.size) return STATUS_BAD_REQUEST;
  u64 end = offset + length > entry.size ? entry.size : offset + length;
  u64 first = offset / BLOCK_BYTES;
  u64 blocks = blocks_for(end) - first;
  auto* bytes = static_cast<u8*>(target);
  u64 skipped = 0;
  for (u32 piece = 0; piece < entry.extent_count && blocks > 0; ++piece) {
    const Extent& extent = entry.extents[piece];
    if (first >= skipped + extent.blocks) {
      skipped += extent.blocks;
      continue;
    }
    u64 within = first - skipped;
    u64 count = extent.blocks - within < blocks ? extent.blocks - within : blocks;
    if (Status status = device_.read((extent.start + within) * BLOCK_BYTES, bytes, count * BLOCK_BYTES);
        status != STATUS_OK)
      return status;
    bytes += count * BLOCK_BYTES;
    blocks -= count;
    first += count;
    skipped += extent.blocks;
  }
  return STATUS_OK;
}

VolumeFigures Volume::figures() const {
  VolumeFigures figures{};
  figures.disk_bytes = device_.size();
  if (!mounted_) return figures;
  figures.data_bytes = (superblock_.total_blocks - superblock_.data_start) * BLOCK_BYTES;
  figures.free_bytes = free_.free_blocks() * BLOCK_BYTES;
  figures.entries = entries_.size();
  figures.catalog_bytes = superblock_.half_blocks * BLOCK_BYTES;
  figures.catalog_used_bytes = journal_used_;
  figures.writers = writers_.size();
  return figures;
}

}  // namespace store
