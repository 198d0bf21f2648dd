// Loading a program, as Linux's execve does for ELF files: the program's PT_LOAD segments and those
// of its PT_INTERP loader mapped (from the image tree: text shared and read-execute, data a private
// copy, .bss zero; from /tmp or the writable layer: every segment a private copy written by the
// kernel), then the entry the thread starts at. The ELF checks are klib::parse_elf's, the same the
// manager applies to static executables. Used at an image function's start and by execve
// (exec.cpp), which checks first (check_program) and maps only once the old program is gone.
// Invariant: a program is mapped only after parse_elf accepted it and its loader; nothing it maps
// is writable and executable.
#include "files.hpp"
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
};

// Checks one ELF file without mapping anything. `main_program`: placed at PROGRAM_BASE (PIE) or
// its own addresses below FUNCTION_CONTEXT_ADDRESS, PT_INTERP allowed; otherwise (the loader)
// position-independent, for the file area.
i64 check_elf(const ExecutableFile& file, bool main_program, klib::ElfImage& image) {
  u64 limit = main_program ? manager::FUNCTION_CONTEXT_ADDRESS - PROGRAM_BASE : abi::USER_SPACE_END;
  klib::ElfStatus status = klib::parse_elf(file.bytes, file.size, limit, image, main_program);
  if (status != klib::ElfStatus::Ok) {
    // A file that is no ELF at all is only ENOEXEC (a shell then runs it as a script itself).
    if (status != klib::ElfStatus::TooSmall && status != klib::ElfStatus::BadMagic)
      logf("linux: cannot load the program: %s\n", klib::elf_status_text(status));
    return -static_cast<i64>(ENOEXEC);
  }
  if (!main_program && !image.position_independent) return -static_cast<i64>(ENOEXEC);
  for (usize i = 0; i < image.segment_count; ++i) {
    const klib::ElfSegment& segment = image.segments[i];
    u64 lead = segment.virtual_address & (PAGE - 1);
    // Code from the tree that is not page-congruent would need a copy: never executable.
    if (file.kind == ExecutableKind::Tree && segment.executable &&
        (segment.file_offset % PAGE != lead || segment.file_size == 0))
      return -static_cast<i64>(ENOEXEC);
  }
  return 0;
}

// Maps one checked ELF file: a tree file's text and read-only data are the tree's own pages;
// data segments, and every segment of a file in the task's memory (/tmp, the writable layer), are
// private copies, zero past the file bytes.
i64 map_elf(const ExecutableFile& file, const klib::ElfImage& image, bool main_program, LoadedElf& out) {
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
    u64 at = image_reserve_addresses(high - low);
    if (at == 0) return -ENOMEM;
    base = at - low;
  }
  u64 tree_offset = file.kind == ExecutableKind::Tree ? static_cast<u64>(file.bytes - image_tree().base()) : 0;
  for (usize i = 0; i < image.segment_count; ++i) {
    const klib::ElfSegment& segment = image.segments[i];
    u64 start = page_down(segment.virtual_address) + base;
    u64 lead = segment.virtual_address & (PAGE - 1);
    u64 pages = pages_for(lead + segment.memory_size);
    i64 error = 0;
    if (file.kind != ExecutableKind::Tree) {
      error = segment.writable
                  ? image_map_copy(start, pages, lead, file.bytes + segment.file_offset, segment.file_size, true, false)
                  : image_map_copy(start, pages, lead, file.bytes + segment.file_offset, segment.file_size, false,
                                   segment.executable);
    } else if (!segment.writable && segment.file_offset % PAGE == lead && segment.file_size > 0) {
      // Text and read-only data: the tree's own pages, shared by every invocation.
      u64 file_pages = pages_for(lead + segment.file_size);
      if (file_pages > pages) file_pages = pages;
      error = image_map_shared(start, file_pages, (tree_offset + segment.file_offset - lead) / PAGE, segment.executable);
      if (error == 0 && file_pages < pages)
        error = image_map_private(start + file_pages * PAGE, pages - file_pages, 0, 0, 0, false);
    } else {
      // Data (and .bss after it): a private copy, zero past the file bytes.
      error = image_map_private(start, pages, lead, tree_offset + segment.file_offset, segment.file_size,
                                segment.writable);
    }
    if (error < 0) return error;
  }
  out = LoadedElf{base, image.entry + base, 0, image.program_header_count, high + base};
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

i64 check(const ExecutableFile& file, CheckedProgram& checked) {
  checked = CheckedProgram{};
  i64 error = check_elf(file, true, checked.program);
  if (error < 0 || checked.program.interpreter_size == 0) return error;
  // PT_INTERP: the loader's path, NUL-terminated inside the file (parse_elf checked).
  if (!image_active()) return -static_cast<i64>(ENOEXEC);  // No tree to find it in.
  const char* interpreter = reinterpret_cast<const char*>(file.bytes + checked.program.interpreter_offset);
  u32 loader_inode = 0;
  error = image_resolve(imagefs::ROOT_INODE, interpreter, checked.program.interpreter_size - 1, true, loader_inode);
  if (error < 0) return error;
  error = image_executable(loader_inode, checked.loader_file);
  if (error < 0) return error;
  checked.has_loader = true;
  return check_elf(checked.loader_file, false, checked.loader);
}

}  // namespace

i64 check_program(const ExecutableFile& file, CheckedProgram& checked) { return check(file, checked); }

i64 load_checked_program(const ExecutableFile& file, const CheckedProgram& checked, LoadedProgram& out) {
  LoadedElf program{};
  i64 error = map_elf(file, checked.program, true, program);
  if (error < 0) return error;
  out = LoadedProgram{program.entry, program.entry, 0, program.program_headers, program.program_header_count,
                      program.end};
  if (!checked.has_loader) return 0;
  LoadedElf loader{};
  error = map_elf(checked.loader_file, checked.loader, false, loader);
  if (error < 0) return error;
  out.start = loader.entry;
  out.loader_base = loader.base;
  return 0;
}

i64 load_program(const char* path, usize length, LoadedProgram& out) {
  u32 inode = 0;
  i64 error = image_resolve(imagefs::ROOT_INODE, path, length, true, inode);
  if (error < 0) return error;
  ExecutableFile file{};
  CheckedProgram checked;  // On the start's 32 KiB stack, not in the data every invocation copies.
  if ((error = image_executable(inode, file)) < 0 || (error = check(file, checked)) < 0) return error;
  return load_checked_program(file, checked, out);
}

}  // namespace personality
