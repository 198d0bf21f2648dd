// RecordArena: size classes over a window that grows by mapping more Memory; see arena.hpp.
#include "arena.hpp"

#include "service.hpp"

namespace manager {

usize RecordArena::class_of(u64 bytes) {
  usize index = 0;
  for (u64 size = MIN_RECORD_BYTES; size < bytes; size <<= 1) ++index;
  return index;
}

u64 RecordArena::charge(u64 bytes) { return MIN_RECORD_BYTES << class_of(bytes); }

bool RecordArena::grow(u64 bytes) {
  // Chunks double with what is mapped (64 KiB first, 4 MiB at most), and always hold `bytes`.
  u64 chunk = mapped_bytes() < FIRST_CHUNK_BYTES ? FIRST_CHUNK_BYTES : mapped_bytes();
  if (chunk > MAX_RECORD_BYTES) chunk = MAX_RECORD_BYTES;
  while (chunk < bytes) chunk <<= 1;
  if (chunk > limit_ - mapped_end_) return false;
  Manager& state = manager_state();
  auto slot = allocate_global_slot();
  if (!slot) return false;
  auto memory = state.factory.create_memory(slot.value(), chunk / 4096);
  if (memory && state.self
                    .map(memory.value(), 0, mapped_end_, chunk / 4096,
                         sys::abi::rights_of(sys::abi::MemoryRight::Read, sys::abi::MemoryRight::Write))
                    .ok()) {
    // The mapping keeps the Memory alive; the chunk stays for the manager's lifetime, and so
    // does its slot (records in it may be live at any time).
    mapped_end_ += chunk;
    return true;
  }
  if (memory) (void)memory.value().remove();
  free_global_slot(slot.value());
  return false;
}

void* RecordArena::allocate(u64 bytes) {
  if (bytes > MAX_RECORD_BYTES) return nullptr;
  usize index = class_of(bytes);
  u64 size = MIN_RECORD_BYTES << index;
  void* record = nullptr;
  if (free_lists_[index] != nullptr) {
    FreeRecord* head = free_lists_[index];
    free_lists_[index] = head->next;
    record = head;
  } else {
    // Natural alignment for the class (up to 4 KiB), so a record never straddles two chunks'
    // boundaries in an unaligned way that matters; the bump pointer rounds up to it.
    u64 align = size < 4096 ? size : 4096;
    u64 start = (cursor_ + align - 1) & ~(align - 1);
    if (start + size > mapped_end_ && !grow(start + size - mapped_end_)) return nullptr;
    cursor_ = start + size;
    record = reinterpret_cast<void*>(start);
  }
  __builtin_memset(record, 0, size);
  return record;
}

void RecordArena::free(void* record, u64 bytes) {
  if (record == nullptr) return;
  usize index = class_of(bytes);
  auto* node = static_cast<FreeRecord*>(record);
  node->next = free_lists_[index];
  free_lists_[index] = node;
}

}  // namespace manager
