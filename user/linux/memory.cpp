// brk, mmap, munmap, mprotect, mremap and madvise over lazy (demand-zero) Memory objects that the
// personality creates from FUNCTION_FACTORY and maps into FUNCTION_TASK: a reservation costs its
// object and a small directory, and each page counts against the function's memory limit from its
// first touch until munmap or madvise(MADV_DONTNEED/MADV_FREE) decommits it, so the limit means
// resident memory, as cgroup memory.max does; a touch past it ends the invocation (memory limit
// exceeded); a refused object is ENOMEM. Two areas grow by chunks (one Memory and one capability
// slot each, doubling from 64 KiB to 256 MiB, or the need when it is larger): the brk area right
// above the program's image and the mmap area at MMAP_BASE.
// Protections (mmap's and mprotect's PROT_NONE, PROT_READ) are a table of page ranges that are not
// read-write. A change unmaps just the pages it changes (TaskUnmap cuts the chunk's mappings there)
// and maps them again as TaskMaps of the chunk's own Memory at their page offset with the rights
// that match (PROT_NONE: not at all), so it costs no Memory object and no capability slot, only the
// kernel's small mapping records (charged to the limit while they exist).
// Invariants: the free ranges of the mmap area are sorted, disjoint, read-write and hold only zero
// bytes (fresh pages are zero; munmap decommits), so an allocation never needs clearing; brk bytes
// above the current break that were used before are zeroed when the break grows over them again;
// the protection table is sorted, disjoint, holds no read-write range and merges touching ranges
// of equal protection except at a chunk's first page (so dropping a chunk's ranges never splits
// one); the kernel maps every page of every chunk with the table's access, or not at all for
// PROT_NONE. Every function here except map_fresh runs under state_lock() (the dispatcher
// takes it).
#include "files.hpp"
#include "image_files.hpp"
#include "personality.hpp"

