// The invocation's file store (file_store.cpp): one lazy Memory at FILE_STORE_ADDRESS in every
// process of an invocation, holding what Linux keeps once per system rather than per process:
// the writable files and directories (/tmp and the image's writable layer, files.cpp), the open
// file descriptions of files and pipes (so fork and dup share offsets and status flags), the
// pipes and their rings (pipes.cpp), and a heap for file data.
// Invariants: the store changes only under its lock (StoreGuard), which a process takes after
// state_lock() and before the shared state's lock, and never holds while a thread blocks
// (store_suspend/store_resume around every wait); every page the personality writes has its
// frame before it is written (store_commit), so a full memory limit is an error (ENOSPC, ENOMEM,
// ENFILE), never a fault; the store exists from the first file or pipe on (a program that opens
// nothing and never forks pays nothing), and before the first fork, so that every process maps
// the same Memory at the same address. A process maps only the part of the store in use (its
// first `heap_next` bytes, in pieces that double), growing it when it takes the lock: what the
// kernel clears when the invocation ends is what was used, not the 512 MiB of addresses.
#pragma once

#include "personality.hpp"

namespace personality {

constexpr u64 FILE_STORE_ADDRESS = 0x00007d0000000000;
constexpr u64 FILE_STORE_BYTES = u64{512} << 20;  // Addresses only: pages are charged as they are used.

// The tables' limits (docs/LINUX.md, Files): each table's pages are charged as it fills.
constexpr u32 STORE_MAX_NODES = 65536;        // Files, directories and whiteouts of /tmp and the layer.
constexpr u32 STORE_MAX_DESCRIPTIONS = 8192;  // Open file descriptions of files and pipes.
constexpr u32 STORE_MAX_PIPES = 2048;
constexpr u64 PIPE_CAPACITY = 16384;  // Bytes a pipe holds; PIPE_BUF (4096) writes are atomic.
constexpr u64 PIPE_ATOMIC = 4096;
constexpr u32 STORE_HASH_BUCKETS = 4096;  // Directory entries by (directory, name).

// The store's tables grow in chunks taken from its heap (a directory of chunks in the header).
enum StoreTable : u32 { NODE_TABLE, DESCRIPTION_TABLE, PIPE_TABLE, TABLE_COUNT };
constexpr u32 STORE_MAX_CHUNKS = 512;

struct PipeEntry {
  bool used;
  u32 readers, writers;         // Open file descriptions of each end (shared by every process).
  u64 read_total, write_total;  // Bytes ever read and written: the ring's positions.
  u32 waiting;                  // Bit i: process i waits for this pipe (to read or to write).
  u64 ring;                     // Address of its PIPE_CAPACITY bytes in the store's heap.
};

// The store's first page: its lock, the heap's state and each table's high-water mark and free list.
struct StoreHeader {
  SpinLock lock;
  u64 memory_slot;           // The store's Memory (the same slot in every process).
  u64 heap_next;             // The heap's bump pointer (an address in the store).
  u64 free_blocks[40];       // Free heap blocks of 2^i bytes, chained through their first word.
  u32 node_high, node_free;  // Nodes [0, node_high) were used once; node_free: a free one + 1, or 0.
  u32 description_high, description_free;
  u32 pipe_high, pipe_free;
  u32 shadows;                                // Image directories the writable layer has changed (files.cpp).
  u32 buckets[STORE_HASH_BUCKETS];            // Node index + 1 of the first entry in each bucket, or 0.
  u64 chunks[TABLE_COUNT][STORE_MAX_CHUNKS];  // Each table's chunks (heap addresses; 0: none yet).
};
constexpr u64 STORE_HEAP_OFFSET = u64{64} << 10;  // The heap follows the header.
static_assert(sizeof(StoreHeader) <= STORE_HEAP_OFFSET);

// Null until the store exists.
StoreHeader* store();
// Creates the store (its Memory mapped at FILE_STORE_ADDRESS); false when the memory limit
// refuses. Under state_lock(); a refusal is retried at the next call.
bool store_init();
// Before a fork: store_init, and the store listed once with the mappings every child maps alike
// (process.hpp's shared_mappings); false when refused.
bool store_prepare_fork();

// Frames for [address, address + bytes) of the store now; false when the memory limit refuses.
bool store_commit(u64 address, u64 bytes);
// A heap block of at least `bytes` (a power of two, page aligned from a page on), its pages
// committed; its size in `capacity`. 0 when the limit or the store's addresses refuse. Locked.
u64 store_allocate(u64 bytes, u64& capacity);
// Gives a block back (whole pages go back to the memory limit). Locked.
void store_free(u64 address, u64 capacity);

// The store's lock, re-entrant within a process (the dispatcher's state_lock() already keeps the
// process's other threads out): a guard at every entry point that touches the store. Nothing
// when the store does not exist.
void store_enter();
void store_leave();
class StoreGuard {
 public:
  StoreGuard() { store_enter(); }
  ~StoreGuard() { store_leave(); }
  StoreGuard(const StoreGuard&) = delete;
  StoreGuard& operator=(const StoreGuard&) = delete;
};
// Around a wait: gives the lock up however deep the caller holds it, and takes it back.
u32 store_suspend();
void store_resume(u32 depth);

// Entry `index` of `table` (entries of `entry_bytes`, chunks of `chunk_bytes`, a power of two):
// its address; 0 when its chunk does not exist and `create` is false or the memory limit refuses
// it (a new chunk is zero). Locked.
u64 store_entry(StoreTable table, u32 index, u64 entry_bytes, u64 chunk_bytes, bool create);
// The pipe table (pipes.cpp): entry `index`, made when `create`; null as store_entry.
PipeEntry* store_pipe(u32 index, bool create = false);

}  // namespace personality
