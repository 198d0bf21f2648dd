// Each tenant's ring of function log lines in its slice, /system/logs's JSON lines, and the
// follow streams per tenant; see logs.hpp.
#include "logs.hpp"

#include "metrics.hpp"
#include "openfaas.hpp"

namespace gateway {
namespace {

bool same_name(const char* left, const char* right) {
  for (usize i = 0; i < manager::NAME_BYTES; ++i) {
    if (left[i] != right[i]) return false;
    if (left[i] == '\0') return true;
  }
  return true;
}

bool digits(Slice text, usize at, usize count, u64& value) {
  if (at + count > text.size) return false;
  value = 0;
  for (usize i = at; i < at + count; ++i) {
    char c = text.data[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<u64>(c - '0');
  }
  return true;
}

bool leap(u64 year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

}  // namespace

void FunctionLogs::configure(const TenantSlots& slots, SliceMemory* memory) {
  sys::LockGuard guard(lock_);
  slots_ = &slots;
  slices_.configure(memory, &slots, SLICE_BYTES);
  for (u64& count : dropped_) count = 0;
  dropped_total_ = 0;
}

FunctionLogs::Ring* FunctionLogs::find(u32 tenant) { return reinterpret_cast<Ring*>(slices_.find(tenant, RING_BYTES)); }

const FunctionLogs::Ring* FunctionLogs::find(u32 tenant) const {
  return reinterpret_cast<const Ring*>(slices_.find(tenant, RING_BYTES));
}

void FunctionLogs::append(u32 tenant, const char* name, u64 call, u64 time_us, const char* text, usize length) {
  // The ring is backed on the tenant's first line, before the lock (a system call); later lines
  // find it backed and take nothing. Without it (prepare failed) the lines are counted below.
  (void)slices_.prepare(tenant, RING_BYTES);
  sys::LockGuard guard(lock_);
  Ring* ring = find(tenant);
  usize at = 0;
  while (at < length) {
    usize end = at;
    while (end < length && text[end] != '\n' && end - at < LINE_BYTES) ++end;
    if (end > at && ring == nullptr) {
      // No memory for the tenant's ring now: the line is lost, and counted.
      u32 slot = slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant);
      if (slot != TenantSlots::NONE) ++dropped_[slot];
      ++dropped_total_;
    } else if (end > at) {
      Line& line = ring->lines[ring->next];
      ring->next = (ring->next + 1) % LINES_PER_TENANT;
      line = Line{};
      line.used = true;
      for (usize i = 0; i + 1 < manager::NAME_BYTES && name[i] != '\0'; ++i) line.name[i] = name[i];
      line.call = call;
      line.sequence = next_sequence_++;
      line.time_us = time_us;
      line.length = end - at;
      __builtin_memcpy(line.text, text + at, line.length);
    }
    at = end < length && text[end] == '\n' ? end + 1 : end;
  }
}

u64 FunctionLogs::dropped(u32 tenant) const {
  sys::LockGuard guard(lock_);
  u32 slot = slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant);
  return slot == TenantSlots::NONE ? 0 : dropped_[slot];
}

u64 FunctionLogs::dropped_total() const {
  sys::LockGuard guard(lock_);
  return dropped_total_;
}

bool FunctionLogs::render_metrics(Buffer& output, u32 tenant, RowCursor& rows, usize budget) const {
  sys::LockGuard guard(lock_);
  const char* name = "metteagle_log_lines_dropped_total";
  auto head = [&](usize) {
    family(output, name, "counter",
           "Function log lines not kept: the tenant's log ring could not be backed (its window memory).");
  };
  // The operator's page: every slot in order; a tenant's own: its slot only.
  bool all = tenant == ALL_TENANTS;
  auto row = [&](usize, usize index) {
    u32 slot = all ? static_cast<u32>(index) : slots_->slot_of(tenant);
    if (slot != TenantSlots::NONE) tenant_sample(output, name, slots_->tenant_at(slot), dropped_[slot]);
  };
  usize row_count = slots_ == nullptr ? 0 : all ? slots_->count() : 1;  // Unconfigured: the head only.
  return rows.render(output, budget, 1, row_count, head, row);
}

namespace {

void render_line(const char* name, u64 call, u64 time_us, const char* text, usize length, Buffer& output) {
  output.append("{\"name\": ");
  output.append_json_string(name);
  output.append(", \"namespace\": \"\", \"instance\": \"");
  output.append_unsigned(call);
  output.append("\", \"timestamp\": \"");
  append_boot_time(output, time_us);
  output.append("\", \"text\": ");
  output.append_json_string(text, length);
  output.append("}\n");
}

}  // namespace

void FunctionLogs::render_after(u32 tenant, const char* name, u64& after, Buffer& output) const {
  sys::LockGuard guard(lock_);
  const Ring* log = find(tenant);
  if (log == nullptr) return;
  u64 newest = after;
  for (usize step = 0; step < LINES_PER_TENANT; ++step) {
    const Line& line = log->lines[(log->next + step) % LINES_PER_TENANT];  // Oldest first.
    if (!line.used || line.sequence <= after) continue;
    if (!same_name(line.name, name)) {
      newest = line.sequence;
      continue;
    }
    // Rendered apart first: only a whole line goes out (a JSON line at most ~1.3 KiB escaped).
    char one[1536];
    Buffer piece(one, sizeof one);
    render_line(line.name, line.call, line.time_us, line.text, line.length, piece);
    if (piece.overflowed() || piece.size() > output.room()) break;
    output.append(piece.data(), piece.size());
    newest = line.sequence;
  }
  after = newest;
}

void FunctionLogs::render(u32 tenant, const char* name, u64 since_us, u64 tail, Buffer& output, u64* latest) const {
  sys::LockGuard guard(lock_);
  if (latest != nullptr) *latest = next_sequence_ - 1;
  const Ring* log = find(tenant);
  if (log == nullptr) return;
  auto matches = [&](const Line& line) { return line.used && line.time_us >= since_us && same_name(line.name, name); };
  usize total = 0;
  for (const Line& line : log->lines) total += matches(line) ? 1u : 0u;
  usize skip = tail != 0 && tail < total ? total - static_cast<usize>(tail) : 0;
  for (usize step = 0; step < LINES_PER_TENANT; ++step) {
    const Line& line = log->lines[(log->next + step) % LINES_PER_TENANT];  // Oldest first.
    if (!matches(line)) continue;
    if (skip > 0) {
      --skip;
      continue;
    }
    render_line(line.name, line.call, line.time_us, line.text, line.length, output);
  }
}

void FunctionLogs::forget(u32 tenant, const char* name) {
  sys::LockGuard guard(lock_);
  Ring* log = find(tenant);  // Only a tenant whose ring is backed has lines.
  if (log == nullptr) return;
  for (Line& line : log->lines)
    if (line.used && same_name(line.name, name)) line = Line{};
}

void FollowStreams::configure(const TenantSlots& slots) {
  sys::LockGuard guard(lock_);
  slots_ = &slots;
  for (u32& streams : open_) streams = 0;
}

bool FollowStreams::try_enter(u32 tenant) {
  sys::LockGuard guard(lock_);
  u32 slot = slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant);
  if (slot == TenantSlots::NONE || open_[slot] >= PER_TENANT) return false;
  ++open_[slot];
  return true;
}

