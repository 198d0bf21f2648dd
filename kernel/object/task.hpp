// Task: an address space and a capability space.
// Invariants: slot s lives at slot_chunks[s / SLOT_CHUNK][s % SLOT_CHUNK], and a chunk that is null
// holds only empty slots (it is made when a slot in it is first filled, and never freed before the
// task); slot 0 is always empty (selector 0 names nothing); every thread of the task is
// on `threads` and every mapping into it in `mappings`, a tree ordered by address in which no two
// mappings overlap; page_table_root's upper half is the kernel's, its lower half only ever holds
// this task's mappings; once address_space_left is set (destruction), no CPU runs on its tables.
#pragma once

#include "lib/result.hpp"

#include "arch/x86_64/address_space.hpp"

#include "object/kernel_object.hpp"
#include "object/memory.hpp"
#include "object/thread.hpp"

namespace kernel {

constexpr u64 MAX_TASK_SLOTS = 65536;
// Slots per chunk: one page of them (51 of 80 bytes), so a chunk is one charged frame.
constexpr u64 SLOT_CHUNK = PAGE_SIZE / sizeof(Capability);
// Directory entries kept in the task object itself: 408 slots (a function's 128 among them) need no
// directory allocation.
constexpr u64 INLINE_SLOT_CHUNKS = 8;
constexpr u64 slot_chunk_count(u64 slot_count) { return (slot_count + SLOT_CHUNK - 1) / SLOT_CHUNK; }

struct Task {
  KernelObject header;
  u64 page_table_root = 0;   // Physical address of the PML4.
  u64 page_table_pages = 0;  // Lower-half page-table pages, charged to the factory.
  // The capability space, a two-level table: a directory of chunks of SLOT_CHUNK slots. A task
  // of up to SLOT_CHUNK slots has one chunk, a heap block made with the task (slot_table_bytes
  // is its charge); a larger one has page chunks made on first fill (make_slot_chunk), and a
  // directory inline here when INLINE_SLOT_CHUNKS entries suffice, otherwise made with the task
  // (slot_table_bytes is then the directory's charge, else 0). Chunks never move, so capability
  // links into them stay valid.
  Capability** slot_chunks = inline_slot_chunks;
  Capability* inline_slot_chunks[INLINE_SLOT_CHUNKS] = {};
  u64 slot_count = 0;
  usize slot_table_bytes = 0;
  u64 slot_chunk_pages = 0;  // Page chunks made so far, each charged PAGE_SIZE to the factory.
  u64 slots_deleted = 0;     // Destruction has emptied every slot below this one.
  IntrusiveList<Thread, &Thread::task_node> threads;
  IntrusiveTree<Mapping, &Mapping::task_node, &Mapping::address> mappings;
  bool address_space_left = false;  // Destruction moved every CPU off page_table_root.
};

// The inline directory must not push the task object into a larger heap class (it is charged on
// every function invocation).
static_assert(sizeof(Task) <= 256, "a task object stays in the 256-byte heap class");

struct Factory;
[[nodiscard]] Result<Task*> create_task(Factory* factory, u64 slot_count);
// Destroys task in steps: false, with work at the step's limit, when it must go on later.
[[nodiscard]] bool destroy_task(Task& task, u64& work);
// Makes chunk (null until now) of a task with more than SLOT_CHUNK slots: one frame of empty slots,
// charged to the task's factory (QuotaExceeded, or OutOfMemory when the machine has no frame).
[[nodiscard]] Result<Capability*> make_slot_chunk(Task& task, u64 chunk);
// Page-table frames of a task, charged to its factory.
arch::TableFrameSource table_source(Task& task);

}  // namespace kernel
