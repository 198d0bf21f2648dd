// ManagerClient: a tenant's side of the container manager's protocol (manager/protocol.hpp), for
// the in-guest tests. Invariant: every request carries at least the words protocol.hpp names, and
// the client never reads reply words beyond the reply's word count (they are zero instead).
#pragma once

#include "manager/protocol.hpp"
#include "sys/sys.hpp"

namespace containers {

using namespace sys;
using manager::FunctionConfig;
using manager::Status;

// A reply: its label as a Status and its message (words beyond the reply's word count are zero).
struct Reply {
  Status status = manager::STATUS_INTERNAL_ERROR;
  Error transport = Error::None;  // The IPC error, when the call itself failed.
  Message message;
  // The reply's body (manager/protocol.hpp): a copy, not a view of the words, so the aliasing rules
  // hold; what the reply did not carry reads as zero.
  template <MessageBody Body>
  Body body() const {
    Body fields;
    get(message, fields);
    return fields;
  }
  manager::ManagerStats stats() const { return body<manager::ManagerStats>(); }
  manager::InvocationResult result() const { return body<manager::InvokeReply>().result; }
  manager::DescribeReply described() const { return body<manager::DescribeReply>(); }
  u64 detail() const { return body<manager::DetailReply>().detail; }
  const u8* inline_output() const {
    return reinterpret_cast<const u8*>(message.words) + offsetof(manager::InvokeReply, tail);
  }
};

// A name as the raw bytes of a request's name field, for names pack_name cannot express.
struct RawName {
  char field[manager::NAME_BYTES] = {};
  static RawName of(const char* name);
};

class ManagerClient {
 public:
  // endpoint: the manager capability (Send, Grant for deploys); slots: the caller's allocator;
  // task: the caller's own task (Map), used to fill and read Memory through scratch mappings.
  ManagerClient(Endpoint endpoint, Factory factory, Task task, SlotAllocator& slots)
      : endpoint_(endpoint), factory_(factory), task_(task), slots_(slots) {}

  // Copies `size` bytes into a new Memory (plus `patch` applied to the copy), sends DEPLOY with it
  // as capabilities[0] (Read) and deletes the own capability afterwards.
  using Patch = void (*)(u8* bytes, u64 size);
  // arguments: argv[1..] of a Linux function, NUL-terminated strings back to back (argument_bytes).
  Reply deploy(const RawName& name, const void* image, u64 size, const FunctionConfig& config,
               Patch patch = nullptr, bool attach_memory = true, const char* arguments = nullptr,
               u64 argument_bytes = 0);
  Reply deploy(const char* name, const void* image, u64 size, const FunctionConfig& config) {
    return deploy(RawName::of(name), image, size, config);
  }
  // INVOKE with inline input (at most INLINE_BYTES) and inline output.
  Reply invoke(const RawName& name, const void* input, u64 input_size);
  Reply invoke(const char* name, const void* input, u64 input_size) { return invoke(RawName::of(name), input, input_size); }
  Reply invoke(const char* name, const char* text);
  // INVOKE with input and output in Memory objects (selectors of the caller's space).
  Reply invoke_memory(const char* name, Memory input, u64 input_size, Memory output, u64 output_capacity);
  // INVOKE with `flags` (manager::INVOKE_OUTPUT_ONLY: `output`, when valid, is the only capability)
  // and an input size but no input bytes: the caller's request as it is, bad ones included.
  Reply invoke_flags(const char* name, u64 flags, u64 input_size, Memory output, u64 output_capacity);
  // INVOKE with `input_text` (at most a page) in a Memory of its own and the output in another of
  // `pages` pages (a transcript longer than the inline bytes); `text` (pages * 4096 + 1 bytes) gets
  // the output, NUL-terminated. False, with nothing invoked, when the memory is refused.
  bool invoke_transcript(const char* name, const char* input_text, char* text, u64 pages, Reply& reply);
  Reply remove(const RawName& name);
  Reply remove(const char* name) { return remove(RawName::of(name)); }
  // CONFIGURE_CREATE of `name` from `source` with its strings (arguments, environment, secret files:
  // the byte counts the request names) in a Memory of `sent_bytes` holding `strings`' first
  // sent_bytes (issues 11 and 14).
  Reply configure_with_strings(const char* name, const char* source, const FunctionConfig& config, const char* strings,
                               u64 argument_bytes, u64 environment_bytes, u64 secret_bytes, u64 sent_bytes);
  Reply describe(const RawName& name);
  Reply describe(const char* name) { return describe(RawName::of(name)); }
  Reply list(u64 first_index);
  // STATS: the manager's pool and this tenant's share (words: manager::ManagerStats).
  Reply stats();
  // Walks LIST from index 0; true when `name` is among the names. total receives the count.
  bool listed(const char* name, u64& total, Status& status);

  Reply call(Message& request);

 private:
  Endpoint endpoint_;
  Factory factory_;
  Task task_;
  SlotAllocator& slots_;
};

// Scratch addresses of the own task for filling and checking Memory objects.
constexpr u64 SCRATCH_IMAGE = 0x0000000050000000;
constexpr u64 SCRATCH_INPUT = 0x0000000052000000;
constexpr u64 SCRATCH_OUTPUT = 0x0000000054000000;

using manager::status_name;

// The two tenants' conversation on the `sync` endpoint: the test client calls with this label and
// the name of a function it deployed (manager::NameRequest); tenant B answers (SyncAnswer) with the
// Status of its INVOKE, DESCRIBE and REMOVE of that name and listed = LIST total | (listed << 32) |
// (LIST status << 40).
constexpr u32 SYNC_SECRET_DEPLOYED = 1;
// Tenant B deploys (removes) its own `echo` (the embedded image, default configuration) and
// answers status = the Status.
constexpr u32 SYNC_DEPLOY_ECHO = 2;
constexpr u32 SYNC_REMOVE_ECHO = 3;
// Tenant B invokes its `echo` with SYNC_ECHO_INPUT and answers status, output_right = 1 when the
// output was exactly the input, and round_trip_ns.
constexpr u32 SYNC_TIMED_ECHO = 4;
struct SyncAnswer {
  u64 status;  // SYNC_SECRET_DEPLOYED: INVOKE's.
  u64 output_right;  // SYNC_SECRET_DEPLOYED: DESCRIBE's status.
  u64 round_trip_ns;  // SYNC_SECRET_DEPLOYED: REMOVE's status.
  u64 listed;
};
constexpr const char* SYNC_ECHO_INPUT = "tenant b still answers";
// The endpoints of both tenant programs, in their boot configuration's order.
constexpr u64 MANAGER_ENDPOINT = FIRST_ENDPOINT;
constexpr u64 SYNC_ENDPOINT = FIRST_ENDPOINT + 1;

}  // namespace containers
