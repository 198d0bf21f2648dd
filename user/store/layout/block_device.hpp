// store::BlockDevice: what the store's on-disk layout needs from a disk. The guest's virtio-blk
// driver implements it, host tests a file. Invariant: offsets and lengths are multiples of
// SECTOR_BYTES and lie within size(); a write is durable only after a later flush() succeeds.
#pragma once

#include "store/protocol.hpp"
#include "memory.hpp"

namespace store {

constexpr u64 SECTOR_BYTES = 512;

class BlockDevice {
 public:
  virtual u64 size() const = 0;  // Bytes, a multiple of SECTOR_BYTES.
  virtual Status read(u64 offset, void* target, u64 length) = 0;
  virtual Status write(u64 offset, const void* source, u64 length) = 0;
  virtual Status flush() = 0;

 protected:
  ~BlockDevice() = default;
};

}  // namespace store
