// Multiboot1 information reader; see multiboot.hpp for the invariant.
#include "lib/multiboot.hpp"

namespace klib {
namespace {

constexpr u32 FLAG_COMMAND_LINE = 1 << 2;
constexpr u32 FLAG_MODULES = 1 << 3;
constexpr u32 FLAG_MEMORY_MAP = 1 << 6;
constexpr u32 MEMORY_AVAILABLE = 1;

template <typename T> bool read_value(PhysicalReader read, u64 address, T& value) {
  const u8* bytes = read(address, sizeof(T));
  if (bytes == nullptr) return false;
  auto* target = reinterpret_cast<u8*>(&value);
  for (usize i = 0; i < sizeof(T); ++i) target[i] = bytes[i];
  return true;
}

// Copies a NUL-terminated string one byte at a time (each byte checked by the reader);
// returns the address one past its terminator so the caller can account for it.
bool copy_string(PhysicalReader read, u64 address, char* out, usize out_size, u64& end) {
  usize length = 0;
  for (;;) {
    u8 character;
    if (!read_value(read, address + length, character)) return false;
    if (character == 0) break;
    if (length + 1 < out_size) out[length] = static_cast<char>(character);
    ++length;
  }
  out[length + 1 < out_size ? length : out_size - 1] = '\0';
  end = address + length + 1;
  return true;
}

void extend(u64& reserved_end, u64 end) {
  if (end > reserved_end) reserved_end = end;
}

}  // namespace

MultibootStatus parse_multiboot(u32 magic, u64 info_address, PhysicalReader read, BootInfo& info) {
  info = {};
  if (magic != MULTIBOOT_BOOTLOADER_MAGIC) return MultibootStatus::BadMagic;
  u32 header[13];
  if (!read_value(read, info_address, header)) return MultibootStatus::Unreadable;
  extend(info.reserved_end, info_address + sizeof(header));
  u32 flags = header[0];

  if (flags & FLAG_COMMAND_LINE) {
    u64 end;
    if (!copy_string(read, header[4], info.command_line, sizeof(info.command_line), end))
      return MultibootStatus::Unreadable;
    extend(info.reserved_end, end);
  }

  if ((flags & FLAG_MEMORY_MAP) == 0) return MultibootStatus::NoMemoryMap;
  u64 map_address = header[12];
  u64 map_end = map_address + header[11];
  extend(info.reserved_end, map_end);
  for (u64 cursor = map_address; cursor < map_end && info.region_count < BootInfo::MAX_REGIONS;) {
    struct [[gnu::packed]] Entry {
      u32 size;
      u64 base;
      u64 length;
      u32 type;
    } entry;
    if (!read_value(read, cursor, entry)) return MultibootStatus::Unreadable;
    if (entry.length > 0) {
      // A region reaching past the top of the address space ends there instead of wrapping
      // around to an end below its start.
      u64 length = entry.length <= ~u64{0} - entry.base ? entry.length : ~u64{0} - entry.base;
      MemoryRegion& region = info.regions[info.region_count++];
      region.start = entry.base;
      region.end = entry.base + length;
      region.usable = entry.type == MEMORY_AVAILABLE;
      if (region.usable) {
        info.usable_bytes += length;
        if (region.end > info.usable_end) info.usable_end = region.end;
      }
    }
    cursor += u64{entry.size} + sizeof(u32);
  }

  if (flags & FLAG_MODULES) {
    u32 count = header[5];
    u64 list = header[6];
    extend(info.reserved_end, list + u64{count} * 16);
    for (u32 index = 0; index < count && info.module_count < BootInfo::MAX_MODULES; ++index) {
      u32 module[4];
      if (!read_value(read, list + u64{index} * 16, module)) return MultibootStatus::Unreadable;
      BootModule& target = info.modules[info.module_count++];
      target.start = module[0];
      target.end = module[1];
      extend(info.reserved_end, target.end);
      if (module[2] != 0) {
        u64 end;
        if (!copy_string(read, module[2], target.command_line, sizeof(target.command_line), end))
          return MultibootStatus::Unreadable;
        extend(info.reserved_end, end);
      }
    }
  }
  return MultibootStatus::Ok;
}

bool command_line_value(const char* command_line, const char* key, char* out, usize out_size) {
  const char* cursor = command_line;
  while (*cursor != '\0') {
    while (*cursor == ' ') ++cursor;
    const char* word = cursor;
    while (*cursor != '\0' && *cursor != ' ') ++cursor;
    usize key_length = 0;
    while (key[key_length] != '\0' && word + key_length < cursor && word[key_length] == key[key_length]) ++key_length;
    if (key[key_length] == '\0' && word + key_length < cursor && word[key_length] == '=') {
      const char* value = word + key_length + 1;
      usize length = static_cast<usize>(cursor - value);
      if (out_size == 0) return true;
      if (length >= out_size) length = out_size - 1;
      for (usize i = 0; i < length; ++i) out[i] = value[i];
      out[length] = '\0';
      return true;
    }
  }
  return false;
}

}  // namespace klib
