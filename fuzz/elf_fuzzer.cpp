// Fuzz target: the ELF reader (kernel/lib/elf.cpp), which the root task and the container manager
// run on untrusted executables. Beyond not crashing: an accepted image's program header table and
// every segment's file bytes lie inside the file, every segment lies below the user limit without
// wrapping, no two segments share a page, none is writable and executable, and the entry point is
// inside an executable segment; an image accepted below a smaller limit is accepted, the same,
// below the full one.
#include "check.hpp"
#include "lib/elf.hpp"

using namespace klib;

namespace {

constexpr u64 USER_SPACE_END = 0x0000800000000000;
constexpr u64 SMALL_LIMIT = 0x40000000;

void check_image(const ElfImage& image, size_t size, u64 limit) {
  FUZZ_CHECK(image.segment_count >= 1 && image.segment_count <= ElfImage::MAX_SEGMENTS);
  FUZZ_CHECK(image.program_header_offset <= size);
  FUZZ_CHECK(u64{image.program_header_count} * 56 <= size - image.program_header_offset);
  bool entry_in_code = false;
  for (usize index = 0; index < image.segment_count; ++index) {
    const ElfSegment& segment = image.segments[index];
    FUZZ_CHECK(segment.memory_size > 0);
    FUZZ_CHECK(segment.file_offset <= size && segment.file_size <= size - segment.file_offset);
    FUZZ_CHECK(segment.file_size <= segment.memory_size);
    FUZZ_CHECK(segment.virtual_address <= limit && segment.memory_size <= limit - segment.virtual_address);
    FUZZ_CHECK(!(segment.writable && segment.executable));
    u64 first_page = segment.virtual_address / PAGE_SIZE;
    u64 end_page = (segment.virtual_address + segment.memory_size + PAGE_SIZE - 1) / PAGE_SIZE;
    for (usize other = 0; other < index; ++other) {
      const ElfSegment& earlier = image.segments[other];
      u64 other_first = earlier.virtual_address / PAGE_SIZE;
      u64 other_end = (earlier.virtual_address + earlier.memory_size + PAGE_SIZE - 1) / PAGE_SIZE;
      FUZZ_CHECK(end_page <= other_first || other_end <= first_page);
    }
    entry_in_code = entry_in_code || (segment.executable && image.entry >= segment.virtual_address &&
                                      image.entry - segment.virtual_address < segment.memory_size);
  }
  FUZZ_CHECK(entry_in_code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ElfImage image;
  ElfStatus status = parse_elf(data, size, USER_SPACE_END, image);
  FUZZ_CHECK(elf_status_text(status) != nullptr);
  if (status == ElfStatus::Ok) check_image(image, size, USER_SPACE_END);
  ElfImage small;
  if (parse_elf(data, size, SMALL_LIMIT, small) == ElfStatus::Ok) {
    check_image(small, size, SMALL_LIMIT);
    FUZZ_CHECK(status == ElfStatus::Ok);
    FUZZ_CHECK(small.entry == image.entry && small.segment_count == image.segment_count);
    for (usize index = 0; index < small.segment_count; ++index) {
      const ElfSegment& a = small.segments[index];
      const ElfSegment& b = image.segments[index];
      FUZZ_CHECK(a.virtual_address == b.virtual_address && a.memory_size == b.memory_size &&
                 a.file_offset == b.file_offset && a.file_size == b.file_size && a.readable == b.readable &&
                 a.writable == b.writable && a.executable == b.executable);
    }
  }
  return 0;
}
