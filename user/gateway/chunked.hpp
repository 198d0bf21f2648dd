// ChunkDecoder: the chunked transfer coding of a request body (RFC 9112 section 7.1) as a
// byte-level state machine, so a body of any length is decoded as its bytes arrive without
// buffering a line. Pure and host-tested (tests/gateway/connection_test.cpp).
// Invariant: every framing byte (chunk sizes, extensions, CRLFs, trailer fields) is checked
// against the grammar before the next is looked at; data is handed out only inside a chunk's
// announced size, and never more than the limit in all (TooLarge as soon as a size says so); a
// chunk-size line and the trailer section are bounded, so no input holds the decoder unbounded.
#pragma once

#include "text.hpp"

namespace gateway {

constexpr usize MAX_CHUNK_LINE_BYTES = 4096;  // A chunk-size line with its extensions and CRLF.
constexpr usize MAX_TRAILER_BYTES = 8192;     // The trailer section (its fields are discarded).

class ChunkDecoder {
 public:
  enum class Status {
    More,      // All input taken; the body goes on.
    Data,      // input[data_offset, data_offset + data_length) is body data; more may follow.
    Done,      // The body (and its trailer section) ended after `consumed` bytes.
    Invalid,   // Malformed chunking: error() says what (answer 400).
    TooLarge,  // A chunk would take the data beyond the limit (answer 413).
  };
  struct Step {
    Status status = Status::More;
    usize consumed = 0;     // Input bytes this step took (framing, and data up to its end).
    usize data_offset = 0;  // Data: where the data starts in the input.
    usize data_length = 0;
  };

  // A new body of at most `limit` data bytes.
  void start(u64 limit);
  // Decodes from the start of `bytes`: stops after one span of data, at the end of the input, at
  // the end of the body or at the first error. Call again with the rest.
  Step next(const u8* bytes, usize length);
  u64 data_total() const { return total_; }
  const char* error() const { return error_; }

 private:
  enum class State {
    Size, SizeBlank, ExtensionNameStart, ExtensionName, ExtensionAfterName, ExtensionValueStart,
    ExtensionToken, ExtensionQuoted, ExtensionEscape, ExtensionAfterValue, SizeLineFeed,
    Data, DataReturn, DataLineFeed, TrailerStart, TrailerName, TrailerValue, TrailerLineFeed, EndLineFeed, Done,
    Failed,
  };
  Step fail(Step step, Status status, const char* why);

  State state_ = State::Size;
  u64 limit_ = 0;
  u64 total_ = 0;       // Data bytes so far.
  u64 size_ = 0;        // The chunk size being read.
  usize digits_ = 0;    // Digits of it.
  u64 remaining_ = 0;   // Data bytes left in the current chunk.
  usize line_bytes_ = 0;     // Bytes of the current chunk-size line.
  usize trailer_bytes_ = 0;  // Bytes of the trailer section.
  const char* error_ = nullptr;
};

}  // namespace gateway
