// gateway: the HTTP front door (docs/API.md). Listens on port 8080 through the net server's socket
// interface (net/socket.hpp), parses HTTP/1.1 with keep-alive, and maps each request to the
// container manager's protocol (manager/protocol.hpp), each API key (read at boot from the key
// file, keys.hpp) to one manager sub-tenant. WORKER_COUNT threads of this task each accept and
// serve one connection at a time with buffers of their own; a connection that stays silent is
// closed after a timeout, and an idle one sooner when every worker is busy and a client waits.
// Invariant: every request read gets exactly one response (or the connection is closed), and a
// malformed request closes its connection after its 400; state shared between the workers is
// only the GatewayShared (locked inside), the slot allocator (locked) and the accept token.
#include <atomic>
#include <new>

#include "api.hpp"
#include "keys.hpp"
#include "net/socket.hpp"
#include "print.hpp"
#include "sys/sys.hpp"

extern "C" void* memcpy(void* destination, const void* source, sys::usize length);
extern "C" void* memmove(void* destination, const void* source, sys::usize length);
extern "C" [[noreturn]] void metteagle_exit_thread();

namespace {

using namespace sys;
using gateway::ManagerReply;

constexpr u64 NET_ENDPOINT = FIRST_ENDPOINT;          // endpoint=net:send (first in the boot line)
constexpr u64 MANAGER_ENDPOINT = FIRST_ENDPOINT + 1;  // endpoint=manager:send+grant
constexpr u64 HTTP_PORT = 8080;
constexpr u64 NANOSECONDS_PER_SECOND = 1'000'000'000;
constexpr u64 IDLE_TIMEOUT_NS = 5 * NANOSECONDS_PER_SECOND;     // Between requests of a connection.
constexpr u64 RECEIVE_TIMEOUT_NS = 10 * NANOSECONDS_PER_SECOND;  // Within a request.
constexpr u64 IDLE_SLICE_NS = 20'000'000;  // How often an idle connection looks for queued clients.
constexpr usize WORKER_COUNT = 4;
constexpr u64 WORKER_STACK_PAGES = 16;  // 64 KiB, as the first thread's stack (docs/BOOT.md).
constexpr u64 WORKER_STACK_AREA = 0x0000700000000000;
constexpr u64 WORKER_UTCB_AREA = 0x0000700100000000;
constexpr u64 MAX_KEY_FILE_BYTES = 16 * 1024;
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

// One worker's buffers (about 6.3 MiB): each worker serves one request at a time.
struct WorkerBuffers {
  char head[gateway::MAX_HEAD_BYTES + 1];
  // A request's body (an executable at most); also the /metrics page, which ignores its body.
  u8 body[gateway::MAX_DEPLOY_BODY_BYTES > gateway::METRICS_PAGE_BYTES ? gateway::MAX_DEPLOY_BODY_BYTES
                                                                       : gateway::METRICS_PAGE_BYTES];
  u8 output[manager::MAX_OUTPUT_BYTES];
  char text[128 * 1024];
  char response_head[gateway::MAX_HEAD_BYTES];
};
WorkerBuffers worker_buffers[WORKER_COUNT];

// The right to call Accept: the net server parks one Accept per listener (a second is Busy), so
// the workers pass one token around in a Notification. Bit 1 set means nobody holds the token
// and nobody waits for it, so every worker is serving a connection.
class AcceptToken {
 public:
  Result<void> create() {
    u64 slot = TRY(slots.allocate());
    (void)TRY(Factory(OWN_FACTORY).create(ObjectType::Notification, slot));
    notification_ = Notification(slot);
    return notification_.signal(1);
  }
  void take() const {
    while (!notification_.wait().ok()) yield_thread();
  }
  bool try_take() const { return notification_.wait(0).ok(); }
  void give() const { (void)notification_.signal(1); }

 private:
  Notification notification_;
};
AcceptToken accept_token;

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