namespace personality {
namespace {

constexpr u64 MMAP_BASE = 0x0000100000000000;
constexpr u64 MMAP_LIMIT = MMAP_BASE + (u64{64} << 30);
constexpr u64 FIRST_CHUNK_PAGES = 16;
constexpr u64 MAX_CHUNK_PAGES = 65536;  // Lazy: a larger chunk costs no page until touched.
constexpr usize MAX_FREE_RANGES = 128;
constexpr usize MAX_FIXED = 16;
// Where an address hint (mmap without MAP_FIXED) is taken as given: between the areas the
// manager and the personality place things (image, brk, context, input, output below; the mmap
// area and everything else above).
constexpr u64 HINT_LOW = u64{64} << 30;
constexpr u64 HINT_HIGH = MMAP_BASE;

constexpr u64 PROT_READ = 1;
constexpr u64 PROT_WRITE = 2;
constexpr u64 PROT_EXEC = 4;
constexpr usize MAX_CHUNKS = 64;  // One slot each (of FUNCTION_CAPABILITY_SLOTS, which others share).
constexpr usize MAX_PROTECTED = 128;
constexpr u64 MAP_FIXED = 0x10;
constexpr u64 MAP_ANONYMOUS = 0x20;
constexpr u64 MAP_FIXED_NOREPLACE = 0x100000;
constexpr u64 MREMAP_MAYMOVE = 1;
constexpr u64 MREMAP_FIXED = 2;
constexpr u64 MADV_DONTNEED = 4;
constexpr u64 MADV_FREE = 8;

struct Range {
  u64 start, end;
};
struct FixedMapping {
  u64 address, pages, slot;
};
// A Memory the personality mapped for the program (a brk or mmap chunk or a fixed mapping).
struct Chunk {
  u64 address, pages, slot;
};
enum class Access : u8 { None, Read, ReadWrite };
struct Protected {
  u64 start, end;
  Access access;  // Never ReadWrite: what the table does not name is read-write.
};
struct ProtectionMap {
  Protected ranges[MAX_PROTECTED];
  usize count;
};

u64 brk_start = 0, brk_current = 0, brk_high = 0, brk_backed = 0, brk_chunk = FIRST_CHUNK_PAGES;
u64 mmap_backed = MMAP_BASE, mmap_chunk = FIRST_CHUNK_PAGES;
Range free_ranges[MAX_FREE_RANGES];
usize free_count = 0;
FixedMapping fixed[MAX_FIXED];
usize fixed_count = 0;
Chunk chunks[MAX_CHUNKS];
usize chunk_count = 0;
// The protections, and scratch copies (static, not on the small personality stacks; the lock is held).
ProtectionMap protections{}, saved{}, scratch{};

// Copies the ranges in use only: the whole table is 3 KiB, and `rep movsb` costs an instruction
// per byte, which made every mmap(PROT_NONE) and mprotect copy 9 KiB (two thirds of its cost).
void copy_map(ProtectionMap& target, const ProtectionMap& source) {
  memcpy(target.ranges, source.ranges, source.count * sizeof source.ranges[0]);
  target.count = source.count;
}

void add_chunk(u64 address, u64 pages, u64 slot) {
  if (chunk_count < MAX_CHUNKS) chunks[chunk_count++] = Chunk{address, pages, slot};
}
void remove_chunk(u64 slot) {
  for (usize i = 0; i < chunk_count; ++i)
    if (chunks[i].slot == slot) {
      chunks[i] = chunks[--chunk_count];
      return;
    }
}
bool chunk_starts_at(u64 address) {
  for (usize i = 0; i < chunk_count; ++i)
    if (chunks[i].address == address) return true;
  return false;
}

// The access of the page at `address` in `map`, and the run of equal access around it (ignoring
// chunks: callers clip the run to one).
Access access_at(const ProtectionMap& map, u64 address, u64& run_start, u64& run_end) {
  run_start = 0;
  run_end = ~u64{0};
  for (usize i = 0; i < map.count; ++i) {
    const Protected& range = map.ranges[i];
    if (range.end <= address) {
      run_start = range.end;
      continue;
    }
    if (range.start <= address) {
      run_start = range.start;
      run_end = range.end;
      return range.access;
    }
    run_end = range.start;
    break;
  }
  return Access::ReadWrite;
}

bool push_range(ProtectionMap& map, Protected range) {
  if (range.start >= range.end || range.access == Access::ReadWrite) return true;
  if (map.count > 0) {
    Protected& last = map.ranges[map.count - 1];
    if (last.end == range.start && last.access == range.access && !chunk_starts_at(range.start)) {
      last.end = range.end;
      return true;
    }
  }
  if (map.count == MAX_PROTECTED) return false;
  map.ranges[map.count++] = range;
  return true;
}

// Gives [start, end) the access `access` in `map`; false (and `map` unchanged) if the table is full.
bool set_access(ProtectionMap& map, u64 start, u64 end, Access access) {
  scratch.count = 0;
  bool fits = true;
  for (usize i = 0; i < map.count; ++i) {
    const Protected& range = map.ranges[i];
    fits = fits && push_range(scratch, Protected{range.start, range.end < start ? range.end : start, range.access});
  }
  fits = fits && push_range(scratch, Protected{start, end, access});
  for (usize i = 0; i < map.count; ++i) {
    const Protected& range = map.ranges[i];
    fits = fits && push_range(scratch, Protected{range.start > end ? range.start : end, range.end, range.access});
  }
  if (!fits) return false;
  copy_map(map, scratch);
  return true;
}

// The part of [start, end) inside `chunk`.
void clip(const Chunk& chunk, u64 start, u64 end, u64& low, u64& high) {
  u64 chunk_end = chunk.address + chunk.pages * PAGE;
  low = start > chunk.address ? start : chunk.address;
  high = end < chunk_end ? end : chunk_end;
}

// Zero pages again in [start, end) (page aligned): each chunk's Memory gives the pages' frames
// back (MemoryDecommit unmaps them everywhere first), so they cost nothing until touched again
// and then read zero, whatever their protection. Pages of no chunk are left alone.
void decommit(u64 start, u64 end) {
  for (usize i = 0; i < chunk_count; ++i) {
    const Chunk& chunk = chunks[i];
    u64 chunk_end = chunk.address + chunk.pages * PAGE;
    if (chunk.address >= end || chunk_end <= start) continue;
    u64 low = start > chunk.address ? start : chunk.address;
    u64 high = end < chunk_end ? end : chunk_end;
    u64 page = (low - chunk.address) / PAGE;
    u64 stop = (high - chunk.address) / PAGE;
    while (page < stop) {
      sys::SyscallRegisters registers{page, stop - page, 0, 0, 0, 0};
      if (sys::invoke(abi::Syscall::MemoryDecommit, chunk.slot, registers) != sys::Error::None) {
        // Not lazy (it cannot happen for chunks of map_fresh): zero the bytes instead.
        memset(reinterpret_cast<void*>(chunk.address + page * PAGE), 0, (stop - page) * PAGE);
        break;
      }
      page = registers.argument1;
    }
  }
}

// The frames of [start, end) now (MemoryCommit on each chunk there); false at the first refusal.
bool commit_range(u64 start, u64 end) {
  for (usize i = 0; i < chunk_count; ++i) {
    const Chunk& chunk = chunks[i];
    u64 chunk_end = chunk.address + chunk.pages * PAGE;
    if (chunk.address >= end || chunk_end <= start) continue;
    u64 page = ((start > chunk.address ? start : chunk.address) - chunk.address) / PAGE;
    u64 stop = ((end < chunk_end ? end : chunk_end) - chunk.address) / PAGE;
    while (page < stop) {
      sys::SyscallRegisters registers{page, stop - page, 0, 0, 0, 0};
      if (sys::invoke(abi::Syscall::MemoryCommit, chunk.slot, registers) != sys::Error::None) return false;
      page = registers.argument1;
    }
  }
  return true;
}

// Zero bytes in [start, end): the whole pages by decommit, the partial pages at the edges in place
// (the caller made them writable).
void zero_range(u64 start, u64 end) {
  u64 low = page_up(start), high = end & ~(PAGE - 1);
  if (low >= high) {
    memset(reinterpret_cast<void*>(start), 0, end - start);
    return;
  }
  memset(reinterpret_cast<void*>(start), 0, low - start);
  decommit(low, high);
  memset(reinterpret_cast<void*>(high), 0, end - high);
}

// Makes the kernel's mappings of `chunk` in [low, high) the runs of `map`: TaskUnmap cuts whatever
// reaches past the range (the pages around stay mapped, for the threads that use them), then one
// TaskMap per run of the chunk's Memory at the run's page offset, none for PROT_NONE.
bool remap(const Chunk& chunk, u64 low, u64 high, const ProtectionMap& map) {
  constexpr u32 READ = abi::rights_of(abi::MemoryRight::Read);
  constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);
  sys::Error error = native_unmap(manager::FUNCTION_TASK, low, (high - low) / PAGE);
  if (error != sys::Error::None && error != sys::Error::NotFound) return false;  // NotFound: all PROT_NONE.
  for (u64 cursor = low; cursor < high;) {
    u64 run_start, run_end;
    Access access = access_at(map, cursor, run_start, run_end);
    u64 stop = run_end < high ? run_end : high;
    if (access != Access::None &&
        native_map(manager::FUNCTION_TASK, chunk.slot, (cursor - chunk.address) / PAGE, cursor, (stop - cursor) / PAGE,
                   access == Access::Read ? READ : READ_WRITE) != sys::Error::None)
      return false;
    cursor = stop;
  }
  return true;
}

bool overlaps(const Chunk& chunk, u64 start, u64 end) {
  return chunk.address < end && chunk.address + chunk.pages * PAGE > start;
}

// Gives the pages [start, end) of the personality's chunks the access `access`, in the table and in
// the kernel. A refusal (the table full, or the memory limit refusing the kernel's mapping records
// that a split needs) puts everything back as it was and says false.
bool protect(u64 start, u64 end, Access access) {
  copy_map(saved, protections);
  if (!set_access(protections, start, end, access)) return false;
  for (usize i = 0; i < chunk_count; ++i) {
    if (!overlaps(chunks[i], start, end)) continue;
    u64 low, high;
    clip(chunks[i], start, end, low, high);
    if (remap(chunks[i], low, high, protections)) continue;
    for (usize j = 0; j <= i; ++j) {
      if (!overlaps(chunks[j], start, end)) continue;
      clip(chunks[j], start, end, low, high);
      (void)remap(chunks[j], low, high, saved);  // Best effort: a cut charged before may stay.
    }
    copy_map(protections, saved);
    return false;
  }
  return true;
}

// Read-write again where the table says otherwise (the personality is about to write there).
bool make_writable(u64 start, u64 end) {
  return memory_permits(start, end - start, true) || protect(start, end, Access::ReadWrite);
}

Access access_of(u64 protection) {
  if ((protection & PROT_WRITE) != 0) return Access::ReadWrite;  // x86 pages that write also read.
  return (protection & PROT_READ) != 0 ? Access::Read : Access::None;
}

// Grows an area whose backing ends at `end` by at least `need` pages; the pages added, or 0.
u64 grow(u64 end, u64 need, u64& next_chunk) {
  u64 pages = need > next_chunk ? need : next_chunk;
  u64 slot = map_fresh(end, pages);
  if (slot == 0) {
    if (pages == need || (slot = map_fresh(end, need)) == 0) return 0;
    add_chunk(end, need, slot);
    return need;
  }
  add_chunk(end, pages, slot);
  if (next_chunk < MAX_CHUNK_PAGES) next_chunk *= 2;
  return pages;
}

// Marks [start, end) free, merging with touching ranges. A full table leaks the range (it stays
// mapped and charged, just never reused).
void release(u64 start, u64 end) {
  usize kept = 0;
  for (usize i = 0; i < free_count; ++i) {
    Range range = free_ranges[i];
    if (range.end < start || range.start > end) {
      free_ranges[kept++] = range;
    } else {
      start = range.start < start ? range.start : start;
      end = range.end > end ? range.end : end;
    }
  }
  free_count = kept;
  if (free_count == MAX_FREE_RANGES) return;
  usize at = 0;
  while (at < free_count && free_ranges[at].start < start) ++at;
  for (usize i = free_count; i > at; --i) free_ranges[i] = free_ranges[i - 1];
  free_ranges[at] = Range{start, end};
  ++free_count;
}

// Removes [start, end) from the free ranges; false if that would need more table entries.
bool take(u64 start, u64 end) {
  Range result[MAX_FREE_RANGES];
  usize count = 0;
  for (usize i = 0; i < free_count; ++i) {
    Range range = free_ranges[i];
    if (range.end <= start || range.start >= end) {
      if (count == MAX_FREE_RANGES) return false;
      result[count++] = range;
      continue;
    }
    if (range.start < start) {
      if (count == MAX_FREE_RANGES) return false;
      result[count++] = Range{range.start, start};
    }
    if (range.end > end) {
      if (count == MAX_FREE_RANGES) return false;
      result[count++] = Range{end, range.end};
    }
  }
  for (usize i = 0; i < count; ++i) free_ranges[i] = result[i];
  free_count = count;
  return true;
}

bool all_free(u64 start, u64 end) {
  for (usize i = 0; i < free_count; ++i)
    if (free_ranges[i].start <= start && free_ranges[i].end >= end) return true;
  return false;
}

// First fit in the mmap area, growing it when nothing fits; 0 when the limit refuses.
u64 allocate(u64 bytes) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (usize i = 0; i < free_count; ++i) {
      Range& range = free_ranges[i];
      if (range.end - range.start < bytes) continue;
      u64 address = range.start;
      range.start += bytes;
      if (range.start == range.end) {
        for (usize j = i + 1; j < free_count; ++j) free_ranges[j - 1] = free_ranges[j];
        --free_count;
      }
      return address;
    }
    if (attempt == 1) break;
    u64 tail = free_count > 0 && free_ranges[free_count - 1].end == mmap_backed
                   ? free_ranges[free_count - 1].end - free_ranges[free_count - 1].start
                   : 0;
    u64 need = (bytes - tail) / PAGE;
    if (mmap_backed + need * PAGE > MMAP_LIMIT) return 0;
    u64 added = grow(mmap_backed, need, mmap_chunk);
    if (added == 0) return 0;
    release(mmap_backed, mmap_backed + added * PAGE);
    mmap_backed += added * PAGE;
  }
  return 0;
}

