// The store's image importer: sessions over imagefs::Importer with the archive spooled on the disk,
// the tree built in a session arena and written as a blob with its image record (import.hpp).
#include "import.hpp"

#include <new>

#include "imagefs/import/writer_tree_sink.hpp"
#include "imagefs/writer.hpp"

namespace store {
namespace {

using namespace sys;

constexpr u64 COMMIT_STEP = 1 << 20;     // The arena commits at least this much at a time.
constexpr u64 CACHE_BYTES = 1 << 20;     // The spool's read cache (a multiple of BLOCK_BYTES).
constexpr u64 SINK_PIECE = 4ull << 20;   // The tree goes to the volume in pieces of at most this.

u64 round_up(u64 value, u64 unit) { return (value + unit - 1) / unit * unit; }

// Appends text to `out` (capacity bytes, always NUL-terminated).
class Text {
 public:
  Text(char* out, u64 capacity) : out_(out), capacity_(capacity) { out_[0] = '\0'; }
  Text& add(const char* text) {
    for (u64 i = 0; text[i] != '\0'; ++i) put(text[i]);
    return *this;
  }
  Text& number(u64 value) {
    char digits[24];
    u64 count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (count > 0) put(digits[--count]);
    return *this;
  }

 private:
  void put(char c) {
    if (length_ + 1 >= capacity_) return;
    out_[length_++] = c;
    out_[length_] = '\0';
  }
  char* out_;
  u64 capacity_;
  u64 length_ = 0;
};

void hex_name(const char* prefix, u64 value, u64 suffix, bool with_suffix, char (&name)[NAME_BYTES]) {
  fill_bytes(name, 0, NAME_BYTES);
  u64 at = 0;
  for (u64 i = 0; prefix[i] != '\0'; ++i) name[at++] = prefix[i];
  for (int shift = 60; shift >= 0; shift -= 4) name[at++] = "0123456789abcdef"[(value >> shift) & 15];
  if (!with_suffix) return;
  name[at++] = '+';
  char digits[24];
  u64 count = 0;
  do {
    digits[count++] = static_cast<char>('0' + suffix % 10);
    suffix /= 10;
  } while (suffix != 0);
  while (count > 0) name[at++] = digits[--count];
}

bool starts_with(const char* text, const char* prefix) {
  for (u64 i = 0; prefix[i] != '\0'; ++i)
    if (text[i] != prefix[i]) return false;
  return true;
}

void fail(ImportOutcome& outcome, Status status, u64 code, const char* message) {
  outcome.status = status;
  outcome.code = code;
  Text(outcome.message, sizeof outcome.message).add(message);
}

// The packed tree, streamed into a volume writer.
class VolumeSink final : public imagefs::Sink {
 public:
  VolumeSink(Volume& volume, Writer* writer) : volume_(volume), writer_(writer) {}
  bool write(const void* bytes, u64 length) override {
    const auto* source = static_cast<const u8*>(bytes);
    while (length > 0 && status_ == STATUS_OK) {
      u64 piece = length < SINK_PIECE ? length : SINK_PIECE;
      status_ = volume_.append(writer_, source, piece);  // A failure ends the writer.
      source += piece;
      length -= piece;
    }
    return status_ == STATUS_OK;
  }
  Status status() const { return status_; }

