// Adversarial probe of nested replies (issue 10 findings 1 and 9): a nested reply carries whole
// words, so an output of 8k+1 bytes leaves 7 bytes of its last word that must be zero, not what an
// earlier nested call (here: 64 bytes of 0xa5 through `echo`) left in the manager. It also sends
// an EVENT_INVOKE whose input size names more bytes than the words it sends, which the manager must
// refuse. Output: "padding <clean>/<checked> oversized <status>" (clean = replies with exactly the
// right words, bytes and zero padding), or the first wrong byte.
#include "function/function.hpp"
#include "sys/sys.hpp"

namespace {

// Calls the tenant's `echo` with `size` bytes of `fill`; the raw reply lands in `reply`.
bool echo_raw(u64 size, u8 fill, sys::Message& reply) {
  manager::InvokeRequest request{};
  manager::pack_name("echo", request.name);
  request.input_size = size;
  request.output_capacity = manager::INLINE_BYTES;
  for (u64 index = 0; index < size; ++index) request.inline_bytes[index] = fill;
  sys::Message message =
      sys::message_of(manager::EVENT_INVOKE, request, offsetof(manager::InvokeRequest, inline_bytes) + size);
  return sys::Endpoint(manager::FUNCTION_MANAGER).call(message, reply).ok();
}

}  // namespace

int function_main(const FunctionInput&, FunctionOutput& output) {
  constexpr u64 SIZES[] = {1, 9, 25, 57};  // 8k+1 bytes, all below the 64 primed before each.
  u64 clean = 0;
  for (u64 size : SIZES) {
    sys::Message reply;
    if (!echo_raw(64, 0xa5, reply) || reply.label() != manager::STATUS_OK) {
      output.print("priming call failed (status %u)", reply.label());
      return 1;
    }
    if (!echo_raw(size, 0x11, reply) || reply.label() != manager::STATUS_OK) {
      output.print("call of %lu bytes failed (status %u)", size, reply.label());
      return 1;
    }
    u64 words = (size + 7) / 8;
    manager::InvokeReply answer;
    sys::get(reply, answer);
    if (reply.word_count() != sys::words_for(offsetof(manager::InvokeReply, tail)) + words ||
        answer.result.output_size != size) {
      output.print("size %lu: %lu words, output_size %lu", size, reply.word_count(), answer.result.output_size);
      return 1;
    }
    const u8* bytes = answer.tail;
    for (u64 index = 0; index < words * 8; ++index) {
      u8 expected = index < size ? 0x11 : 0;
      if (bytes[index] != expected) {
        output.print("size %lu: byte %lu is %#x, expected %#x", size, index, bytes[index], expected);
        return 1;
      }
    }
    ++clean;
  }
  // Input size 400 with a single input word sent: the other 392 bytes would be stale words.
  manager::InvokeRequest oversized{};
  manager::pack_name("echo", oversized.name);
  oversized.input_size = 400;
  oversized.output_capacity = manager::INLINE_BYTES;
  for (u64 index = 0; index < 8; ++index) oversized.inline_bytes[index] = 0x42;
  sys::Message request =
      sys::message_of(manager::EVENT_INVOKE, oversized, offsetof(manager::InvokeRequest, inline_bytes) + 8);
  sys::Message reply;
  if (!sys::Endpoint(manager::FUNCTION_MANAGER).call(request, reply).ok()) {
    output.write("oversized call failed");
    return 1;
  }
  output.print("padding %lu/%lu oversized %u", clean, sizeof SIZES / sizeof SIZES[0], reply.label());
  return 0;
}