bool in_mmap_area(u64 start, u64 end) { return start >= MMAP_BASE && end <= mmap_backed; }
bool in_brk_area(u64 start, u64 end) { return start >= brk_start && end <= brk_backed; }

// Pages the program has mapped in the personality's memory (what mprotect changes): in use in the
// mmap area (no free range among them), below the break in the brk area, or a fixed mapping.
bool mapped_by_program(u64 start, u64 end) {
  if (in_mmap_area(start, end)) {
    for (usize i = 0; i < free_count; ++i)
      if (free_ranges[i].start < end && free_ranges[i].end > start) return false;
    return true;
  }
  if (start >= brk_start && end <= page_up(brk_current)) return true;
  for (usize i = 0; i < fixed_count; ++i)
    if (start >= fixed[i].address && end <= fixed[i].address + fixed[i].pages * PAGE) return true;
  return false;
}

// Memory the program knows, whatever its protection (madvise, mprotect outside the personality's
// areas).
bool known(u64 address, u64 length) { return memory_contains(address, length) || readable(address, length); }

// Page-aligned [address, address + page_up(length)) without overflow, inside user space.
bool page_range(u64 address, u64 length, u64& end) {
  if ((address & (PAGE - 1)) != 0 || length == 0) return false;
  u64 rounded = page_up(length);
  if (rounded < length) return false;
  // Like Linux (TASK_SIZE), nothing is mapped in the last page below the canonical end.
  return !__builtin_add_overflow(address, rounded, &end) && end <= abi::USER_SPACE_USABLE_END;
}