 private:
  Volume& volume_;
  Writer* writer_;
  Status status_ = STATUS_OK;
};

}  // namespace

bool ImportArena::start(Factory factory, Task self, SlotAllocator& slots, u64 window, u64 bytes) {
  auto slot = slots.allocate();
  if (!slot.ok()) return false;
  u64 pages = bytes / PAGE_SIZE;
  auto memory = factory.create_lazy_memory(slot.value(), pages);
  if (!memory.ok() || !self.map(memory.value(), 0, window, pages, memory_rights(true, true, false)).ok()) {
    if (memory.ok()) (void)Capability(slot.value()).remove();
    slots.free(slot.value());
    return false;
  }
  self_ = self;
  slots_ = &slots;
  slot_ = slot.value();
  window_ = window;
  capacity_ = pages * PAGE_SIZE;
  used_ = committed_ = 0;
  return true;
}

void* ImportArena::allocate(u64 bytes) {
  u64 start = round_up(used_, 16);
  if (slot_ == 0 || bytes > capacity_ || start > capacity_ - bytes) return nullptr;
  u64 end = start + (bytes == 0 ? 1 : bytes);
  if (end > committed_) {
    u64 target = round_up(end, PAGE_SIZE);
    if (target - committed_ < COMMIT_STEP) target = committed_ + COMMIT_STEP < capacity_ ? committed_ + COMMIT_STEP : capacity_;
    if (!Memory(slot_).commit(committed_ / PAGE_SIZE, (target - committed_) / PAGE_SIZE).ok()) return nullptr;
    committed_ = target;
  }
  used_ = end;
  return reinterpret_cast<void*>(window_ + start);
}

void ImportArena::end() {
  if (slot_ == 0) return;
  (void)self_.unmap(window_, capacity_ / PAGE_SIZE);
  (void)Capability(slot_).remove();  // Every page goes back to the store's factory.
  slots_->free(slot_);
  slot_ = 0;
  used_ = committed_ = capacity_ = 0;
}

void DiskSpool::blob_name(u32 index, char (&name)[NAME_BYTES]) const { hex_name("spool+", session_, index, true, name); }

bool DiskSpool::create(u64 size, imagefs::BlobId& blob) {
  if (count_ == MAX_BLOBS) return false;
  char name[NAME_BYTES];
  blob_name(count_, name);
  Writer* writer = nullptr;
  if (volume_.begin(name, "", size, writer) != STATUS_OK) return false;  // NO_SPACE: it cannot fit.
  Blob& entry = blobs_[count_];
  entry = Blob{writer, size, 0, false};
  if (size == 0) {
    entry.writer = nullptr;
    if (volume_.commit(writer) != STATUS_OK) return false;
    entry.committed = true;
  }
  blob = count_++;
  return true;
}

bool DiskSpool::write(imagefs::BlobId blob, u64 offset, const void* bytes, u64 length) {
  if (blob >= count_) return false;
  Blob& entry = blobs_[blob];
  if (entry.writer == nullptr || offset != entry.written || length > entry.size - entry.written) return false;
  if (volume_.append(entry.writer, bytes, length) != STATUS_OK) {
    entry.writer = nullptr;  // The volume ended it and took its blocks back.
    return false;
  }
  entry.written += length;
  if (entry.written < entry.size) return true;
  Writer* writer = entry.writer;
  entry.writer = nullptr;
  if (volume_.commit(writer) != STATUS_OK) return false;
  entry.committed = true;
  return true;
}

bool DiskSpool::read(imagefs::BlobId blob, u64 offset, void* bytes, u64 length) {
  if (blob >= count_ || !blobs_[blob].committed || offset > blobs_[blob].size || length > blobs_[blob].size - offset)
    return false;
  auto* target = static_cast<u8*>(bytes);
  const Entry* entry = nullptr;
  while (length > 0) {
    bool hit = cache_blob_ == blob && offset >= cache_offset_ && offset < cache_offset_ + cache_length_;
    if (!hit) {
      if (entry == nullptr) {
        char name[NAME_BYTES];
        blob_name(blob, name);
        entry = volume_.find(name);
        if (entry == nullptr) return false;
      }
      u64 aligned = offset / CACHE_BYTES * CACHE_BYTES;
      u64 size = blobs_[blob].size - aligned < CACHE_BYTES ? blobs_[blob].size - aligned : CACHE_BYTES;
      cache_blob_ = ~0u;
      if (volume_.read(*entry, aligned, cache_, size) != STATUS_OK) return false;
      cache_blob_ = blob;
      cache_offset_ = aligned;
      cache_length_ = size;
    }
    u64 within = offset - cache_offset_;
    u64 take = cache_length_ - within < length ? cache_length_ - within : length;
    copy_bytes(target, cache_ + within, take);
    target += take;
    offset += take;
    length -= take;
  }
  return true;
}

void DiskSpool::discard() {
  for (u32 index = 0; index < count_; ++index) {
    Blob& entry = blobs_[index];
    if (entry.writer != nullptr) volume_.abort(entry.writer);
    if (entry.committed) {
      char name[NAME_BYTES];
      blob_name(index, name);
      (void)volume_.remove(name);  // A failure leaves it to clean_images at the next mount.
    }
    entry = Blob{};
  }
  count_ = 0;
  cache_blob_ = ~0u;
}

ImportSession* begin_import(Volume& volume, Heap& heap, const ImportResources& resources, u64 window, u64 tenant,
                            const char* requested) {
  auto* session = static_cast<ImportSession*>(heap.allocate(sizeof(ImportSession)));
  if (session == nullptr) return nullptr;
  new (session) ImportSession{};
  session->id = resources.nonce();
  session->tenant = tenant;
  copy_bytes(session->requested, requested, NAME_BYTES);
  // The arena's address space is that of one lazily committed Memory; the factory's quota is
  // the real bound (an exhausted one is TreeFailed, "out of memory").
  if (!session->arena.start(resources.factory, resources.self, resources.slots, window,
                            metteagle::abi::LAZY_MAX_PAGES * PAGE_SIZE)) {
    heap.release(session, sizeof(ImportSession));
    return nullptr;
  }
  void* spool_memory = session->arena.allocate(sizeof(DiskSpool));
  void* cache = session->arena.allocate(CACHE_BYTES);
  void* importer_memory = session->arena.allocate(sizeof(imagefs::Importer));
  if (spool_memory == nullptr || cache == nullptr || importer_memory == nullptr) {
    session->arena.end();
    heap.release(session, sizeof(ImportSession));
    return nullptr;
  }
  session->spool = new (spool_memory) DiskSpool(volume, session->id);
  session->spool->set_cache(static_cast<u8*>(cache));
  // The archive's files and the unpacked layers may take what the disk has free now (the tree
  // needs about the unpacked bytes again once the spool is gone): a layer bomb stops there.
  u64 free_bytes = volume.figures().free_bytes;
  imagefs::ImportLimits limits;
  limits.max_archive_bytes = free_bytes;
  limits.max_archive_entries = DiskSpool::MAX_BLOBS;
  limits.max_unpacked_bytes = free_bytes;
  session->importer = new (importer_memory) imagefs::Importer(session->arena, *session->spool, limits);
  return session;
}

Status feed_import(ImportSession& session, const u8* bytes, u64 length, ImportOutcome& outcome) {
  imagefs::ImportError error = session.importer->feed(bytes, length);
  session.bytes += length;
  if (error == imagefs::ImportError::None) return STATUS_OK;
  fail(outcome, STATUS_IMPORT_FAILED, static_cast<u64>(error), session.importer->message());
  return outcome.status;
}

namespace {

// The record's bytes in the arena: header, then the strings.
u8* build_record(imagefs::Arena& arena, const imagefs::ImageConfig& config, const char* tree, u64 tree_bytes,
                 u64& length) {
  u64 strings = imagefs::string_length(config.working_dir) + 1 + imagefs::string_length(config.user) + 1;
  auto add_list = [&strings](const imagefs::StringList& list) {
    for (u32 i = 0; i < list.count; ++i) strings += imagefs::string_length(list.items[i]) + 1;
  };
  add_list(config.entrypoint);
  add_list(config.cmd);
  add_list(config.env);
  length = sizeof(ImageRecord) + strings;
  if (length > MAX_IMAGE_RECORD_BYTES) return nullptr;
  auto* bytes = static_cast<u8*>(arena.allocate(length));
  if (bytes == nullptr) return nullptr;
  ImageRecord header{};
  header.magic = IMAGE_RECORD_MAGIC;
  header.record_bytes = length;
  header.tree_bytes = tree_bytes;
  header.unpacked_bytes = config.unpacked_bytes;
  copy_bytes(header.tree, tree, NAME_BYTES);
  Text(header.digest, sizeof header.digest).add(config.digest);
  Text(header.created, sizeof header.created).add(config.created);
  header.flags = (config.has_entrypoint ? IMAGE_HAS_ENTRYPOINT : 0) | (config.has_cmd ? IMAGE_HAS_CMD : 0);
  header.entrypoint_count = config.entrypoint.count;
  header.cmd_count = config.cmd.count;
  header.env_count = config.env.count;
  header.layers = config.layers;
  header.strings_bytes = static_cast<u32>(strings);
  copy_bytes(bytes, &header, sizeof header);
  u64 at = sizeof header;
  auto put = [&bytes, &at](const char* text) {
    u64 size = imagefs::string_length(text) + 1;
    copy_bytes(bytes + at, text, size);
    at += size;
  };
  put(config.working_dir);
  put(config.user);
  for (u32 i = 0; i < config.entrypoint.count; ++i) put(config.entrypoint.items[i]);
  for (u32 i = 0; i < config.cmd.count; ++i) put(config.cmd.items[i]);
  for (u32 i = 0; i < config.env.count; ++i) put(config.env.items[i]);
  return bytes;
}

Status write_blob(Volume& volume, const char* name, const char* digest, const u8* bytes, u64 length) {
  Writer* writer = nullptr;
  if (Status status = volume.begin(name, digest, length, writer); status != STATUS_OK) return status;
  if (length > 0)
    if (Status status = volume.append(writer, bytes, length); status != STATUS_OK) return status;
  return volume.commit(writer);
}

}  // namespace

Status finish_import(Volume& volume, ImportSession& session, u64 (*nonce)(), bool (*is_open)(void*, const char*),
                     void* context, ImportOutcome& outcome) {
  auto* writer_memory = session.arena.allocate(sizeof(imagefs::Writer));
  if (writer_memory == nullptr) {
    fail(outcome, STATUS_IMPORT_FAILED, static_cast<u64>(imagefs::ImportError::TreeFailed), "out of memory for the image tree");
    return outcome.status;
  }
  auto* tree = new (writer_memory) imagefs::Writer(session.arena);
  imagefs::WriterTreeSink sink(*tree);
  imagefs::ImageConfig config;
  imagefs::ImportError error = session.importer->finish(sink, config);
  session.spool->discard();  // The tree is in memory now; the disk space goes to it.
  if (error != imagefs::ImportError::None) {
    fail(outcome, STATUS_IMPORT_FAILED, static_cast<u64>(error), session.importer->message());
    return outcome.status;
  }

  char reference[NAME_BYTES];
  if (session.requested[0] != '\0') {
    copy_bytes(reference, session.requested, NAME_BYTES);
  } else if (config.name[0] == '\0') {
    fail(outcome, STATUS_IMPORT_FAILED, IMPORT_NO_NAME,
         "the archive names no image (no org.opencontainers.image.ref.name annotation or RepoTags); give one with ?name=NAME:TAG");
    return outcome.status;
  } else if (!normalise_image_name(config.name, imagefs::string_length(config.name), reference)) {
    outcome.status = STATUS_IMPORT_FAILED;
    outcome.code = IMPORT_BAD_NAME;
    Text(outcome.message, sizeof outcome.message)
        .add("the archive's image name is not a valid reference (1-100 bytes of [A-Za-z0-9._/:@-]): ")
        .add(config.name);
    return outcome.status;
  }
  char record_name[NAME_BYTES];
  image_record_name(session.tenant, reference, record_name);

  // An image of the same name is replaced, unless a deployed function uses it.
  const Entry* existing = volume.find(record_name);
  ImageRecord old{};
  bool replace = existing != nullptr && read_image_header(volume, *existing, old);
  if (existing != nullptr && (is_open(context, record_name) || (replace && is_open(context, old.tree)))) {
    outcome.status = STATUS_IMPORT_FAILED;
    outcome.code = IMPORT_IN_USE;
    Text(outcome.message, sizeof outcome.message)
        .add("image ").add(reference).add(" is in use by a deployed function; remove the function first");
    return outcome.status;
  }

  char tree_name[NAME_BYTES];
  do hex_name("tree+", nonce(), 0, false, tree_name);
  while (volume.find(tree_name) != nullptr);
  u64 packed = tree->packed_size();
  Writer* blob = nullptr;
  Status status = volume.begin(tree_name, config.digest, packed, blob);
  if (status == STATUS_NO_SPACE || status == STATUS_TOO_LARGE) {
    outcome.status = STATUS_IMPORT_FAILED;
    outcome.code = IMPORT_NO_SPACE;
    Text(outcome.message, sizeof outcome.message)
        .add("the image's packed tree (").number(packed).add(" bytes) does not fit the store's free space (")
        .number(volume.figures().free_bytes).add(" bytes)");
    return outcome.status;
  }
  if (status != STATUS_OK) {
    fail(outcome, status, 0, "the store could not write the image tree");
    return status;
  }
  VolumeSink tree_sink(volume, blob);
  imagefs::WriterStatus written = tree->finish(tree_sink);
  if (!written.ok) {
    if (tree_sink.status() == STATUS_OK) volume.abort(blob);  // Else the volume ended it already.
    Status failure = tree_sink.status() == STATUS_OK ? STATUS_OUT_OF_MEMORY : tree_sink.status();
    fail(outcome, failure, 0, "the store could not write the image tree");
    return failure;
  }
  const Entry* committed = nullptr;
  if (status = volume.commit(blob, &committed); status != STATUS_OK) {
    fail(outcome, status, 0, "the store could not commit the image tree");
    return status;
  }
  u64 record_length = 0;
  const u8* record = build_record(session.arena, config, tree_name, committed->size, record_length);
  if (record == nullptr) {
    (void)volume.remove(tree_name);
    fail(outcome, STATUS_IMPORT_FAILED, static_cast<u64>(imagefs::ImportError::LimitExceeded),
         "the image configuration (entrypoint, command, environment) exceeds 64 KiB");
    return outcome.status;
  }
  if (existing != nullptr) (void)volume.remove(record_name);
  status = write_blob(volume, record_name, config.digest, record, record_length);
  if (status != STATUS_OK) {
    (void)volume.remove(tree_name);
    fail(outcome, status, 0, "the store could not write the image record");
    return status;
  }
  if (replace) (void)volume.remove(old.tree);
  outcome.status = STATUS_OK;
  outcome.reply = ImportReply{};
  outcome.reply.tree_bytes = packed;
  outcome.reply.record_bytes = record_length;
  Text(outcome.reply.digest, sizeof outcome.reply.digest).add(config.digest);
  copy_bytes(outcome.reply.name, reference, NAME_BYTES);
  return STATUS_OK;
}

void end_import(Heap& heap, ImportSession* session) {
  if (session == nullptr) return;
  if (session->spool != nullptr) session->spool->discard();
  session->arena.end();
  heap.release(session, sizeof(ImportSession));
}

bool read_image_header(Volume& volume, const Entry& entry, ImageRecord& header) {
  if (entry.size < sizeof(ImageRecord) || entry.size > MAX_IMAGE_RECORD_BYTES) return false;
  alignas(16) static u8 block[BLOCK_BYTES];  // One thread serves the store.
  u64 length = entry.size < BLOCK_BYTES ? entry.size : BLOCK_BYTES;
  if (volume.read(entry, 0, block, length) != STATUS_OK) return false;
  copy_bytes(&header, block, sizeof header);
  return header.magic == IMAGE_RECORD_MAGIC && header.record_bytes == entry.size && header.tree[NAME_BYTES - 1] == 0 &&
         header.digest[sizeof header.digest - 1] == 0 && header.created[sizeof header.created - 1] == 0;
}

u64 clean_images(Volume& volume, Heap& heap) {
  struct Name {
    char text[NAME_BYTES];
  };
  Vector<Name> referenced(heap);
  Vector<Name> doomed(heap);
  for (u64 index = 0; index < volume.entry_count(); ++index) {
    const Entry& entry = volume.entry_at(index);
    ImageRecord header{};
    if (starts_with(entry.name, "image+") && read_image_header(volume, entry, header)) {
      Name name{};
      copy_bytes(name.text, header.tree, NAME_BYTES);
      if (!referenced.push_back(name)) return 0;  // No memory: leave everything as it is.
    }
  }
  for (u64 index = 0; index < volume.entry_count(); ++index) {
    const Entry& entry = volume.entry_at(index);
    bool orphan = starts_with(entry.name, "spool+");
    if (starts_with(entry.name, "tree+")) {
      orphan = true;
      for (u64 i = 0; i < referenced.size(); ++i)
        if (compare_text(referenced[i].text, entry.name) == 0) orphan = false;
    }
    if (!orphan) continue;
    Name name{};
    copy_bytes(name.text, entry.name, NAME_BYTES);
    if (!doomed.push_back(name)) return 0;
  }
  u64 removed = 0;
  for (u64 i = 0; i < doomed.size(); ++i)
    if (volume.remove(doomed[i].text) == STATUS_OK) ++removed;
  return removed;
}

}  // namespace store
