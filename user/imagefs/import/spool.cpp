// MemoryBlobSpool: blobs in arena memory, each allocated whole when created.
#include "imagefs/import/spool.hpp"

namespace imagefs {

bool MemoryBlobSpool::create(u64 size, BlobId& blob) {
  if (count_ == MAX_BLOBS || size > capacity_ - used_) return false;
  // An empty blob still gets a distinct, valid slot (no bytes to hold).
  u8* bytes = static_cast<u8*>(arena_.allocate(size == 0 ? 1 : size));
  if (bytes == nullptr) return false;
  used_ += size;
  blobs_[count_] = {bytes, size};
  blob = count_++;
  return true;
}

bool MemoryBlobSpool::write(BlobId blob, u64 offset, const void* bytes, u64 length) {
  if (blob >= count_ || offset > blobs_[blob].size || length > blobs_[blob].size - offset) return false;
  copy_bytes(blobs_[blob].bytes + offset, bytes, length);
  return true;
}

bool MemoryBlobSpool::read(BlobId blob, u64 offset, void* bytes, u64 length) {
  if (blob >= count_ || offset > blobs_[blob].size || length > blobs_[blob].size - offset) return false;
  copy_bytes(bytes, blobs_[blob].bytes + offset, length);
  return true;
}

}  // namespace imagefs
