// gateway: the HTTP front door (docs/API.md). Listens on port 8080 through the net server's socket
// interface (net/socket.hpp), parses HTTP/1.1 with keep-alive, and maps each request to the
// container manager's protocol (manager/protocol.hpp), each API key (read at boot from the key
// file, keys.hpp) to one manager sub-tenant. One event loop (the first thread) owns every
// connection: it waits in the net server's Poll, reads and sends without blocking, assembles
// requests (connection.hpp) under their deadlines, answers /healthz and every request without a
// valid key itself, admits each invocation through its tenant's invocation admission
// (admission.hpp) to INVOCATION_THREADS invocation threads and every other request through its
// tenant's control admission to WORKER_COUNT workers; both call the manager (blocking) and hand
// the answer back (a Wake ends the loop's Poll). No thread ever waits for one client, no
// invocation ever holds a worker, and no tenant holds more than its share of either
// (docs/NETWORK.md, "Fairness").
// Invariant: every request read gets exactly one response (or the connection is closed and
// counted); a connection slot is touched only by the stage that owns it (loop: Reading, Sending;
// one worker: Working), handed over through the locked queues; state the workers share is the
// GatewayShared (locked inside), the slot allocator (locked) and the large-object count (atomic).
#include <atomic>
#include <new>

#include "api.hpp"
#include "keys.hpp"
#include "net/socket.hpp"
#include "print.hpp"
#include "store/protocol.hpp"
#include "sys/sys.hpp"

#include "sys/string.hpp"
#include "window_budget.hpp"
extern "C" [[noreturn]] void metteagle_exit_thread();

namespace {

using namespace sys;
using gateway::ManagerReply;

constexpr u64 NET_ENDPOINT = FIRST_ENDPOINT;          // endpoint=net:send (first in the boot line)
constexpr u64 MANAGER_ENDPOINT = FIRST_ENDPOINT + 1;  // endpoint=manager:send+grant
constexpr u64 STORE_ENDPOINT = FIRST_ENDPOINT + 2;    // endpoint=store:send+grant (optional: /system/images)
constexpr u64 HTTP_PORT = 8080;
// Workers for every request but invocations and /healthz (threads 1-4); 0 runs the event loop.
constexpr usize WORKER_COUNT = gateway::GatewayShared::CONTROL_WORKERS;
// Invocation threads (5-16): one per invocation the admission lets run, so one always takes it.
constexpr usize INVOCATION_THREADS = gateway::GatewayShared::INVOCATION_THREADS;
constexpr usize THREAD_COUNT = WORKER_COUNT + INVOCATION_THREADS;  // Besides the event loop's.
// How long an invocation or a control request may wait in its tenant's queue (TenantAdmission)
// before it is dropped with 503: longer than any one invocation's default timeout, so a queue that
// moves never drops.
constexpr u64 QUEUE_WAIT_US = 30'000'000;
// Open at once (the key file's connections= may lower it); the next client gets 503. The net
// server holds 320, so it always has room to accept the one that is refused.
constexpr usize MAX_CONNECTIONS = gateway::MAX_CONNECTION_LIMIT;
constexpr usize INPUT_BYTES = 12 * 1024;   // A connection's head (8 KiB at most) and an inline body.
constexpr usize OUTPUT_BYTES = 4 * 1024;   // A response head and a body that fits; larger go to Memory.
// A small output read out of its window goes inline (answer_request keeps 1 KiB for the head).
static_assert(OUTPUT_BYTES - 1024 >= gateway::READ_OUTPUT_BYTES);
constexpr usize MAX_LARGE_OBJECTS = 128;   // Windows for large bodies and responses at once.
// Each connection has two windows of address space, one for a large request body and one for a
// large response body: a demand-zero Memory object of the gateway's factory mapped there while the
// request needs it, its pages backed (MemoryCommit) before the gateway touches them, so that a
// factory out of quota is a 503, never a fault in the gateway.
constexpr u64 WINDOW_AREA = 0x0000710000000000;
constexpr u64 WINDOW_SPAN = 256ull << 20;  // More than the largest body and a buffer, with a gap.
constexpr u64 EAGER_WINDOW_BYTES = 4ull << 20;  // Windows up to this are backed whole at creation.
static_assert(gateway::MAX_BODY_LIMIT + 64 * 1024 < WINDOW_SPAN);
constexpr u64 SEND_GRACE_US = 10'000'000;  // A response's deadline: this plus its length at the rate below.
constexpr u64 SEND_MINIMUM_BYTES_PER_SECOND = 16 * 1024;
constexpr u64 MAX_POLL_WAIT_US = 1'000'000;
constexpr u64 FOLLOW_POLL_US = 250'000;  // How often a follow stream looks for new lines.
constexpr usize READS_PER_TURN = 32;  // Receives per connection per turn (16 KiB), so none hogs the loop.
constexpr usize BULK_READS_PER_TURN = 4;  // The same with bulk receives (128 KiB).
constexpr u64 WORKER_STACK_PAGES = 16;  // 64 KiB, as the first thread's stack (docs/BOOT.md).
constexpr u64 WORKER_STACK_AREA = 0x0000700000000000;
constexpr u64 WORKER_UTCB_AREA = 0x0000700100000000;
// The key file is parsed where it is, mapped read-only here for the parse only: 4,096 keys of up
// to 256 bytes a line need no buffer of the gateway's.
constexpr u64 KEY_FILE_AREA = 0x0000790000000000;
constexpr u64 MAX_KEY_FILE_BYTES = 1024 * 1024;
// Asynchronous invocations (/async-function/, async.hpp): threads THREAD_COUNT + 1 .. run the
// queued jobs and post their callbacks, so neither the event loop nor a worker ever waits for a
// callback's receiver.
constexpr usize ASYNC_THREADS = 2;
constexpr u64 ASYNC_WINDOW_AREA = 0x0000740000000000;  // One output window per async thread.
constexpr usize MAX_KEPT_INPUTS = 32;  // Bodies over 2 KiB kept in Memory objects at once (503 beyond).
constexpr u64 ASYNC_RETRY_US = 30'000'000;  // A job refused for capacity (429, 503) is retried each second this long.
constexpr u64 CALLBACK_CONNECT_NS = 5'000'000'000;
constexpr u64 CALLBACK_POLL_NS = 20'000'000;  // While the callback's receiver has no room: wait this, then try again.
constexpr u32 MEMORY_READ = abi::rights_of(abi::MemoryRight::Read);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

Console console(CONSOLE);

// The capability slots this task manages, shared by the workers.
class SharedSlots {
 public:
  Result<u64> allocate() {
    gateway::LockGuard guard(lock_);
    return slots_.allocate();
  }
  void free(u64 slot) {
    gateway::LockGuard guard(lock_);
    slots_.free(slot);
  }

