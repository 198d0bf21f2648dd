// The invocation's file store (file_store.hpp): its Memory, its lock and its heap.
// Invariants: the_store is null until the Memory is mapped and its header committed; the heap
// hands out power-of-two blocks whose pages are committed before the caller sees them; a free
// block of a page or more holds no frames (given back to the memory limit) except its first
// page, which chains it; the lock depth counts this process's nested guards (state_lock() keeps
// its other threads out, so the count needs no atomics).
#include "file_store.hpp"

#include "process.hpp"

namespace personality {
namespace {

StoreHeader* the_store = nullptr;
u32 depth = 0;         // This process's nested StoreGuards (under state_lock()).
u64 mapped_bytes = 0;  // The store's first bytes this process maps (fork gives them to the child).

constexpr u64 STORE_PAGES = FILE_STORE_BYTES / PAGE;
constexpr u64 HEADER_BYTES = page_up(sizeof(StoreHeader));
constexpr u64 MIN_BLOCK_SHIFT = 5;  // 32 bytes.
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

// Maps the store up to `end` (an address in it) in this process, in pieces that double; false
// when the kernel refuses (the memory limit: a mapping record is charged).
bool map_to(u64 slot, u64 end) {
  u64 needed = page_up(end - FILE_STORE_ADDRESS);
  while (mapped_bytes < needed) {
    u64 next = mapped_bytes * 2 > needed ? mapped_bytes * 2 : needed;
    if (next > FILE_STORE_BYTES) next = FILE_STORE_BYTES;
    if (native_map(manager::FUNCTION_TASK, slot, mapped_bytes / PAGE, FILE_STORE_ADDRESS + mapped_bytes,
                   (next - mapped_bytes) / PAGE, READ_WRITE) != sys::Error::None)
      return false;
    mapped_bytes = next;
  }
  return true;
}

u32 shift_of(u64 bytes) {
  u32 shift = MIN_BLOCK_SHIFT;
  while ((u64{1} << shift) < bytes) ++shift;
  return shift;
}

// MemoryDecommit of whole pages [start, end): their frames go back to the memory limit.
void decommit(u64 start, u64 end) {
  u64 page = (start - FILE_STORE_ADDRESS) / PAGE, stop = (end - FILE_STORE_ADDRESS) / PAGE;
  while (page < stop) {
    sys::SyscallRegisters registers{page, stop - page, 0, 0, 0, 0};
    if (sys::invoke(abi::Syscall::MemoryDecommit, the_store->memory_slot, registers) != sys::Error::None) return;
    page = registers.argument1;
  }
}

}  // namespace

StoreHeader* store() { return the_store; }

bool store_prepare_fork() {
  if (!store_init()) return false;
  // The child maps what this process maps (as one piece), and grows it as this one does.
  for (usize i = 0; i < shared_mapping_count; ++i)
    if (shared_mappings[i].address == FILE_STORE_ADDRESS) {
      shared_mappings[i].pages = mapped_bytes / PAGE;
      return true;
    }
  if (shared_mapping_count >= MAX_SHARED_MAPPINGS) return false;
  shared_mappings[shared_mapping_count++] =
      SharedMapping{FILE_STORE_ADDRESS, mapped_bytes / PAGE, the_store->memory_slot, READ_WRITE};
  return true;
}

bool store_commit(u64 address, u64 bytes) {
  if (bytes == 0) return true;
  u64 slot = the_store != nullptr ? the_store->memory_slot : 0;
  u64 page = (page_down(address) - FILE_STORE_ADDRESS) / PAGE;
  u64 stop = (page_up(address + bytes) - FILE_STORE_ADDRESS) / PAGE;
  while (page < stop) {
    sys::SyscallRegisters registers{page, stop - page, 0, 0, 0, 0};
    if (sys::invoke(abi::Syscall::MemoryCommit, slot, registers) != sys::Error::None) return false;
    page = registers.argument1;
  }
  return true;
}

bool store_init() {
  if (the_store != nullptr) return true;
  u64 slot = allocate_slot();
  if (slot == 0) return false;
  bool made = native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY, static_cast<u64>(abi::ObjectType::Memory),
                     slot, STORE_PAGES, abi::MEMORY_LAZY) == sys::Error::None;
  // The header is written by the personality at once: mapped, and its frames given first.
  mapped_bytes = 0;
  bool mapped = made && map_to(slot, FILE_STORE_ADDRESS + STORE_HEAP_OFFSET);
  for (u64 page = 0; mapped && page < HEADER_BYTES / PAGE;) {
    sys::SyscallRegisters registers{page, HEADER_BYTES / PAGE - page, 0, 0, 0, 0};
    mapped = sys::invoke(abi::Syscall::MemoryCommit, slot, registers) == sys::Error::None;
    page = registers.argument1;
  }
  if (!mapped) {
    if (mapped_bytes > 0) (void)native_unmap(manager::FUNCTION_TASK, FILE_STORE_ADDRESS, mapped_bytes / PAGE);
    mapped_bytes = 0;
    if (made) (void)native(abi::Syscall::CapabilityDelete, slot);
    free_slot(slot);
    return false;
  }
  auto* header = reinterpret_cast<StoreHeader*>(FILE_STORE_ADDRESS);
  header->memory_slot = slot;  // Fresh pages: everything else is zero.
  header->heap_next = FILE_STORE_ADDRESS + STORE_HEAP_OFFSET;
  the_store = header;
  return true;
}

