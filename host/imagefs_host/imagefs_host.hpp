// Host-side backing for imagefs::Writer in the host tools (mkimagefs, metteagle-import): an arena
// over malloc and a sink into a stdio file. Invariant: the arena frees its blocks only when it ends.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "imagefs/writer.hpp"

namespace imagefs_host {

class HeapArena final : public imagefs::Arena {
 public:
  HeapArena() = default;
  HeapArena(const HeapArena&) = delete;
  HeapArena& operator=(const HeapArena&) = delete;
  ~HeapArena() {
    for (void* block : blocks_) std::free(block);
  }
  void* allocate(imagefs::u64 bytes) override {
    void* block = std::aligned_alloc(16, (bytes + 15) & ~imagefs::u64{15});
    if (block != nullptr) blocks_.push_back(block);
    return block;
  }

 private:
  std::vector<void*> blocks_;
};

class FileSink final : public imagefs::Sink {
 public:
  explicit FileSink(std::FILE* file) : file_(file) {}
  bool write(const void* bytes, imagefs::u64 length) override { return std::fwrite(bytes, 1, length, file_) == length; }

 private:
  std::FILE* file_;
};

}  // namespace imagefs_host
