// ELF64 executable reader: validates an untrusted x86-64 image and lists its loadable segments.
// Invariant: a parse that returns ElfStatus::Ok leaves an ElfImage whose every segment lies
// inside the file and below the user-space limit, without overlaps, and whose entry point is
// inside an executable segment; nothing in the image is trusted before that.
#pragma once

#include "lib/types.hpp"

namespace klib {

#define ELF_STATUSES(X)                                                           \
  X(Ok, "valid executable")                                                       \
  X(TooSmall, "file is smaller than an ELF header")                               \
  X(BadMagic, "not an ELF file (bad magic)")                                      \
  X(Not64Bit, "not a 64-bit ELF file")                                            \
  X(NotLittleEndian, "not a little-endian ELF file")                              \
  X(BadVersion, "unknown ELF version")                                            \
  X(NotExecutable, "ELF type is neither EXEC nor DYN (static PIE)")               \
  X(WrongMachine, "not an x86-64 executable")                                     \
  X(BadProgramHeaderSize, "program header entry size is not 56 bytes")            \
  X(ProgramHeadersOutOfFile, "program header table lies outside the file")        \
  X(TooManySegments, "more loadable segments than the loader supports")           \
  X(NoLoadableSegment, "no loadable segment")                                     \
  X(SegmentOutOfFile, "a segment's file bytes lie outside the file")              \
  X(SegmentFileLargerThanMemory, "a segment's file size exceeds its memory size") \
  X(SegmentOutOfRange, "a segment lies outside user space or wraps around")       \
  X(BadSegmentAlignment, "a segment's alignment is invalid or inconsistent")      \
  X(SegmentsOverlap, "two loadable segments overlap")                             \
  X(WritableAndExecutable, "a segment is both writable and executable")           \
  X(EntryOutsideCode, "the entry point is not inside an executable segment")      \
  X(Interpreter, "dynamically linked executables (PT_INTERP) are not supported")  \
  X(BadImageTree, "the image tree is not a valid packed tree (docs/IMAGES.md)")   \
  X(NoProgramInImage, "the program path names no ELF file in the image tree")     \
  X(NoWorkingDirectory, "the image's WorkingDir is no directory of its tree")     \
  X(UnknownUser, "the image's User names no user or group of its /etc/passwd or /etc/group")

enum class ElfStatus : u8 {
#define ELF_STATUS_ENUM(name, text) name,
  ELF_STATUSES(ELF_STATUS_ENUM)
#undef ELF_STATUS_ENUM
};

const char* elf_status_text(ElfStatus status);

struct ElfSegment {
  u64 virtual_address;
  u64 memory_size;
  u64 file_offset;
  u64 file_size;
  bool readable;
  bool writable;
  bool executable;
};

struct ElfImage {
  static constexpr usize MAX_SEGMENTS = 8;
  bool position_independent;  // ET_DYN: segments are relative to a load base chosen by the loader.
  u64 entry;
  u64 program_header_offset;  // For AT_PHDR.
  u16 program_header_count;
  usize segment_count;
  ElfSegment segments[MAX_SEGMENTS];
  // PT_INTERP (only with allow_interpreter): the loader's path in the file, NUL-terminated; 0 if none.
  u64 interpreter_offset;
  u64 interpreter_size;
};

// user_limit: the first address the image may not reach (end of user space, or a smaller window).
// allow_interpreter: accept PT_INTERP (the Linux personality's loader maps the named loader too).
ElfStatus parse_elf(const u8* data, usize size, u64 user_limit, ElfImage& image, bool allow_interpreter = false);

}  // namespace klib
