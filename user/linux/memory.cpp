// brk, mmap, munmap, mprotect, mremap and madvise over Memory objects that the personality creates
// from FUNCTION_FACTORY and maps into FUNCTION_TASK, so every page counts against the function's
// memory limit; a refused object is ENOMEM. Two areas grow by chunks (one Memory and one
// capability slot each, doubling from 64 KiB to 16 MiB, the bare need when the limit refuses a
// chunk): the brk area right above the program's image and the mmap area at MMAP_BASE.
// Invariants: the free ranges of the mmap area are sorted, disjoint and hold only zero bytes (fresh
// pages are zero; munmap zeroes), so an allocation never needs clearing; brk bytes above the
// current break that were used before are zeroed when the break grows over them again. Every
// function here except map_fresh runs under state_lock() (the dispatcher takes it).
#include "files.hpp"
#include "personality.hpp"

namespace personality {
namespace {

constexpr u64 MMAP_BASE = 0x0000100000000000;
constexpr u64 MMAP_LIMIT = MMAP_BASE + (u64{64} << 30);
constexpr u64 FIRST_CHUNK_PAGES = 16;
constexpr u64 MAX_CHUNK_PAGES = 4096;
constexpr usize MAX_FREE_RANGES = 128;
constexpr usize MAX_FIXED = 16;

constexpr u64 PROT_EXEC = 4;
constexpr u64 MAP_FIXED = 0x10;
constexpr u64 MAP_ANONYMOUS = 0x20;
constexpr u64 MAP_FIXED_NOREPLACE = 0x100000;
constexpr u64 MREMAP_MAYMOVE = 1;
constexpr u64 MREMAP_FIXED = 2;
constexpr u64 MADV_DONTNEED = 4;

struct Range {
  u64 start, end;
};
struct FixedMapping {
  u64 address, pages, slot;
};

u64 brk_start = 0, brk_current = 0, brk_high = 0, brk_backed = 0, brk_chunk = FIRST_CHUNK_PAGES;
u64 mmap_backed = MMAP_BASE, mmap_chunk = FIRST_CHUNK_PAGES;
Range free_ranges[MAX_FREE_RANGES];
usize free_count = 0;
FixedMapping fixed[MAX_FIXED];
usize fixed_count = 0;

// Grows an area whose backing ends at `end` by at least `need` pages; the pages added, or 0.
u64 grow(u64 end, u64 need, u64& next_chunk) {
  u64 pages = need > next_chunk ? need : next_chunk;
  if (map_fresh(end, pages) == 0) {
    if (pages == need || map_fresh(end, need) == 0) return 0;
    return need;
  }
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

// Page-aligned [address, address + page_up(length)) without overflow, inside user space.
bool page_range(u64 address, u64 length, u64& end) {
  if ((address & (PAGE - 1)) != 0 || length == 0) return false;
  u64 rounded = page_up(length);
  if (rounded < length) return false;
  return !__builtin_add_overflow(address, rounded, &end) && end <= abi::USER_SPACE_END;
}

}  // namespace

u64 map_fresh(u64 address, u64 pages) {
  u64 slot = allocate_slot();
  if (slot == 0) return 0;
  constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);
  sys::Error error = native(abi::Syscall::FactoryCreate, manager::FUNCTION_FACTORY,
                            static_cast<u64>(abi::ObjectType::Memory), slot, pages);
  if (error == sys::Error::None) {
    error = native(abi::Syscall::TaskMap, manager::FUNCTION_TASK, slot, 0, address, pages, READ_WRITE);
    if (error != sys::Error::None) (void)native(abi::Syscall::CapabilityDelete, slot);
  }
  if (error != sys::Error::None) {
    free_slot(slot);
    return 0;
  }
  return slot;
}

u64 allocate_anonymous(u64 bytes) { return allocate(page_up(bytes)); }

void memory_init() {
  brk_start = page_up(state().start.image_end);
  brk_current = brk_high = brk_backed = brk_start;
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
  if (address > brk_current && brk_high > brk_current) {
    u64 dirty_end = address < brk_high ? address : brk_high;
    memset(reinterpret_cast<void*>(brk_current), 0, dirty_end - brk_current);
  }
  brk_current = address;
  if (brk_current > brk_high) brk_high = brk_current;
  return static_cast<i64>(brk_current);
}

i64 linux_mmap(u64 address, u64 length, u64 protection, u64 flags, u64 descriptor, u64) {
  if ((flags & MAP_ANONYMOUS) == 0) return descriptor_open(descriptor) ? -ENODEV : -EBADF;
  if (length == 0) return -EINVAL;
  u64 bytes = page_up(length);
  if (bytes < length || bytes > MMAP_LIMIT - MMAP_BASE) return -ENOMEM;
  // Anonymous memory is read-write, never executable: no W+X pages exist in a function's task.
  if ((protection & PROT_EXEC) != 0) return -EACCES;
  if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0) {
    u64 end;
    if (!page_range(address, length, end) || address < abi::USER_SPACE_START) return -EINVAL;
    if (in_mmap_area(address, end)) {
      if ((flags & MAP_FIXED_NOREPLACE) != 0 && !all_free(address, end)) return -EEXIST;
      if (!take(address, end)) return -ENOMEM;
      memset(reinterpret_cast<void*>(address), 0, bytes);
      return static_cast<i64>(address);
    }
    if (in_brk_area(address, end)) {
      if ((flags & MAP_FIXED_NOREPLACE) != 0) return -EEXIST;
      memset(reinterpret_cast<void*>(address), 0, bytes);
      return static_cast<i64>(address);
    }
    if (fixed_count == MAX_FIXED) return -ENOMEM;
    // Anywhere else only where nothing is mapped yet: the kernel refuses overlaps (Busy).
    u64 slot = map_fresh(address, bytes / PAGE);
    if (slot == 0) return -ENOMEM;
    fixed[fixed_count++] = FixedMapping{address, bytes / PAGE, slot};
    return static_cast<i64>(address);
  }
  u64 result = allocate(bytes);
  return result == 0 ? -ENOMEM : static_cast<i64>(result);
}

