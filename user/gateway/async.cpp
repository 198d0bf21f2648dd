// Asynchronous invocations: callback URLs, call ids, the callback's head and the per-tenant job
// queue; see async.hpp.
#include "async.hpp"
#include "metrics.hpp"

namespace gateway {

using sys::LockGuard;

namespace {

// A decimal number of 1-`digits` digits without a leading zero (but "0" itself), at most `most`.
bool parse_bounded(Slice text, usize digits, u64 most, u64& value) {
  if (text.size == 0 || text.size > digits || (text.size > 1 && text.data[0] == '0')) return false;
  value = 0;
  for (usize i = 0; i < text.size; ++i) {
    char c = text.data[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<u64>(c - '0');
  }
  return value <= most;
}

// a.b.c.d, each part 0-255 in decimal without leading zeros (so "010" is not read as octal or
// decimal by surprise); false for anything else, names included.
bool parse_ipv4(Slice text, u32& address) {
  address = 0;
  for (int part = 0; part < 4; ++part) {
    usize dot = part < 3 ? text.find('.') : text.size;
    if (part < 3 && dot == text.size) return false;
    u64 value = 0;
    if (!parse_bounded(text.prefix(dot), 3, 255, value)) return false;
    address = address << 8 | static_cast<u32>(value);
    text = text.from(dot + (part < 3 ? 1 : 0));
  }
  return text.size == 0;
}

}  // namespace

const char* parse_callback_url(Slice text, CallbackUrl& url) {
  url = CallbackUrl{};
  constexpr const char SCHEME[] = "http://";
  if (text.starts_with("https://")) return "X-Callback-Url: only http:// callbacks (the gateway speaks no TLS)";
  if (!text.starts_with(SCHEME)) return "X-Callback-Url must be http://host:port/path";
  Slice rest = text.from(sizeof SCHEME - 1);
  usize slash = rest.find('/');
  usize question = rest.find('?');
  usize authority_end = slash < question ? slash : question;
  Slice authority = rest.prefix(authority_end);
  Slice path = rest.from(authority_end);
  if (authority.find('@') != authority.size) return "X-Callback-Url: no user information (user@) allowed";
  if (authority.size > 0 && authority.data[0] == '[') return "X-Callback-Url: the host must be an IPv4 address";
  usize colon = authority.find(':');
  Slice host = authority.prefix(colon);
  if (host.empty()) return "X-Callback-Url has no host";
  if (!parse_ipv4(host, url.address))
    return "X-Callback-Url: the host must be an IPv4 address such as 10.0.2.2 (the gateway resolves no names)";
  u32 first = url.address >> 24;
  if (first == 0 || first == 127 || first >= 224)
    return "X-Callback-Url: the address may not be 0.x, 127.x (the guest itself), multicast or broadcast";
  if (colon < authority.size) {
    u64 port = 0;
    if (!parse_bounded(authority.from(colon + 1), 5, 65535, port) || port == 0)
      return "X-Callback-Url: the port must be a number from 1 to 65535";
    url.port = static_cast<u16>(port);
  }
  if (!authority.copy_to(url.host, sizeof url.host)) return "X-Callback-Url: the host and port are too long";
  for (usize i = 0; i < path.size; ++i) {
    char c = path.data[i];
    if (c == '#') return "X-Callback-Url: no fragment (#) allowed";
    if (c <= ' ' || c > '~') return "X-Callback-Url: the path must be printable ASCII without spaces";
  }
  if (path.empty()) path = Slice::of("/");
  if (path.data[0] == '?') {
    // "http://host?q": the path is "/" and the query follows it.
    if (path.size + 2 > sizeof url.path) return "X-Callback-Url: the path is longer than 254 bytes";
    url.path[0] = '/';
    return path.copy_to(url.path + 1, sizeof url.path - 1) ? nullptr : "X-Callback-Url: the path is too long";
  }
  if (!path.copy_to(url.path, sizeof url.path)) return "X-Callback-Url: the path is longer than 255 bytes";
  return nullptr;
}

void format_call_id(u64 high, u64 low, char (&out)[CALL_ID_BYTES]) {
  constexpr char DIGITS[] = "0123456789abcdef";
  high = (high & ~0xf000ull) | 0x4000ull;                   // Version 4 (random).
  low = (low & ~(0xc000ull << 48)) | (0x8000ull << 48);     // Variant 10.
  usize at = 0;
  for (int nibble = 0; nibble < 32; ++nibble) {
    if (nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20) out[at++] = '-';
    u64 word = nibble < 16 ? high : low;
    out[at++] = DIGITS[(word >> (60 - 4 * (nibble % 16))) & 15];
  }
  out[at] = '\0';
}

void render_callback_head(const AsyncJob& job, u32 function_status, const char* content_type, u64 duration_us,
                          u64 body_length, Buffer& output) {
  output.append("POST ");
  output.append(job.callback.path);
  output.append(" HTTP/1.1\r\nHost: ");
  output.append(job.callback.host);
  output.append("\r\nUser-Agent: metteagle-gateway\r\nContent-Type: ");
  output.append(content_type);
  output.append("\r\nContent-Length: ");
  output.append_unsigned(body_length);
  output.append("\r\nX-Call-Id: ");
  output.append(job.call_id);
  output.append("\r\nX-Function-Name: ");
  output.append(job.name);
  output.append("\r\nX-Function-Status: ");
  output.append_unsigned(function_status);
  output.append("\r\nX-Duration-Seconds: ");
  output.append_seconds(duration_us);
  output.append("\r\nConnection: close\r\n\r\n");
}

u32 response_status(const char* bytes, usize length) {
  Slice line{bytes, length};
  usize end = line.find('\n');
  if (end == line.size) return 0;
  line = line.prefix(end);
  if (!line.starts_with("HTTP/1.") || line.size < 12 || line.data[8] != ' ') return 0;
  u64 status = 0;
  if (!parse_bounded(line.from(9).prefix(3), 3, 999, status) || status < 100) return 0;
  if (line.size > 12 && line.data[12] != ' ' && line.data[12] != '\r') return 0;
  return static_cast<u32>(status);
}

void AsyncQueue::configure(const TenantSlots& slots, SliceMemory* memory) {
  LockGuard guard(lock_);
  slots_ = &slots;
  slices_.configure(memory, &slots, SLICE_BYTES);
  for (Entry& entry : entries_) entry = Entry{};
  ready_head_ = 0;
  ready_count_ = 0;
}

u32 AsyncQueue::slot_of(u32 tenant) const { return slots_ == nullptr ? TenantSlots::NONE : slots_->slot_of(tenant); }

void AsyncQueue::make_ready(u32 slot) {
  ready_[(ready_head_ + ready_count_) % MAX_TENANT_SLOTS] = slot;
  ++ready_count_;
}

AsyncQueue::Push AsyncQueue::push(const AsyncJob& job) {
  // The ring is backed on the tenant's first push, before the lock (a system call); later pushes
  // find it backed and take nothing. Without it (prepare failed) the push is NoMemory below.
  (void)slices_.prepare(job.tenant, RING_BYTES);
  LockGuard guard(lock_);
  u32 slot = slot_of(job.tenant);
  if (slot == TenantSlots::NONE) return Push::NoMemory;
  Entry& entry = entries_[slot];
  entry.seen = true;
  if (entry.count == ASYNC_QUEUE_DEPTH) return Push::Full;
  AsyncJob* jobs = reinterpret_cast<AsyncJob*>(slices_.find(job.tenant, RING_BYTES));
  if (jobs == nullptr) return Push::NoMemory;
  jobs[(entry.head + entry.count) % ASYNC_QUEUE_DEPTH] = job;
  ++entry.count;
  ++entry.accepted;
  // Its first job waiting and none running: the tenant joins the end of the turns.
  if (entry.count == 1 && entry.running == 0) make_ready(slot);
  return Push::Queued;
}

bool AsyncQueue::take(AsyncJob& job) {
  LockGuard guard(lock_);
  if (ready_count_ == 0) return false;
  u32 slot = ready_[ready_head_];
  ready_head_ = (ready_head_ + 1) % MAX_TENANT_SLOTS;
  --ready_count_;
  // In the ready ring: jobs waiting (so its slice is backed) and none running.
  Entry& entry = entries_[slot];
  AsyncJob* jobs = reinterpret_cast<AsyncJob*>(slices_.find(slots_->tenant_at(slot), RING_BYTES));
  job = jobs[entry.head];
  entry.head = (entry.head + 1) % ASYNC_QUEUE_DEPTH;
  --entry.count;
  ++entry.running;
  return true;
}

void AsyncQueue::finish(u32 tenant, Outcome outcome) {
  LockGuard guard(lock_);
  u32 slot = slot_of(tenant);
  if (slot == TenantSlots::NONE) return;
  Entry& entry = entries_[slot];
  entry.seen = true;
  if (entry.running == 0) return;
  --entry.running;
  ++entry.completed;
  if (outcome == Outcome::Delivered) ++entry.delivered;
  if (outcome == Outcome::CallbackFailed) ++entry.failed;
  // More of its jobs waiting: the tenant's next turn comes after every tenant ready now.
  if (entry.count > 0) make_ready(slot);
}

void AsyncQueue::count_rejection(u32 tenant) {
  LockGuard guard(lock_);
  u32 slot = slot_of(tenant);
  if (slot == TenantSlots::NONE) return;
  entries_[slot].seen = true;
  ++entries_[slot].rejected;
}

u64 AsyncQueue::next_sequence() {
  LockGuard guard(lock_);
  return ++sequence_;
}

template <typename T> T AsyncQueue::counter(u32 tenant, T Entry::*field) const {
  LockGuard guard(lock_);
  u32 slot = slot_of(tenant);
  return slot == TenantSlots::NONE ? 0 : entries_[slot].*field;
}

u32 AsyncQueue::queued(u32 tenant) const { return counter(tenant, &Entry::count); }
u32 AsyncQueue::running(u32 tenant) const { return counter(tenant, &Entry::running); }
u64 AsyncQueue::completed(u32 tenant) const { return counter(tenant, &Entry::completed); }
u64 AsyncQueue::callback_failures(u32 tenant) const { return counter(tenant, &Entry::failed); }

bool AsyncQueue::render(Buffer& output, u32 tenant, RowCursor& rows, usize budget) const {
  LockGuard guard(lock_);
  struct Family {
    const char* name;
    const char* help;
    const char* type;
    u64 Entry::*counter;
  } const families[] = {
      {"metteagle_async_queued", "Asynchronous invocations waiting in their tenant's queue now.", "gauge", nullptr},
      {"metteagle_async_queued_total", "Asynchronous invocations accepted (202).", "counter", &Entry::accepted},
      {"metteagle_async_rejected_total", "Asynchronous invocations refused with 429: the tenant's queue was full.",
       "counter", &Entry::rejected},
      {"metteagle_async_completed_total", "Asynchronous invocations that ran (whatever their status).", "counter",
       &Entry::completed},
      {"metteagle_async_callbacks_total", "Callbacks delivered (the callback URL answered 2xx).", "counter",
       &Entry::delivered},
      {"metteagle_async_callback_failures_total",
       "Callbacks that failed: no connection, no answer in time, or an answer other than 2xx.", "counter",
       &Entry::failed},
  };
  constexpr usize FAMILIES = sizeof families / sizeof families[0];
  bool all = tenant == ALL_TENANTS;
  auto head = [&](usize family) {
    gateway::family(output, families[family].name, families[family].type, families[family].help);
  };
  // The operator's page: every slot in order (the key file's); a tenant's own: its slot only.
  auto row = [&](usize family, usize index) {
    u32 slot = all ? static_cast<u32>(index) : slot_of(tenant);
    if (slot == TenantSlots::NONE || !entries_[slot].seen) return;
    const Entry& entry = entries_[slot];
    const Family& series = families[family];
    tenant_sample(output, series.name, slots_->tenant_at(slot),
                  series.counter == nullptr ? entry.count : entry.*series.counter);
  };
  usize slot_rows = slots_ == nullptr ? 0 : slots_->count();
  return rows.render(output, budget, FAMILIES, all ? slot_rows : 1, head, row);
}

}  // namespace gateway
