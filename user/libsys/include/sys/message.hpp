// Message: what one IPC transfers (tag, up to 64 words, up to two capabilities) and what a
// receiver learns (the badge of the sender's capability, how many capabilities arrived).
// Invariant: words beyond tag.words() are meaningless; libsys never reads or sends them.
#pragma once

#include <initializer_list>
#include <type_traits>

#include "sys/capability.hpp"

namespace sys {

struct Message {
  abi::MessageTag tag{0};
  u64 words[abi::MESSAGE_WORDS] = {};
  // Capabilities to send (tag.capabilities() of them), each with a rights mask.
  u64 send_capabilities[abi::MAX_TRANSFER_CAPABILITIES] = {};
  u32 send_rights[abi::MAX_TRANSFER_CAPABILITIES] = {};
  // Filled on receipt.
  u64 badge = 0;
  u64 received_capabilities = 0;

  u32 label() const { return tag.label(); }
  u64 word_count() const { return tag.words(); }

  // A message with `label` and the given words; capabilities are attached with attach().
  static Message make(u32 label, std::initializer_list<u64> values = {}) {
    Message message;
    u64 count = 0;
    for (u64 value : values) {
      if (count == abi::MESSAGE_WORDS) break;
      message.words[count++] = value;
    }
    message.tag = abi::MessageTag::make(label, count);
    return message;
  }
  void set_words(u32 label, u64 count) { tag = abi::MessageTag::make(label, count, tag.capabilities()); }
  // Adds a capability to send; returns false when MAX_TRANSFER_CAPABILITIES are attached already.
  bool attach(Capability capability, u32 rights_mask = abi::ALL_RIGHTS) {
    u64 index = tag.capabilities();
    if (index == abi::MAX_TRANSFER_CAPABILITIES) return false;
    send_capabilities[index] = capability.selector();
    send_rights[index] = rights_mask;
    tag = abi::MessageTag::make(tag.label(), tag.words(), index + 1);
    return true;
  }
};
static_assert(std::is_trivially_copyable_v<Message>);

}  // namespace sys
