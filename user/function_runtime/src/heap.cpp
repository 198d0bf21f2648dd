// malloc/free/calloc/realloc over one contiguous heap at FUNCTION_HEAP_ADDRESS that grows by Memory
// objects created from the function's own factory (so the heap is charged to its memory limit).
// Invariant: blocks tile [heap base, top) without gaps; each header holds its size (low bit: in
// use) and the size of the block before it; no two free blocks are neighbours; every free block
// is on the free list; [top, mapped end) is mapped and unused.
#include "function/function.hpp"
#include "sys/factory.hpp"
#include "sys/task.hpp"

namespace {

using sys::u64;
using sys::u8;
using sys::usize;

constexpr u64 HEAP_BASE = manager::FUNCTION_HEAP_ADDRESS;
constexpr u64 HEAP_WINDOW = u64{64} << 30;   // Far below the stack; the memory limit ends growth long before.
constexpr u64 FIRST_CHUNK = u64{64} << 10;
constexpr u64 MAX_CHUNK_PAGES = 65536;       // The kernel's limit on one Memory object.
constexpr u64 HEADER = 16;
constexpr u64 MIN_BLOCK = 32;                // A free block holds two list links after its header.
constexpr u64 USED = 1;

struct Block {
  u64 previous_size;  // Size of the block just below (0 for the first block).
  u64 size_and_used;
  Block* next_free;   // Only while free.
  Block* previous_free;

  u64 size() const { return size_and_used & ~USED; }
  bool used() const { return (size_and_used & USED) != 0; }
};

u64 top = HEAP_BASE;          // First byte not in a block.
u64 top_previous_size = 0;    // Size of the block ending at top.
u64 mapped_end = HEAP_BASE;   // First byte not mapped.
u64 next_chunk = FIRST_CHUNK;
Block* free_list = nullptr;

Block* block_at(u64 address) { return reinterpret_cast<Block*>(address); }
u64 address_of(const Block* block) { return reinterpret_cast<u64>(block); }
u64 pages_for(u64 bytes) { return (bytes + sys::PAGE_SIZE - 1) / sys::PAGE_SIZE; }

void unlink(Block* block) {
  if (block->previous_free != nullptr) block->previous_free->next_free = block->next_free;
  else free_list = block->next_free;
  if (block->next_free != nullptr) block->next_free->previous_free = block->previous_free;
}

void link(Block* block) {
  block->previous_free = nullptr;
  block->next_free = free_list;
  if (free_list != nullptr) free_list->previous_free = block;
  free_list = block;
}

// Records `size` as the previous size of whatever follows the block at `address`.
void set_follower_previous_size(u64 address, u64 size) {
  u64 following = address + size;
  if (following == top) top_previous_size = size;
  else block_at(following)->previous_size = size;
}

// Maps a new Memory object of `pages` pages at mapped_end; false when the factory, the task or
// the capability slots refuse.
bool map_chunk(u64 pages) {
  u64 slot = function_allocate_slot();
  if (slot == 0) return false;
  sys::Factory factory(manager::FUNCTION_FACTORY);
  auto memory = factory.create_memory(slot, pages);
  if (!memory.ok()) {
    function_free_slot(slot);
    return false;
  }
  sys::Task task(manager::FUNCTION_TASK);
  constexpr sys::u32 READ_WRITE = sys::memory_rights(true, true, false);
  if (!task.map(memory.value(), 0, mapped_end, pages, READ_WRITE).ok()) {
    (void)memory.value().remove();
    function_free_slot(slot);
    return false;
  }
  mapped_end += pages * sys::PAGE_SIZE;
  return true;
}

// Extends the mapped heap by at least `bytes`: a doubling chunk first, the bare minimum if the
// memory limit refuses the chunk.
bool grow(u64 bytes) {
  u64 minimum_pages = pages_for(bytes);
  if (minimum_pages > MAX_CHUNK_PAGES || mapped_end - HEAP_BASE + minimum_pages * sys::PAGE_SIZE > HEAP_WINDOW)
    return false;
  u64 chunk_pages = pages_for(next_chunk);
  if (chunk_pages < minimum_pages) chunk_pages = minimum_pages;
  if (chunk_pages > MAX_CHUNK_PAGES) chunk_pages = MAX_CHUNK_PAGES;
  if (map_chunk(chunk_pages)) {
    if (next_chunk < MAX_CHUNK_PAGES * sys::PAGE_SIZE) next_chunk *= 2;
    return true;
  }
  return chunk_pages != minimum_pages && map_chunk(minimum_pages);
}

u64 block_size_for(usize request) {
  u64 size = (static_cast<u64>(request) + HEADER + 15) & ~u64{15};
  return size < MIN_BLOCK ? MIN_BLOCK : size;
}

void* allocate(usize request) {
  if (request > (u64{1} << 40)) return nullptr;
  u64 size = block_size_for(request);
  for (Block* candidate = free_list; candidate != nullptr; candidate = candidate->next_free) {
    if (candidate->size() < size) continue;
    unlink(candidate);
    u64 remainder = candidate->size() - size;
    if (remainder >= MIN_BLOCK) {
      Block* rest = block_at(address_of(candidate) + size);
      rest->previous_size = size;
      rest->size_and_used = remainder;
      set_follower_previous_size(address_of(rest), remainder);
      link(rest);
      candidate->size_and_used = size | USED;
    } else {
      candidate->size_and_used |= USED;
    }
    return reinterpret_cast<u8*>(candidate) + HEADER;
  }
  if (mapped_end - top < size && !grow(size - (mapped_end - top))) return nullptr;
  Block* block = block_at(top);
  block->previous_size = top_previous_size;
  block->size_and_used = size | USED;
  top += size;
  top_previous_size = size;
  return reinterpret_cast<u8*>(block) + HEADER;
}

void release(void* payload) {
  Block* block = block_at(reinterpret_cast<u64>(payload) - HEADER);
  u64 size = block->size();
  block->size_and_used = size;
  u64 following = address_of(block) + size;
  if (following != top && !block_at(following)->used()) {
    unlink(block_at(following));
    size += block_at(following)->size();
  }
  if (block->previous_size != 0) {
    Block* previous = block_at(address_of(block) - block->previous_size);
    if (!previous->used()) {
      unlink(previous);
      size += previous->size();
      block = previous;
    }
  }
  block->size_and_used = size;
  if (address_of(block) + size == top) {
    // Back into the unused tail; the block below is in use (free neighbours merge).
    top = address_of(block);
    top_previous_size = block->previous_size;
    return;
  }
  set_follower_previous_size(address_of(block), size);
  link(block);
}

}  // namespace

extern "C" {

void* malloc(size_t size) { return allocate(size == 0 ? 1 : size); }

void free(void* block) {
  if (block != nullptr) release(block);
}

void* calloc(size_t count, size_t size) {
  if (size != 0 && count > ~size_t{0} / size) return nullptr;
  void* block = malloc(count * size);
  if (block != nullptr) memset(block, 0, count * size);
  return block;
}

void* realloc(void* block, size_t size) {
  if (block == nullptr) return malloc(size);
  if (size == 0) {
    free(block);
    return nullptr;
  }
  u64 capacity = block_at(reinterpret_cast<u64>(block) - HEADER)->size() - HEADER;
  if (capacity >= size) return block;
  void* moved = malloc(size);
  if (moved == nullptr) return nullptr;  // The old block stays valid, as C requires.
  memcpy(moved, block, capacity);
  free(block);
  return moved;
}

}  // extern "C"
