// RecordArena: the manager's growable memory for its registry (function records, executables,
// tenant accounts, hash buckets). Records never move once allocated, so a running invocation may
// keep a pointer to its function; the arena grows by mapping more Memory of the manager's own
// factory after what it has (chunks that double up to 4 MiB, so 10,000 functions take about ten
// capability slots), and freed records go to a free list of their size class for reuse.
// Invariant: every record handed out lies in mapped, zero-initialised memory of at least its size
// class; the caller holds the registry lock for every call.
#pragma once

#include "sys/sys.hpp"

namespace manager {

using sys::u64;
using sys::usize;

class RecordArena {
 public:
  // The arena's window of address space: [base, base + span), mapped as it grows.
  void configure(u64 base, u64 span) {
    base_ = base;
    mapped_end_ = base;
    cursor_ = base;
    limit_ = base + span;
  }
  // A zeroed record of at least `bytes` (at most MAX_RECORD_BYTES), or null when the manager's
  // factory or the window has no room for more.
  void* allocate(u64 bytes);
  // Gives a record of `bytes` (as allocated) back for reuse.
  void free(void* record, u64 bytes);
  // What a record of `bytes` really takes (its size class).
  static u64 charge(u64 bytes);
  u64 mapped_bytes() const { return mapped_end_ - base_; }

  static constexpr u64 MIN_RECORD_BYTES = 64;
  static constexpr u64 MAX_RECORD_BYTES = 4ull << 20;

 private:
  static constexpr usize CLASSES = 17;  // 64 B ... 4 MiB, powers of two.
  static constexpr u64 FIRST_CHUNK_BYTES = 64ull << 10;
  static usize class_of(u64 bytes);
  bool grow(u64 bytes);

  struct FreeRecord {
    FreeRecord* next;
  };
  FreeRecord* free_lists_[CLASSES] = {};
  u64 base_ = 0;
  u64 mapped_end_ = 0;  // Everything below is mapped.
  u64 cursor_ = 0;      // Never handed out at or above here.
  u64 limit_ = 0;
};

}  // namespace manager
