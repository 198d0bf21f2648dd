// Loading a program from the image tree, as Linux's execve does for ELF files: the program's
// PT_LOAD segments and those of its PT_INTERP loader mapped from the tree's pages (text shared
// and read-execute, data a private copy, .bss zero), then the entry the thread starts at. The
// ELF checks are klib::parse_elf's, the same the manager applies to static executables.
// Invariant: a program is loaded only after parse_elf accepted it; nothing it maps is writable
// and executable; execve (exec.cpp) can call load_program for a new program image.
#include "image_files.hpp"
#include "lib/elf.hpp"

namespace personality {
namespace {

// Where a position-independent program goes: as the manager places static PIEs, so the brk area
// after it stays below FUNCTION_CONTEXT_ADDRESS.
constexpr u64 PROGRAM_BASE = 0x400000;

u64 pages_for(u64 bytes) { return (bytes + PAGE - 1) / PAGE; }

struct LoadedElf {
  u64 base, entry, program_headers, program_header_count, end;
  u64 interpreter_offset, interpreter_size;  // In the file; size 0: none.
  u64 file_offset;                           // The file's contents in the tree.
};

// Maps one ELF file of the tree. `main_program`: at PROGRAM_BASE (PIE) or its own addresses, and
// PT_INTERP allowed; otherwise (the loader) position-independent, in the file area.
i64 load_elf(u32 inode, bool main_program, LoadedElf& out) {
  const imagefs::Reader& tree = image_tree();
  u64 offset = 0;
  u64 size = 0;
  if (!tree.file_extent(inode, offset, size)) return -EACCES;
  const imagefs::Inode* node = tree.inode(inode);
  if (node == nullptr || (node->mode & 0111) == 0) return -EACCES;
  const u8* bytes = tree.base() + offset;
  klib::ElfImage image;
  u64 limit = main_program ? manager::FUNCTION_CONTEXT_ADDRESS - PROGRAM_BASE : abi::USER_SPACE_END;
  klib::ElfStatus status = klib::parse_elf(bytes, size, limit, image, main_program);
  if (status != klib::ElfStatus::Ok) {
    logf("linux: cannot load the program: %s\n", klib::elf_status_text(status));
    return -static_cast<i64>(ENOEXEC);
  }
  u64 low = ~u64{0};
  u64 high = 0;
  for (usize i = 0; i < image.segment_count; ++i) {
    const klib::ElfSegment& segment = image.segments[i];
    u64 first = page_down(segment.virtual_address);
    u64 end = page_up(segment.virtual_address + segment.memory_size);
    if (first < low) low = first;
    if (end > high) high = end;
  }
  u64 base = 0;
  if (main_program) {
    base = image.position_independent ? PROGRAM_BASE : 0;
  } else {
    if (!image.position_independent) return -static_cast<i64>(ENOEXEC);
    u64 at = image_reserve_addresses(high - low);
    if (at == 0) return -ENOMEM;
    base = at - low;
  }
  for (usize i = 0; i < image.segment_count; ++i) {
    const klib::ElfSegment& segment = image.segments[i];
    u64 start = page_down(segment.virtual_address) + base;
    u64 lead = segment.virtual_address & (PAGE - 1);
    u64 pages = pages_for(lead + segment.memory_size);
    i64 error = 0;
    if (!segment.writable && segment.file_offset % PAGE == lead && segment.file_size > 0) {
      // Text and read-only data: the tree's own pages, shared by every invocation.
      u64 file_pages = pages_for(lead + segment.file_size);
      if (file_pages > pages) file_pages = pages;
      error = image_map_shared(start, file_pages, (offset + segment.file_offset - lead) / PAGE, segment.executable);
      if (error == 0 && file_pages < pages)
        error = image_map_private(start + file_pages * PAGE, pages - file_pages, 0, 0, 0, false);
    } else if (segment.executable) {
      return -static_cast<i64>(ENOEXEC);  // Code that is not page-congruent would need a copy: never executable.
    } else {
      // Data (and .bss after it): a private copy, zero past the file bytes.
      error = image_map_private(start, pages, lead, offset + segment.file_offset, segment.file_size, segment.writable);
    }
    if (error < 0) return error;
  }
  out = LoadedElf{base, image.entry + base, 0, image.program_header_count, high + base,
                  image.interpreter_offset, image.interpreter_size, offset};
  u64 table_end = image.program_header_offset + u64{image.program_header_count} * 56;
  for (usize i = 0; i < image.segment_count; ++i) {
    const klib::ElfSegment& segment = image.segments[i];
    if (image.program_header_offset >= segment.file_offset && table_end <= segment.file_offset + segment.file_size) {
      out.program_headers = segment.virtual_address + base + (image.program_header_offset - segment.file_offset);
      break;
    }
  }
  return 0;
}

}  // namespace

i64 load_program(const char* path, usize length, LoadedProgram& out) {
  u32 inode = 0;
  i64 error = image_resolve(imagefs::ROOT_INODE, path, length, true, inode);
  if (error < 0) return error;
  LoadedElf program{};
  error = load_elf(inode, true, program);
  if (error < 0) return error;
  out = LoadedProgram{program.entry, program.entry, 0, program.program_headers, program.program_header_count,
                      program.end};
  if (program.interpreter_size == 0) return 0;
  // PT_INTERP: the loader's path, NUL-terminated inside the file (parse_elf checked).
  const char* interpreter = reinterpret_cast<const char*>(image_tree().base() + program.file_offset + program.interpreter_offset);
  u32 loader_inode = 0;
  error = image_resolve(imagefs::ROOT_INODE, interpreter, program.interpreter_size - 1, true, loader_inode);
  if (error < 0) return error;
  LoadedElf loader{};
  error = load_elf(loader_inode, false, loader);
  if (error < 0) return error;
  out.start = loader.entry;
  out.loader_base = loader.base;
  return 0;
}

}  // namespace personality
