// Function records: their names, their header's checks and the index of current records.
#include "records.hpp"

namespace gateway {
namespace {

bool same_name(const char* left, const char* right) {
  for (usize i = 0; i < RECORD_FUNCTION_NAME_BYTES; ++i) {
    if (left[i] != right[i]) return false;
    if (left[i] == '\0') return true;
  }
  return true;
}

bool name_character(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

// Appends the decimal digits of `value`.
void append_decimal(char* out, usize& at, u64 value) {
  char digits[20];
  usize count = 0;
  do digits[count++] = static_cast<char>('0' + value % 10), value /= 10;
  while (value != 0);
  while (count > 0) out[at++] = digits[--count];
}

// A decimal u64 without leading zeros, ending at `end`; advances `at`. False on overflow.
bool take_decimal(const char* text, usize& at, char end, u64& value) {
  usize start = at;
  value = 0;
  while (text[at] >= '0' && text[at] <= '9') {
    u64 digit = static_cast<u64>(text[at++] - '0');
    if (value > (~u64{0} - digit) / 10) return false;
    value = value * 10 + digit;
  }
  if (at == start || text[at] != end || (text[start] == '0' && at - start > 1)) return false;
  return true;
}

}  // namespace

u64 record_parts_bytes(const RecordHeader& header) {
  u64 total = header.config_bytes + header.executable_bytes;
  for (u64 i = 0; i < header.layer_count && i < MAX_RECORD_LAYERS; ++i) total += header.layer_bytes[i];
  return total;
}

bool record_header_valid(const RecordHeader& header, u64 size) {
  if (header.magic != RECORD_MAGIC || header.version != RECORD_VERSION) return false;
  if (header.layer_count > MAX_RECORD_LAYERS || header.config_bytes > MAX_RECORD_CONFIG_BYTES) return false;
  if (header.executable_bytes > manager::MAX_EXECUTABLE_BYTES) return false;
  if (header.config_bytes == 0 && (header.executable_bytes != 0 || header.layer_count == 0)) return false;
  for (u64 i = 0; i < header.layer_count; ++i)
    if (header.layer_bytes[i] == 0 || header.layer_bytes[i] > MAX_RECORD_LAYER_BYTES) return false;
  return size >= sizeof header && size - sizeof header == record_parts_bytes(header);
}

bool record_name(const char* kind, u32 tenant, const char* name, u64 sequence, char (&out)[store::NAME_BYTES]) {
  usize at = 0;
  usize name_length = text_length(name);
  if (name_length == 0 || name_length >= RECORD_FUNCTION_NAME_BYTES) return false;
  usize kind_length = text_length(kind);
  // kind + '+' + tenant (10) + '+' + name + '+' + sequence (20) + NUL.
  if (kind_length + name_length + 34 > store::NAME_BYTES) return false;
  for (usize i = 0; i < store::NAME_BYTES; ++i) out[i] = '\0';
  for (usize i = 0; i < kind_length; ++i) out[at++] = kind[i];
  out[at++] = '+';
  append_decimal(out, at, tenant);
  out[at++] = '+';
  for (usize i = 0; i < name_length; ++i) {
    if (!name_character(name[i])) return false;
    out[at++] = name[i];
  }
  out[at++] = '+';
  append_decimal(out, at, sequence);
  return true;
}

bool parse_record_name(const char* kind, const char* text, u32& tenant, char (&name)[RECORD_FUNCTION_NAME_BYTES],
                       u64& sequence) {
  usize at = 0;
  for (; kind[at] != '\0'; ++at)
    if (text[at] != kind[at]) return false;
  if (text[at++] != '+') return false;
  u64 number = 0;
  if (!take_decimal(text, at, '+', number) || number > 0xffffffffu) return false;
  tenant = static_cast<u32>(number);
  ++at;
  usize length = 0;
  while (name_character(text[at]) && length + 1 < RECORD_FUNCTION_NAME_BYTES) name[length++] = text[at++];
  name[length] = '\0';
  if (length == 0 || text[at++] != '+') return false;
  return take_decimal(text, at, '\0', sequence);
}

char record_list_batch[RECORD_LIST_BATCH][store::NAME_BYTES];

usize RecordIndex::home_of(u32 tenant, const char* name) {
  u64 hash = 0xcbf29ce484222325ull;  // FNV-1a over the tenant's bytes and the name.
  for (int shift = 0; shift < 32; shift += 8) hash = (hash ^ ((tenant >> shift) & 0xff)) * 0x100000001b3ull;
  for (usize i = 0; i < RECORD_FUNCTION_NAME_BYTES && name[i] != '\0'; ++i)
    hash = (hash ^ static_cast<u8>(name[i])) * 0x100000001b3ull;
  return static_cast<usize>(hash ^ (hash >> 32)) & (CAPACITY - 1);
}

RecordIndex::Entry* RecordIndex::slot(u32 tenant, const char* name, Entry** free) const {
  auto* entries = const_cast<Entry*>(entries_);
  if (free != nullptr) *free = nullptr;
  usize home = home_of(tenant, name);
  for (usize step = 0; step < CAPACITY; ++step) {
    Entry& entry = entries[(home + step) & (CAPACITY - 1)];
    if (entry.used && entry.tenant == tenant && same_name(entry.name, name)) return &entry;
    if (!entry.used && free != nullptr && *free == nullptr) *free = &entry;
    if (!entry.used && !entry.erased) return nullptr;  // The probe path ends here.
  }
  return nullptr;
}

bool RecordIndex::find(u32 tenant, const char* name, u64& sequence) const {
  sys::LockGuard guard(lock_);
  const Entry* entry = slot(tenant, name);
  if (entry == nullptr) return false;
  sequence = entry->sequence;
  return true;
}

bool RecordIndex::set(u32 tenant, const char* name, u64 sequence) {
  usize length = text_length(name);
  if (length == 0 || length >= RECORD_FUNCTION_NAME_BYTES) return false;
  sys::LockGuard guard(lock_);
  Entry* free = nullptr;
  Entry* entry = slot(tenant, name, &free);
  if (entry == nullptr) entry = free;
  if (entry == nullptr) return false;
  entry->used = true;
  entry->erased = false;
  entry->tenant = tenant;
  entry->sequence = sequence;
  for (usize i = 0; i <= length; ++i) entry->name[i] = name[i];
  return true;
}

void RecordIndex::erase(u32 tenant, const char* name) {
  sys::LockGuard guard(lock_);
  Entry* entry = slot(tenant, name);
  if (entry == nullptr) return;
  *entry = Entry{};
  entry->erased = true;
  // A tombstone followed by a never-used entry ends no probe path that needs it: this one and
  // the tombstones before it become never-used again.
  usize index = static_cast<usize>(entry - entries_);
  if (entries_[(index + 1) & (CAPACITY - 1)].used || entries_[(index + 1) & (CAPACITY - 1)].erased) return;
  for (usize step = 0; step < CAPACITY && entries_[index].erased; ++step) {
    entries_[index].erased = false;
    index = (index + CAPACITY - 1) & (CAPACITY - 1);
  }
}

usize RecordIndex::count_of(u32 tenant) const {
  sys::LockGuard guard(lock_);
  usize count = 0;
  for (const Entry& entry : entries_) count += entry.used && entry.tenant == tenant ? 1 : 0;
  return count;
}

usize RecordIndex::names_of(u32 tenant, char (*names)[RECORD_FUNCTION_NAME_BYTES], usize capacity) const {
  sys::LockGuard guard(lock_);
  usize count = 0;
  for (const Entry& entry : entries_) {
    if (!entry.used || entry.tenant != tenant || count == capacity) continue;
    // Insertion into the sorted prefix: capacity is small (a tenant's secrets).
    usize at = count;
    auto before = [](const char* left, const char* right) {
      usize i = 0;
      while (left[i] != '\0' && left[i] == right[i]) ++i;
      return static_cast<u8>(left[i]) < static_cast<u8>(right[i]);
    };
    while (at > 0 && before(entry.name, names[at - 1])) {
      __builtin_memcpy(names[at], names[at - 1], RECORD_FUNCTION_NAME_BYTES);
      --at;
    }
    __builtin_memcpy(names[at], entry.name, RECORD_FUNCTION_NAME_BYTES);
    ++count;
  }
  return count;
}

u64 RecordIndex::next_sequence() {
  sys::LockGuard guard(lock_);
  return next_++;
}

void RecordIndex::observe(u64 sequence) {
  sys::LockGuard guard(lock_);
  if (sequence >= next_) next_ = sequence + 1;
}

}  // namespace gateway