// The fixed mapping that holds all of [start, end), or null.
FixedMapping* fixed_containing(u64 start, u64 end) {
  for (usize i = 0; i < fixed_count; ++i)
    if (start >= fixed[i].address && end <= fixed[i].address + fixed[i].pages * PAGE) return &fixed[i];
  return nullptr;
}

bool overlaps_fixed(u64 start, u64 end) {
  for (usize i = 0; i < fixed_count; ++i)
    if (fixed[i].address < end && fixed[i].address + fixed[i].pages * PAGE > start) return true;
  return false;
}

// A new fixed mapping of [address, address + bytes) with `access`; false (nothing changed) when
// the kernel refuses it (another mapping there, the limit) or the tables are full.
bool map_fixed_new(u64 address, u64 bytes, Access access) {
  if (fixed_count == MAX_FIXED) return false;
  u64 slot = map_fresh(address, bytes / PAGE);
  if (slot == 0) return false;
  fixed[fixed_count++] = FixedMapping{address, bytes / PAGE, slot};
  add_chunk(address, bytes / PAGE, slot);
  if (access != Access::ReadWrite && !protect(address, address + bytes, access)) {
    (void)linux_munmap(address, bytes);
    return false;
  }
  return true;
}

// An address hint taken as Linux takes it: where the range is free. Go's runtime reserves its heap
// arenas at hints (0xc000000000 first) and, given another address, frees it and tries the next of
// 128 hints: that cost 130 mmap and munmap pairs, four fifths of a Go program's start. Only inside
// [HINT_LOW, HINT_HIGH), where neither the manager nor the personality places anything; elsewhere,
// or where anything is mapped, the hint is ignored (the mmap area decides), as Linux may ignore it.
bool map_at_hint(u64 address, u64 bytes, Access access) {
  if ((address & (PAGE - 1)) != 0 || address < HINT_LOW || address > HINT_HIGH || bytes > HINT_HIGH - address)
    return false;
  if (overlaps_fixed(address, address + bytes) || image_mapping_overlaps(address, address + bytes)) return false;
  return map_fixed_new(address, bytes, access);
}

}  // namespace