i64 linux_munmap(u64 address, u64 length) {
  u64 end;
  if (!page_range(address, length, end)) return -EINVAL;
  u64 start = address < MMAP_BASE ? MMAP_BASE : address;
  u64 stop = end > mmap_backed ? mmap_backed : end;
  if (start < stop) {
    // Zero what is still in use, so that free ranges stay zero.
    u64 cursor = start;
    while (cursor < stop) {
      u64 next = stop;
      bool free_here = false;
      for (usize i = 0; i < free_count; ++i) {
        if (free_ranges[i].start <= cursor && free_ranges[i].end > cursor) {
          free_here = true;
          next = free_ranges[i].end < stop ? free_ranges[i].end : stop;
          break;
        }
        if (free_ranges[i].start > cursor && free_ranges[i].start < next) next = free_ranges[i].start;
      }
      if (!free_here) memset(reinterpret_cast<void*>(cursor), 0, next - cursor);
      cursor = next;
    }
    release(start, stop);
  }
  for (usize i = 0; i < fixed_count;) {
    FixedMapping& mapping = fixed[i];
    if (mapping.address >= address && mapping.address + mapping.pages * PAGE <= end) {
      (void)native(abi::Syscall::TaskUnmap, manager::FUNCTION_TASK, mapping.address, mapping.pages);
      (void)native(abi::Syscall::CapabilityDelete, mapping.slot);
      free_slot(mapping.slot);
      fixed[i] = fixed[--fixed_count];
      continue;
    }
    ++i;
  }
  return 0;
}

i64 linux_mprotect(u64 address, u64 length, u64) {
  u64 end;
  if ((address & (PAGE - 1)) != 0) return -EINVAL;
  if (length == 0) return 0;
  if (!page_range(address, length, end)) return -ENOMEM;
  // Protections are not changed (see docs/LINUX.md): known memory says yes, anything else ENOMEM.
  return readable(address, end - address) ? 0 : -ENOMEM;
}

i64 linux_mremap(u64 address, u64 old_length, u64 new_length, u64 flags, u64) {
  u64 old_end;
  if (!page_range(address, old_length, old_end) || new_length == 0 || (flags & MREMAP_FIXED) != 0) return -EINVAL;
  u64 new_bytes = page_up(new_length);
  if (new_bytes < new_length) return -ENOMEM;
  if (!in_mmap_area(address, old_end)) return -EFAULT;
  u64 old_bytes = old_end - address;
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
  memcpy(reinterpret_cast<void*>(moved), reinterpret_cast<const void*>(address), old_bytes);
  (void)linux_munmap(address, old_bytes);
  return static_cast<i64>(moved);
}

i64 linux_madvise(u64 address, u64 length, u64 advice) {
  u64 end;
  if ((address & (PAGE - 1)) != 0) return -EINVAL;
  if (length == 0) return 0;
  if (!page_range(address, length, end)) return -EINVAL;
  if (!readable(address, end - address)) return -ENOMEM;
  // DONTNEED promises zero pages on the next touch for private anonymous memory.
  if (advice == MADV_DONTNEED && memory_contains(address, end - address))
    memset(reinterpret_cast<void*>(address), 0, end - address);
  return 0;
}

}  // namespace personality
