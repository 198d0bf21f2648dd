// Asynchronous invocations (POST /async-function/{name}, docs/API.md): the callback URL's parser,
// the call id, the callback request's head, and the per-tenant queue of jobs that waits for the
// gateway's async threads (main.cpp). Pure and host-tested; the queue locks itself.
// Invariant: a tenant never has more than ASYNC_QUEUE_DEPTH jobs waiting nor more than one of its
// jobs running; every job take() hands out is matched by exactly one finish(). A tenant's waiting
// jobs are a ring in its own slice of the span (tenants.hpp), backed on its first push (before
// the lock is taken: no system call is made under it) and never before; its counters are a small
// record by slot. A slot is in the ready ring exactly when its tenant has jobs waiting and none
// running, and then only once.
#pragma once

#include "manager/protocol.hpp"
#include "metrics.hpp"
#include "sys/spin_lock.hpp"
#include "tenants.hpp"
#include "text.hpp"

namespace gateway {

using sys::u16;

// OpenFaaS's queue (NATS) takes 1 MB messages by default; the gateway takes 1 MiB bodies.
constexpr u64 ASYNC_BODY_LIMIT = 1ull << 20;
constexpr usize ASYNC_QUEUE_DEPTH = 8;       // Jobs one tenant may have waiting (429 beyond).
constexpr usize ASYNC_INLINE_BYTES = 2048;   // Bodies up to this wait in the job itself.
constexpr usize CALL_ID_BYTES = 37;          // A UUID's 36 characters and NUL.
constexpr usize CALLBACK_PATH_BYTES = 256;   // The path and query, with NUL.
constexpr usize CALLBACK_HOST_BYTES = 22;    // "255.255.255.255:65535" and NUL.

// An allowed callback: http://a.b.c.d[:port][/path[?query]].
struct CallbackUrl {
  u32 address = 0;  // a.b.c.d as (a << 24) | (b << 16) | (c << 8) | d.
  u16 port = 80;
  char host[CALLBACK_HOST_BYTES] = {};  // The Host header's value: the URL's authority as written.
  char path[CALLBACK_PATH_BYTES] = {};  // Origin form: "/" when the URL has no path.
};

// Null when `text` is an allowed callback URL (then filled into `url`), else why it is not, in
// words for a 400. Only http, an IPv4 literal (the gateway resolves no names), a port 1-65535
// (80 when none is written), printable ASCII without spaces in the path, no user information, no
// fragment; no address in 0.0.0.0/8, 127.0.0.0/8 (the guest itself) or 224.0.0.0 and above.
const char* parse_callback_url(Slice text, CallbackUrl& url);

// 128 bits as a UUID's text (8-4-4-4-12 lower-case hexadecimal digits, NUL-terminated), version 4
// and variant bits set as RFC 4122 wants them.
void format_call_id(u64 high, u64 low, char (&out)[CALL_ID_BYTES]);

// One queued invocation: everything it needs once its request's connection has moved on.
struct AsyncJob {
  u32 tenant = 0;
  char name[manager::NAME_BYTES] = {};
  char call_id[CALL_ID_BYTES] = {};
  bool has_callback = false;
  CallbackUrl callback;
  // The classic watchdog's request environment of the request (Http_Method, Http_Path, ...).
  char environment[manager::INLINE_INPUT_BYTES] = {};
  u64 environment_bytes = 0;
  u64 input_length = 0;
  // Where the body waits: in `inline_input` up to ASYNC_INLINE_BYTES, else in the AsyncInputs
  // handle `input` (0: none).
  u64 input = 0;
  u8 inline_input[ASYNC_INLINE_BYTES] = {};
  u64 queued_us = 0;
};

// The callback's request head: POST to the URL's path with Host, Content-Type, Content-Length,
// X-Call-Id, X-Function-Name, X-Function-Status (what the synchronous call would have answered)
// and X-Duration-Seconds, Connection: close. Overflows `output` only when it is too small.
void render_callback_head(const AsyncJob& job, u32 function_status, const char* content_type, u64 duration_us,
                          u64 body_length, Buffer& output);

// The status code of an HTTP/1.x response's status line at the start of `bytes` ("HTTP/1.1 204
// No Content\r\n..."), or 0 when the line is incomplete or malformed.
u32 response_status(const char* bytes, usize length);

// Where bodies larger than ASYNC_INLINE_BYTES wait (main.cpp: Memory objects of the gateway's
// factory; the tests: a fake).
class AsyncInputs {
 public:
  // A handle (never 0) to a copy of the bytes, or 0 when there is no room now.
  virtual u64 keep(const u8* bytes, u64 length) = 0;
  virtual void drop(u64 handle) = 0;