u64 map_fresh(u64 address, u64 pages) {
  u64 slot = allocate_slot();
  if (slot == 0) return 0;
  constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);
  sys::Error error = native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY,
                            static_cast<u64>(abi::ObjectType::Memory), slot, pages, abi::MEMORY_LAZY);
  if (error == sys::Error::None) {
    error = native_map(manager::FUNCTION_TASK, slot, 0, address, pages, READ_WRITE);
    if (error != sys::Error::None) (void)native(abi::Syscall::CapabilityDelete, slot);
  }
  if (error != sys::Error::None) {
    free_slot(slot);
    return 0;
  }
  return slot;
}

u64 allocate_anonymous(u64 bytes) {
  u64 address = allocate(page_up(bytes));
  // The personality's own structures (lock records, handler stacks) must never fault on the limit.
  if (address != 0 && !commit_range(address, address + page_up(bytes))) {
    decommit(address, address + page_up(bytes));
    release(address, address + page_up(bytes));
    return 0;
  }
  return address;
}

bool commit_pages(u64 start, u64 end) { return commit_range(start, end); }

void memory_init() {
  brk_start = page_up(state().start.image_end);
  brk_current = brk_high = brk_backed = brk_start;
}

bool memory_permits(u64 address, u64 length, bool write) {
  u64 end = address + length;  // The callers checked for overflow.
  for (usize i = 0; i < protections.count; ++i) {
    const Protected& range = protections.ranges[i];
    if (range.start < end && range.end > address && (write || range.access == Access::None)) return false;
  }
  return true;
}

bool memory_contains(u64 address, u64 length) {
  u64 end = address + length;  // The callers checked for overflow.
  if (in_brk_area(address, end) || in_mmap_area(address, end)) return true;
  for (usize i = 0; i < fixed_count; ++i)
    if (address >= fixed[i].address && end <= fixed[i].address + fixed[i].pages * PAGE) return true;
  return false;
}

i64 linux_brk(u64 address) {
  if (address < brk_start || address > manager::FUNCTION_CONTEXT_ADDRESS) return static_cast<i64>(brk_current);
  if (address > brk_backed) {
    u64 added = grow(brk_backed, (page_up(address) - brk_backed) / PAGE, brk_chunk);
    if (added == 0) return static_cast<i64>(brk_current);
    brk_backed += added * PAGE;
  }
  // Pages above the break are read-write, as fresh pages are on Linux: a shrinking break gives up
  // their protections, a growing one takes back pages that MAP_FIXED protected there.
  u64 low = page_up(address < brk_current ? address : brk_current);
  u64 high = page_up(address < brk_current ? brk_current : address);
  if (low < high && !make_writable(low, high) && address > brk_current) return static_cast<i64>(brk_current);
  if (address > brk_current && brk_high > brk_current) {
    u64 dirty_end = address < brk_high ? address : brk_high;
    // The page the old break lies in keeps its protection (and, as on Linux, its bytes if read-only).
    u64 from = memory_permits(page_down(brk_current), PAGE, true) ? brk_current : page_up(brk_current);
    if (from < dirty_end) zero_range(from, dirty_end);
  }
  brk_current = address;
  if (brk_current > brk_high) brk_high = brk_current;
  return static_cast<i64>(brk_current);
}

