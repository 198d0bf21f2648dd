// store::Client: the client side of store/protocol.hpp over libsys IPC, one call per request.
// Used by the in-guest tests and by future clients (the manager mapping an image's tree).
// Invariant: every call returns the store's Status (or STATUS_IO_ERROR when the IPC itself failed,
// e.g. the store is gone) and fills its outputs only on STATUS_OK.
#pragma once

#include "store/protocol.hpp"
#include "sys/sys.hpp"

namespace store {

class Client {
 public:
  explicit Client(sys::Endpoint endpoint) : endpoint_(endpoint) {}

  // `buffer`: the Memory (Read right needed) whose bytes later WRITEs name by offset.
  Status create(const char* name, const char* digest, u64 size_hint, sys::Memory buffer, u64& handle) const {
    CreateRequest body{};
    pack_text(name, body.name, NAME_BYTES);
    pack_text(digest, body.digest, DIGEST_BYTES);
    body.size_hint = size_hint;
    sys::Message request = sys::message_of(CREATE, body);
    if (!buffer.is_null()) request.attach(buffer, sys::abi::rights_of(sys::abi::MemoryRight::Read));
    HandleReply answer;
    Status status = call(request, answer);
    if (status == STATUS_OK) handle = answer.handle;
    return status;
  }
  Status write(u64 handle, u64 offset, u64 length, u64* total = nullptr) const {
    WriteReply answer;
    Status status = call(sys::message_of(WRITE, WriteRequest{handle, offset, length}), answer);
    if (status == STATUS_OK && total != nullptr) *total = answer.written;
    return status;
  }
  Status commit(u64 handle, u64* size = nullptr, u64* checksum = nullptr) const {
    CommitReply answer;
    Status status = call(sys::message_of(COMMIT, HandleRequest{handle}), answer);
    if (status == STATUS_OK && size != nullptr) *size = answer.size;
    if (status == STATUS_OK && checksum != nullptr) *checksum = answer.checksum;
    return status;
  }
  Status abort(u64 handle) const {
    sys::Message reply;
    return call(sys::message_of(ABORT, HandleRequest{handle}), reply);
  }
  // `answer.names` holds `answer.count` NUL-terminated names back to back.
  Status list(u64 first, ListReply& answer) const { return call(sys::message_of(LIST, ListRequest{first}), answer); }
  Status stat(const char* name, StatReply& answer) const { return call(named(STAT, name), answer); }
  Status remove(const char* name) const {
    sys::Message reply;
    return call(named(DELETE, name), reply);
  }
  // The blob's Memory lands in `memory_slot` (an empty slot of the caller).
  Status open(const char* name, u64 memory_slot, u64& handle, u64& size) const {
    sys::set_receive_slots(memory_slot);
    sys::Message reply;
    Status status = call(named(OPEN, name), reply);
    sys::set_receive_slots(sys::abi::NULL_SELECTOR);
    OpenReply answer;
    sys::get(reply, answer);
    if (status == STATUS_OK && reply.received_capabilities != 1) {
      // The Memory did not arrive (the slot was not empty): give the handle back at once.
      (void)close(answer.handle);
      return STATUS_IO_ERROR;
    }
    if (status == STATUS_OK) {
      handle = answer.handle;
      size = answer.size;
    }
    return status;
  }
  Status close(u64 handle) const {
    sys::Message reply;
    return call(sys::message_of(CLOSE, HandleRequest{handle}), reply);
  }
  Status info(StoreInfo& answer) const { return call(sys::Message::make(INFO), answer); }
  // A raw request, for tests of malformed ones.
  Status call(const sys::Message& request, sys::Message& reply) const {
    if (!endpoint_.call(request, reply).ok()) return STATUS_IO_ERROR;
    return static_cast<Status>(reply.label());
  }
  // A request whose reply carries `Answer` (filled only on STATUS_OK).
  template <sys::MessageBody Answer>
  Status call(const sys::Message& request, Answer& answer) const {
    sys::Message reply;
    Status status = call(request, reply);
    if (status == STATUS_OK) sys::get(reply, answer);
    return status;
  }

 private:
  static sys::Message named(u32 label, const char* name) {
    NameRequest body;
    pack_text(name, body.name, NAME_BYTES);
    return sys::message_of(label, body);
  }

  sys::Endpoint endpoint_;
};

}  // namespace store
