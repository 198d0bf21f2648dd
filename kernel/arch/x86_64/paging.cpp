// Kernel page tables: direct map of physical memory at PHYSMAP_BASE and the kernel image in
// the top 2 GiB with per-section rights.
// Invariant: after paging_init no page is both writable and executable in the kernel half,
// and the lower half (user space) of the kernel's own PML4 is empty.
#include "arch/x86_64/address_space.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/page_table.hpp"
#include "arch/x86_64/platform.hpp"

extern "C" char __text_start[], __text_end[], __rodata_start[], __rodata_end[], __data_start[], __data_end[];

namespace arch {

u64 physical_window_base = KERNEL_VIRTUAL_BASE;

namespace {

using page_table::index_at;
using page_table::table_at;

constexpr u64 LARGE_PAGE = 2ull << 20;
// The local APIC, I/O APIC and microvm's virtio-mmio slots all live in the last 32 MiB below 4 GiB.
constexpr u64 DEVICE_WINDOW_START = 0xfe000000;
constexpr u64 DEVICE_WINDOW_END = 0x100000000;

u64 (*allocate_table_frame)() = nullptr;
u64 kernel_pml4_physical = 0;

// Returns the table one level below entry, creating it if absent.
u64* next_table(u64& entry) {
  if ((entry & page_table::PRESENT) == 0) {
    u64 frame = allocate_table_frame();
    u64* table = table_at(frame);
    for (int i = 0; i < 512; ++i) table[i] = 0;
    entry = frame | page_table::PRESENT | page_table::WRITABLE;
  }
  return table_at(entry & page_table::ADDRESS_MASK);
}

void map_large(u64 virtual_address, u64 physical, u64 flags) {
  u64* pml4 = table_at(kernel_pml4_physical);
  u64* pdpt = next_table(pml4[index_at(virtual_address, 3)]);
  u64* pd = next_table(pdpt[index_at(virtual_address, 2)]);
  pd[index_at(virtual_address, 1)] = physical | flags | page_table::LARGE | page_table::PRESENT;
}

void map_small(u64 virtual_address, u64 physical, u64 flags) {
  u64* pml4 = table_at(kernel_pml4_physical);
  u64* pdpt = next_table(pml4[index_at(virtual_address, 3)]);
  u64* pd = next_table(pdpt[index_at(virtual_address, 2)]);
  u64* pt = next_table(pd[index_at(virtual_address, 1)]);
  pt[index_at(virtual_address, 0)] = physical | flags | page_table::PRESENT;
}

void map_kernel_range(const char* start, const char* end, u64 flags) {
  for (u64 address = reinterpret_cast<u64>(start); address < reinterpret_cast<u64>(end); address += PAGE_SIZE)
    map_small(address, address - KERNEL_VIRTUAL_BASE, flags | page_table::GLOBAL);
}

}  // namespace

void paging_init(u64 physical_memory_end, u64 (*allocate_frame)()) {
  allocate_table_frame = allocate_frame;
  kernel_pml4_physical = allocate_frame();
  u64* pml4 = table_at(kernel_pml4_physical);
  for (int i = 0; i < 512; ++i) pml4[i] = 0;

  u64 ram_end = align_up(physical_memory_end, LARGE_PAGE);
  for (u64 physical = 0; physical < ram_end; physical += LARGE_PAGE)
    map_large(PHYSMAP_BASE + physical, physical, page_table::WRITABLE | page_table::NO_EXECUTE | page_table::GLOBAL);
  for (u64 physical = DEVICE_WINDOW_START; physical < DEVICE_WINDOW_END; physical += LARGE_PAGE)
    map_large(PHYSMAP_BASE + physical, physical,
              page_table::WRITABLE | page_table::NO_EXECUTE | page_table::GLOBAL | page_table::CACHE_DISABLE);

  map_kernel_range(__text_start, __text_end, 0);
  map_kernel_range(__rodata_start, __rodata_end, page_table::NO_EXECUTE);
  map_kernel_range(__data_start, __data_end, page_table::WRITABLE | page_table::NO_EXECUTE);

  write_cr3(kernel_pml4_physical);
  physical_window_base = PHYSMAP_BASE;
}

u64 kernel_page_table_root() { return kernel_pml4_physical; }

bool translate(u64 virtual_address, u64& physical, bool& writable, bool& executable) {
  u64 entry = read_cr3() & page_table::ADDRESS_MASK;
  writable = true;
  executable = true;
  for (unsigned level = 3;; --level) {
    u64 value = table_at(entry & page_table::ADDRESS_MASK)[index_at(virtual_address, level)];
    if ((value & page_table::PRESENT) == 0) return false;
    writable = writable && (value & page_table::WRITABLE) != 0;
    executable = executable && (value & page_table::NO_EXECUTE) == 0;
    u64 page_size = 1ull << (12 + 9 * level);
    if (level == 0 || (level < 3 && (value & page_table::LARGE) != 0)) {
      physical = (value & page_table::ADDRESS_MASK & ~(page_size - 1)) | (virtual_address & (page_size - 1));
      return true;
    }
    entry = value;
  }
}

}  // namespace arch
