// The gateway's image routes (docs/API.md, Images): what they need from the image store
// (ImageStore, over store/protocol.hpp; a fake in host tests) and the state of one archive
// streaming in over a connection (ImageStream).
// Invariant: an ImageStream's handle is non-zero exactly while the store holds an import for
// it; whoever ends the request (answer, failure, or a connection that went away) ends the import.
#pragma once

#include "http.hpp"
#include "store/protocol.hpp"
#include "sys/body.hpp"

namespace gateway {

// POST /system/images hands the archive over in pieces of this size (the store's largest WRITE),
// never holding it whole; the whole archive may be up to MAX_IMAGE_ARCHIVE_BYTES (the store's
// free space is the real bound).
constexpr u64 IMAGE_PIECE_BYTES = store::MAX_WRITE_BYTES;
constexpr u64 MAX_IMAGE_ARCHIVE_BYTES = 16ull << 30;

struct ImageStream {
  u64 handle = 0;  // The store's import handle; 0: none.
  u64 bytes = 0;   // Archive bytes written so far.
};

// One store answer: its status and words (IMPORT_FAILED: the code, the error's name and message).
struct StoreReply {
  bool delivered = false;
  u32 status = store::STATUS_IO_ERROR;
  u64 word_count = 0;
  u64 words[metteagle::abi::MESSAGE_WORDS] = {};
  // The reply's body (store/protocol.hpp); what it did not carry reads as zero.
  template <sys::MessageBody Body>
  Body body() const {
    Body fields;
    sys::load_body(words, word_count, fields);
    return fields;
  }
};

class ImageStore {
 public:
  // IMPORT; `buffer` is the Memory (selector) whose bytes later writes name (lent to the store).
  virtual StoreReply import(u32 tenant, const char* reference, u64 buffer) = 0;
  virtual StoreReply write(u64 handle, u64 length) = 0;   // From offset 0 of the lent buffer.
  virtual StoreReply commit(u64 handle) = 0;
  virtual void abort(u64 handle) = 0;
  virtual StoreReply list(u32 tenant, u64 index) = 0;
  virtual StoreReply remove(u32 tenant, const char* reference) = 0;

 protected:
  ~ImageStore() = default;
};

}  // namespace gateway
