// SlotAllocator: hands out empty slots of the caller's capability space.
// Invariant: a slot is handed out at most once until freed, and only slots in [first, limit) are
// ever handed out; the allocator trusts that nobody else fills slots in that range.
#pragma once

#include "sys/types.hpp"

namespace sys {

class SlotAllocator {
 public:
  static constexpr u64 MAX_SLOTS = 4096;

  // Manages [first, limit); limit is clamped to MAX_SLOTS.
  SlotAllocator(u64 first, u64 limit);

  [[nodiscard]] Result<u64> allocate();
  void free(u64 slot);
  u64 free_count() const;

 private:
  static constexpr u64 WORDS = MAX_SLOTS / 64;
  u64 first_;
  u64 limit_;
  u64 next_hint_;
  u64 used_[WORDS] = {};
};

}  // namespace sys
