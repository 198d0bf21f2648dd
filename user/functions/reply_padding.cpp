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
  sys::Message request;
  manager::pack_name("echo", request.words);
  request.words[4] = size;
  request.words[5] = manager::INLINE_BYTES;
  auto* input = reinterpret_cast<u8*>(&request.words[manager::INLINE_FIRST_WORD]);
  for (u64 index = 0; index < size; ++index) input[index] = fill;
  request.set_words(manager::EVENT_INVOKE, manager::INLINE_FIRST_WORD + (size + 7) / 8);
  return sys::Endpoint(manager::FUNCTION_MANAGER).call(request, reply).ok();
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
    if (reply.word_count() != manager::INLINE_FIRST_WORD + words || reply.words[1] != size) {
      output.print("size %lu: %lu words, output_size %lu", size, reply.word_count(), reply.words[1]);
      return 1;
    }
    const auto* bytes = reinterpret_cast<const u8*>(&reply.words[manager::INLINE_FIRST_WORD]);
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
  sys::Message request;
  manager::pack_name("echo", request.words);
  request.words[4] = 400;
  request.words[5] = manager::INLINE_BYTES;
  request.words[manager::INLINE_FIRST_WORD] = 0x4242424242424242;
  request.set_words(manager::EVENT_INVOKE, manager::INLINE_FIRST_WORD + 1);
  sys::Message reply;
  if (!sys::Endpoint(manager::FUNCTION_MANAGER).call(request, reply).ok()) {
    output.write("oversized call failed");
    return 1;
  }
  output.print("padding %lu/%lu oversized %u", clean, sizeof SIZES / sizeof SIZES[0], reply.label());
  return 0;
}
