// IPC wrappers: move a Message into registers and the UTCB, invoke, and move the answer back.
// Invariant: at most MESSAGE_WORDS words and MAX_TRANSFER_CAPABILITIES capabilities are ever
// copied, whatever a (possibly hostile) sender's tag claims.
#include "sys/endpoint.hpp"
#include "sys/utcb.hpp"

namespace sys {
namespace {

u64 bounded_words(abi::MessageTag tag) { return tag.words() < abi::MESSAGE_WORDS ? tag.words() : abi::MESSAGE_WORDS; }

// Words 0-3 go in registers; words 4+ and the capabilities to send go in the UTCB.
void load(const Message& message, SyscallRegisters& registers, u64 timeout) {
  abi::Utcb* block = utcb();
  u64 count = bounded_words(message.tag);
  for (u64 index = abi::REGISTER_WORDS; index < count; ++index) block->words[index] = message.words[index];
  u64 capabilities = message.tag.capabilities();
  for (u64 index = 0; index < capabilities && index < abi::MAX_TRANSFER_CAPABILITIES; ++index) {
    block->send_capabilities[index] = message.send_capabilities[index];
    block->send_rights[index] = message.send_rights[index];
  }
  registers.argument1 = message.tag.raw;
  registers.argument2 = message.words[0];
  registers.argument3 = message.words[1];
  registers.argument4 = message.words[2];
  registers.argument5 = message.words[3];
  registers.timeout_or_badge = timeout;
}

void store(Message& message, const SyscallRegisters& registers, bool with_badge) {
  const abi::Utcb* block = utcb();
  message.tag = abi::MessageTag{registers.argument1};
  message.words[0] = registers.argument2;
  message.words[1] = registers.argument3;
  message.words[2] = registers.argument4;
  message.words[3] = registers.argument5;
  u64 count = bounded_words(message.tag);
  for (u64 index = abi::REGISTER_WORDS; index < count; ++index) message.words[index] = block->words[index];
  message.badge = with_badge ? registers.timeout_or_badge : 0;
  message.received_capabilities = block->received_capabilities;
}

Result<void> transfer(abi::Syscall operation, u64 selector, const Message* outgoing, Message* incoming, u64 timeout,
                      bool with_badge) {
  SyscallRegisters registers;
  if (outgoing != nullptr) {
    load(*outgoing, registers, timeout);
  } else {
    registers.timeout_or_badge = timeout;
  }
  Error error = invoke(operation, selector, registers);
  if (error != Error::None) return error;
  if (incoming != nullptr) store(*incoming, registers, with_badge);
  return {};
}

}  // namespace

void set_receive_slots(u64 first, u64 second) {
  abi::Utcb* block = utcb();
  block->receive_slots[0] = first;
  block->receive_slots[1] = second;
}

Result<void> Endpoint::call(const Message& request, Message& reply, u64 timeout) const {
  return transfer(abi::Syscall::IpcCall, selector(), &request, &reply, timeout, false);
}

Result<void> Endpoint::send(const Message& message, u64 timeout) const {
  return transfer(abi::Syscall::IpcSend, selector(), &message, nullptr, timeout, false);
}

Result<void> Endpoint::receive(Message& message, u64 timeout) const {
  return transfer(abi::Syscall::IpcReceive, selector(), nullptr, &message, timeout, true);
}

Result<void> Endpoint::reply_wait(const Message& answer, Message& next, u64 timeout) const {
  return transfer(abi::Syscall::IpcReplyWait, selector(), &answer, &next, timeout, true);
}

Result<void> reply(const Message& answer) {
  return transfer(abi::Syscall::IpcReply, abi::NULL_SELECTOR, &answer, nullptr, 0, false);
}

Result<void> save_reply(u64 reply_object) {
  return as_result(invoke(abi::Syscall::IpcSaveReply, reply_object));
}

Result<void> reply_with(u64 reply_object, const Message& answer) {
  return transfer(abi::Syscall::IpcReplyWith, reply_object, &answer, nullptr, 0, false);
}

}  // namespace sys