  ManagerReply deploy(u32 sub_tenant, const char* name, const u8* image, u64 size,
                      const manager::FunctionConfig& config, const char* arguments, u64 argument_bytes) override {
    ManagerReply failed;
    ScopedMemory scoped;
    auto memory = scoped.create(pages_for(size));
    if (!memory.ok() || !memory->write(0, image, size).ok()) return failed;
    Message request;
    manager::pack_name(name, request.words);
    request.words[4] = size;
    memcpy(&request.words[5], &config, sizeof config);
    if (argument_bytes > manager::MAX_ARGUMENT_BYTES) return failed;
    memcpy(&request.words[manager::DEPLOY_ARGUMENTS_FIRST_WORD], arguments, argument_bytes);
    request.set_words(manager::with_sub_tenant(manager::DEPLOY, sub_tenant),
                      manager::DEPLOY_ARGUMENTS_FIRST_WORD + (argument_bytes + 7) / 8);
    request.attach(memory.value(), MEMORY_READ);
    return call(request, gateway::CONTROL_SEND_TIMEOUT_NS);
  }

  ManagerReply invoke(u32 sub_tenant, const char* name, const u8* input, u64 input_size, u8* output,
                      u64 output_capacity, u64 send_timeout_ns) override {
    ManagerReply failed;
    Message request;
    manager::pack_name(name, request.words);
    request.words[4] = input_size;
    bool output_in_memory = output_capacity > manager::INLINE_BYTES;
    // The protocol names capabilities by position: output Memory is [1], so it needs input Memory [0].
    bool input_in_memory = input_size > manager::INLINE_BYTES || output_in_memory;
    ScopedMemory input_scope;
    ScopedMemory output_scope;
    u64 words = manager::INLINE_FIRST_WORD;
    if (input_in_memory) {
      auto memory = input_scope.create(pages_for(input_size));
      if (!memory.ok() || (input_size > 0 && !memory->write(0, input, input_size).ok())) return failed;
      request.words[5] = output_capacity;
      request.attach(memory.value(), MEMORY_READ);
    } else {
      request.words[5] = manager::INLINE_BYTES;
      memcpy(&request.words[manager::INLINE_FIRST_WORD], input, input_size);
      words += (input_size + 7) / 8;
    }
    Memory output_memory;
    if (output_in_memory) {
      auto memory = output_scope.create(pages_for(output_capacity));
      if (!memory.ok()) return failed;
      output_memory = memory.value();
      request.attach(output_memory, READ_WRITE);
    }
    request.set_words(manager::with_sub_tenant(manager::INVOKE, sub_tenant), words);
    ManagerReply reply = call(request, send_timeout_ns);
    if (!reply.delivered) return reply;
    bool has_output = reply.status == manager::STATUS_OK || reply.status == manager::STATUS_FAILED;
    u64 size = reply.result().output_size;
    if (!has_output || size > output_capacity) return reply;
    if (output_in_memory) {
      if (size > 0 && !output_memory.read(0, output, size).ok()) reply.status = manager::STATUS_INTERNAL_ERROR;
    } else {
      u64 carried = reply.word_count > manager::INLINE_FIRST_WORD ? (reply.word_count - manager::INLINE_FIRST_WORD) * 8 : 0;
      if (size > carried) {
        reply.status = manager::STATUS_INTERNAL_ERROR;
      } else {
        memcpy(output, &reply.words[manager::INLINE_FIRST_WORD], size);
      }
    }
    return reply;
  }

  ManagerReply request(u32 sub_tenant, u32 kind, const u64* words, u64 word_count) override {
    Message request;
    for (u64 index = 0; index < word_count && index < abi::MESSAGE_WORDS; ++index) request.words[index] = words[index];
    request.set_words(manager::with_sub_tenant(kind, sub_tenant), word_count);
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
    for (u64 index = 0; index < reply.word_count; ++index) reply.words[index] = answer.words[index];
    return reply;
  }

  Endpoint endpoint_;
  u64 hertz_;
};