 private:
  gateway::SpinLock lock_;
  SlotAllocator slots_{FIRST_FREE, 256};
};
SharedSlots slots;

// One worker's buffers (about 0.3 MiB): each worker answers one request at a time. Request
// bodies and invocation outputs larger than these stay in their connection's windows; the
// /metrics page is rendered in pieces into its connection's response window (start_page).
struct WorkerBuffers {
  u8 output[4096];  // An inline invocation output (at most manager::INLINE_BYTES).
  char text[128 * 1024];
  char strings[gateway::DEPLOY_STRINGS_BYTES];  // A deploy's strings.
};
WorkerBuffers worker_buffers[WORKER_COUNT];
// An invocation thread's buffers (20 KiB): an inline output and the JSON of an error answer.
struct InvocationBuffers {
  u8 output[4096];  // At most manager::INLINE_BYTES.
  char text[16 * 1024];
};
InvocationBuffers invocation_buffers[INVOCATION_THREADS];

u64 pages_for(u64 bytes) { return bytes == 0 ? 1 : (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }

// A Memory object of the gateway's own factory, deleted with its slot when the scope ends.
class ScopedMemory {
 public:
  ScopedMemory() = default;
  ScopedMemory(const ScopedMemory&) = delete;
  ScopedMemory& operator=(const ScopedMemory&) = delete;
  ~ScopedMemory() {
    if (slot_ == 0) return;
    (void)Capability(slot_).remove();
    slots.free(slot_);
  }
  Result<Memory> create(u64 pages) {
    auto slot = slots.allocate();
    if (!slot.ok()) return slot.error();
    auto memory = Factory(OWN_FACTORY).create_memory(slot.value(), pages);
    if (!memory.ok()) {
      slots.free(slot.value());
      return memory.error();
    }
    slot_ = slot.value();
    return memory.value();
  }

 private:
  u64 slot_ = 0;
};

class ManagerBackend final : public gateway::Backend {
 public:
  explicit ManagerBackend(Endpoint endpoint) : endpoint_(endpoint), hertz_(thread_self().tsc_hertz) {}

  ManagerReply deploy(u32 sub_tenant, const char* name, const gateway::Payload& image,
                      const manager::FunctionConfig& config, const char* arguments, u64 argument_bytes) override {
    ManagerReply failed;
    // A fresh object of exactly the executable (the manager reads it with MemoryRead, which a
    // demand-zero window does not allow).
    u64 size = image.length;
    ScopedMemory scoped;
    auto memory = scoped.create(pages_for(size));
    if (!memory.ok() || !memory->write(0, image.bytes, size).ok()) return failed;
    manager::DeployRequest body;
    manager::pack_name(name, body.name);
    body.executable_size = size;
    body.config = config;
    if (argument_bytes > manager::MAX_ARGUMENT_BYTES) return failed;
    memcpy(body.arguments, arguments, argument_bytes);
    Message request = message_of(manager::with_sub_tenant(manager::DEPLOY, sub_tenant), body,
                                 offsetof(manager::DeployRequest, arguments) + argument_bytes);
    request.attach(memory.value(), MEMORY_READ);
    return call(request, gateway::CONTROL_SEND_TIMEOUT_NS);
  }

  ManagerReply invoke(u32 sub_tenant, const char* name, const gateway::Payload& input, u8* output,
                      u64 output_capacity, u64 output_window, u64 send_timeout_ns) override {
    ManagerReply failed;
    manager::InvokeRequest body;
    u64 input_size = input.length;
    manager::pack_name(name, body.name);
    body.input_size = input_size;
    body.environment_bytes = 0;
    body.flags = 0;
    bool output_in_memory = output_window != 0 || output_capacity > manager::INLINE_BYTES;
    // The protocol names capabilities by position: output Memory is [1], so it needs input Memory [0],
    // unless there is no input at all (INVOKE_OUTPUT_ONLY: the output is [0]). The request's
    // environment takes the inline bytes, so a non-empty input goes in Memory then.
    u64 environment_bytes = input.environment_bytes <= manager::INLINE_INPUT_BYTES ? input.environment_bytes : 0;
    bool output_only = output_in_memory && input_size == 0 && input.memory == 0;
    if (output_only) body.flags = manager::INVOKE_OUTPUT_ONLY;
    bool input_in_memory =
        !output_only && (input_size > manager::INLINE_INPUT_BYTES || output_in_memory || environment_bytes > 0);
    ScopedMemory input_scope;
    ScopedMemory output_scope;
    u64 inline_bytes = 0;
    Message request;
    if (input_in_memory && input.memory != 0) {
      // The body's own window goes to the function as its input: no copy of it is made.
      body.output_capacity = output_capacity;
      request.attach(Memory(input.memory), MEMORY_READ);
    } else if (input_in_memory) {
      auto memory = input_scope.create(pages_for(input_size));
      if (!memory.ok() || (input_size > 0 && !memory->write(0, input.bytes, input_size).ok())) return failed;
      body.output_capacity = output_capacity;
      request.attach(memory.value(), MEMORY_READ);
    } else {
      body.output_capacity = output_only ? output_capacity : manager::INLINE_BYTES;
      memcpy(body.inline_bytes, input.bytes, input_size);
      inline_bytes = input_size;
    }
    if (environment_bytes > 0) {
      body.environment_bytes = environment_bytes;
      memcpy(body.inline_bytes, input.environment, environment_bytes);
      inline_bytes = environment_bytes;
    }
    Memory output_memory;
    if (output_window != 0) {
      output_memory = Memory(output_window);
      request.attach(output_memory, READ_WRITE);
    } else if (output_in_memory) {
      auto memory = output_scope.create(pages_for(output_capacity));
      if (!memory.ok()) return failed;
      output_memory = memory.value();
      request.attach(output_memory, READ_WRITE);
    }
    // Capabilities attached above stay attached.
    put(request, manager::with_sub_tenant(manager::INVOKE, sub_tenant), body,
        offsetof(manager::InvokeRequest, inline_bytes) + inline_bytes);
    ManagerReply reply = call(request, send_timeout_ns);
    if (!reply.delivered) return reply;
    bool has_output = reply.status == manager::STATUS_OK || reply.status == manager::STATUS_FAILED;
    auto answer = reply.body<manager::InvokeReply>();
    u64 size = answer.result.output_size;
    // The log tail follows the inline output's words (protocol.hpp, INVOKE).
    bool inline_output = !output_in_memory && has_output && size <= manager::INLINE_BYTES;
    reply.log_offset = offsetof(manager::InvokeReply, tail) + (inline_output ? sys::words_for(size) * 8 : 0);
    if (!has_output || size > output_capacity) return reply;
    if (output_window != 0) {
      // The output stays in the window; the caller reads it there.
    } else if (output_in_memory) {
      if (size > 0 && !output_memory.read(0, output, size).ok()) reply.status = manager::STATUS_INTERNAL_ERROR;
    } else {
      u64 carried = sys::bytes_from(reply.word_count, offsetof(manager::InvokeReply, tail));
      if (size > carried) {
        reply.status = manager::STATUS_INTERNAL_ERROR;
      } else {
        memcpy(output, answer.tail, size);
      }
    }
    return reply;
  }

  ManagerReply request(u32 sub_tenant, u32 kind, const void* body, u64 bytes) override {
    Message request;
    request.set_words(manager::with_sub_tenant(kind, sub_tenant), store_bytes(request.words, body, bytes));
    return call(request, gateway::CONTROL_SEND_TIMEOUT_NS);
  }

  ManagerReply request_with_strings(u32 sub_tenant, u32 kind, const void* body, u64 bytes, const char* strings,
                                    u64 strings_bytes) override {
    // A fresh object of exactly the strings: the manager copies them out before it answers.
    ScopedMemory scoped;
    auto memory = scoped.create(pages_for(strings_bytes));
    if (!memory.ok() || !memory->write(0, strings, strings_bytes).ok()) return ManagerReply{};
    Message request;
    request.set_words(manager::with_sub_tenant(kind, sub_tenant), store_bytes(request.words, body, bytes));
    request.attach(memory.value(), MEMORY_READ);
    return call(request, gateway::CONTROL_SEND_TIMEOUT_NS);
  }

  u64 now_microseconds() override { return ticks_to_microseconds(__builtin_ia32_rdtsc()); }
  u64 ticks_to_microseconds(u64 ticks) override {
    u64 per_microsecond = hertz_ >= 1'000'000 ? hertz_ / 1'000'000 : 1;
    return ticks / per_microsecond;
  }

 private:
  // The timeout bounds only the send phase (until a manager worker takes the request): the kernel
  // has no timeout for the reply phase of IpcCall, so once taken the answer is awaited, and no
  // late answer can ever meet a later request (the thread is blocked for this one until it comes).
  ManagerReply call(Message& request, u64 send_timeout_ns) {
    ManagerReply reply;
    Message answer;
    auto called = endpoint_.call(request, answer, send_timeout_ns);
    if (!called.ok()) {
      reply.timed_out = called.error() == Error::Timeout;
      return reply;
    }
    reply.delivered = true;
    reply.status = answer.label();
    reply.word_count = answer.word_count() < abi::MESSAGE_WORDS ? answer.word_count() : abi::MESSAGE_WORDS;
    memcpy(reply.words, answer.words, reply.word_count * 8);
    return reply;
  }

  Endpoint endpoint_;
  u64 hertz_;
};

// The image store (store/protocol.hpp) for /system/images: one call per request; a connection's
// import handle is the store's, found only with the gateway's badge.
class StoreBackend final : public gateway::ImageStore {
 public:
  explicit StoreBackend(Endpoint endpoint) : endpoint_(endpoint) {}

  gateway::StoreReply import(u32 tenant, const char* reference, u64 buffer) override {
    store::ImportRequest body{};
    body.tenant = tenant;
    store::pack_text(reference, body.reference, store::NAME_BYTES);
    Message request = message_of(store::IMPORT, body);
    request.attach(Memory(buffer), MEMORY_READ);
    return call(request);
  }
  gateway::StoreReply write(u64 handle, u64 length) override {
    Message request = message_of(store::WRITE, store::WriteRequest{handle, 0, length});
    return call(request);
  }
  gateway::StoreReply commit(u64 handle) override {
    Message request = message_of(store::COMMIT, store::HandleRequest{handle});
    return call(request);
  }
  void abort(u64 handle) override {
    Message request = message_of(store::ABORT, store::HandleRequest{handle});
    (void)call(request);
  }
  gateway::StoreReply list(u32 tenant, u64 index) override {
    Message request = message_of(store::IMAGE_LIST, store::ImageListRequest{tenant, index});
    return call(request);
  }
  gateway::StoreReply remove(u32 tenant, const char* reference) override {
    store::ImageRequest body{};
    body.tenant = tenant;
    store::pack_text(reference, body.reference, store::NAME_BYTES);
    Message request = message_of(store::IMAGE_DELETE, body);
    return call(request);
  }

 private:
  gateway::StoreReply call(Message& request) {
    gateway::StoreReply reply;
    Message answer;
    if (!endpoint_.call(request, answer).ok()) return reply;
    reply.delivered = true;
    reply.status = answer.label();
    reply.word_count = answer.word_count() < abi::MESSAGE_WORDS ? answer.word_count() : abi::MESSAGE_WORDS;
    memcpy(reply.words, answer.words, reply.word_count * 8);
    return reply;
  }

  Endpoint endpoint_;
};

// The image store's generic blobs for the function records (gateway/records.hpp): one Memory per
// record written, filled with MemoryWrite and lent to CREATE; open records' Memory kept in a slot.
constexpr u64 RECORD_MAP_AREA = 0x0000720000000000;  // The boot's restore maps one record here.
store::NameRequest name_request(const char* name) {
  store::NameRequest request{};
  store::pack_text(name, request.name, store::NAME_BYTES);
  return request;
}

class StoreRecords final : public gateway::RecordStore {
 public:
  explicit StoreRecords(Endpoint endpoint) : endpoint_(endpoint) {}

  bool put(const char* name, const gateway::RecordPiece* pieces, usize count) override {
    u64 total = 0;
    for (usize i = 0; i < count; ++i) total += pieces[i].length;
    ScopedMemory scoped;
    auto memory = scoped.create(pages_for(total));
    if (!memory.ok()) return false;
    u64 at = 0;
    for (usize i = 0; i < count; ++i) {
      const gateway::RecordPiece& piece = pieces[i];
      if (piece.bytes != nullptr) {
        if (piece.length > 0 && !memory->write(at, piece.bytes, piece.length).ok()) return false;
      } else {
        Memory source = memory_of(piece.blob);
        u8 bounce[4096];
        for (u64 done = 0; done < piece.length;) {
          u64 length = piece.length - done < sizeof bounce ? piece.length - done : sizeof bounce;
          if (source.is_null() || !source.read(piece.offset + done, bounce, length).ok() ||
              !memory->write(at + done, bounce, length).ok())
            return false;
          done += length;
        }
      }
      at += piece.length;
    }
    store::CreateRequest create{};
    store::pack_text(name, create.name, store::NAME_BYTES);
    create.size_hint = total;
    Message request = sys::message_of(store::CREATE, create);
    request.attach(memory.value(), MEMORY_READ);
    Message answer;
    if (!call(request, answer)) return false;
    store::HandleReply created;
    sys::get(answer, created);
    for (u64 done = 0; done < total;) {
      u64 length = total - done < store::MAX_WRITE_BYTES ? total - done : store::MAX_WRITE_BYTES;
      // A failed WRITE ends the handle in the store (and gives its blocks back).
      if (!call(sys::message_of(store::WRITE, store::WriteRequest{created.handle, done, length}), answer)) return false;
      done += length;
    }
    return call(sys::message_of(store::COMMIT, store::HandleRequest{created.handle}), answer);
  }

  bool remove(const char* name) override {
    Message answer;
    return call(sys::message_of(store::DELETE, name_request(name)), answer);
  }

  bool list(u64 first, char (*names)[store::NAME_BYTES], usize capacity, usize& count, u64& total) override {
    Message answer;
    count = 0;
    if (!call(sys::message_of(store::LIST, store::ListRequest{first}), answer)) return false;
    store::ListReply reply;
    sys::get(answer, reply);
    total = reply.total;
    u64 listed = reply.count;
    const char* bytes = reply.names;
    u64 room = sizeof reply.names;
    u64 at = 0;
    for (u64 i = 0; i < listed && count < capacity && at < room; ++i) {
      u64 length = 0;
      while (at + length < room && bytes[at + length] != '\0') ++length;
      if (at + length >= room || length >= store::NAME_BYTES) return false;  // A malformed reply.
      memcpy(names[count], bytes + at, length);
      names[count][length] = '\0';
      ++count;
      at += length + 1;
    }
    return true;
  }

  bool open(const char* name, u64& handle, u64& size) override {
    gateway::LockGuard guard(lock_);
    usize free = MAX_OPEN;
    for (usize i = 0; i < MAX_OPEN && free == MAX_OPEN; ++i)
      if (open_[i].slot == 0) free = i;
    if (free == MAX_OPEN) return false;
    auto slot = slots.allocate();
    if (!slot.ok()) return false;
    set_receive_slots(slot.value());
    Message answer;
    bool opened = endpoint_.call(sys::message_of(store::OPEN, name_request(name)), answer).ok() &&
                  answer.label() == store::STATUS_OK;
    set_receive_slots(abi::NULL_SELECTOR);
    store::OpenReply reply;
    sys::get(answer, reply);
    if (!opened || answer.received_capabilities != 1) {
      if (opened) (void)call(sys::message_of(store::CLOSE, store::HandleRequest{reply.handle}), answer);
      slots.free(slot.value());
      return false;
    }
    open_[free] = OpenRecord{slot.value(), reply.handle, reply.size, false};
    handle = free + 1;
    size = reply.size;
    return true;
  }

  bool read(u64 handle, u64 offset, void* out, u64 length) override {
    Memory memory = memory_of(handle);
    return !memory.is_null() && memory.read(offset, out, length).ok();
  }

  const u8* map(u64 handle, u64 size) override {
    gateway::LockGuard guard(lock_);
    if (handle == 0 || handle > MAX_OPEN || open_[handle - 1].slot == 0 || size > store::MAX_BLOB_BYTES) return nullptr;
    for (const OpenRecord& record : open_)
      if (record.mapped) return nullptr;  // One at a time.
    OpenRecord& record = open_[handle - 1];
    if (!Task(SELF_TASK).map(Memory(record.slot), 0, RECORD_MAP_AREA, pages_for(size), MEMORY_READ).ok()) return nullptr;
    record.mapped = true;
    return reinterpret_cast<const u8*>(RECORD_MAP_AREA);
  }

  void close(u64 handle) override {
    gateway::LockGuard guard(lock_);
    if (handle == 0 || handle > MAX_OPEN || open_[handle - 1].slot == 0) return;
    OpenRecord& record = open_[handle - 1];
    if (record.mapped) (void)Task(SELF_TASK).unmap(RECORD_MAP_AREA, pages_for(record.size));
    Message answer;
    (void)call(sys::message_of(store::CLOSE, store::HandleRequest{record.store_handle}), answer);
    (void)Capability(record.slot).remove();
    slots.free(record.slot);
    record = OpenRecord{};
  }

 private:
  static constexpr usize MAX_OPEN = 8;
  struct OpenRecord {
    u64 slot = 0;
    u64 store_handle = 0;
    u64 size = 0;
    bool mapped = false;
  };
  Memory memory_of(u64 handle) {
    gateway::LockGuard guard(lock_);
    if (handle == 0 || handle > MAX_OPEN || open_[handle - 1].slot == 0) return Memory();
    return Memory(open_[handle - 1].slot);
  }
  bool call(const Message& request, Message& answer) {
    Message copy = request;
    return endpoint_.call(copy, answer).ok() && answer.label() == store::STATUS_OK;
  }

  Endpoint endpoint_;
  gateway::SpinLock lock_;
  OpenRecord open_[MAX_OPEN];
};

// Import handles of connections that went away mid-upload: the event loop must not call the store
// (it may be busy importing for seconds), so it leaves them here and a worker aborts them.
class AbandonedImports {
 public:
  void push(u64 handle) {
    gateway::LockGuard guard(lock_);
    if (count_ < MAX_CONNECTIONS) handles_[count_++] = handle;  // At most one per connection.
  }
  bool pop(u64& handle) {
    gateway::LockGuard guard(lock_);
    if (count_ == 0) return false;
    handle = handles_[--count_];
    return true;
  }

 private:
  gateway::SpinLock lock_;
  u64 handles_[MAX_CONNECTIONS] = {};
  usize count_ = 0;
};
AbandonedImports abandoned_imports;

// The per-function tables' memory (gateway/function_table.hpp): one demand-zero Memory object of
// the gateway's factory per table, mapped at its own area for MAX_FUNCTION_ENTRIES entries, its
// pages backed (MemoryCommit, charged) chunk by chunk as the table grows, so that a factory out of
// quota refuses a deploy (507) rather than faulting the gateway. Chunks are never given back: a
// deleted function's entry is reused by the next one.
constexpr u64 SERIES_TABLE_AREA = 0x0000730000000000;
constexpr u64 CATALOG_TABLE_AREA = 0x0000750000000000;
class FactoryTableMemory final : public gateway::TableMemory {
 public:
  // Reserves the span (no memory yet); false without a slot or a factory object.
  bool create(u64 address, usize bytes) {
    auto slot = slots.allocate();
    if (!slot.ok()) return false;
    auto memory = Factory(OWN_FACTORY).create_lazy_memory(slot.value(), pages_for(bytes));
    if (!memory.ok() || !Task(SELF_TASK).map(memory.value(), 0, address, pages_for(bytes), READ_WRITE).ok()) {
      if (memory.ok()) (void)Capability(slot.value()).remove();
      slots.free(slot.value());
      return false;
    }
    memory_ = memory.value();
    address_ = address;
    pages_ = pages_for(bytes);
    return true;
  }
  void* back(usize bytes) override {
    u64 pages = pages_for(bytes);
    if (address_ == 0 || pages > pages_) return nullptr;
    if (pages > backed_pages_) {
      if (!memory_.commit(backed_pages_, pages - backed_pages_).ok()) return nullptr;
      backed_pages_ = pages;
    }
    return reinterpret_cast<void*>(address_);
  }

 private:
  Memory memory_;
  u64 address_ = 0;
  u64 pages_ = 0;
  u64 backed_pages_ = 0;
};
FactoryTableMemory series_table_memory;
FactoryTableMemory catalog_table_memory;

// The per-tenant slices (gateway/tenants.hpp): log rings, async job rings and envProcess pools.
// One demand-zero Memory object of the gateway's factory per kind, mapped at its own area with a
// slice for every key's tenant; a slice's pages are charged to its tenant's window budget and
// committed when the tenant first needs them (before the table takes its lock), and kept. So the
// gateway's memory follows the tenants that log, queue and deploy, not the number of keys, and no
// tenant can take what another's budget guarantees.
constexpr u64 LOG_SLICES_AREA = 0x0000760000000000;
constexpr u64 ASYNC_SLICES_AREA = 0x0000770000000000;
constexpr u64 POOL_SLICES_AREA = 0x0000780000000000;
class FactorySliceMemory final : public gateway::SliceMemory {
 public:
  bool create(u64 address, usize slices, usize slice_bytes) {
    u64 pages = slices * pages_for(slice_bytes);
    auto slot = slots.allocate();
    if (!slot.ok()) return false;
    auto memory = Factory(OWN_FACTORY).create_lazy_memory(slot.value(), pages);
    if (!memory.ok() || !Task(SELF_TASK).map(memory.value(), 0, address, pages, READ_WRITE).ok()) {
      if (memory.ok()) (void)Capability(slot.value()).remove();
      slots.free(slot.value());
      return false;
    }
    memory_ = memory.value();
    address_ = address;
    pages_ = pages;
    return true;
  }
  u8* base() override { return reinterpret_cast<u8*>(address_); }
  bool back(u32 tenant, usize first_page, usize pages) override;

 private:
  Memory memory_;
  u64 address_ = 0;
  u64 pages_ = 0;
};
FactorySliceMemory log_slices;
FactorySliceMemory async_slices;
FactorySliceMemory pool_slices;

// A window: a demand-zero Memory object of the gateway's factory, mapped at a fixed address of
// its connection, for a request body or a response too large for the connection's buffers.
// Created when needed and deleted when done; its pages are backed (MemoryCommit, charged) before
// the gateway touches them. At most MAX_LARGE_OBJECTS exist at once (capability slots are
// finite): beyond, the request is answered 503 instead of taking what the manager calls need.
std::atomic<usize> large_objects{0};
// Every window's pages are charged to its tenant here first (docs/NETWORK.md, "Window memory"):
// a tenant's guarantee holds whatever the others open.
gateway::WindowBudget window_budget;
bool FactorySliceMemory::back(u32 tenant, usize first_page, usize pages) {
  if (address_ == 0 || first_page + pages > pages_) return false;
  if (!window_budget.charge(tenant, pages)) return false;
  if (!memory_.commit(first_page, pages).ok()) {
    window_budget.refund(tenant, pages);
    return false;
  }
  return true;
}
class Window {
 public:
  void place(u64 address) { address_ = address; }
  // A window of `bytes` for `tenant`; `whole`: backed at once (an object of ordinary memory, whose
  // pages every mapping shows from the start, so neither the gateway nor a function faults on
  // them) and charged to the tenant's budget at once, else demand-zero, charged and backed by
  // reserve() as bytes arrive.
  u8* create(u32 tenant, u64 bytes, bool whole = false) { return make(tenant, bytes, whole, true) ? writable() : nullptr; }
  // An invocation's output window of `capacity` bytes for `tenant`, for the manager (its selector;
  // 0 when there is no room): demand-zero, and mapped here only when its bytes are sent from it
  // (bytes()); a small output is read out instead (read()). So an invocation with a small output
  // costs the gateway two system calls (create, delete) and one MemoryRead, not five (a map, a
  // MemoryCommit and an unmap, whose shootdown interrupts the other CPU while it runs a gateway
  // thread: 1.18x the rate at 16 connections without them; docs/BENCHMARKS.md). An object backed
  // whole made every invocation zero and map its function's whole output limit (1 MiB by default:
  // 256 pages, 5.5% of the guest's time at 4 connections; "Profiling the HTTP path"). The
  // function faults once per page it writes; as those pages are its to touch, the whole capacity
  // is charged to the tenant's budget at once.
  u64 create_output(u64 capacity, u32 tenant) {
    if (!window_budget.charge(tenant, pages_for(capacity))) return 0;
    if (!make(tenant, capacity, false, false)) {
      window_budget.refund(tenant, pages_for(capacity));
      return 0;
    }
    charged_pages_ = pages_for(capacity_);
    return slot_;
  }
  // Its first `length` bytes copied to `target`.
  bool read(u8* target, u64 length) const { return slot_ != 0 && length <= capacity_ && memory_.read(0, target, length).ok(); }
  // Backs the first `bytes` bytes (rounded to pages) with memory, charged to the window's tenant,
  // and maps the window first if it is not.
  bool reserve(u64 bytes) {
    if (slot_ == 0 || bytes > capacity_) return false;
    if (!mapped_) {
      if (!Task(SELF_TASK).map(memory_, 0, address_, pages_for(capacity_), READ_WRITE).ok()) return false;
      mapped_ = true;
    }
    u64 pages = pages_for(bytes);
    if (pages <= backed_pages_) return true;
    u64 charge = pages > charged_pages_ ? pages - charged_pages_ : 0;
    if (charge != 0 && !window_budget.charge(tenant_, charge)) return false;
    if (!memory_.commit(backed_pages_, pages - backed_pages_).ok()) {
      window_budget.refund(tenant_, charge);
      return false;
    }
    charged_pages_ += charge;
    backed_pages_ = pages;
    return true;
  }
  void release() {
    if (slot_ == 0) return;
    if (mapped_) (void)Task(SELF_TASK).unmap(address_, pages_for(capacity_));
    (void)Capability(slot_).remove();
    slots.free(slot_);
    slot_ = 0;
    mapped_ = false;
    capacity_ = 0;
    backed_pages_ = 0;
    give_back_charge();
    large_objects.fetch_sub(1, std::memory_order_relaxed);
  }
  bool exists() const { return slot_ != 0; }
  u64 selector() const { return slot_; }
  const u8* bytes() const { return reinterpret_cast<const u8*>(address_); }
  u8* writable() const { return reinterpret_cast<u8*>(address_); }

 private:
  // The window's Memory (`whole`: backed at once, else demand-zero), mapped at once if `map`.
  bool make(u32 tenant, u64 bytes, bool whole, bool map) {
    release();
    if (bytes == 0) bytes = 1;
    if (whole && !window_budget.charge(tenant, pages_for(bytes))) return false;
    tenant_ = tenant;
    charged_pages_ = whole ? pages_for(bytes) : 0;
    if (large_objects.fetch_add(1, std::memory_order_relaxed) >= MAX_LARGE_OBJECTS) {
      large_objects.fetch_sub(1, std::memory_order_relaxed);
      give_back_charge();
      return false;
    }
    auto slot = slots.allocate();
    if (slot.ok()) {
      Factory factory(OWN_FACTORY);
      auto memory = whole ? factory.create_memory(slot.value(), pages_for(bytes))
                          : factory.create_lazy_memory(slot.value(), pages_for(bytes));
      if (memory.ok() && (!map || Task(SELF_TASK).map(memory.value(), 0, address_, pages_for(bytes), READ_WRITE).ok())) {
        slot_ = slot.value();
        memory_ = memory.value();
        mapped_ = map;
        capacity_ = bytes;
        backed_pages_ = whole ? pages_for(bytes) : 0;
        return true;
      }
      if (memory.ok()) (void)Capability(slot.value()).remove();
      slots.free(slot.value());
    }
    large_objects.fetch_sub(1, std::memory_order_relaxed);
    give_back_charge();
    return false;
  }
  void give_back_charge() {
    window_budget.refund(tenant_, charged_pages_);
    charged_pages_ = 0;
  }

  u64 address_ = 0;
  u64 slot_ = 0;
  Memory memory_;
  u64 capacity_ = 0;
  u64 backed_pages_ = 0;
  u32 tenant_ = 0;
  u64 charged_pages_ = 0;  // Of the window budget: what was backed, or more (see create_output).
  bool mapped_ = false;    // At address_ in the gateway (an output window: only once its bytes are sent from it).
};

gateway::ConnectionTimeouts connection_timeouts;
usize connection_limit = MAX_CONNECTIONS;

// What the event loop decides from a head alone (body limits, the early answer to "Expect:
// 100-continue"): the loop's Gateway's answers, once it exists (before that nothing is read).
class LoopPolicy final : public gateway::RequestPolicy {
 public:
  u64 body_limit(const gateway::RequestHead& head) const override { return api->body_limit(head); }
  const char* body_limit_message(const gateway::RequestHead& head) const override {
    return api->body_limit_message(head);
  }
  u32 screen(const gateway::RequestHead& head, const char*& message) const override {
    return api->screen(head, message);
  }
  u64 stream_piece(const gateway::RequestHead& head) const override { return api->stream_piece(head); }
  gateway::Gateway* api = nullptr;
};
LoopPolicy request_policy;

// One connection and its request. Stages: Reading (the event loop assembles the next request),
// Working (it waits in its tenant's queue, or a worker or an invocation thread answers it; the
// loop does not touch the slot), Sending (the loop sends the response). Only the stage's owner
// touches the slot; the queues hand it over.
struct ConnectionSlot final : gateway::BodyWindow, gateway::OutputWindow {
  // Following: a /system/logs?follow=true stream between two chunks (the loop sends new lines).
  enum class Stage { Free, Reading, Working, Sending, Following };

  ConnectionSlot() : assembler(input, sizeof input, connection_timeouts, *this, request_policy) {}

  // BodyWindow: the request body's window.
  // Backed whole only when small: creating an ordinary Memory zeroes it under the kernel lock, and
  // a client must not make the kernel spend 0.1 s there per request; larger bodies are backed as
  // they arrive.
  u8* open(u64 capacity, bool exact) override {
    u32 tenant = request_policy.api->admission_of(assembler.head()).tenant;  // 0: a request without a key.
    return body.create(tenant, capacity, exact && capacity <= EAGER_WINDOW_BYTES);
  }
  bool reserve(u64 bytes) override { return body.reserve(bytes); }
  void release() override { body.release(); }
  // OutputWindow: the response's window, handed to the manager for an invocation's output.
  u64 open_output(u64 capacity) override { return response.create_output(capacity, admitted_tenant); }
  const u8* output_bytes(u64 length) override { return response.reserve(length) ? response.bytes() : nullptr; }
  bool read_output(u8* target, u64 length) override { return response.read(target, length); }
  // An image upload's pieces pass through the response window (no response is being sent while
  // the body streams in); it is made once per upload and lent to the store.
  u8* staging(u64 capacity, u64& selector) override {
    if (!response.exists() && response.create(admitted_tenant, capacity, true) == nullptr) return nullptr;
    selector = response.selector();
    return response.writable();
  }

  Stage stage = Stage::Free;
  u64 handle = 0;
  u64 interest = 0;  // What the net server watches for it.
  char input[INPUT_BYTES];
  u8 output[OUTPUT_BYTES];  // The response head, and its body when it fits.
  usize output_start = 0;
  usize output_end = 0;
  Window body;       // A request body that does not fit `input`.
  Window response;   // A response body that does not fit `output`: sent from here after it.
  u64 response_offset = 0;
  u64 response_length = 0;  // Bytes of `response` to send.
  bool close_after = false;
  gateway::ConnectionStats::Reason close_reason = gateway::ConnectionStats::SERVED;
  u64 send_deadline = 0;  // Microseconds.
  gateway::RequestAssembler assembler;
  gateway::ImageStream stream;  // An image upload's import in the store (workers only touch it).
  bool continue_body = false;   // A worker took a streamed piece: the loop reads on.
  u32 admitted_tenant = 0;      // The tenant whose admission this request holds (0: none)...
  gateway::AdmissionRoute::Lane admitted_lane = gateway::AdmissionRoute::Lane::Loop;  // ...and which.
  // A follow stream (Response::follow): whose lines, from which log sequence, until when.
  bool following = false;
  u32 follow_tenant = 0;
  char follow_name[manager::NAME_BYTES] = {};
  u64 follow_after = 0;
  u64 follow_end = 0;        // Microseconds: the stream's last chunk is due.
  u64 follow_quiet_since = 0;  // When the last chunk went out (keep-alive lines after a quiet spell).
  u64 follow_looked_at = 0;    // When the loop last looked for new lines: the next look is FOLLOW_POLL_US on.
  // A /metrics page being sent (Response::page): the loop renders its next piece into the response
  // window as a chunk each time the client has taken the last one.
  bool paging = false;
  bool page_chunked = true;  // Else (HTTP/1.0) the pieces as they are, ended by the close.
  gateway::PageCursor page;
};
ConnectionSlot connection_slots[MAX_CONNECTIONS];
// One past the highest slot not Free (the event loop's alone): the loop's scans of the slots
// (deadlines, each Poll entry's slot, follow streams: several per turn) stop there, so a few
// connections cost a few looks rather than MAX_CONNECTIONS each.
usize slots_end = 0;
struct SlotRange {
  ConnectionSlot* first;
  ConnectionSlot* last;
  ConnectionSlot* begin() const { return first; }
  ConnectionSlot* end() const { return last; }
};
SlotRange used_slots() { return SlotRange{connection_slots, connection_slots + slots_end}; }
gateway::ConnectionStats connection_stats;

// Connection indices handed between the loop and the workers (locked; never held across a call).
class IndexQueue {
 public:
  void push(u32 index) {
    gateway::LockGuard guard(lock_);
    items_[(head_ + count_) % MAX_CONNECTIONS] = index;  // Each connection is queued at most once.
    ++count_;
  }
  bool pop(u32& index) {
    gateway::LockGuard guard(lock_);
    if (count_ == 0) return false;
    index = items_[head_];
    head_ = (head_ + 1) % MAX_CONNECTIONS;
    --count_;
    return true;
  }
  bool empty() {
    gateway::LockGuard guard(lock_);
    return count_ == 0;
  }

 private:
  gateway::SpinLock lock_;
  u32 items_[MAX_CONNECTIONS] = {};
  usize head_ = 0;
  usize count_ = 0;
};
IndexQueue requests;     // Admitted control requests (all but invocations), for the workers.
IndexQueue invocations;  // Admitted invocations, for the invocation threads.
IndexQueue answers;      // Answered requests, for the loop to send.
Notification work_ready;        // Signalled when requests has work: wakes one waiting worker.
Notification invocation_ready;  // The same for invocations and the invocation threads.

net::SocketClient sockets{Endpoint(NET_ENDPOINT)};
u64 listener_handle = 0;

// The buffer shared with the net server for bulk receives (first third), sends (second third) and
// the bytes Poll delivers (last third, net/socket.hpp: POLL_DELIVERED_IN_BUFFER): one call moves up
// to 32 KiB instead of 504 bytes, and a Poll that reports many connections carries all their
// requests, where its message held two or three (each other one was a Receive call). Only the
// event loop uses it. Without it (a net server without SOCKET_ATTACH) the loop uses the inline
// calls.
constexpr u64 BULK_ADDRESS = 0x0000700200000000;
constexpr u64 BULK_SEND_OFFSET = net::BULK_BYTES;
constexpr u64 BULK_DELIVERY_OFFSET = 2 * net::BULK_BYTES;
constexpr u64 BULK_BUFFER_BYTES = 3 * net::BULK_BYTES;
bool bulk = false;
u8* bulk_bytes() { return reinterpret_cast<u8*>(BULK_ADDRESS); }

void attach_bulk_buffer() {
  auto slot = slots.allocate();
  if (!slot.ok()) return;
  auto memory = Factory(OWN_FACTORY).create_memory(slot.value(), pages_for(BULK_BUFFER_BYTES));
  if (!memory.ok() || !Task(SELF_TASK).map(memory.value(), 0, BULK_ADDRESS, pages_for(BULK_BUFFER_BYTES), READ_WRITE).ok())
    return;
  bulk = sockets.attach(memory.value(), BULK_BUFFER_BYTES, BULK_DELIVERY_OFFSET, net::BULK_BYTES).ok();
}

u64 transfer_microseconds(u64 length, u64 rate) {
  return length / rate * 1'000'000 + length % rate * 1'000'000 / rate;
}

// A chunk's size line: the length in hexadecimal and CRLF.
void append_chunk_size(gateway::Buffer& output, u64 length) {
  constexpr char DIGITS[] = "0123456789abcdef";
  char size[16];
  usize at = sizeof size;
  do size[--at] = DIGITS[length & 15], length >>= 4;
  while (length != 0);
  output.append(size + at, sizeof size - at);
  output.append("\r\n");
}

// A chunk of a follow stream in `output`: its size line, the bytes, CRLF (a size of 0 ends it).
void render_chunk(gateway::Buffer& output, const char* bytes, usize length) {
  append_chunk_size(output, length);
  output.append(bytes, length);
  output.append("\r\n");
}

// The head of a follow stream and its first chunk (the lines so far, from the response window when
// they do not fit `output`); the connection closes when the stream ends.
void start_follow(ConnectionSlot& slot, const gateway::Response& response) {
  // Following from here on: whatever happens next, the stream's close gives its count back.
  slot.following = true;
  slot.follow_tenant = response.follow_tenant;
  gateway::Buffer rendered(reinterpret_cast<char*>(slot.output), sizeof slot.output);
  rendered.append("HTTP/1.1 200 OK\r\nServer: metteagle-gateway\r\nContent-Type: application/x-ndjson\r\n"
                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  slot.response.release();
  slot.response_length = 0;
  if (response.body_length > 0 && response.body_length + 32 <= rendered.room()) {
    render_chunk(rendered, response.body, response.body_length);
  } else if (response.body_length > 0) {
    // The size line here, then the lines and their CRLF from the window.
    u64 length = response.body_length;
    u8* window = slot.response.create(response.follow_tenant, length + 2);
    if (window == nullptr || !slot.response.reserve(length + 2)) {
      slot.response.release();
      slot.output_start = slot.output_end = 0;
      slot.close_after = true;
      slot.close_reason = gateway::ConnectionStats::REFUSED;
      return;
    }
    append_chunk_size(rendered, length);
    memcpy(window, response.body, length);
    window[length] = '\r';
    window[length + 1] = '\n';
    slot.response_length = length + 2;
  }
  memcpy(slot.follow_name, response.follow_name, sizeof slot.follow_name);
  slot.follow_after = response.follow_after;
  slot.follow_end = 0;  // Set by the loop when the first chunk has gone out.
  slot.output_start = 0;
  slot.output_end = rendered.overflowed() ? 0 : rendered.size();
  slot.response_offset = 0;
  slot.close_after = rendered.overflowed();
  slot.close_reason = gateway::ConnectionStats::SERVED;
}

// The response window of a /metrics page: a chunk's size line, a piece, its CRLF and the last
// chunk, whatever the number of functions.
constexpr u64 CHUNK_SIZE_ROOM = 16;  // The size line in hexadecimal and CRLF.
constexpr u64 PAGE_WINDOW_BYTES = CHUNK_SIZE_ROOM + gateway::PAGE_PIECE_BYTES + gateway::PAGE_UNIT_BYTES + 16;

// The head of a /metrics page in `output` and the window its pieces go through; the loop renders
// the pieces (render_page_piece). Chunked to HTTP/1.1, else closed at its end. Without a window:
// 503, as any large response.
bool start_page(ConnectionSlot& slot, gateway::Response& response, bool keep_alive) {
  slot.response.release();
  slot.response_length = 0;
  u32 tenant = request_policy.api->admission_of(slot.assembler.head()).tenant;
  if (slot.response.create(tenant, PAGE_WINDOW_BYTES, true) == nullptr) return false;
  slot.paging = true;
  slot.page_chunked = response.chunked;
  if (!response.chunked) keep_alive = false;
  slot.page = response.page_cursor;
  gateway::Buffer rendered(reinterpret_cast<char*>(slot.output), sizeof slot.output);
  gateway::render_response_head(response, keep_alive, rendered);
  slot.output_start = 0;
  slot.output_end = rendered.overflowed() ? 0 : rendered.size();
  slot.response_offset = 0;
  slot.close_after = !keep_alive || rendered.overflowed();
  slot.close_reason = rendered.overflowed() ? gateway::ConnectionStats::REFUSED : gateway::ConnectionStats::SERVED;
  return true;
}

// The next piece of the page of `slot` into its response window as a chunk (and the last chunk
// when the page is complete); the bytes to send are response_offset..response_length. False when a
// unit did not fit the window (cannot happen: PAGE_UNIT_BYTES bounds every unit).
bool render_page_piece(const gateway::Gateway& api, ConnectionSlot& slot) {
  u8* window = slot.response.writable();
  char* piece_start = reinterpret_cast<char*>(window + CHUNK_SIZE_ROOM);
  gateway::Buffer piece(piece_start, gateway::PAGE_PIECE_BYTES + gateway::PAGE_UNIT_BYTES);
  bool done = api.metrics_piece(slot.page, piece, gateway::PAGE_PIECE_BYTES);
  if (piece.overflowed()) return false;
  if (done) slot.paging = false;
  u64 start = CHUNK_SIZE_ROOM;
  u64 end = CHUNK_SIZE_ROOM + piece.size();
  if (!slot.page_chunked) {
    slot.response_offset = start;
    slot.response_length = end;
    return true;
  }
  // The size line right before the piece (a piece of 0 bytes would end the body: none is sent).
  char size_line[CHUNK_SIZE_ROOM];
  gateway::Buffer size(size_line, sizeof size_line);
  if (piece.size() > 0) append_chunk_size(size, piece.size());
  start -= size.size();
  memcpy(window + start, size_line, size.size());
  if (piece.size() > 0) {
    memcpy(window + end, "\r\n", 2);
    end += 2;
  }
  if (done) {
    memcpy(window + end, "0\r\n\r\n", 5);
    end += 5;
  }
  slot.response_offset = start;
  slot.response_length = end;
  return true;
}

// A worker answers the request of `slot`: the manager call may block it; the loop goes on.
void answer_request(gateway::Gateway& api, ConnectionSlot& slot) {
  const gateway::RequestAssembler& assembler = slot.assembler;
  gateway::RequestHead head = assembler.head();
  gateway::Payload body{assembler.body(), assembler.body_length(),
                        assembler.body_in_window() ? slot.body.selector() : 0};
  body.partial = assembler.partial();
  body.offset = assembler.streamed_bytes();
  body.stream = &slot.stream;
  gateway::Response response;
  // HEAD is GET without the body (its head says how long the body would be).
  bool head_only = head.method.equals("HEAD");
  if (head_only) head.method = gateway::Slice::of("GET");
  api.handle(head, body, response, &slot);
  if (response.more) {
    slot.continue_body = true;  // No answer yet: the loop reads the body's next piece.
    return;
  }
  u64 body_length = head_only ? 0 : response.body_length;
  bool keep_alive = head.keep_alive && !response.close;
  if (!response.body_in_window || body_length == 0) slot.response.release();
  if (body_length > sizeof slot.output - 1024 && !response.body_in_window) {
    // A large body in the worker's buffers (the /metrics page): into the response window, as the
    // worker's buffers serve its next request while this one is sent.
    u8* window = slot.response.create(api.admission_of(head).tenant, body_length);
    if (window == nullptr || !slot.response.reserve(body_length)) {
      slot.response.release();
      api.error(response, 503, "no memory for the response now; retry later");
      body_length = response.body_length;
      keep_alive = false;
    } else {
      memcpy(window, response.body, body_length);
    }
  }
  if (response.page) response.chunked = head.version_minor >= 1;
  if (response.page && !head_only && !start_page(slot, response, keep_alive)) {
    response.page = false;
    api.error(response, 503, "no memory for the response now; retry later");
    body_length = response.body_length;
    keep_alive = false;
  }
  api.metrics().count_response(response.status);
  if (slot.paging) return;
  if (response.follow && !head_only) return start_follow(slot, response);
  if (response.follow) api.end_follow(response.follow_tenant);  // HEAD: the head only, no stream.
  gateway::Buffer rendered(reinterpret_cast<char*>(slot.output), sizeof slot.output);
  gateway::render_response_head(response, keep_alive, rendered);
  slot.response_length = slot.response.exists() ? body_length : 0;
  if (!slot.response.exists()) rendered.append(response.body, body_length);
  // A head that does not fit 4 KiB cannot happen (its extra headers are at most 384 bytes); if
  // it did, the connection closes without an answer rather than send a truncated one.
  slot.output_start = 0;
  slot.output_end = rendered.overflowed() ? 0 : rendered.size();
  slot.response_offset = 0;
  slot.close_after = !keep_alive || rendered.overflowed();
  slot.close_reason = rendered.overflowed() ? gateway::ConnectionStats::REFUSED : gateway::ConnectionStats::SERVED;
}

struct Worker {
  gateway::Gateway* api = nullptr;
  IndexQueue* queue = nullptr;  // What it takes: requests, or invocations.
  Notification* ready = nullptr;
};
// [0] is the event loop (error answers only), [1, WORKER_COUNT] the workers, then the invocation
// threads.
Worker workers[THREAD_COUNT + 1];

// A worker or invocation thread: takes complete requests of its queue, answers them, hands them
// back to the loop.
void serve_requests(u64 index) {
  Worker& worker = workers[index];
  for (;;) {
    for (u64 handle = 0; worker.queue == &requests && abandoned_imports.pop(handle);) {
      gateway::ImageStream stream{handle, 0};
      worker.api->abandon_stream(stream);
    }
    u32 connection = 0;
    if (!worker.queue->pop(connection)) {
      (void)worker.ready->wait();
      continue;
    }
    if (!worker.queue->empty()) (void)worker.ready->signal(1);  // More work: wake another.
    answer_request(*worker.api, connection_slots[connection]);
    answers.push(connection);
    (void)sockets.wake();
  }
}

// The event loop: owns every connection, reads requests as their bytes arrive, sends responses
// as the clients take them, and enforces the deadlines; it never waits for one client.
class EventLoop {
 public:
  EventLoop(gateway::Gateway& api, u64 (*now)()) : api_(api), now_(now) {}

  [[noreturn]] void run() {
    for (;;) {
      u64 now = now_();
      u64 wait_us = MAX_POLL_WAIT_US;
      for (auto& slot : used_slots()) {
        u64 due = deadline_of(slot);
        if (due != 0) wait_us = due <= now ? 0 : (due - now < wait_us ? due - now : wait_us);
      }
      net::PollResult result;
      // Always a finite wait, so deadlines are checked even if a wake were lost. The interest
      // changes since the last Poll go with it (kept for the next one should it fail).
      if (!sockets.poll(wait_us * 1000 + 1000, result, pending_watches_, pending_watch_count_,
                        bulk ? bulk_bytes() + BULK_DELIVERY_OFFSET : nullptr, bulk ? net::BULK_BYTES : 0).ok()) {
        yield_thread();
        continue;
      }
      pending_watch_count_ = 0;
      now = now_();
      for (u64 index = 0; index < result.count; ++index) {
        u64 handle = result.handle(index);
        u64 events = result.events(index);
        if (handle == listener_handle) {
          accept_all(now);
          continue;
        }
        ConnectionSlot* slot = find(handle);
        if (slot == nullptr) continue;
        if ((events & net::POLL_WRITABLE) != 0 && slot->stage == ConnectionSlot::Stage::Sending) flush(*slot, now);
        if ((events & net::POLL_DELIVERED) != 0) {
          take_delivery(*slot, result.delivery(index), now);
          continue;
        }
        if ((events & net::POLL_READABLE) != 0 && slot->stage == ConnectionSlot::Stage::Reading) read(*slot, now);
        if ((events & net::POLL_READABLE) != 0 && slot->stage == ConnectionSlot::Stage::Following) drain(*slot);
      }
      take_answers(now);
      check_deadlines(now);
      follow_streams(now);
    }
  }

 private:
  static u64 deadline_of(const ConnectionSlot& slot) {
    if (slot.stage == ConnectionSlot::Stage::Reading) return slot.assembler.deadline();
    if (slot.stage == ConnectionSlot::Stage::Sending) return slot.send_deadline;
    if (slot.stage == ConnectionSlot::Stage::Following) {
      // From the last look, not the last chunk: a stream quiet for longer must not make every
      // later wait 0 (the loop would spin on Poll until the keep-alive line).
      u64 due = slot.follow_looked_at + FOLLOW_POLL_US;
      return due < slot.follow_end ? due : slot.follow_end;
    }
    return 0;
  }

  ConnectionSlot* find(u64 handle) {
    for (auto& slot : used_slots())
      if (slot.stage != ConnectionSlot::Stage::Free && slot.handle == handle) return &slot;
    return nullptr;
  }

  // A reading connection's interest: its bytes, delivered with the Poll that reports them while
  // its request has room for as many as a Poll carries (net/socket.hpp, POLL_DELIVER).
  static u64 reading_interest(const ConnectionSlot& slot) {
    usize room = slot.assembler.receive_room();
    if (room == 0) return 0;
    return room >= net::RECEIVE_BYTES ? net::POLL_READABLE | net::POLL_DELIVER : net::POLL_READABLE;
  }

  // The interest matters only to the next Poll, which carries the change: no Watch call of its
  // own (two per keep-alive request before), unless more changes wait than a Poll carries.
  void set_interest(ConnectionSlot& slot, u64 interest) {
    if (slot.interest == interest) return;
    slot.interest = interest;
    u64 entry = slot.handle | interest << net::POLL_EVENT_SHIFT;
    for (u64 index = 0; index < pending_watch_count_; ++index) {
      if ((pending_watches_[index] & net::POLL_HANDLE_MASK) == slot.handle) {
        pending_watches_[index] = entry;
        return;
      }
    }
    if (pending_watch_count_ == net::POLL_MAX_WATCH) {
      (void)sockets.watch(slot.handle, interest);
      return;
    }
    pending_watches_[pending_watch_count_++] = entry;
  }

  // A connection whose upload is cut short leaves its import to a worker to abort.
  void abandon(ConnectionSlot& slot) {
    if (slot.stream.handle == 0) return;
    abandoned_imports.push(slot.stream.handle);
    slot.stream = gateway::ImageStream{};
    (void)work_ready.signal(1);
  }

  void close(ConnectionSlot& slot, gateway::ConnectionStats::Reason reason) {
    abandon(slot);
    if (slot.following) api_.end_follow(slot.follow_tenant);
    slot.following = false;
    slot.paging = false;
    (void)sockets.close(slot.handle);
    slot.response_length = 0;
    slot.body.release();
    slot.response.release();
    slot.stage = ConnectionSlot::Stage::Free;
    while (slots_end > 0 && connection_slots[slots_end - 1].stage == ConnectionSlot::Stage::Free) --slots_end;
    slot.interest = 0;
    slot.handle = 0;
    connection_stats.close(reason);
  }

  // Clients in the listen queue: each gets a slot, or 503 and close beyond the limit.
  void accept_all(u64 now) {
    for (;;) {
      auto accepted = sockets.accept(listener_handle, DO_NOT_BLOCK);
      if (!accepted.ok()) return;
      connection_stats.accepted.fetch_add(1, std::memory_order_relaxed);
      ConnectionSlot* free_slot = nullptr;
      bool room = connection_stats.open.load(std::memory_order_relaxed) < connection_limit;
      for (auto& slot : connection_slots) {
        if (!room) break;
        if (slot.stage == ConnectionSlot::Stage::Free) {
          free_slot = &slot;
          break;
        }
      }
      if (free_slot == nullptr) {
        reject(accepted->connection);
        continue;
      }
      ConnectionSlot& slot = *free_slot;
      u64 index = static_cast<u64>(&slot - connection_slots);
      if (index + 1 > slots_end) slots_end = index + 1;
      slot.body.place(WINDOW_AREA + 2 * index * WINDOW_SPAN);
      slot.response.place(WINDOW_AREA + (2 * index + 1) * WINDOW_SPAN);
      slot.stage = ConnectionSlot::Stage::Reading;
      slot.handle = accepted->connection;
      slot.interest = 0;
      slot.output_start = slot.output_end = 0;
      slot.close_after = false;
      slot.assembler.start(now);
      connection_stats.open.fetch_add(1, std::memory_order_relaxed);
      set_interest(slot, reading_interest(slot));
    }
  }

  // Over the connection limit: one 503 (it fits one send) and close; nothing is read.
  void reject(u64 connection) {
    gateway::Response response;
    api_.error(response, 503, "too many open connections; retry later");
    response.close = true;
    api_.metrics().count_response(503);
    char bytes[net::SEND_BYTES];
    gateway::Buffer rendered(bytes, sizeof bytes);
    gateway::render_response_head(response, false, rendered);
    rendered.append(response.body, response.body_length);
    if (!rendered.overflowed()) (void)sockets.send_now(connection, reinterpret_cast<const u8*>(rendered.data()), rendered.size());
    (void)sockets.close(connection);
    connection_stats.rejected.fetch_add(1, std::memory_order_relaxed);
  }

  // Bytes the Poll delivered: into the request, then whatever more is pending. Only a reading
  // connection with room asks for them; one without (which cannot happen) loses them and closes.
  void take_delivery(ConnectionSlot& slot, const net::PollResult::Delivery& delivery, u64 now) {
    if (slot.stage != ConnectionSlot::Stage::Reading || slot.assembler.receive_room() < delivery.length) {
      close(slot, gateway::ConnectionStats::MID_REQUEST);
      return;
    }
    memcpy(slot.assembler.receive_space(), delivery.bytes, delivery.length);
    if (!handle_event(slot, slot.assembler.received(now, delivery.length), now)) return;
    if (delivery.all) {
      set_interest(slot, reading_interest(slot));
      return;
    }
    read(slot, now);
  }

  // Takes what the client sent (without waiting) and moves its request on.
  void read(ConnectionSlot& slot, u64 now) {
    for (usize round = 0; round < (bulk ? BULK_READS_PER_TURN : READS_PER_TURN); ++round) {
      usize room = slot.assembler.receive_room();
      if (room == 0) break;
      u64 limit = bulk ? net::BULK_BYTES : net::RECEIVE_BYTES;
      u64 want = room < limit ? room : limit;
      Result<u64> received = Error::Timeout;
      if (bulk) {
        received = sockets.receive_bulk(slot.handle, 0, want);
        if (received.ok()) memcpy(slot.assembler.receive_space(), bulk_bytes(), received.value());
      } else {
        received = sockets.receive(slot.handle, slot.assembler.receive_space(), want, DO_NOT_BLOCK);
      }
      if (!received.ok()) {
        if (received.error() == Error::Timeout) break;  // Nothing more for now.
        bool idle = slot.assembler.phase() == gateway::Phase::Idle;
        close(slot, idle ? gateway::ConnectionStats::PEER_CLOSED : gateway::ConnectionStats::MID_REQUEST);
        return;
      }
      gateway::Event event = received.value() == 0 ? slot.assembler.peer_closed(now)
                                                   : slot.assembler.received(now, received.value());
      if (received.value() == 0 && event.kind == gateway::Event::NeedMore) {
        close(slot, gateway::ConnectionStats::PEER_CLOSED);
        return;
      }
      if (!handle_event(slot, event, now)) return;
      if (received.value() < want) break;  // Probably all there was.
    }
    if (slot.stage == ConnectionSlot::Stage::Reading)
      set_interest(slot, reading_interest(slot));
  }

  // Acts on what the assembler says; false when the slot left the Reading stage.
  bool handle_event(ConnectionSlot& slot, const gateway::Event& event, u64 now) {
    switch (event.kind) {
      case gateway::Event::NeedMore:
        if (event.send_continue) {
          constexpr char CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";
          (void)sockets.send_now(slot.handle, reinterpret_cast<const u8*>(CONTINUE), sizeof CONTINUE - 1);
        }
        return true;
      case gateway::Event::Ready: {
        slot.stage = ConnectionSlot::Stage::Working;
        set_interest(slot, 0);
        u32 index = static_cast<u32>(&slot - connection_slots);
        gateway::AdmissionRoute route = api_.admission_of(slot.assembler.head());
        if (route.lane == Lane::Loop) {
          // Needs no thread and no manager: /healthz, and the 401, 404 or 405 of a request
          // without a valid key (which so takes no tenant's place).
          gateway::Response response;
          api_.handle(slot.assembler.head(), gateway::Payload{}, response);
          answer_now(slot, response, now);
          return false;
        }
        // Its tenant's admission first: it goes to a thread (an invocation thread, or a worker for
        // every other request), waits in its tenant's queue (the slot stays Working, untouched,
        // until next() hands it on), or is answered 429.
        auto decision = admission_of(route.lane).arrive(route.tenant, index, now);
        if (decision == gateway::TenantAdmission::Decision::Rejected) {
          gateway::Response response;
          api_.over_admission(response, route.lane, route.tenant);
          answer_now(slot, response, now);
          return false;
        }
        slot.admitted_tenant = route.tenant;
        slot.admitted_lane = route.lane;
        if (decision == gateway::TenantAdmission::Decision::Run) hand_over(route.lane, index);
        return false;
      }
      case gateway::Event::Respond: {
        abandon(slot);
        gateway::Response response;
        api_.refusal(response, event.status, event.message);
        response.close = true;
        api_.metrics().count_response(event.status);
        slot.response.release();
        slot.response_length = 0;
        gateway::Buffer rendered(reinterpret_cast<char*>(slot.output), sizeof slot.output);
        gateway::render_response_head(response, false, rendered);
        rendered.append(response.body, response.body_length);
        slot.output_start = 0;
        slot.output_end = rendered.overflowed() ? 0 : rendered.size();
        slot.response_offset = 0;
        slot.close_after = true;
        slot.close_reason = event.reason;
        start_sending(slot, now);
        return false;
      }
      case gateway::Event::Close:
        close(slot, event.reason);
        return false;
    }
    return false;
  }

  // The loop's own answer to a complete request (its body read, or a streamed body's piece): sent,
  // and the connection goes on with its next request unless the response closes it or the rest
  // of a streamed body was never read. To HEAD, the head only.
  void answer_now(ConnectionSlot& slot, gateway::Response& response, u64 now) {
    api_.metrics().count_response(response.status);
    slot.response.release();
    slot.response_length = 0;
    const gateway::RequestHead& head = slot.assembler.head();
    bool keep_alive = head.keep_alive && !response.close && !slot.assembler.partial();
    gateway::Buffer rendered(reinterpret_cast<char*>(slot.output), sizeof slot.output);
    gateway::render_response_head(response, keep_alive, rendered);
    if (!head.method.equals("HEAD")) rendered.append(response.body, response.body_length);
    slot.output_start = 0;
    slot.output_end = rendered.overflowed() ? 0 : rendered.size();
    slot.response_offset = 0;
    slot.close_after = !keep_alive || rendered.overflowed();
    slot.close_reason = rendered.overflowed() ? gateway::ConnectionStats::REFUSED : gateway::ConnectionStats::SERVED;
    start_sending(slot, now);
  }

  using Lane = gateway::AdmissionRoute::Lane;
  gateway::TenantAdmission& admission_of(Lane lane) {
    return lane == Lane::Control ? api_.control() : api_.admission();
  }

  // An admitted request goes to its threads: an invocation to the invocation threads, any other
  // to the workers.
  static void hand_over(Lane lane, u32 index) {
    bool control = lane == Lane::Control;
    (control ? requests : invocations).push(index);
    (void)(control ? work_ready : invocation_ready).signal(1);
  }

  // An answered request (or a streamed body's piece) gives its slot back; the queued ones that may
  // run now (the tenants' queues in turn) go to the threads.
  void release_admission(ConnectionSlot& slot) {
    if (slot.admitted_tenant == 0) return;
    Lane lane = slot.admitted_lane;
    admission_of(lane).finish(slot.admitted_tenant);
    slot.admitted_tenant = 0;
    for (u32 next = 0; admission_of(lane).next(next);) hand_over(lane, next);
  }

  void start_sending(ConnectionSlot& slot, u64 now) {
    slot.stage = ConnectionSlot::Stage::Sending;
    u64 total = slot.output_end + slot.response_length;
    slot.send_deadline = now + SEND_GRACE_US + transfer_microseconds(total, SEND_MINIMUM_BYTES_PER_SECOND);
    set_interest(slot, 0);
    flush(slot, now);
  }

  // Sends what the client's window takes now: the head (and a small body) from `output`, then a
  // large body straight from the response window; at the end, the next request (or close).
  void flush(ConnectionSlot& slot, u64 now) {
    for (;;) {
      if (slot.output_start == slot.output_end) {
        if (slot.response_offset < slot.response_length) {
          u64 left = slot.response_length - slot.response_offset;
          Result<u64> sent = Error::Busy;
          if (bulk) {
            u64 take = left < net::BULK_BYTES ? left : net::BULK_BYTES;
            memcpy(bulk_bytes() + BULK_SEND_OFFSET, slot.response.bytes() + slot.response_offset, take);
            sent = sockets.send_bulk(slot.handle, BULK_SEND_OFFSET, take);
          } else {
            sent = sockets.send_now(slot.handle, slot.response.bytes() + slot.response_offset, left);
          }
          if (!sent.ok()) {
            if (sent.error() == Error::Busy) {
              set_interest(slot, net::POLL_WRITABLE);
              return;
            }
            close(slot, gateway::ConnectionStats::MID_REQUEST);
            return;
          }
          slot.response_offset += sent.value();
          continue;
        }
        if (slot.paging) {
          // The client took the last piece: the next one. Its bytes add to the response's
          // deadline at the minimum rate, as one body of that length would.
          if (!render_page_piece(api_, slot)) {
            close(slot, gateway::ConnectionStats::MID_REQUEST);
            return;
          }
          u64 rendered = slot.response_length - slot.response_offset;
          slot.send_deadline += transfer_microseconds(rendered, SEND_MINIMUM_BYTES_PER_SECOND);
          continue;
        }
        slot.response.release();
        slot.response_length = 0;
        if (slot.close_after) {
          close(slot, slot.close_reason);
          return;
        }
        if (slot.following) {
          // Between chunks: the loop sends new lines; a readable socket is the client leaving.
          slot.stage = ConnectionSlot::Stage::Following;
          if (slot.follow_end == 0) slot.follow_end = now + gateway::FOLLOW_LIMIT_US;
          slot.follow_quiet_since = now;
          slot.follow_looked_at = now;
          set_interest(slot, net::POLL_READABLE);
          return;
        }
        slot.stage = ConnectionSlot::Stage::Reading;
        gateway::Event next = slot.assembler.finish_request(now);
        if (handle_event(slot, next, now)) set_interest(slot, reading_interest(slot));
        return;
      }
      u64 length = slot.output_end - slot.output_start;
      auto sent = sockets.send_now(slot.handle, slot.output + slot.output_start, length);
      if (!sent.ok()) {
        if (sent.error() == Error::Busy) {
          set_interest(slot, net::POLL_WRITABLE);
          return;
        }
        close(slot, gateway::ConnectionStats::MID_REQUEST);
        return;
      }
      slot.output_start += sent.value();
    }
  }

  void take_answers(u64 now) {
    u32 index = 0;
    while (answers.pop(index)) {
      ConnectionSlot& slot = connection_slots[index];
      release_admission(slot);
      if (!slot.continue_body) {
        start_sending(slot, now);
        continue;
      }
      // A streamed piece was taken: the body goes on arriving into the emptied window.
      slot.continue_body = false;
      slot.stage = ConnectionSlot::Stage::Reading;
      gateway::Event next = slot.assembler.continue_body(now);
      if (handle_event(slot, next, now)) set_interest(slot, reading_interest(slot));
    }
  }

  // A following client sends nothing more; whatever it sends is dropped, and its close (or an
  // error) ends the stream.
  void drain(ConnectionSlot& slot) {
    u8 ignored[512];
    for (usize round = 0; round < READS_PER_TURN; ++round) {
      auto received = sockets.receive(slot.handle, ignored, sizeof ignored, DO_NOT_BLOCK);
      if (received.ok() && received.value() > 0) continue;
      if (!received.ok() && received.error() == Error::Timeout) return;
      close(slot, gateway::ConnectionStats::PEER_CLOSED);
      return;
    }
  }

  // Each follow stream between chunks: its new lines as the next chunk, an empty line after a
  // quiet FOLLOW_KEEPALIVE_US, or the last chunk once FOLLOW_LIMIT_US has passed.
  void follow_streams(u64 now) {
    for (auto& slot : used_slots()) {
      if (slot.stage != ConnectionSlot::Stage::Following) continue;
      slot.follow_looked_at = now;
      gateway::Buffer rendered(reinterpret_cast<char*>(slot.output), sizeof slot.output);
      if (now >= slot.follow_end) {
        rendered.append("0\r\n\r\n");
        slot.close_after = true;
        slot.close_reason = gateway::ConnectionStats::SERVED;
      } else {
        char lines[3 * 1024];
        gateway::Buffer text(lines, sizeof lines);
        api_.follow_logs(slot.follow_tenant, slot.follow_name, slot.follow_after, text);
        if (text.size() == 0 && now - slot.follow_quiet_since < gateway::FOLLOW_KEEPALIVE_US) continue;
        if (text.size() == 0) text.append("\n");
        render_chunk(rendered, text.data(), text.size());
      }
      slot.output_start = 0;
      slot.output_end = rendered.overflowed() ? 0 : rendered.size();
      slot.response_offset = 0;
      slot.response_length = 0;
      start_sending(slot, now);
    }
  }

  void check_deadlines(u64 now) {
    // Requests that waited in their tenant's queue past QUEUE_WAIT_US: dropped with 503.
    u32 index = 0;
    u32 tenant = 0;
    for (Lane lane : {Lane::Invocation, Lane::Control}) {
      while (now > QUEUE_WAIT_US && admission_of(lane).expired(now - QUEUE_WAIT_US, index, tenant)) {
        ConnectionSlot& slot = connection_slots[index];
        slot.admitted_tenant = 0;
        gateway::Response response;
        api_.queue_timeout(response, lane);
        answer_now(slot, response, now);
      }
    }
    for (auto& slot : used_slots()) {
      if (slot.stage == ConnectionSlot::Stage::Reading) {
        gateway::Event event = slot.assembler.check_deadline(now);
        if (event.kind != gateway::Event::NeedMore) handle_event(slot, event, now);
      } else if (slot.stage == ConnectionSlot::Stage::Sending && now >= slot.send_deadline) {
        close(slot, gateway::ConnectionStats::SEND_TIMEOUT);
      }
    }
  }

  gateway::Gateway& api_;
  u64 (*now_)();
  // Interest changes not yet told to the net server (set_interest): each handle | interest <<
  // POLL_EVENT_SHIFT, one per handle, sent with the next Poll.
  u64 pending_watches_[net::POLL_MAX_WATCH] = {};
  u64 pending_watch_count_ = 0;
};

// Bodies of asynchronous jobs over ASYNC_INLINE_BYTES: each a Memory object of the gateway's
// factory holding a copy, handed to the manager as the invocation's input when the job runs.
class JobInputs final : public gateway::AsyncInputs {
 public:
  u64 keep(const u8* bytes, u64 length) override {
    if (kept_.fetch_add(1, std::memory_order_relaxed) >= MAX_KEPT_INPUTS) {
      kept_.fetch_sub(1, std::memory_order_relaxed);
      return 0;
    }
    auto slot = slots.allocate();
    if (slot.ok()) {
      auto memory = Factory(OWN_FACTORY).create_memory(slot.value(), pages_for(length));
      if (memory.ok() && memory->write(0, bytes, length).ok()) return slot.value();
      if (memory.ok()) (void)Capability(slot.value()).remove();
      slots.free(slot.value());
    }
    kept_.fetch_sub(1, std::memory_order_relaxed);
    return 0;
  }
  void drop(u64 handle) override {
    (void)Capability(handle).remove();
    slots.free(handle);
    kept_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<usize> kept_{0};
};
JobInputs job_inputs;
Notification async_ready;  // Signalled when a job is queued or a tenant's job ends.

// An async thread: its Gateway, the window for large outputs, and a notification nobody signals
// (its timed wait is how the thread pauses between retries).
struct AsyncRunner final : gateway::OutputWindow {
  u64 open_output(u64 capacity) override { return window.create_output(capacity, tenant); }
  const u8* output_bytes(u64 length) override { return window.reserve(length) ? window.bytes() : nullptr; }
  bool read_output(u8* target, u64 length) override { return window.read(target, length); }
  gateway::Gateway* api = nullptr;
  gateway::GatewayShared* shared = nullptr;
  Window window;
  u32 tenant = 0;  // The running job's: its output window is charged to it.
  Notification pause;
  char text[16 * 1024];
  u8 output[4096];
};
AsyncRunner async_runners[ASYNC_THREADS];

u64 now_us() { return __builtin_ia32_rdtsc() / (thread_self().tsc_hertz >= 1'000'000 ? thread_self().tsc_hertz / 1'000'000 : 1); }

// Sends `length` bytes of a callback before `deadline` (microseconds). When the receiver has no
// room it waits for it in short receives, which also take an early answer (then the rest is not
// sent). False with `why` when the connection broke or the time ran out.
bool send_callback_bytes(u64 handle, const u8* bytes, u64 length, u64 deadline, gateway::Buffer& answer,
                         const char*& why) {
  while (length > 0 && answer.size() == 0) {
    auto sent = sockets.send_now(handle, bytes, length);
    if (sent.ok()) {
      bytes += sent.value();
      length -= sent.value();
      continue;
    }
    if (sent.error() != Error::Busy) {
      why = "connection reset while sending";
      return false;
    }
    if (now_us() >= deadline) {
      why = "the receiver did not take the body in time";
      return false;
    }
    char early[256];
    auto received = sockets.receive(handle, reinterpret_cast<u8*>(early), sizeof early, CALLBACK_POLL_NS);
    if (received.ok() && received.value() > 0) {
      answer.append(early, received.value());
    } else if (received.ok() || received.error() != Error::Timeout) {
      why = "connection closed while sending";
      return false;
    }
  }
  return true;
}

// Posts a job's result to its callback URL: connects (5 s), sends the head and the body (within
// 10 s plus the body at 16 KiB/s), reads the answer's status line in what is left of that time.
// The answer's status (2xx: delivered), or 0 with `why`.
u32 deliver_callback(const gateway::AsyncJob& job, const gateway::AsyncRun& run, const char*& why) {
  const gateway::CallbackUrl& url = job.callback;
  u64 address = net::ipv4(static_cast<u8>(url.address >> 24), static_cast<u8>(url.address >> 16),
                          static_cast<u8>(url.address >> 8), static_cast<u8>(url.address));
  auto connected = sockets.connect(address, url.port, CALLBACK_CONNECT_NS);
  if (!connected.ok()) {
    why = net::connect_error_text(connected.error());
    return 0;
  }
  u64 handle = connected.value();
  const gateway::Response& response = run.response;
  char head[1024];
  gateway::Buffer rendered(head, sizeof head);
  gateway::render_callback_head(job, response.status, response.content_type, run.duration_us, response.body_length,
                                rendered);
  u64 deadline = now_us() + SEND_GRACE_US +
                 transfer_microseconds(rendered.size() + response.body_length, SEND_MINIMUM_BYTES_PER_SECOND);
  char answer_bytes[512];
  gateway::Buffer answer(answer_bytes, sizeof answer_bytes);
  why = nullptr;
  bool sent = !rendered.overflowed() &&
              send_callback_bytes(handle, reinterpret_cast<const u8*>(head), rendered.size(), deadline, answer, why) &&
              send_callback_bytes(handle, reinterpret_cast<const u8*>(response.body), response.body_length, deadline,
                                  answer, why);
  if (!sent && why == nullptr) why = "the callback's head does not fit";
  u32 status = 0;
  while (sent && (status = gateway::response_status(answer.data(), answer.size())) == 0) {
    u64 now = now_us();
    if (answer.room() == 0 || now >= deadline) {
      why = answer.room() == 0 ? "malformed answer" : "no answer in time";
      break;
    }
    char bytes[256];
    u64 wait_ns = (deadline - now) * 1000;
    auto received = sockets.receive(handle, reinterpret_cast<u8*>(bytes), sizeof bytes < answer.room() ? sizeof bytes : answer.room(), wait_ns);
    if (!received.ok() || received.value() == 0) {
      why = !received.ok() && received.error() == Error::Timeout ? "no answer in time" : "closed without an answer";
      break;
    }
    answer.append(bytes, received.value());
  }
  (void)sockets.close(handle);
  return status;
}

// An async thread: takes jobs (tenants in turn, one job of a tenant at a time), runs each as
// /function/{name} would (retrying capacity answers for a while), posts the callback, logs it.
void run_async_jobs(u64 index) {
  AsyncRunner& runner = async_runners[index - THREAD_COUNT - 1];
  for (;;) {
    gateway::AsyncJob job;
    if (!runner.shared->async.take(job)) {
      (void)async_ready.wait();
      continue;
    }
    (void)async_ready.signal(1);  // Another tenant's job may be waiting for the other thread.
    gateway::AsyncRun run;
    u64 first_try = now_us();
    for (;;) {
      runner.window.release();
      runner.tenant = job.tenant;
      runner.api->run_async(job, run, &runner);
      u32 status = run.response.status;
      if ((status != 429 && status != 503) || now_us() - first_try >= ASYNC_RETRY_US) break;
      (void)runner.pause.wait(1'000'000'000);
    }
    char words[96];
    gateway::Buffer outcome_text(words, sizeof words - 1);
    gateway::AsyncQueue::Outcome outcome = gateway::AsyncQueue::Outcome::NoCallback;
    if (!job.has_callback) {
      outcome_text.append("none");
    } else {
      const char* why = nullptr;
      u32 answered = deliver_callback(job, run, why);
      bool delivered = answered >= 200 && answered < 300;
      outcome = delivered ? gateway::AsyncQueue::Outcome::Delivered : gateway::AsyncQueue::Outcome::CallbackFailed;
      outcome_text.append(delivered ? "delivered (" : "failed (");
      if (answered != 0) {
        outcome_text.append("answered ");
        outcome_text.append_unsigned(answered);
      } else {
        outcome_text.append(why != nullptr ? why : "no answer");
      }
      outcome_text.append(")");
    }
    words[outcome_text.size()] = '\0';
    runner.window.release();
    runner.api->finish_async(job, run.response.status, outcome, words);
    (void)async_ready.signal(1);  // The tenant's next job may run now.
  }
}

[[noreturn]] void fail(const char* step, Error error) {
  printf(console, "gateway: %s failed: %s\n", step, error_name(error));
  metteagle_exit_thread();
}

// Maps the key file (a data module given with file=, docs/BOOT.md: text that ends at its first
// zero byte) read-only at KEY_FILE_AREA, `pages` of it, its text in `text`. False with a message
// printed when there is none, it is too large or it cannot be mapped.
bool map_key_file(gateway::Slice& text, u64& pages) {
  Memory file(BOOT_FILE);
  static char page[PAGE_SIZE];  // Where the end is looked for, a page at a time.
  for (u64 offset = 0; offset < MAX_KEY_FILE_BYTES; offset += PAGE_SIZE) {
    auto read = file.read(offset, page, PAGE_SIZE);
    if (!read.ok()) {
      if (offset != 0) break;  // The Memory object ends here (the zero byte was checked below).
      if (read.error() == Error::InvalidCapability) {
        printf(console, "gateway: no key file: the boot configuration needs file=<data module> naming the API "
                        "keys (docs/NETWORK.md, Gateway); not starting\n");
      } else {
        printf(console, "gateway: cannot read the key file: %s; not starting\n", error_name(read.error()));
      }
      return false;
    }
    for (u64 index = 0; index < PAGE_SIZE; ++index) {
      if (page[index] != '\0') continue;
      pages = offset / PAGE_SIZE + 1;
      if (auto mapped = Task(SELF_TASK).map(file, 0, KEY_FILE_AREA, pages, MEMORY_READ); !mapped.ok()) {
        printf(console, "gateway: cannot map the key file: %s; not starting\n", error_name(mapped.error()));
        return false;
      }
      text = gateway::Slice{reinterpret_cast<const char*>(KEY_FILE_AREA), offset + index};
      return true;
    }
  }
  printf(console, "gateway: the key file is larger than %lu bytes; not starting\n", MAX_KEY_FILE_BYTES);
  return false;
}

// Workers and invocation threads 1-THREAD_COUNT (and the async threads after them) each get a
// stack, a UTCB and a thread of their own (0 is the event loop).
Result<void> start_worker(u64 index, void (*entry)(u64) = serve_requests) {
  if (index == 0) return {};
  u64 stack_slot = TRY(slots.allocate());
  u64 thread_slot = TRY(slots.allocate());
  Factory factory(OWN_FACTORY);
  Memory stack = TRY(factory.create_memory(stack_slot, WORKER_STACK_PAGES));
  u64 stack_bottom = WORKER_STACK_AREA + index * (WORKER_STACK_PAGES + 16) * PAGE_SIZE;  // Guard gaps between.
  TRY_VOID(Task(SELF_TASK).map(stack, 0, stack_bottom, WORKER_STACK_PAGES, READ_WRITE));
  Thread thread = TRY(factory.create_thread(thread_slot, Task(SELF_TASK), WORKER_UTCB_AREA + index * PAGE_SIZE));
  return start_thread(thread, stack_bottom + WORKER_STACK_PAGES * PAGE_SIZE, entry, index);
}

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  if (endpoint_count < 2) fail("finding the net and manager endpoints (boot configuration)", Error::InvalidCapability);
  gateway::Slice key_text;
  u64 key_file_pages = 0;
  if (!map_key_file(key_text, key_file_pages)) metteagle_exit_thread();
  static gateway::KeyTable keys;  // Keeps its own copy of every key: the file is unmapped after.
  gateway::KeysError key_error;
  bool keys_parsed = gateway::parse_keys(key_text, keys, key_error);
  (void)Task(SELF_TASK).unmap(KEY_FILE_AREA, key_file_pages);
  if (!keys_parsed) {
    if (key_error.line != 0) {
      printf(console, "gateway: bad key file, line %zu: %s (format: docs/NETWORK.md, Gateway); not starting\n",
             key_error.line, key_error.reason);
    } else {
      printf(console, "gateway: bad key file: %s (format: docs/NETWORK.md, Gateway); not starting\n",
             key_error.reason);
    }
    metteagle_exit_thread();
  }
  static ManagerBackend backend{Endpoint(MANAGER_ENDPOINT)};
  static StoreBackend image_store{Endpoint(STORE_ENDPOINT)};
  bool has_store = endpoint_count >= 3;
  static gateway::GatewayShared shared(keys.keys(), keys.count(), keys.body_limit());
  for (Notification* notification : {&work_ready, &invocation_ready}) {
    u64 slot = slots.allocate().value();  // Cannot fail: the first slots of a fresh allocator.
    if (auto created = Factory(OWN_FACTORY).create(ObjectType::Notification, slot); !created.ok())
      fail("creating the work notifications (needs factory=)", created.error());
    *notification = Notification(slot);
  }
  {
    // The per-function tables: a quarter of the gateway's factory (docs/NETWORK.md, Gateway).
    auto quota = Factory(OWN_FACTORY).info();
    usize bound = quota.ok() ? gateway::function_bound(quota.value().quota_bytes, gateway::GatewayShared::FUNCTION_STATE_BYTES)
                             : 0;
    constexpr usize SERIES_BYTES = gateway::MAX_FUNCTION_ENTRIES * gateway::Metrics::ENTRY_BYTES;
    constexpr usize CATALOG_BYTES = gateway::MAX_FUNCTION_ENTRIES * gateway::Catalog::ENTRY_BYTES;
    if (!series_table_memory.create(SERIES_TABLE_AREA, SERIES_BYTES) ||
        !catalog_table_memory.create(CATALOG_TABLE_AREA, CATALOG_BYTES))
      bound = 0;
    shared.configure_tables(&series_table_memory, &catalog_table_memory, bound);
    printf(console, "gateway: state for up to %zu functions (a quarter of a %lu MiB factory)\n", bound,
           quota.ok() ? quota.value().quota_bytes >> 20 : 0);
    // Windows: three quarters of the factory, each key's tenant and tenant 0 (requests without a
    // key) guaranteed an equal part of a quarter of it (docs/NETWORK.md, "Window memory").
    u64 window_pages = quota.ok() ? quota.value().quota_bytes / 4 * 3 / PAGE_SIZE : 0;
    window_budget.configure(window_pages, shared.tenants);
    // Logs, async jobs and envProcess texts: per tenant, charged to the same budget on first use.
    usize slices = shared.tenants.count();
    if (!log_slices.create(LOG_SLICES_AREA, slices, gateway::FunctionLogs::SLICE_BYTES) ||
        !async_slices.create(ASYNC_SLICES_AREA, slices, gateway::AsyncQueue::SLICE_BYTES) ||
        !pool_slices.create(POOL_SLICES_AREA, slices, gateway::Catalog::POOL_SLICE_BYTES))
      printf(console, "gateway: no memory objects for the tenants' logs, async jobs or envProcess texts\n");
    shared.configure_tenant_memory(&log_slices, &async_slices, &pool_slices);
    printf(console, "gateway: %zu keys; windows of up to %lu MiB, %lu KiB guaranteed to each tenant\n", keys.count(),
           window_pages * PAGE_SIZE >> 20, window_budget.guarantee() * PAGE_SIZE >> 10);
  }
  shared.connections = &connection_stats;
  shared.windows = &window_budget;
  connection_limit = keys.connection_limit();
  connection_stats.limit.store(connection_limit, std::memory_order_relaxed);
  // The net server may still be starting: retry for a while.
  Result<u64> listener = Error::NotFound;
  for (int attempt = 0; attempt < 200; ++attempt) {
    listener = sockets.listen(HTTP_PORT);
    if (listener.ok() || listener.error() != Error::Timeout) break;
  }
  if (!listener.ok()) fail("listening on port 8080", listener.error());
  listener_handle = listener.value();
  attach_bulk_buffer();
  if (auto watched = sockets.watch(listener_handle, net::POLL_READABLE); !watched.ok())
    fail("watching the listener (a net server with Poll)", watched.error());
  // The loop's Gateway only renders error answers (400, 408, 413, 431, 503); it needs little room.
  static char loop_text[4096];
  static u8 loop_output[64];
  alignas(gateway::Gateway) static u8 api_storage[THREAD_COUNT + 1][sizeof(gateway::Gateway)];
  alignas(gateway::Gateway) static u8 async_storage[ASYNC_THREADS][sizeof(gateway::Gateway)];
  workers[0].api = new (api_storage[0])
      gateway::Gateway(backend, shared, gateway::GatewayStorage{loop_text, sizeof loop_text, loop_output, sizeof loop_output});
  request_policy.api = workers[0].api;
  if (has_store) workers[0].api->set_image_store(&image_store);
  for (usize index = 1; index <= THREAD_COUNT; ++index) {
    gateway::GatewayStorage storage{};
    if (index <= WORKER_COUNT) {
      WorkerBuffers& buffers = worker_buffers[index - 1];
      storage = gateway::GatewayStorage{buffers.text, sizeof buffers.text, buffers.output, sizeof buffers.output,
                                        buffers.strings, sizeof buffers.strings};
      workers[index].queue = &requests;
      workers[index].ready = &work_ready;
    } else {
      InvocationBuffers& buffers = invocation_buffers[index - WORKER_COUNT - 1];
      storage = gateway::GatewayStorage{buffers.text, sizeof buffers.text, buffers.output, sizeof buffers.output};
      workers[index].queue = &invocations;
      workers[index].ready = &invocation_ready;
    }
    workers[index].api = new (api_storage[index]) gateway::Gateway(backend, shared, storage);
    if (has_store) workers[index].api->set_image_store(&image_store);
  }
  // Every function kept in the store is deployed again before the first request is read.
  static StoreRecords records{Endpoint(STORE_ENDPOINT)};
  if (has_store) {
    for (usize index = 0; index <= THREAD_COUNT; ++index) workers[index].api->set_record_store(&records);
    usize restored = workers[1].api->restore_functions([](const char* line) { printf(console, "%s\n", line); });
    printf(console, "gateway: restored %zu functions from the image store\n", restored);
  }
  // Every thread or none: the admission lets INVOCATION_THREADS invocations run, each needs one.
  for (usize index = 1; index <= THREAD_COUNT; ++index) {
    if (auto started = start_worker(index); !started.ok()) {
      printf(console, "gateway: thread %zu of %zu failed to start: %s (needs task and factory=)\n", index,
             THREAD_COUNT, error_name(started.error()));
      metteagle_exit_thread();
    }
  }
  // The async threads; without them /async-function/ answers 503.
  usize async_running = 0;
  auto allocated = slots.allocate();
  u64 async_slot = allocated.ok() ? allocated.value() : 0;
  if (async_slot != 0 && Factory(OWN_FACTORY).create(ObjectType::Notification, async_slot).ok()) {
    async_ready = Notification(async_slot);
    static char async_text[ASYNC_THREADS][16 * 1024];
    for (usize index = 0; index < ASYNC_THREADS; ++index) {
      AsyncRunner& runner = async_runners[index];
      auto pause_allocated = slots.allocate();
      u64 pause_slot = pause_allocated.ok() ? pause_allocated.value() : 0;
      if (pause_slot == 0 || !Factory(OWN_FACTORY).create(ObjectType::Notification, pause_slot).ok()) break;
      runner.pause = Notification(pause_slot);
      runner.shared = &shared;
      runner.window.place(ASYNC_WINDOW_AREA + index * WINDOW_SPAN);
      runner.api = new (async_storage[index]) gateway::Gateway(
          backend, shared, gateway::GatewayStorage{async_text[index], sizeof async_text[index], runner.output, sizeof runner.output});
      if (!start_worker(THREAD_COUNT + 1 + index, run_async_jobs).ok()) break;
      ++async_running;
    }
  }
  if (async_running > 0) {
    shared.async_inputs = &job_inputs;
    shared.async_wake = [] { (void)async_ready.signal(1); };
  }
  printf(console,
         "gateway: listening on port %lu, %zu API keys, %zu workers, %zu invocation threads and %zu async "
         "threads, at most %zu connections, bodies up to %lu MiB%s\n",
         HTTP_PORT, keys.count(), WORKER_COUNT, INVOCATION_THREADS, async_running, connection_limit, keys.body_limit() >> 20,
         bulk ? "" : " (no bulk transfers: the net server refused SOCKET_ATTACH)");
  EventLoop loop(*workers[0].api, [] { return backend.now_microseconds(); });
  loop.run();
}
