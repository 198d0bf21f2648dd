// Endpoint: synchronous IPC — call, send, receive, reply, reply-and-wait.
// Invariant: words 0-3 travel in registers and words 4+ through the calling thread's UTCB at the
// same index (utcb.words[i] holds word i); every operation copies exactly tag.words() words.
#pragma once

#include "sys/capability.hpp"
#include "sys/message.hpp"

namespace sys {

constexpr u64 WAIT_FOREVER = abi::TIMEOUT_INFINITE;
constexpr u64 DO_NOT_BLOCK = 0;

// Receive slots: empty slots of the caller's space where capabilities sent to this thread land.
// They stay set in the UTCB until changed; 0 refuses a capability.
void set_receive_slots(u64 first, u64 second = abi::NULL_SELECTOR);

class Endpoint : public TypedCapability<ObjectType::Endpoint> {
 public:
  using TypedCapability::TypedCapability;

  // Sends `request` and waits for the reply, which lands in `reply` (may be the same object).
  [[nodiscard]] Result<void> call(const Message& request, Message& reply, u64 timeout = WAIT_FOREVER) const;
  [[nodiscard]] Result<void> send(const Message& message, u64 timeout = WAIT_FOREVER) const;
  [[nodiscard]] Result<void> receive(Message& message, u64 timeout = WAIT_FOREVER) const;
  // Answers the last caller, then waits on this endpoint; `next` may be the same object as `answer`.
  [[nodiscard]] Result<void> reply_wait(const Message& answer, Message& next, u64 timeout = WAIT_FOREVER) const;
};

// Answers the last caller this thread received from; never blocks.
[[nodiscard]] Result<void> reply(const Message& answer);

// A server that answers a caller later (after serving others, or after its own calls) moves the
// caller's reply capability into a Reply object it created, and answers through that object.
[[nodiscard]] Result<void> save_reply(u64 reply_object);
// Answers the caller saved in `reply_object`; NotFound when it vanished meanwhile. Never blocks.
[[nodiscard]] Result<void> reply_with(u64 reply_object, const Message& answer);

}  // namespace sys