// Collects outgoing bytes into full Send messages.
class Writer {
 public:
  Writer(const net::SocketClient& sockets, u64 connection) : sockets_(sockets), connection_(connection) {}
  bool write(const void* bytes, u64 length) {
    const auto* source = static_cast<const u8*>(bytes);
    while (length > 0 && ok_) {
      u64 room = net::SEND_BYTES - used_;
      u64 take = length < room ? length : room;
      memcpy(staging_ + used_, source, take);
      used_ += take;
      source += take;
      length -= take;
      if (used_ == net::SEND_BYTES) flush();
    }
    return ok_;
  }
  bool flush() {
    if (used_ > 0 && ok_) ok_ = sockets_.send_all(connection_, staging_, used_).ok();
    used_ = 0;
    return ok_;
  }

 private:
  const net::SocketClient& sockets_;
  u64 connection_;
  u8 staging_[net::SEND_BYTES];
  u64 used_ = 0;
  bool ok_ = true;
};

class ConnectionServer {
 public:
  ConnectionServer(const net::SocketClient& sockets, gateway::Gateway& api, u64 listener, WorkerBuffers& buffers)
      : sockets_(sockets), api_(api), listener_(listener), buffers_(buffers) {}

  // A connection accepted while this worker's idle one waited (0 = none); serve it next.
  u64 take_next() {
    u64 next = next_;
    next_ = 0;
    return next;
  }

  // Serves requests on `connection` until it is closed by either side or goes silent.
  void serve(u64 connection) {
    connection_ = connection;
    buffered_ = 0;
    for (;;) {
      if (!serve_one()) return;
    }
  }

 private:
  // Reads into the head buffer; false when the peer closed, reset or stayed silent.
  bool receive_more(u64 timeout) {
    u64 room = gateway::MAX_HEAD_BYTES + 1 - buffered_;
    auto received = sockets_.receive(connection_, reinterpret_cast<u8*>(buffers_.head + buffered_), room, timeout);
    if (!received.ok() || received.value() == 0) return false;
    buffered_ += received.value();
    return true;
  }

  // A client waits in the listener's queue although every worker is busy: take it (false = none).
  // The accept token is free only when no worker waits in Accept, i.e. all of them serve.
  bool take_queued_client() {
    if (!accept_token.try_take()) return false;
    auto queued = sockets_.accept(listener_, DO_NOT_BLOCK);
    accept_token.give();
    if (!queued.ok()) return false;
    next_ = queued->connection;
    return true;
  }

  // Waits for the first bytes of the next request on an idle keep-alive connection. While another
  // worker waits in Accept, new clients are served by it; when every worker is busy, an idle
  // connection must not keep a queued client waiting: it waits in slices and gives up the
  // connection as soon as a client is queued (HTTP lets a server close an idle persistent
  // connection at any time; clients retry on a fresh one).
  bool wait_next_request() {
    for (u64 waited = 0; waited < IDLE_TIMEOUT_NS; waited += IDLE_SLICE_NS) {
      u64 room = gateway::MAX_HEAD_BYTES + 1 - buffered_;
      auto received =
          sockets_.receive(connection_, reinterpret_cast<u8*>(buffers_.head + buffered_), room, IDLE_SLICE_NS);
      if (received.ok()) {
        if (received.value() == 0) return false;
        buffered_ += received.value();
        return true;
      }
      if (received.error() != Error::Timeout) return false;
      if (next_ != 0 || take_queued_client()) return false;
    }
    return false;
  }

  void respond(gateway::Response& response, bool keep_alive) {
    api_.metrics().count_response(response.status);
    gateway::Buffer head(buffers_.response_head, sizeof buffers_.response_head);
    gateway::render_response_head(response, keep_alive, head);
    Writer writer(sockets_, connection_);
    if (!head.overflowed()) writer.write(head.data(), head.size());
    writer.write(response.body, response.body_length);
    writer.flush();
  }

  void fail(u32 status, const char* message) {
    gateway::Response response;
    api_.error(response, status, message);
    response.close = true;
    respond(response, false);
  }