i64 linux_mmap(u64 address, u64 length, u64 protection, u64 flags, u64 descriptor, u64 offset) {
  if ((flags & MAP_ANONYMOUS) == 0) {
    u32 inode = 0;  // Image files map the tree's pages (image_files.cpp); nothing else maps.
    if (image_descriptor(descriptor, inode)) return image_mmap(inode, address, length, protection, flags, offset);
    return descriptor_open(descriptor) ? -ENODEV : -EBADF;
  }
  if (length == 0) return -EINVAL;
  u64 bytes = page_up(length);
  if (bytes < length || bytes > MMAP_LIMIT - MMAP_BASE) return -ENOMEM;
  // Anonymous memory is read-write, never executable: no W+X pages exist in a function's task.
  if ((protection & PROT_EXEC) != 0) return -EACCES;
  Access access = access_of(protection);
  if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0) {
    u64 end;
    if (!page_range(address, length, end) || address < abi::USER_SPACE_START) return -EINVAL;
    // Over a file mapping (a loader's .bss after its data): image_files.cpp's pages.
    if (image_mapping_overlaps(address, end)) return image_map_anonymous_fixed(address, end, protection);
    if (in_mmap_area(address, end) || in_brk_area(address, end)) {
      bool mmap_area = in_mmap_area(address, end);
      if ((flags & MAP_FIXED_NOREPLACE) != 0 && (!mmap_area || !all_free(address, end))) return -EEXIST;
      if (!make_writable(address, end) || (mmap_area && !take(address, end))) return -ENOMEM;
      decommit(address, end);
      // Refused, the pages stay mapped read-write and zero; Linux would have replaced them too.
      if (access != Access::ReadWrite && !protect(address, end, access)) return -ENOMEM;
      return static_cast<i64>(address);
    }
    // Inside one fixed mapping (Go maps its arenas read-write inside the reservation it made at a
    // hint): replaced in place, as in the mmap area.
    if (fixed_containing(address, end) != nullptr) {
      if ((flags & MAP_FIXED_NOREPLACE) != 0) return -EEXIST;
      if (!make_writable(address, end)) return -ENOMEM;
      decommit(address, end);
      if (access != Access::ReadWrite && !protect(address, end, access)) return -ENOMEM;
      return static_cast<i64>(address);
    }
    // Anywhere else only where nothing is mapped yet: the kernel refuses overlaps (Busy).
    if (!map_fixed_new(address, bytes, access)) return -ENOMEM;
    return static_cast<i64>(address);
  }
  if (address != 0 && map_at_hint(address, bytes, access)) return static_cast<i64>(address);
  u64 result = allocate(bytes);
  if (result == 0) return -ENOMEM;
  if (access != Access::ReadWrite && !protect(result, result + bytes, access)) {
    release(result, result + bytes);  // Still zero and read-write: protect() put everything back.
    return -ENOMEM;
  }
  return static_cast<i64>(result);
}

i64 linux_munmap(u64 address, u64 length) {
  u64 end;
  if (!page_range(address, length, end)) return -EINVAL;
  image_unmap(address, end);
  u64 start = address < MMAP_BASE ? MMAP_BASE : address;
  u64 stop = end > mmap_backed ? mmap_backed : end;
  if (start < stop) {
    // Free ranges are read-write: give the pages their access back, then their frames (free
    // ranges are zero and cost nothing).
    if (!make_writable(start, stop)) return -ENOMEM;
    decommit(start, stop);
    release(start, stop);
  }
  for (usize i = 0; i < fixed_count;) {
    FixedMapping& mapping = fixed[i];
    if (mapping.address >= address && mapping.address + mapping.pages * PAGE <= end) {
      // Its protections go with it (no range of the table crosses a chunk's start, so this never
      // splits one and always fits); the unmap takes every run at once.
      u64 mapping_end = mapping.address + mapping.pages * PAGE;
      (void)set_access(protections, mapping.address, mapping_end, Access::ReadWrite);
      (void)native_unmap(manager::FUNCTION_TASK, mapping.address, mapping.pages);
      (void)native(abi::Syscall::CapabilityDelete, mapping.slot);
      free_slot(mapping.slot);
      remove_chunk(mapping.slot);
      fixed[i] = fixed[--fixed_count];
      continue;
    }
    // Part of one: its pages read zero again and are no longer accessible, as unmapped pages; a
    // later MAP_FIXED there maps them again. (Refused, they stay accessible, zero.)
    u64 low, high;
    clip(Chunk{mapping.address, mapping.pages, mapping.slot}, address, end, low, high);
    if (low < high) {
      if (make_writable(low, high)) decommit(low, high);
      (void)protect(low, high, Access::None);
    }
    ++i;
  }
  return 0;
}

