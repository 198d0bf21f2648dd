// BlobSpool: where the importer keeps an archive's files until the manifest says which are the
// configuration and the layers (an archive may list index.json after its blobs). The image store
// backs it with its disk; MemoryBlobSpool keeps blobs in an Arena (host tools and tests).
// Invariant: a blob is created with its final size and read back only inside that size.
#pragma once

#include "imagefs/import/types.hpp"
#include "imagefs/writer.hpp"

namespace imagefs {

using BlobId = u32;

class BlobSpool {
 public:
  // Reserves room for a blob of exactly `size` bytes; false when the spool is full.
  virtual bool create(u64 size, BlobId& blob) = 0;
  // Blob bytes are written in order, each byte once.
  virtual bool write(BlobId blob, u64 offset, const void* bytes, u64 length) = 0;
  virtual bool read(BlobId blob, u64 offset, void* bytes, u64 length) = 0;

 protected:
  ~BlobSpool() = default;
};

class MemoryBlobSpool final : public BlobSpool {
 public:
  static constexpr u32 MAX_BLOBS = 4096;

  // Blobs of at most `capacity_bytes` in all, allocated from `arena`.
  MemoryBlobSpool(Arena& arena, u64 capacity_bytes) : arena_(arena), capacity_(capacity_bytes) {}
  bool create(u64 size, BlobId& blob) override;
  bool write(BlobId blob, u64 offset, const void* bytes, u64 length) override;
  bool read(BlobId blob, u64 offset, void* bytes, u64 length) override;
  u64 used_bytes() const { return used_; }

 private:
  struct Blob {
    u8* bytes;
    u64 size;
  };
  Arena& arena_;
  u64 capacity_;
  u64 used_ = 0;
  Blob blobs_[MAX_BLOBS] = {};
  u32 count_ = 0;
};

}  // namespace imagefs
