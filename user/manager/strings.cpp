// A function's strings (protocol.hpp, FunctionContext): arguments, environment and secret files
// in one Memory of the manager's, built at deploy in the worker's window and then mapped
// read-only by every invocation (no copy per invocation). Invariant: a draft's Memory is either
// handed to a function (take) or removed with its slot before the request is answered; what is
// checked is always the manager's own copy, never the sender's Memory (which it may change).
#include "service.hpp"

namespace manager {
namespace {

using namespace sys;

constexpr u64 PAGE = 4096;
// Within the worker's scratch window, above an executable or tree (at the base) and DEPLOY_IMAGE's
// image record (at 2 GiB): two windows, each larger than any function's strings.
constexpr u64 STRINGS_OFFSET = 3ull << 30;
constexpr u64 STRINGS_WINDOW = 1ull << 20;
static_assert(MAX_FUNCTION_STRINGS_BYTES <= STRINGS_WINDOW);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

u64 pages_for(u64 bytes) { return (bytes + PAGE - 1) / PAGE; }

bool is_label_byte(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

}  // namespace

u64 strings_cost(u64 bytes) { return bytes == 0 ? 0 : (pages_for(bytes) + 1) * PAGE; }

Status StringsDraft::open(Worker& worker, u64 bytes, u64& detail, u64 window) {
  address_ = worker.scratch_base + STRINGS_OFFSET + (window & 1) * STRINGS_WINDOW;
  bytes_ = bytes;
  if (bytes == 0) return STATUS_OK;
  if (bytes > MAX_FUNCTION_STRINGS_BYTES) {
    detail = MAX_STRINGS_BYTES;
    return STATUS_BAD_REQUEST;
  }
  auto slot = allocate_global_slot();
  if (!slot) {
    detail = static_cast<u64>(slot.error());
    return STATUS_NO_CAPACITY;
  }
  auto memory = manager_state().factory.create_memory(slot.value(), pages_for(bytes));
  Error error = memory.error();
  if (memory) error = manager_state().self.map(memory.value(), 0, address_, pages_for(bytes), READ_WRITE).error();
  if (error != Error::None) {
    if (memory) (void)memory.value().remove();
    free_global_slot(slot.value());
    detail = static_cast<u64>(error);
    return error == Error::OutOfMemory ? STATUS_OUT_OF_MEMORY : STATUS_NO_CAPACITY;
  }
  slot_ = slot.value();
  bytes_ptr_ = reinterpret_cast<char*>(address_);
  return STATUS_OK;
}

bool StringsDraft::write(u64 offset, const void* bytes, u64 length) {
  if (offset > bytes_ || length > bytes_ - offset) return false;
  if (length > 0) __builtin_memcpy(bytes_ptr_ + offset, bytes, length);
  return true;
}

bool StringsDraft::copy(u64 offset, Memory source, u64 source_offset, u64 length) {
  if (offset > bytes_ || length > bytes_ - offset) return false;
  return length == 0 || Memory(slot_).copy_from(offset, source, source_offset, length).ok();
}

void StringsDraft::unmap() {
  if (bytes_ptr_ != nullptr) (void)manager_state().self.unmap(address_, pages_for(bytes_));
  bytes_ptr_ = nullptr;
}

u64 StringsDraft::take() {
  unmap();
  u64 slot = slot_;
  slot_ = 0;
  return slot;
}

StringsDraft::~StringsDraft() {
  unmap();
  if (slot_ != 0) {
    (void)Capability(slot_).remove();
    free_global_slot(slot_);
  }
}

u64 string_count(const char* text, u64 length) {
  u64 count = 0;
  for (u64 i = 0; i < length; ++i) count += text[i] == '\0' ? 1 : 0;
  return count;
}

bool strings_valid(const char* text, u64 length) {
  if (length == 0) return true;
  if (text[length - 1] != '\0') return false;
  for (u64 i = 0; i < length; ++i)
    if (text[i] == '\0' && (i == 0 || text[i - 1] == '\0')) return false;
  return true;
}

bool environment_valid(const char* text, u64 length) {
  if (!strings_valid(text, length)) return false;
  for (u64 at = 0; at < length;) {
    if (text[at] == '=') return false;
    bool equals = false;
    for (; text[at] != '\0'; ++at)
      if (text[at] == '=') equals = true;
    if (!equals) return false;
    ++at;
  }
  return true;
}

bool secret_files_valid(const char* text, u64 length) {
  u64 files = 0;
  for (u64 at = 0; at < length;) {
    u64 name = 0;
    while (at + name < length && text[at + name] != '\0') {
      if (!is_label_byte(text[at + name])) return false;
      ++name;
    }
    if (name == 0 || name >= NAME_BYTES || at + name >= length || text[at] == '-' || text[at + name - 1] == '-')
      return false;
    // Every name only once: the personality shows one file per name.
    for (u64 other = 0; other < at;) {
      u64 other_name = 0;
      while (text[other + other_name] != '\0') ++other_name;
      if (other_name == name && __builtin_memcmp(text + other, text + at, name) == 0) return false;
      u32 other_size = 0;
      __builtin_memcpy(&other_size, text + other + other_name + 1, 4);
      other += other_name + 5 + other_size;
    }
    at += name + 1;
    if (length - at < 4) return false;
    u32 size = 0;
    __builtin_memcpy(&size, text + at, 4);
    at += 4;
    if (size > MAX_SECRET_FILE_BYTES || size > length - at) return false;
    at += size;
    if (++files > MAX_SECRET_FILES) return false;
  }
  return true;
}

}  // namespace manager
