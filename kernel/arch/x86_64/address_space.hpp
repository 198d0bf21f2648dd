// User address spaces: x86-64 four-level page tables whose upper half is shared with the kernel.
// Invariant: only these functions write user page-table entries; a user entry never maps a page
// both writable and executable, and never maps anything at or above USER_SPACE_END.
#pragma once

#include "arch/x86_64/cpu_local.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace arch {
using namespace klib;

struct PageRights {
  bool writable;
  bool executable;
  bool uncached = false;  // Device registers.
};

// Supplies zeroed frames for page tables and takes them back; allocate fails with
// QuotaExceeded when the quota is spent and OutOfMemory when the machine has no frame left.
struct TableFrameSource {
  Result<u64> (*allocate)(void* context);
  void (*release)(void* context, u64 frame);
  void* context;
};

u64 kernel_page_table_root();
// A new root whose upper half is the kernel's; root_frame must be a zeroed frame.
void address_space_init(u64 root_frame);
[[nodiscard]] Result<void> address_space_map(u64 root, u64 address, u64 physical, PageRights rights,
                                             const TableFrameSource& tables);
// Removes the mapping at address (if any) and flushes it from this CPU's TLB; other CPUs keep
// stale entries until address_space_flush_remote(root).
void address_space_unmap(u64 root, u64 address);
// The same for every page of [start, end) (page aligned), walking the tables once per page table.
void address_space_unmap_range(u64 root, u64 start, u64 end);
// Every other CPU drops root's cached translations (TLB shootdown); root stays in use.
void address_space_flush_remote(u64 root);
// Every other CPU drops all cached user translations, of whichever root it runs on: one batched
// shootdown after unmapping pages from many address spaces.
void address_space_flush_remote_all();
// Every other CPU stops using root altogether: its tables are about to be freed.
void address_space_leave_remote(u64 root);
// Frees every lower-half page table through tables.release (not the root itself).
void address_space_release_tables(u64 root, const TableFrameSource& tables);
void address_space_switch(u64 root);
// Loads root into CR3 unless it is there already (the common case costs one compare).
inline void address_space_activate(u64 root) {
  if (this_cpu().active_root != root) address_space_switch(root);
}
// If root is active on this CPU, switches to the kernel's own tables.
void address_space_deactivate(u64 root);
bool address_space_translate(u64 root, u64 address, u64& physical);

}  // namespace arch