u64 store_allocate(u64 bytes, u64& capacity) {
  if (the_store == nullptr || bytes == 0 || bytes > FILE_STORE_BYTES / 2) return 0;
  u32 shift = shift_of(bytes);
  u64 size = u64{1} << shift;
  u64 block = the_store->free_blocks[shift];
  if (block != 0) {
    // A free block keeps only its first page (its link); the rest is committed again.
    if (!store_commit(block, size)) return 0;
    the_store->free_blocks[shift] = *reinterpret_cast<u64*>(block);
  } else {
    u64 alignment = size < PAGE ? size : PAGE;
    u64 start = (the_store->heap_next + alignment - 1) & ~(alignment - 1);
    if (start + size > FILE_STORE_ADDRESS + FILE_STORE_BYTES || start + size < start) return 0;
    if (!map_to(the_store->memory_slot, start + size) || !store_commit(start, size)) return 0;
    the_store->heap_next = start + size;
    block = start;
  }
  capacity = size;
  return block;
}

void store_free(u64 address, u64 capacity) {
  if (address == 0 || capacity == 0) return;
  u32 shift = shift_of(capacity);
  if (capacity > PAGE) decommit(address + PAGE, address + capacity);  // Zero when taken again.
  memset(reinterpret_cast<void*>(address), 0, capacity < PAGE ? capacity : PAGE);
  *reinterpret_cast<u64*>(address) = the_store->free_blocks[shift];
  the_store->free_blocks[shift] = address;
}

void store_enter() {
  if (the_store == nullptr) return;
  if (depth++ > 0) return;
  the_store->lock.lock();
  // Another process may have grown the store: this one maps it before it looks (a refusal, the
  // memory limit at its last bytes, leaves the new part unmapped: what lies there faults).
  if (mapped_bytes < the_store->heap_next - FILE_STORE_ADDRESS)
    (void)map_to(the_store->memory_slot, the_store->heap_next);
}

void store_leave() {
  if (the_store == nullptr || depth == 0) return;
  if (--depth == 0) the_store->lock.unlock();
}

u32 store_suspend() {
  u32 held = depth;
  if (the_store != nullptr && held > 0) {
    depth = 0;
    the_store->lock.unlock();
  }
  return held;
}

void store_resume(u32 held) {
  if (the_store == nullptr || held == 0) return;
  store_enter();
  depth = held;
}

u64 store_entry(StoreTable table, u32 index, u64 entry_bytes, u64 chunk_bytes, bool create) {
  u64 per_chunk = chunk_bytes / entry_bytes;
  u64 chunk = index / per_chunk;
  if (the_store == nullptr || chunk >= STORE_MAX_CHUNKS) return 0;
  u64& address = the_store->chunks[table][chunk];
  if (address == 0) {
    if (!create) return 0;
    u64 capacity = 0;
    address = store_allocate(chunk_bytes, capacity);  // Zero: fresh or freed pages.
    if (address == 0) return 0;
  }
  return address + (index % per_chunk) * entry_bytes;
}

PipeEntry* store_pipe(u32 index, bool create) {
  return reinterpret_cast<PipeEntry*>(store_entry(PIPE_TABLE, index, sizeof(PipeEntry), PAGE, create));
}

}  // namespace personality
