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
    sys::Message request = sys::Message::make(CREATE);
    pack_text(name, &request.words[0], NAME_BYTES);
    pack_text(digest, &request.words[NAME_WORDS], DIGEST_BYTES);
    request.words[NAME_WORDS + DIGEST_WORDS] = size_hint;
    request.words[NAME_WORDS + DIGEST_WORDS + 1] = 0;
    request.set_words(CREATE, CREATE_WORDS);
    if (!buffer.is_null()) request.attach(buffer, sys::abi::rights_of(sys::abi::MemoryRight::Read));
    sys::Message reply;
    Status status = call(request, reply);
    if (status == STATUS_OK) handle = reply.words[0];
    return status;
  }
  Status write(u64 handle, u64 offset, u64 length, u64* total = nullptr) const {
    sys::Message reply;
    Status status = call(sys::Message::make(WRITE, {handle, offset, length}), reply);
    if (status == STATUS_OK && total != nullptr) *total = reply.words[0];
    return status;
  }
  Status commit(u64 handle, u64* size = nullptr, u64* checksum = nullptr) const {
    sys::Message reply;
    Status status = call(sys::Message::make(COMMIT, {handle}), reply);
    if (status == STATUS_OK && size != nullptr) *size = reply.words[0];
    if (status == STATUS_OK && checksum != nullptr) *checksum = reply.words[1];
    return status;
  }
  Status abort(u64 handle) const {
    sys::Message reply;
    return call(sys::Message::make(ABORT, {handle}), reply);
  }
  // The reply's words: 0 total, 1 count, names from word 2 (see protocol.hpp).
  Status list(u64 first, sys::Message& reply) const { return call(sys::Message::make(LIST, {first}), reply); }
  Status stat(const char* name, StatReply& answer) const {
    sys::Message reply;
    Status status = call(named(STAT, name), reply);
    if (status == STATUS_OK) __builtin_memcpy(&answer, reply.words, sizeof answer);
    return status;
  }
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
    if (status == STATUS_OK && reply.received_capabilities != 1) {
      // The Memory did not arrive (the slot was not empty): give the handle back at once.
      sys::Message ignored;
      (void)call(sys::Message::make(CLOSE, {reply.words[0]}), ignored);
      return STATUS_IO_ERROR;
    }
    if (status == STATUS_OK) {
      handle = reply.words[0];
      size = reply.words[1];
    }
    return status;
  }
  Status close(u64 handle) const {
    sys::Message reply;
    return call(sys::Message::make(CLOSE, {handle}), reply);
  }
  Status info(StoreInfo& answer) const {
    sys::Message reply;
    Status status = call(sys::Message::make(INFO), reply);
    if (status == STATUS_OK) __builtin_memcpy(&answer, reply.words, sizeof answer);
    return status;
  }
  // A raw request, for tests of malformed ones.
  Status call(const sys::Message& request, sys::Message& reply) const {
    if (!endpoint_.call(request, reply).ok()) return STATUS_IO_ERROR;
    return static_cast<Status>(reply.label());
  }

 private:
  static sys::Message named(u32 label, const char* name) {
    sys::Message request = sys::Message::make(label);
    pack_text(name, &request.words[0], NAME_BYTES);
    request.set_words(label, NAME_WORDS);
    return request;
  }

  sys::Endpoint endpoint_;
};

}  // namespace store
