// The store's image importer (docs/IMAGES.md, "Images in the store"): an ImportSession streams an
// archive through imagefs::Importer, keeping each of the archive's files in a spool blob on the
// disk (DiskSpool) as it arrives, and at COMMIT builds the packed tree in memory of its own
// (ImportArena), writes it and the image record as blobs, and deletes the spool.
// Invariants: a session's spool blobs and arena are gone when it ends, whatever the outcome; an
// image's record is committed only after its tree is, so every record names a complete tree
// (clean_images removes what an interrupted import or delete left).
#pragma once

#include "heap.hpp"
#include "imagefs/import/importer.hpp"
#include "layout/volume.hpp"
#include "store/image.hpp"
#include "store/protocol.hpp"
#include "sys/sys.hpp"

namespace store {

// A bump allocator over one lazily committed Memory of the store's factory, mapped at a window of
// its own: pages are committed (charged) as the bump pointer passes them, so an exhausted quota
// is a nullptr (the importer's TreeFailed), never a fault; end() gives every page back at once.
class ImportArena final : public imagefs::Arena {
 public:
  [[nodiscard]] bool start(sys::Factory factory, sys::Task self, sys::SlotAllocator& slots, u64 window, u64 bytes);
  void* allocate(u64 bytes) override;
  void end();
  u64 committed_bytes() const { return committed_; }

 private:
  sys::Task self_{};
  sys::SlotAllocator* slots_ = nullptr;
  u64 slot_ = 0;
  u64 window_ = 0;
  u64 capacity_ = 0;
  u64 used_ = 0;
  u64 committed_ = 0;
};

// The importer's BlobSpool on the disk: blob n of session s is the catalog entry
// "spool+<s>+<n>", written as the archive streams in, committed once complete, read back in
// blocks through a 64 KiB cache.
class DiskSpool final : public imagefs::BlobSpool {
 public:
  static constexpr u32 MAX_BLOBS = 256;

  DiskSpool(Volume& volume, u64 session) : volume_(volume), session_(session) {}
  bool create(u64 size, imagefs::BlobId& blob) override;
  bool write(imagefs::BlobId blob, u64 offset, const void* bytes, u64 length) override;
  bool read(imagefs::BlobId blob, u64 offset, void* bytes, u64 length) override;
  // Aborts blobs being written and deletes committed ones.
  void discard();
  void set_cache(u8* cache) { cache_ = cache; }

 private:
  struct Blob {
    Writer* writer;    // Until complete.
    u64 size;
    u64 written;
    bool committed;
  };
  void blob_name(u32 index, char (&name)[NAME_BYTES]) const;

  Volume& volume_;
  u64 session_;
  Blob blobs_[MAX_BLOBS] = {};
  u32 count_ = 0;
  u8* cache_ = nullptr;  // CACHE_BYTES from the session's arena.
  u32 cache_blob_ = ~0u;
  u64 cache_offset_ = 0;
  u64 cache_length_ = 0;
};

struct ImportSession {
  u64 id;
  u64 tenant;
  char requested[NAME_BYTES];  // Normalised reference, or "" for the archive's own name.
  ImportArena arena;
  DiskSpool* spool;            // In the arena.
  imagefs::Importer* importer; // In the arena.
  u64 bytes;                   // Archive bytes so far.
};

// What an ended import says: OK with the reply, or IMPORT_FAILED (or another status) with the
// failure's code and message for the reply words.
struct ImportOutcome {
  Status status;
  u64 code;
  char message[IMPORT_MESSAGE_BYTES];
  ImportReply reply;
};

struct ImportResources {
  sys::Factory factory;
  sys::Task self;
  sys::SlotAllocator& slots;
  u64 (*nonce)();
};

// Starts a session (its arena at `window`); nullptr when memory for it is lacking.
ImportSession* begin_import(Volume& volume, Heap& heap, const ImportResources& resources, u64 window, u64 tenant,
                            const char* requested);
// Feeds archive bytes: OK, or IMPORT_FAILED (outcome filled; the caller ends the session).
Status feed_import(ImportSession& session, const u8* bytes, u64 length, ImportOutcome& outcome);
// Finishes: the tree and the record are written (outcome.reply), or the failure is in outcome.
// `tree_open(name)` says whether a blob is open (an image in use cannot be replaced).
Status finish_import(Volume& volume, ImportSession& session, u64 (*nonce)(), bool (*tree_open)(void*, const char*),
                     void* context, ImportOutcome& outcome);
// Ends a session: its spool and arena go.
void end_import(Heap& heap, ImportSession* session);

// Reads an image record's header from the disk; false when it is not a valid record.
bool read_image_header(Volume& volume, const Entry& entry, ImageRecord& header);
// At mount: deletes every spool blob and every tree no record names (an interrupted import or
// delete); returns how many blobs went.
u64 clean_images(Volume& volume, Heap& heap);

}  // namespace store
