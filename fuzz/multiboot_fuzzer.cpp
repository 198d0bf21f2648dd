// Fuzz target: the kernel's multiboot information reader and command-line lookup
// (kernel/lib/multiboot.cpp), over a fake physical memory that is the input itself (the
// information structure at address 0). Beyond not crashing: counts stay within the arrays, every
// string is NUL-terminated in its buffer, every region ends at or after its start, and
// reserved_end covers the information structure and every module.
#include <cstring>

#include "check.hpp"
#include "lib/multiboot.hpp"

using namespace klib;

namespace {

const u8* memory_data = nullptr;
size_t memory_size = 0;

// Physical memory is the input: [0, size) readable, everything else not.
const u8* read_memory(u64 address, usize size) {
  if (address > memory_size || size > memory_size - address) return nullptr;
  return memory_data + address;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  memory_data = data;
  memory_size = size;
  BootInfo info;
  MultibootStatus status = parse_multiboot(MULTIBOOT_BOOTLOADER_MAGIC, 0, read_memory, info);
  if (status != MultibootStatus::Ok) return 0;
  FUZZ_CHECK(info.region_count <= BootInfo::MAX_REGIONS && info.module_count <= BootInfo::MAX_MODULES);
  FUZZ_CHECK(std::memchr(info.command_line, '\0', sizeof info.command_line) != nullptr);
  FUZZ_CHECK(info.reserved_end >= 52);
  u64 usable = 0;
  for (usize index = 0; index < info.region_count; ++index) {
    const MemoryRegion& region = info.regions[index];
    FUZZ_CHECK(region.end >= region.start);
    if (region.usable) {
      FUZZ_CHECK(region.end <= info.usable_end);
      usable += region.end - region.start;
    }
  }
  FUZZ_CHECK(usable == info.usable_bytes);
  for (usize index = 0; index < info.module_count; ++index) {
    FUZZ_CHECK(std::memchr(info.modules[index].command_line, '\0', sizeof info.modules[index].command_line) != nullptr);
    FUZZ_CHECK(info.modules[index].end <= info.reserved_end);
  }
  char value[8];
  std::memset(value, 0x55, sizeof value);
  if (command_line_value(info.command_line, "test", value, sizeof value))
    FUZZ_CHECK(std::memchr(value, '\0', sizeof value) != nullptr);
  return 0;
}
