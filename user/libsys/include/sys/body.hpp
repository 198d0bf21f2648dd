// Message bodies: the one place that moves a protocol's request or reply struct in and out of
// message words (sys/protocol.hpp applies it to a Message; a front door that keeps a reply's words
// elsewhere, such as the gateway's backends, applies it to those).
// Invariant: a body travels as the first words; the word count is derived from the bytes sent
// (sizeof the body, or the part a variable-length message fills), the last word NUL-padded, and
// words a message did not carry read as zero.
#pragma once

#include <type_traits>

#include "sys/types.hpp"

namespace sys {

constexpr u64 MESSAGE_BYTES = abi::MESSAGE_WORDS * 8;

// What may travel as a body: plain bytes that fit one message.
template <typename Body>
concept MessageBody = std::is_trivially_copyable_v<Body> && alignof(Body) <= 8 && sizeof(Body) <= MESSAGE_BYTES;

// The words `bytes` bytes of a body take.
constexpr u64 words_for(u64 bytes) { return (bytes + 7) / 8; }

// Writes `bytes` bytes (at most MESSAGE_BYTES) to `words`, NUL-padding the last word; returns the
// word count.
inline u64 store_bytes(u64* words, const void* source, u64 bytes) {
  if (bytes > MESSAGE_BYTES) bytes = MESSAGE_BYTES;
  u64 count = words_for(bytes);
  if (count == 0) return 0;
  words[count - 1] = 0;
  __builtin_memcpy(words, source, bytes);
  return count;
}

// Writes the first `bytes` bytes of `body` (all of it by default) to `words`; returns the word count.
template <MessageBody Body>
u64 store_body(u64* words, const Body& body, u64 bytes = sizeof(Body)) {
  return store_bytes(words, &body, bytes < sizeof(Body) ? bytes : sizeof(Body));
}

// Reads what `count` words carry of a `Body` into `body`, zeroing the rest; returns those bytes.
template <MessageBody Body>
u64 load_body(const u64* words, u64 count, Body& body) {
  u64 carried = (count < abi::MESSAGE_WORDS ? count : abi::MESSAGE_WORDS) * 8;
  if (carried > sizeof(Body)) carried = sizeof(Body);
  __builtin_memset(static_cast<void*>(&body), 0, sizeof(Body));
  __builtin_memcpy(static_cast<void*>(&body), words, carried);
  return carried;
}

// The bytes `count` words carry from byte `offset` of a body on (the filled part of a trailing
// array at that offset); 0 when they end before.
constexpr u64 bytes_from(u64 count, u64 offset) {
  u64 carried = (count < abi::MESSAGE_WORDS ? count : abi::MESSAGE_WORDS) * 8;
  return carried > offset ? carried - offset : 0;
}

}  // namespace sys
