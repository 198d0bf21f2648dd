// parse_elf: accepts well-formed static executables and rejects each malformation with its reason.
#include "lib/elf.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using klib::ElfImage;
using klib::ElfStatus;

namespace {

constexpr klib::u64 USER_LIMIT = 0x0000800000000000;

struct Segment {
  klib::u32 type = 1;
  klib::u32 flags = 5;  // Read + execute.
  klib::u64 offset = 0;
  klib::u64 address = 0x400000;
  klib::u64 file_size = 0x1000;
  klib::u64 memory_size = 0x1000;
  klib::u64 alignment = 0x1000;
};

// Builds an ELF64 image: header, program headers right after it, file padded to file_size.
std::vector<klib::u8> build(const std::vector<Segment>& segments, klib::u64 entry = 0x400100, klib::u16 type = 2,
                            klib::usize file_size = 0x3000) {
  std::vector<klib::u8> file(file_size, 0);
  const klib::u8 ident[16] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
  std::memcpy(file.data(), ident, sizeof(ident));
  auto put16 = [&](klib::usize at, klib::u16 v) { std::memcpy(&file[at], &v, 2); };
  auto put32 = [&](klib::usize at, klib::u32 v) { std::memcpy(&file[at], &v, 4); };
  auto put64 = [&](klib::usize at, klib::u64 v) { std::memcpy(&file[at], &v, 8); };
  put16(16, type);
  put16(18, 62);
  put32(20, 1);
  put64(24, entry);
  put64(32, 64);
  put16(52, 64);
  put16(54, 56);
  put16(56, static_cast<klib::u16>(segments.size()));
  for (klib::usize i = 0; i < segments.size(); ++i) {
    klib::usize at = 64 + i * 56;
    put32(at, segments[i].type);
    put32(at + 4, segments[i].flags);
    put64(at + 8, segments[i].offset);
    put64(at + 16, segments[i].address);
    put64(at + 32, segments[i].file_size);
    put64(at + 40, segments[i].memory_size);
    put64(at + 48, segments[i].alignment);
  }
  return file;
}

ElfStatus parse(const std::vector<klib::u8>& file) {
  ElfImage image;
  return klib::parse_elf(file.data(), file.size(), USER_LIMIT, image);
}

Segment data_segment() {
  Segment data;
  data.flags = 6;  // Read + write.
  data.offset = 0x1000;
  data.address = 0x401000;
  data.file_size = 0x800;
  data.memory_size = 0x3000;
  return data;
}

}  // namespace

TEST(Elf, AcceptsCodeAndDataSegments) {
  auto file = build({Segment{}, data_segment()});
  ElfImage image;
  ASSERT_EQ(klib::parse_elf(file.data(), file.size(), USER_LIMIT, image), ElfStatus::Ok);
  EXPECT_EQ(image.segment_count, 2u);
  EXPECT_EQ(image.entry, 0x400100u);
  EXPECT_FALSE(image.position_independent);
  EXPECT_TRUE(image.segments[0].executable);
  EXPECT_FALSE(image.segments[0].writable);
  EXPECT_TRUE(image.segments[1].writable);
  EXPECT_EQ(image.segments[1].memory_size, 0x3000u);
  EXPECT_EQ(image.program_header_count, 2);
}

TEST(Elf, AcceptsStaticPie) {
  Segment code;
  code.address = 0;
  EXPECT_EQ(parse(build({code}, 0x100, 3)), ElfStatus::Ok);
}

TEST(Elf, RejectsHeaderDamage) {
  EXPECT_EQ(parse(std::vector<klib::u8>(10, 0)), ElfStatus::TooSmall);
  auto file = build({Segment{}});
  file[1] = 'X';
  EXPECT_EQ(parse(file), ElfStatus::BadMagic);
  file = build({Segment{}});
  file[4] = 1;
  EXPECT_EQ(parse(file), ElfStatus::Not64Bit);
  file = build({Segment{}});
  file[5] = 2;
  EXPECT_EQ(parse(file), ElfStatus::NotLittleEndian);
  file = build({Segment{}});
  file[6] = 0;
  EXPECT_EQ(parse(file), ElfStatus::BadVersion);
  EXPECT_EQ(parse(build({Segment{}}, 0x400100, 1)), ElfStatus::NotExecutable);
  file = build({Segment{}});
  file[18] = 3;  // EM_386.
  EXPECT_EQ(parse(file), ElfStatus::WrongMachine);
  file = build({Segment{}});
  file[54] = 32;
  EXPECT_EQ(parse(file), ElfStatus::BadProgramHeaderSize);
  file = build({Segment{}});
  file[32] = 0xf0;  // Program header table starting 16 bytes before the end of the file.
  file[33] = 0x2f;
  EXPECT_EQ(parse(file), ElfStatus::ProgramHeadersOutOfFile);
  file = build({Segment{}});
  std::memset(&file[32], 0xff, 8);  // Offset that wraps around when the table size is added.
  EXPECT_EQ(parse(file), ElfStatus::ProgramHeadersOutOfFile);
}

