// ELF64 executable reader; see elf.hpp for what a successful parse guarantees.
#include "lib/elf.hpp"

namespace klib {
namespace {

struct FileHeader {
  u8 ident[16];
  u16 type;
  u16 machine;
  u32 version;
  u64 entry;
  u64 program_header_offset;
  u64 section_header_offset;
  u32 flags;
  u16 header_size;
  u16 program_header_entry_size;
  u16 program_header_count;
  u16 section_header_entry_size;
  u16 section_header_count;
  u16 section_name_index;
};
static_assert(sizeof(FileHeader) == 64);

struct ProgramHeader {
  u32 type;
  u32 flags;
  u64 offset;
  u64 virtual_address;
  u64 physical_address;
  u64 file_size;
  u64 memory_size;
  u64 alignment;
};
static_assert(sizeof(ProgramHeader) == 56);

constexpr u16 TYPE_EXEC = 2;
constexpr u16 TYPE_DYN = 3;
constexpr u16 MACHINE_X86_64 = 62;
constexpr u32 PT_LOAD = 1;
constexpr u32 PT_INTERP = 3;
constexpr u32 FLAG_EXECUTE = 1;
constexpr u32 FLAG_WRITE = 2;
constexpr u32 FLAG_READ = 4;

// The file is untrusted and may be unaligned: copy structures out byte by byte.
template <typename T> T read_at(const u8* data, u64 offset) {
  T value;
  auto* target = reinterpret_cast<u8*>(&value);
  for (usize i = 0; i < sizeof(T); ++i) target[i] = data[offset + i];
  return value;
}

bool add_overflows(u64 a, u64 b, u64& sum) { return __builtin_add_overflow(a, b, &sum); }

}  // namespace

const char* elf_status_text(ElfStatus status) {
  switch (status) {
#define ELF_STATUS_TEXT(name, text) \
  case ElfStatus::name: return text;
    ELF_STATUSES(ELF_STATUS_TEXT)
#undef ELF_STATUS_TEXT
  }
  return "unknown ELF status";
}

ElfStatus parse_elf(const u8* data, usize size, u64 user_limit, ElfImage& image, bool allow_interpreter) {
  if (size < sizeof(FileHeader)) return ElfStatus::TooSmall;
  auto header = read_at<FileHeader>(data, 0);
  if (header.ident[0] != 0x7f || header.ident[1] != 'E' || header.ident[2] != 'L' || header.ident[3] != 'F')
    return ElfStatus::BadMagic;
  if (header.ident[4] != 2) return ElfStatus::Not64Bit;
  if (header.ident[5] != 1) return ElfStatus::NotLittleEndian;
  if (header.ident[6] != 1 || header.version != 1) return ElfStatus::BadVersion;
  if (header.type != TYPE_EXEC && header.type != TYPE_DYN) return ElfStatus::NotExecutable;
  if (header.machine != MACHINE_X86_64) return ElfStatus::WrongMachine;
  if (header.program_header_entry_size != sizeof(ProgramHeader)) return ElfStatus::BadProgramHeaderSize;

  u64 table_end;
  if (add_overflows(header.program_header_offset, u64{header.program_header_count} * sizeof(ProgramHeader),
                    table_end) ||
      table_end > size)
    return ElfStatus::ProgramHeadersOutOfFile;

  image = {};
  image.position_independent = header.type == TYPE_DYN;
  image.entry = header.entry;
  image.program_header_offset = header.program_header_offset;
  image.program_header_count = header.program_header_count;

  for (u16 index = 0; index < header.program_header_count; ++index) {
    auto program = read_at<ProgramHeader>(data, header.program_header_offset + u64{index} * sizeof(ProgramHeader));
    if (program.type == PT_INTERP) {
      u64 interpreter_end;
      if (!allow_interpreter) return ElfStatus::Interpreter;
      if (program.file_size < 2 || add_overflows(program.offset, program.file_size, interpreter_end) ||
          interpreter_end > size || data[interpreter_end - 1] != 0)
        return ElfStatus::SegmentOutOfFile;
      image.interpreter_offset = program.offset;
      image.interpreter_size = program.file_size;
      continue;
    }
    if (program.type != PT_LOAD || program.memory_size == 0) continue;
    if (image.segment_count == ElfImage::MAX_SEGMENTS) return ElfStatus::TooManySegments;

    u64 file_end;
    if (add_overflows(program.offset, program.file_size, file_end) || file_end > size)
      return ElfStatus::SegmentOutOfFile;
    if (program.file_size > program.memory_size) return ElfStatus::SegmentFileLargerThanMemory;
    u64 memory_end;
    if (add_overflows(program.virtual_address, program.memory_size, memory_end) || memory_end > user_limit)
      return ElfStatus::SegmentOutOfRange;
    if (program.alignment > 1) {
      if ((program.alignment & (program.alignment - 1)) != 0) return ElfStatus::BadSegmentAlignment;
      if ((program.virtual_address - program.offset) % program.alignment != 0) return ElfStatus::BadSegmentAlignment;
    }
    // Pages are the unit of protection, so segments must not share a page with different rights;
    // we require page-disjoint segments, which every mainstream linker produces.
    u64 page_start = align_down(program.virtual_address, PAGE_SIZE);
    u64 page_end = align_up(memory_end, PAGE_SIZE);
    for (usize other = 0; other < image.segment_count; ++other) {
      const ElfSegment& existing = image.segments[other];
      u64 other_start = align_down(existing.virtual_address, PAGE_SIZE);
      u64 other_end = align_up(existing.virtual_address + existing.memory_size, PAGE_SIZE);
      if (page_start < other_end && other_start < page_end) return ElfStatus::SegmentsOverlap;
    }
    bool writable = (program.flags & FLAG_WRITE) != 0;
    bool executable = (program.flags & FLAG_EXECUTE) != 0;
    if (writable && executable) return ElfStatus::WritableAndExecutable;
    image.segments[image.segment_count++] = ElfSegment{
        program.virtual_address,
        program.memory_size,
        program.offset,
        program.file_size,
        (program.flags & FLAG_READ) != 0,
        writable,
        executable,
    };
  }
  if (image.segment_count == 0) return ElfStatus::NoLoadableSegment;

  for (usize index = 0; index < image.segment_count; ++index) {
    const ElfSegment& segment = image.segments[index];
    if (segment.executable && image.entry >= segment.virtual_address &&
        image.entry < segment.virtual_address + segment.memory_size)
      return ElfStatus::Ok;
  }
  return ElfStatus::EntryOutsideCode;
}

}  // namespace klib