  // One request: false when the connection is to be closed.
  bool serve_one() {
    gateway::RequestHead head;
    for (;;) {
      auto parsed = gateway::parse_request_head(buffers_.head, buffered_, head);
      if (parsed == gateway::ParseStatus::Complete) break;
      if (parsed == gateway::ParseStatus::Invalid) {
        fail(400, head.error != nullptr ? head.error : "malformed request");
        return false;
      }
      if (parsed == gateway::ParseStatus::TooLarge) {
        fail(431, "request line and headers exceed 8 KiB");
        return false;
      }
      if (!(buffered_ == 0 ? wait_next_request() : receive_more(RECEIVE_TIMEOUT_NS))) return false;
    }
    if (gateway::Gateway::check_body_size(head) != 0) {
      fail(413, gateway::Gateway::body_limit(head) == gateway::MAX_BODY_BYTES ? "body larger than 1 MiB"
                                                                             : "executable larger than 4 MiB");
      return false;
    }
    u64 length = head.content_length;
    u64 leftover = buffered_ - head.head_length;
    u64 have = leftover < length ? leftover : length;
    memcpy(buffers_.body, buffers_.head + head.head_length, have);
    // Pipelined bytes after this body belong to the next request. They stay where they are until
    // this request is answered: `head` points into the head buffer, so moving them now would hand
    // this request the next one's path and headers (and its Authorization).
    u64 pipelined_start = head.head_length + have;
    u64 pipelined = leftover - have;
    if (have < length && head.expect_continue) {
      constexpr char CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!sockets_.send_all(connection_, reinterpret_cast<const u8*>(CONTINUE), sizeof CONTINUE - 1).ok()) return false;
    }
    while (have < length) {
      auto received = sockets_.receive(connection_, buffers_.body + have, length - have, RECEIVE_TIMEOUT_NS);
      if (!received.ok()) {
        if (received.error() == Error::Timeout) fail(408, "timed out waiting for the body");
        return false;
      }
      if (received.value() == 0) {
        // The client closed its sending side before the body was complete: a truncated upload.
        fail(400, "body shorter than Content-Length");
        return false;
      }
      have += received.value();
    }
    gateway::Response response;
    api_.handle(head, buffers_.body, length, response);
    respond(response, head.keep_alive);
    memmove(buffers_.head, buffers_.head + pipelined_start, pipelined);
    buffered_ = pipelined;
    return head.keep_alive && !response.close;
  }

  const net::SocketClient& sockets_;
  gateway::Gateway& api_;
  u64 listener_;
  WorkerBuffers& buffers_;
  u64 connection_ = 0;
  u64 buffered_ = 0;
  u64 next_ = 0;
};

[[noreturn]] void fail(const char* step, Error error) {
  printf(console, "gateway: %s failed: %s\n", step, error_name(error));
  metteagle_exit_thread();
}

// Reads the key file (a data module given with file=, docs/BOOT.md): text that ends at its first
// zero byte. False with a message printed when there is none or it is too large.
bool read_key_file(char (&text)[MAX_KEY_FILE_BYTES + 1], usize& length) {
  Memory file(BOOT_FILE);
  for (u64 offset = 0; offset < MAX_KEY_FILE_BYTES; offset += PAGE_SIZE) {
    auto read = file.read(offset, text + offset, PAGE_SIZE);
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
    for (u64 index = offset; index < offset + PAGE_SIZE; ++index) {
      if (text[index] == '\0') {
        length = index;
        return true;
      }
    }
  }
  printf(console, "gateway: the key file is larger than %lu bytes; not starting\n", MAX_KEY_FILE_BYTES);
  return false;
}

struct Worker {
  gateway::Gateway* api = nullptr;
  ConnectionServer* server = nullptr;
};
Worker workers[WORKER_COUNT];
net::SocketClient sockets{Endpoint(NET_ENDPOINT)};
u64 listener_handle = 0;
std::atomic<u64> connections_served{0};