 protected:
  ~AsyncInputs() = default;
};

class AsyncQueue {
 public:
  enum class Outcome { NoCallback, Delivered, CallbackFailed };
  // What push() did: Queued (answer 202), Full (the tenant's queue holds ASYNC_QUEUE_DEPTH jobs:
  // count_rejection() and 429), NoMemory (the tenant's slice cannot be backed now, or the tenant
  // has no slot: 503 with Retry-After). On Full and NoMemory nothing is kept: the caller drops the
  // job's AsyncInputs handle.
  enum class Push { Queued, Full, NoMemory };

  // One tenant's ring of jobs (about 23 KiB), and the slice that holds it: whole pages.
  static constexpr usize RING_BYTES = sizeof(AsyncJob) * ASYNC_QUEUE_DEPTH;
  static constexpr usize SLICE_BYTES =
      (RING_BYTES + TenantSlices::PAGE_BYTES - 1) / TenantSlices::PAGE_BYTES * TenantSlices::PAGE_BYTES;

  // Once, at boot: the tenants served (`slots` must outlive this) and the span their jobs wait
  // in, slots.count() * SLICE_BYTES (slot s's slice at s * SLICE_BYTES). Forgets every job and
  // count. Until then every push() is NoMemory.
  void configure(const TenantSlots& slots, SliceMemory* memory);
  // Queues a copy of `job` at the end of its tenant's queue; the tenant's slice is backed on its
  // first push.
  [[nodiscard]] Push push(const AsyncJob& job);
  // The next job to run, copied into `job`: tenants take turns (the ready ring is first in, first
  // out, and a tenant goes back to its end when its job finishes with more waiting), and a tenant
  // with a job running waits for it to finish. False when none may run now. O(1).
  bool take(AsyncJob& job);
  // A job take() gave out has ended (it ran, or could not).
  void finish(u32 tenant, Outcome outcome);
  // A job refused with 429 (its tenant's queue full).
  void count_rejection(u32 tenant);
  // A fresh number for a call id (every call of the gateway's life gets another one).
  u64 next_sequence();

  u32 queued(u32 tenant) const;
  u32 running(u32 tenant) const;
  u64 completed(u32 tenant) const;
  u64 callback_failures(u32 tenant) const;
  // Prometheus text, by tenant in slot order (the key file's): waiting now, accepted, rejected
  // (429), completed, callbacks delivered and failed. The lines of every tenant that used the
  // queue (ALL_TENANTS), or only `tenant`'s. False when `budget` was reached first: `rows` says
  // where the next call goes on.
  bool render(Buffer& output, u32 tenant, RowCursor& rows, usize budget) const;
  // Whether a thread holds the lock now (tests: no slice is backed under it).
  bool locked() const { return lock_.held(); }

 private:
  // A tenant's counters, by slot; its jobs are in its slice.
  struct Entry {
    bool seen = false;  // The tenant pushed, was refused or finished a job: it has metrics lines.
    u32 running = 0;
    u32 head = 0;
    u32 count = 0;
    u64 accepted = 0;
    u64 rejected = 0;
    u64 completed = 0;
    u64 delivered = 0;
    u64 failed = 0;
  };
  u32 slot_of(u32 tenant) const;
  // One of a tenant's counters under the lock (0 for a tenant without a slot).
  template <typename T> T counter(u32 tenant, T Entry::*field) const;
  // Puts `slot` at the end of the ready ring (it has jobs waiting and none running).
  void make_ready(u32 slot);

  const TenantSlots* slots_ = nullptr;
  TenantSlices slices_;
  Entry entries_[MAX_TENANT_SLOTS];
  // The slots whose tenants may run a job now, oldest first; each slot at most once, so
  // MAX_TENANT_SLOTS places never overflow.
  u32 ready_[MAX_TENANT_SLOTS] = {};
  usize ready_head_ = 0;
  usize ready_count_ = 0;
  u64 sequence_ = 0;
  mutable sys::SpinLock lock_;
};

}  // namespace gateway
