// ManagerClient: builds the requests of manager/protocol.hpp and unpacks the replies.
#include "client.hpp"

#include "sys/string.hpp"

namespace containers {
namespace {
constexpr u32 MEMORY_READ = abi::rights_of(abi::MemoryRight::Read);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

u64 pages_for(u64 bytes) { return bytes == 0 ? 1 : (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }

void put_name(Message& message, const RawName& name) {
  for (u64 index = 0; index < manager::NAME_WORDS; ++index) message.words[index] = name.words[index];
}
}  // namespace

RawName RawName::of(const char* name) {
  RawName raw;
  manager::pack_name(name, raw.words);
  return raw;
}


Reply ManagerClient::call(Message& request) {
  Reply reply;
  Message answer;
  auto called = endpoint_.call(request, answer);
  if (!called.ok()) {
    reply.transport = called.error();
    return reply;
  }
  reply.status = static_cast<Status>(answer.label());
  reply.word_count = answer.word_count() < abi::MESSAGE_WORDS ? answer.word_count() : abi::MESSAGE_WORDS;
  for (u64 index = 0; index < reply.word_count; ++index) reply.words[index] = answer.words[index];
  return reply;
}

Reply ManagerClient::deploy(const RawName& name, const void* image, u64 size, const FunctionConfig& config, Patch patch,
                            bool attach_memory, const char* arguments, u64 argument_bytes) {
  Reply failed;
  auto slot = slots_.allocate();
  if (!slot.ok()) {
    failed.transport = slot.error();
    return failed;
  }
  u64 pages = pages_for(size);
  auto memory = factory_.create_memory(slot.value(), pages);
  if (!memory.ok()) {
    failed.transport = memory.error();
    slots_.free(slot.value());
    return failed;
  }
  auto mapped = task_.map(memory.value(), 0, SCRATCH_IMAGE, pages, READ_WRITE);
  if (!mapped.ok()) {
    failed.transport = mapped.error();
  } else {
    auto* bytes = reinterpret_cast<u8*>(SCRATCH_IMAGE);
    memcpy(bytes, image, size);
    if (patch != nullptr) patch(bytes, size);
    (void)task_.unmap(SCRATCH_IMAGE, pages);
    Message request;
    put_name(request, name);
    request.words[4] = size;
    memcpy(&request.words[5], &config, sizeof config);
    u64 argument_words = (argument_bytes + 7) / 8;
    if (argument_bytes > manager::MAX_ARGUMENT_BYTES) argument_words = 0;
    if (argument_words > 0) memcpy(&request.words[manager::DEPLOY_ARGUMENTS_FIRST_WORD], arguments, argument_bytes);
    request.set_words(manager::DEPLOY, manager::DEPLOY_ARGUMENTS_FIRST_WORD + argument_words);
    if (attach_memory) request.attach(memory.value(), MEMORY_READ);
    failed = call(request);
  }
  (void)memory.value().remove();
  slots_.free(slot.value());
  return failed;
}

Reply ManagerClient::invoke(const RawName& name, const void* input, u64 input_size) {
  Message request;
  put_name(request, name);
  request.words[4] = input_size;
  request.words[5] = manager::INLINE_BYTES;
  u64 copied = input_size < manager::INLINE_BYTES ? input_size : manager::INLINE_BYTES;
  memcpy(&request.words[manager::INLINE_FIRST_WORD], input, copied);
  request.set_words(manager::INVOKE, manager::INLINE_FIRST_WORD + (copied + 7) / 8);
  return call(request);
}

Reply ManagerClient::invoke(const char* name, const char* text) { return invoke(name, text, strlen(text)); }

Reply ManagerClient::invoke_memory(const char* name, Memory input, u64 input_size, Memory output, u64 output_capacity) {
  Message request;
  put_name(request, RawName::of(name));
  request.words[4] = input_size;
  request.words[5] = output_capacity;
  request.set_words(manager::INVOKE, manager::INLINE_FIRST_WORD);
  request.attach(input, MEMORY_READ);
  request.attach(output, READ_WRITE);
  return call(request);
}

bool ManagerClient::invoke_transcript(const char* name, const char* input_text, char* text, u64 pages, Reply& reply) {
  auto input = slots_.allocate();
  auto output = slots_.allocate();
  if (!input.ok() || !output.ok()) return false;
  bool ok = factory_.create_memory(input.value(), 1).ok() && factory_.create_memory(output.value(), pages).ok() &&
            task_.map(Memory(output.value()), 0, SCRATCH_OUTPUT, pages, READ_WRITE).ok();
  u64 input_size = strlen(input_text) < PAGE_SIZE ? strlen(input_text) : PAGE_SIZE;
  if (ok && input_size > 0) {
    ok = task_.map(Memory(input.value()), 0, SCRATCH_INPUT, 1, READ_WRITE).ok();
    if (ok) memcpy(reinterpret_cast<void*>(SCRATCH_INPUT), input_text, input_size);
    (void)task_.unmap(SCRATCH_INPUT, 1);
  }
  if (ok) {
    reply = invoke_memory(name, Memory(input.value()), input_size, Memory(output.value()), pages * PAGE_SIZE);
    u64 size = reply.result().output_size < pages * PAGE_SIZE ? reply.result().output_size : 0;
    memcpy(text, reinterpret_cast<const void*>(SCRATCH_OUTPUT), size);
    text[size] = '\0';
    (void)task_.unmap(SCRATCH_OUTPUT, pages);
  }
  (void)Capability(input.value()).remove();
  (void)Capability(output.value()).remove();
  slots_.free(input.value());
  slots_.free(output.value());
  return ok;
}

Reply ManagerClient::remove(const RawName& name) {
  Message request;
  put_name(request, name);
  request.set_words(manager::REMOVE, manager::NAME_WORDS);
  return call(request);
}

Reply ManagerClient::describe(const RawName& name) {
  Message request;
  put_name(request, name);
  request.set_words(manager::DESCRIBE, manager::NAME_WORDS);
  return call(request);
}

Reply ManagerClient::list(u64 first_index) {
  Message request = Message::make(manager::LIST, {first_index});
  return call(request);
}

Reply ManagerClient::stats() {
  Message request = Message::make(manager::STATS);
  return call(request);
}

bool ManagerClient::listed(const char* name, u64& total, Status& status) {
  RawName wanted = RawName::of(name);
  total = 0;
  u64 index = 0;
  bool found = false;
  // Bounded: a manager that keeps reporting more names cannot keep the client here forever.
  for (u64 round = 0; round < 64; ++round) {
    Reply reply = list(index);
    status = reply.status;
    if (reply.status != manager::STATUS_OK || reply.transport != Error::None) return false;
    total = reply.words[0];
    u64 count = reply.words[1];
    if (count > manager::LIST_NAMES_PER_REPLY) count = manager::LIST_NAMES_PER_REPLY;
    for (u64 entry = 0; entry < count; ++entry) {
      const u64* words = &reply.words[2 + entry * manager::NAME_WORDS];
      bool same = true;
      for (u64 word = 0; word < manager::NAME_WORDS; ++word) same = same && words[word] == wanted.words[word];
      found = found || same;
    }
    index += count;
    if (count == 0 || index >= total) break;
  }
  return found;
}

}  // namespace containers