TEST(Elf, RejectsSegmentDamage) {
  Segment bad;
  bad.file_size = 0x4000;
  EXPECT_EQ(parse(build({bad})), ElfStatus::SegmentOutOfFile);
  bad = {};
  bad.offset = ~klib::u64{0} - 10;
  EXPECT_EQ(parse(build({bad})), ElfStatus::SegmentOutOfFile);
  bad = {};
  bad.memory_size = 0x800;
  EXPECT_EQ(parse(build({bad})), ElfStatus::SegmentFileLargerThanMemory);
  bad = {};
  bad.address = USER_LIMIT - 0x800;
  EXPECT_EQ(parse(build({bad}, USER_LIMIT - 0x700)), ElfStatus::SegmentOutOfRange);
  bad = {};
  bad.address = ~klib::u64{0} - 0xfff;
  EXPECT_EQ(parse(build({bad})), ElfStatus::SegmentOutOfRange);
  bad = {};
  bad.alignment = 0x1800;
  EXPECT_EQ(parse(build({bad})), ElfStatus::BadSegmentAlignment);
  bad = {};
  bad.address = 0x400800;
  EXPECT_EQ(parse(build({bad}, 0x400900)), ElfStatus::BadSegmentAlignment);
  bad = {};
  bad.flags = 7;
  EXPECT_EQ(parse(build({bad})), ElfStatus::WritableAndExecutable);
}

TEST(Elf, RejectsLayoutProblems) {
  Segment overlapping = data_segment();
  overlapping.address = 0x400000;
  overlapping.offset = 0;
  EXPECT_EQ(parse(build({Segment{}, overlapping})), ElfStatus::SegmentsOverlap);
  Segment note;
  note.type = 4;
  EXPECT_EQ(parse(build({note})), ElfStatus::NoLoadableSegment);
  EXPECT_EQ(parse(build({Segment{}}, 0x500000)), ElfStatus::EntryOutsideCode);
  EXPECT_EQ(parse(build({Segment{}, data_segment()}, 0x401000)), ElfStatus::EntryOutsideCode);
  Segment interpreter;
  interpreter.type = 3;
  EXPECT_EQ(parse(build({interpreter, Segment{}})), ElfStatus::Interpreter);
  std::vector<Segment> many;
  for (int i = 0; i < 9; ++i) {
    Segment segment;
    segment.address = 0x400000 + static_cast<klib::u64>(i) * 0x1000;
    many.push_back(segment);
  }
  EXPECT_EQ(parse(build(many, 0x400100, 2, 0x3000)), ElfStatus::TooManySegments);
}

// The Linux personality's loader (program_loader.cpp) accepts PT_INTERP and learns the path's
// place; the manager's static-executable check still refuses it.
TEST(Elf, InterpreterOnlyWhenAllowed) {
  Segment interpreter;
  interpreter.type = 3;
  interpreter.offset = 0x200;
  interpreter.file_size = 0x1c;
  interpreter.memory_size = 0x1c;
  interpreter.alignment = 1;
  auto file = build({interpreter, Segment{}});
  const char path[] = "/lib64/ld-linux-x86-64.so.2";
  std::memcpy(&file[0x200], path, sizeof path);
  klib::ElfImage image;
  EXPECT_EQ(klib::parse_elf(file.data(), file.size(), USER_LIMIT, image), ElfStatus::Interpreter);
  ASSERT_EQ(klib::parse_elf(file.data(), file.size(), USER_LIMIT, image, true), ElfStatus::Ok);
  EXPECT_EQ(image.interpreter_offset, 0x200u);
  EXPECT_EQ(image.interpreter_size, 0x1cu);
  EXPECT_EQ(image.segment_count, 1u);
  // Not NUL-terminated, or beyond the file: refused.
  file[0x200 + 0x1b] = 'x';
  EXPECT_EQ(klib::parse_elf(file.data(), file.size(), USER_LIMIT, image, true), ElfStatus::SegmentOutOfFile);
  interpreter.offset = 0x2ff0;
  EXPECT_EQ(klib::parse_elf(build({interpreter, Segment{}}).data(), 0x3000, USER_LIMIT, image, true),
            ElfStatus::SegmentOutOfFile);
}

TEST(Elf, EveryStatusHasText) {
  EXPECT_STREQ(klib::elf_status_text(ElfStatus::Ok), "valid executable");
  EXPECT_STREQ(klib::elf_status_text(ElfStatus::Interpreter),
               "dynamically linked executables (PT_INTERP) are not supported");
}

// Random bytes must never crash the reader (run under ASan/UBSan); a short deterministic sweep.
TEST(Elf, SurvivesCorruptedImages) {
  auto pristine = build({Segment{}, data_segment()});
  klib::u32 state = 12345;
  for (int round = 0; round < 5000; ++round) {
    auto file = pristine;
    for (int flip = 0; flip < 4; ++flip) {
      state = state * 1103515245 + 12345;
      file[(state >> 8) % 176] = static_cast<klib::u8>(state >> 16);
    }
    ElfImage image;
    ElfStatus status = klib::parse_elf(file.data(), file.size(), USER_LIMIT, image);
    if (status == ElfStatus::Ok) {
      for (klib::usize i = 0; i < image.segment_count; ++i) {
        EXPECT_LE(image.segments[i].file_offset + image.segments[i].file_size, file.size());
        EXPECT_LE(image.segments[i].virtual_address + image.segments[i].memory_size, USER_LIMIT);
      }
    }
  }
}