void FollowStreams::leave(u32 tenant) {
  sys::LockGuard guard(lock_);
  u32 slot = slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant);
  if (slot != TenantSlots::NONE && open_[slot] > 0) --open_[slot];
}

u32 FollowStreams::open(u32 tenant) const {
  sys::LockGuard guard(lock_);
  u32 slot = slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant);
  return slot == TenantSlots::NONE ? 0 : open_[slot];
}

bool parse_boot_time(Slice text, u64& microseconds) {
  u64 year, month, day, hour, minute, second;
  if (!digits(text, 0, 4, year) || text.size < 20 || text.data[4] != '-' || !digits(text, 5, 2, month) ||
      text.data[7] != '-' || !digits(text, 8, 2, day) || text.data[10] != 'T' || !digits(text, 11, 2, hour) ||
      text.data[13] != ':' || !digits(text, 14, 2, minute) || text.data[16] != ':' || !digits(text, 17, 2, second))
    return false;
  usize at = 19;
  u64 fraction = 0;
  if (at < text.size && text.data[at] == '.') {
    ++at;
    u64 scale = 100'000;
    usize first = at;
    while (at < text.size && text.data[at] >= '0' && text.data[at] <= '9') {
      fraction += static_cast<u64>(text.data[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == first) return false;
  }
  if (at + 1 != text.size || text.data[at] != 'Z') return false;
  if (year < 1970 || year > 2300 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60)
    return false;
  const u64 month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  u64 days = 0;
  for (u64 y = 1970; y < year; ++y) days += leap(y) ? 366u : 365u;
  for (u64 m = 1; m < month; ++m) days += month_days[m - 1] + (m == 2 && leap(year) ? 1u : 0u);
  days += day - 1;
  microseconds = ((days * 86400 + hour * 3600 + minute * 60 + second) * 1'000'000) + fraction;
  return true;
}

}  // namespace gateway
