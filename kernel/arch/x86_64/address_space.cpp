// User address spaces: page-table walks, mapping and unmapping; see address_space.hpp.
#include "arch/x86_64/address_space.hpp"

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/page_table.hpp"
#include "arch/x86_64/platform.hpp"
#include "arch/x86_64/smp.hpp"

namespace arch {
namespace {

using page_table::index_at;
using page_table::table_at;

// Returns the page-table entry for address at level 0, creating tables when tables is given;
// null when a table is missing, or could not be made (then *failure says why).
u64* walk(u64 root, u64 address, const TableFrameSource* tables, Error* failure = nullptr) {
  u64* table = table_at(root);
  for (unsigned level = 3; level > 0; --level) {
    u64& entry = table[index_at(address, level)];
    if ((entry & page_table::PRESENT) == 0) {
      if (tables == nullptr) return nullptr;
      auto made = tables->allocate(tables->context);
      if (!made) {
        if (failure != nullptr) *failure = made.error();
        return nullptr;
      }
      u64 frame = made.value();
      // Intermediate entries allow everything; the leaf entry decides the page's rights.
      entry = frame | page_table::PRESENT | page_table::WRITABLE | page_table::USER;
    }
    table = table_at(entry & page_table::ADDRESS_MASK);
  }
  return &table[index_at(address, 0)];
}

void release_level(u64 table_physical, unsigned level, const TableFrameSource& tables) {
  u64* table = table_at(table_physical);
  for (unsigned index = 0; index < 512; ++index) {
    if ((table[index] & page_table::PRESENT) == 0) continue;
    if (level > 1) release_level(table[index] & page_table::ADDRESS_MASK, level - 1, tables);
    else tables.release(tables.context, table[index] & page_table::ADDRESS_MASK);  // A page table (level 0).
    table[index] = 0;
  }
  if (level < 3) tables.release(tables.context, table_physical);
}

}  // namespace

void address_space_init(u64 root_frame) {
  u64* root = table_at(root_frame);
  u64* kernel_root = table_at(kernel_page_table_root());
  for (unsigned index = 256; index < 512; ++index) root[index] = kernel_root[index];
}

Result<void> address_space_map(u64 root, u64 address, u64 physical, PageRights rights, const TableFrameSource& tables) {
  if (address >= LAYOUT_USER_SPACE_END || !is_aligned(address, PAGE_SIZE)) return Error::InvalidArgument;
  Error failure = Error::None;
  u64* entry = walk(root, address, &tables, &failure);
  if (entry == nullptr) return failure;
  u64 value = physical | page_table::PRESENT | page_table::USER;
  if (rights.writable) value |= page_table::WRITABLE;
  if (!rights.executable || rights.writable) value |= page_table::NO_EXECUTE;
  if (rights.uncached) value |= page_table::CACHE_DISABLE | page_table::WRITE_THROUGH;
  bool was_present = (*entry & page_table::PRESENT) != 0;
  *entry = value;
  if (was_present && (read_cr3() & page_table::ADDRESS_MASK) == root) invalidate_page(address);
  return {};
}

void address_space_unmap(u64 root, u64 address) {
  u64* entry = walk(root, address, nullptr);
  if (entry == nullptr || (*entry & page_table::PRESENT) == 0) return;
  *entry = 0;
  if ((read_cr3() & page_table::ADDRESS_MASK) == root) invalidate_page(address);
}

void address_space_unmap_range(u64 root, u64 start, u64 end) {
  bool active = (read_cr3() & page_table::ADDRESS_MASK) == root;
  constexpr u64 TABLE_SPAN = 512 * PAGE_SIZE;  // What one page table (level 0) maps.
  // Past this many pages one reload of CR3 flushes the task's translations at once, as Linux does
  // past its tlb_single_page_flush_ceiling (33): cheaper than a page-by-page invlpg on hardware,
  // and under QEMU TCG only a whole flush lets the emulated TLB grow to a program's working set.
  constexpr u64 SINGLE_PAGE_FLUSH_CEILING = 32;
  u64 cleared = 0;
  for (u64 address = start; address < end;) {
    u64 table_end = align_down(address, TABLE_SPAN) + TABLE_SPAN;
    u64 stop = end < table_end ? end : table_end;
    // One walk per page table, then its entries in a row.
    u64* entry = walk(root, address, nullptr);
    if (entry == nullptr) {
      address = stop;
      continue;
    }
    for (; address < stop; address += PAGE_SIZE, ++entry) {
      if ((*entry & page_table::PRESENT) == 0) continue;
      *entry = 0;
      if (active && ++cleared <= SINGLE_PAGE_FLUSH_CEILING) invalidate_page(address);
    }
  }
  if (active && cleared > SINGLE_PAGE_FLUSH_CEILING) write_cr3(root);
}

void address_space_release_tables(u64 root, const TableFrameSource& tables) {
  u64* table = table_at(root);
  for (unsigned index = 0; index < 256; ++index) {
    if ((table[index] & page_table::PRESENT) == 0) continue;
    release_level(table[index] & page_table::ADDRESS_MASK, 2, tables);
    table[index] = 0;
  }
}

void address_space_switch(u64 root) {
  CpuLocal& cpu = this_cpu();
  cpu.active_root = root;
  note_active_root(cpu.index, root);
  write_cr3(root);
}

void address_space_flush_remote(u64 root) { shootdown(this_cpu().index, root, false); }
void address_space_flush_remote_all() { shootdown(this_cpu().index, SHOOTDOWN_EVERY_ROOT, false); }
void address_space_leave_remote(u64 root) { shootdown(this_cpu().index, root, true); }

void address_space_deactivate(u64 root) {
  if ((read_cr3() & page_table::ADDRESS_MASK) == root) address_space_activate(kernel_page_table_root());
}

bool address_space_translate(u64 root, u64 address, u64& physical) {
  u64* entry = walk(root, address, nullptr);
  if (entry == nullptr || (*entry & page_table::PRESENT) == 0) return false;
  physical = (*entry & page_table::ADDRESS_MASK) | (address & (PAGE_SIZE - 1));
  return true;
}

}  // namespace arch