void serve_connections(u64 index) {
  ConnectionServer& server = *workers[index].server;
  for (;;) {
    u64 connection = server.take_next();
    if (connection == 0) {
      accept_token.take();
      auto accepted = sockets.accept(listener_handle);
      accept_token.give();
      if (!accepted.ok()) {
        printf(console, "gateway: worker %lu: accept failed: %s\n", index, error_name(accepted.error()));
        yield_thread();
        continue;
      }
      connection = accepted->connection;
    }
    server.serve(connection);
    (void)sockets.close(connection);
    u64 served = connections_served.fetch_add(1, std::memory_order_relaxed) + 1;
    if (served % 100 == 0) printf(console, "gateway: %lu connections served\n", served);
  }
}

// Worker 0 is the first thread itself; the others get a stack, a UTCB and a thread of their own.
Result<void> start_worker(u64 index) {
  if (index == 0) return {};
  u64 stack_slot = TRY(slots.allocate());
  u64 thread_slot = TRY(slots.allocate());
  Factory factory(OWN_FACTORY);
  Memory stack = TRY(factory.create_memory(stack_slot, WORKER_STACK_PAGES));
  u64 stack_bottom = WORKER_STACK_AREA + index * (WORKER_STACK_PAGES + 16) * PAGE_SIZE;  // Guard gaps between.
  TRY_VOID(Task(SELF_TASK).map(stack, 0, stack_bottom, WORKER_STACK_PAGES, READ_WRITE));
  Thread thread = TRY(factory.create_thread(thread_slot, Task(SELF_TASK), WORKER_UTCB_AREA + index * PAGE_SIZE));
  return start_thread(thread, stack_bottom + WORKER_STACK_PAGES * PAGE_SIZE, serve_connections, index);
}

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  if (endpoint_count < 2) fail("finding the net and manager endpoints (boot configuration)", Error::InvalidCapability);
  static char key_text[MAX_KEY_FILE_BYTES + 1];
  usize key_length = 0;
  if (!read_key_file(key_text, key_length)) metteagle_exit_thread();
  static gateway::KeyTable keys;
  gateway::KeysError key_error;
  if (!gateway::parse_keys(gateway::Slice{key_text, key_length}, keys, key_error)) {
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
  static gateway::GatewayShared shared(keys.keys(), keys.count());
  auto token = accept_token.create();
  if (!token.ok()) fail("creating the accept token (needs factory=)", token.error());
  // The net server may still be starting: retry for a while.
  Result<u64> listener = Error::NotFound;
  for (int attempt = 0; attempt < 200; ++attempt) {
    listener = sockets.listen(HTTP_PORT);
    if (listener.ok() || listener.error() != Error::Timeout) break;
  }
  if (!listener.ok()) fail("listening on port 8080", listener.error());
  listener_handle = listener.value();
  alignas(gateway::Gateway) static u8 api_storage[WORKER_COUNT][sizeof(gateway::Gateway)];
  alignas(ConnectionServer) static u8 server_storage[WORKER_COUNT][sizeof(ConnectionServer)];
  for (usize index = 0; index < WORKER_COUNT; ++index) {
    WorkerBuffers& buffers = worker_buffers[index];
    workers[index].api = new (api_storage[index]) gateway::Gateway(
        backend, shared,
        gateway::GatewayStorage{buffers.text, sizeof buffers.text, buffers.output, sizeof buffers.output,
                                reinterpret_cast<char*>(buffers.body), sizeof buffers.body});
    workers[index].server = new (server_storage[index]) ConnectionServer(sockets, *workers[index].api,
                                                                         listener_handle, buffers);
  }
  usize running = 1;
  for (usize index = 1; index < WORKER_COUNT; ++index) {
    auto started = start_worker(index);
    if (!started.ok()) {
      printf(console, "gateway: worker %zu failed to start: %s (needs task and factory=)\n", index,
             error_name(started.error()));
      break;
    }
    ++running;
  }
  printf(console, "gateway: listening on port %lu, %zu API keys, %zu workers\n", HTTP_PORT, keys.count(), running);
  serve_connections(0);
}
