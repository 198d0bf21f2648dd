// Typed IPC messages: a protocol declares each request and reply once, as a struct (its body),
// and both sides move it in and out of a Message's words only through these functions.
// Invariant: as sys/body.hpp's; the label and word count are set together with the words.
#pragma once

#include <stddef.h>

#include "sys/body.hpp"
#include "sys/message.hpp"

namespace sys {

// Puts the first `bytes` bytes of `body` (all of it by default) into words 0.. and sets the label
// and word count; capabilities already attached stay attached.
template <MessageBody Body>
void put(Message& message, u32 label, const Body& body, u64 bytes = sizeof(Body)) {
  message.set_words(label, store_body(message.words, body, bytes));
}

// A new message with `label` and (the first `bytes` bytes of) `body`.
template <MessageBody Body>
Message message_of(u32 label, const Body& body, u64 bytes = sizeof(Body)) {
  Message message;
  put(message, label, body, bytes);
  return message;
}

// Copies what `message` carried of a `Body` into `body`; the rest of `body` is zeroed. Returns the
// bytes of `body` the message carried.
template <MessageBody Body>
u64 get(const Message& message, Body& body) {
  return load_body(message.words, message.word_count(), body);
}

// True when `message` carries at least the first `bytes` bytes of a `Body` (all of it by default):
// a server's check that a request is not short.
template <MessageBody Body>
bool carries(const Message& message, u64 bytes = sizeof(Body)) {
  return message.word_count() >= words_for(bytes);
}

// The bytes `message` carries from byte `offset` of its body on.
inline u64 bytes_from(const Message& message, u64 offset) { return bytes_from(message.word_count(), offset); }

}  // namespace sys