i64 linux_mprotect(u64 address, u64 length, u64 protection) {
  u64 end;
  if ((address & (PAGE - 1)) != 0 || (protection & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) return -EINVAL;
  if (length == 0) return 0;
  if (!page_range(address, length, end)) return -ENOMEM;
  if (image_mapping_overlaps(address, end)) return image_mprotect(address, end, protection);
  if (!mapped_by_program(address, end)) {
    // Free pages of the personality's areas are not mapped, for Linux. The image, the stack, input
    // and output are the manager's mappings, which the personality cannot remap: they keep their
    // protection (docs/LINUX.md, Gaps).
    if (memory_contains(address, end - address)) return -ENOMEM;
    return readable(address, end - address) ? 0 : -ENOMEM;
  }
  if ((protection & PROT_EXEC) != 0) return -EACCES;  // As mmap: no executable anonymous memory.
  return protect(address, end, access_of(protection)) ? 0 : -ENOMEM;
}

namespace {
// mremap's work on read-write pages: shrink or grow in place, or move.
i64 resize(u64 address, u64 old_bytes, u64 new_bytes, u64 flags) {
  u64 old_end = address + old_bytes;
  if (new_bytes <= old_bytes) {
    if (new_bytes < old_bytes) (void)linux_munmap(address + new_bytes, old_bytes - new_bytes);
    return static_cast<i64>(address);
  }
  u64 grown_end = address + new_bytes;
  if (grown_end <= mmap_backed && all_free(old_end, grown_end) && take(old_end, grown_end))
    return static_cast<i64>(address);
  if ((flags & MREMAP_MAYMOVE) == 0) return -ENOMEM;
  u64 moved = allocate(new_bytes);
  if (moved == 0) return -ENOMEM;
  // The copy touches old_bytes of new pages while the old ones still count: refused as ENOMEM
  // (as the limit refused mremap before), not as a fault that would end the invocation.
  if (!commit_range(moved, moved + old_bytes)) {
    decommit(moved, moved + new_bytes);
    release(moved, moved + new_bytes);
    return -ENOMEM;
  }
  memcpy(reinterpret_cast<void*>(moved), reinterpret_cast<const void*>(address), old_bytes);
  (void)linux_munmap(address, old_bytes);
  return static_cast<i64>(moved);
}
}  // namespace

i64 linux_mremap(u64 address, u64 old_length, u64 new_length, u64 flags, u64) {
  u64 old_end;
  if (!page_range(address, old_length, old_end) || new_length == 0 || (flags & MREMAP_FIXED) != 0) return -EINVAL;
  u64 new_bytes = page_up(new_length);
  if (new_bytes < new_length) return -ENOMEM;
  if (!in_mmap_area(address, old_end)) return -EFAULT;
  // The old range is one Linux mapping, so it has one protection; the result keeps it. The work
  // below happens read-write (it copies and zeroes), then the protection goes back on.
  u64 run_start, run_end;
  Access access = access_at(protections, address, run_start, run_end);
  if (run_end < old_end) return -EFAULT;
  if (access != Access::ReadWrite && !protect(address, old_end, Access::ReadWrite)) return -ENOMEM;
  i64 result = resize(address, old_end - address, new_bytes, flags);
  u64 kept_start = result < 0 ? address : static_cast<u64>(result);
  u64 kept_end = kept_start + (result < 0 ? old_end - address : new_bytes);
  // Refused, the pages stay read-write (more access, never less than the program had).
  if (access != Access::ReadWrite) (void)protect(kept_start, kept_end, access);
  return result;
}

i64 linux_madvise(u64 address, u64 length, u64 advice) {
  u64 end;
  if ((address & (PAGE - 1)) != 0) return -EINVAL;
  if (length == 0) return 0;
  if (!page_range(address, length, end)) return -EINVAL;
  if (!known(address, end - address)) return -ENOMEM;
  // DONTNEED promises zero pages on the next touch for private anonymous memory, whatever their
  // protection; FREE lets the kernel take them: both give the frames back to the memory limit.
  if ((advice == MADV_DONTNEED || advice == MADV_FREE) && memory_contains(address, end - address))
    decommit(address, end);
  return 0;
}

i64 linux_mincore(u64 address, u64 length, u64 vector) {
  u64 end;
  if ((address & (PAGE - 1)) != 0) return -EINVAL;
  if (length == 0) return 0;
  if (!page_range(address, length, end)) return -ENOMEM;
  u64 pages = (end - address) / PAGE;
  if (!writable(vector, pages)) return -EFAULT;
  // Linux answers for mapped pages only: in the personality's areas, what the program has mapped;
  // elsewhere, what the program can read (its image, stack, input and output: resident, as the
  // manager gave them frames). PROT_NONE pages of the areas are mapped for Linux too.
  if (memory_contains(address, end - address) ? !mapped_by_program(address, end) : !readable(address, end - address))
    return -ENOMEM;
  auto* out = reinterpret_cast<u8*>(vector);
  memset(out, 1, pages);
  // A chunk's pages are resident when they have a frame (touched, or committed), which the kernel
  // tells 64 pages at a time without touching them.
  for (usize i = 0; i < chunk_count; ++i) {
    const Chunk& chunk = chunks[i];
    if (!overlaps(chunk, address, end)) continue;
    u64 low, high;
    clip(chunk, address, end, low, high);
    for (u64 at = low; at < high;) {
      u64 count = (high - at) / PAGE < 64 ? (high - at) / PAGE : 64;
      sys::SyscallRegisters registers{(at - chunk.address) / PAGE, count, 0, 0, 0, 0};
      if (sys::invoke(abi::Syscall::MemoryResidency, chunk.slot, registers) != sys::Error::None) return -ENOMEM;
      for (u64 page = 0; page < count; ++page) out[(at - address) / PAGE + page] = (registers.argument1 >> page) & 1;
      at += count * PAGE;
    }
  }
  return 0;
}

// ---- Processes -------------------------------------------------------------------------------

usize memory_chunk_count() { return chunk_count; }
MemoryChunk memory_chunk(usize index) { return MemoryChunk{chunks[index].address, chunks[index].pages, chunks[index].slot}; }

void memory_after_fork() {
  // fork mapped every chunk read-write; the inherited table says where that is not so.
  for (usize i = 0; i < chunk_count; ++i) {
    const Chunk& chunk = chunks[i];
    u64 end = chunk.address + chunk.pages * PAGE;
    bool protected_here = false;
    for (usize j = 0; j < protections.count; ++j)
      protected_here = protected_here || (protections.ranges[j].start < end && protections.ranges[j].end > chunk.address);
    if (protected_here) (void)remap(chunk, chunk.address, end, protections);
  }
}

namespace {
constexpr usize MAX_KEPT = EXEC_SCRATCH_BYTES / sizeof(Range);  // /tmp's table and files, stacks.
static_assert(MAX_KEPT >= 256 + 4);
Range* kept = nullptr;  // exec's scratch buffer, for one reset.
usize kept_count = 0;
Range always_kept[4];
usize always_kept_count = 0;
void keep_range(u64 address, u64 bytes) {
  if (kept_count == MAX_KEPT || bytes == 0) return;
  Range range{page_down(address), page_up(address + bytes)};
  usize at = kept_count++;
  while (at > 0 && kept[at - 1].start > range.start) {
    kept[at] = kept[at - 1];
    --at;
  }
  kept[at] = range;
}
}  // namespace

void memory_keep_on_exec(u64 address, u64 bytes) {
  if (always_kept_count < sizeof always_kept / sizeof always_kept[0])
    always_kept[always_kept_count++] = Range{address, address + bytes};
}

void memory_reset_for_exec(u64 keep_address, u64 keep_bytes, void* scratch) {
  kept = static_cast<Range*>(scratch);
  while (fixed_count > 0) (void)linux_munmap(fixed[0].address, fixed[0].pages * PAGE);
  (void)linux_brk(brk_start);
  kept_count = 0;
  const ThreadEntry& self = current_thread();
  if (self.handler_stack != 0) keep_range(self.handler_stack, HANDLER_STACK_BYTES);
  keep_range(keep_address, keep_bytes);
  for (usize i = 0; i < always_kept_count; ++i) keep_range(always_kept[i].start, always_kept[i].end - always_kept[i].start);
  u64 cursor = MMAP_BASE;
  for (usize i = 0; i < kept_count; ++i) {
    if (kept[i].start > cursor) (void)linux_munmap(cursor, kept[i].start - cursor);
    if (kept[i].end > cursor) cursor = kept[i].end;
  }
  if (cursor < mmap_backed) (void)linux_munmap(cursor, mmap_backed - cursor);
}

void memory_release_break() {
  for (usize i = 0; i < chunk_count;) {
    Chunk chunk = chunks[i];
    if (chunk.address < brk_start || chunk.address >= brk_backed) {
      ++i;
      continue;
    }
    (void)native_unmap(manager::FUNCTION_TASK, chunk.address, chunk.pages);
    (void)native(abi::Syscall::CapabilityDelete, chunk.slot);
    free_slot(chunk.slot);
    remove_chunk(chunk.slot);  // Moves the last chunk to i.
  }
  brk_current = brk_high = brk_backed = brk_start;
  brk_chunk = FIRST_CHUNK_PAGES;
}

}  // namespace personality
