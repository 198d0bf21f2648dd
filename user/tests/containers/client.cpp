// ManagerClient: builds the requests of manager/protocol.hpp and unpacks the replies.
#include "client.hpp"

#include "sys/string.hpp"

namespace containers {
namespace {
constexpr u32 MEMORY_READ = abi::rights_of(abi::MemoryRight::Read);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

u64 pages_for(u64 bytes) { return bytes == 0 ? 1 : (bytes + PAGE_SIZE - 1) / PAGE_SIZE; }

void put_name(char (&field)[manager::NAME_BYTES], const RawName& name) { memcpy(field, name.field, sizeof field); }
}  // namespace

RawName RawName::of(const char* name) {
  RawName raw;
  manager::pack_name(name, raw.field);
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
  // Words past the reply's count stay zero (libsys copies only those the tag names).
  reply.message.tag = answer.tag;
  u64 count = answer.word_count() < abi::MESSAGE_WORDS ? answer.word_count() : abi::MESSAGE_WORDS;
  memcpy(reply.message.words, answer.words, count * 8);
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
    manager::DeployRequest body{};
    put_name(body.name, name);
    body.executable_size = size;
    body.config = config;
    if (argument_bytes > manager::MAX_ARGUMENT_BYTES) argument_bytes = 0;
    if (argument_bytes > 0) memcpy(body.arguments, arguments, argument_bytes);
    Message request = message_of(manager::DEPLOY, body, offsetof(manager::DeployRequest, arguments) + argument_bytes);
    if (attach_memory) request.attach(memory.value(), MEMORY_READ);
    failed = call(request);
  }
  (void)memory.value().remove();
  slots_.free(slot.value());
  return failed;
}

Reply ManagerClient::invoke(const RawName& name, const void* input, u64 input_size) {
  manager::InvokeRequest body{};
  put_name(body.name, name);
  body.input_size = input_size;
  body.output_capacity = manager::INLINE_BYTES;
  u64 copied = input_size < manager::INLINE_INPUT_BYTES ? input_size : manager::INLINE_INPUT_BYTES;
  memcpy(body.inline_bytes, input, copied);
  Message request = message_of(manager::INVOKE, body, offsetof(manager::InvokeRequest, inline_bytes) + copied);
  return call(request);
}

Reply ManagerClient::invoke(const char* name, const char* text) { return invoke(name, text, strlen(text)); }

Reply ManagerClient::invoke_memory(const char* name, Memory input, u64 input_size, Memory output, u64 output_capacity) {
  manager::InvokeRequest body{};
  manager::pack_name(name, body.name);
  body.input_size = input_size;
  body.output_capacity = output_capacity;
  Message request = message_of(manager::INVOKE, body, manager::INVOKE_HEAD_BYTES);
  request.attach(input, MEMORY_READ);
  request.attach(output, READ_WRITE);
  return call(request);
}

Reply ManagerClient::invoke_flags(const char* name, u64 flags, u64 input_size, Memory output, u64 output_capacity) {
  manager::InvokeRequest body{};
  manager::pack_name(name, body.name);
  body.input_size = input_size;
  body.output_capacity = output_capacity;
  body.flags = flags;
  Message request = message_of(manager::INVOKE, body, manager::INVOKE_HEAD_BYTES);
  if (output.selector() != 0) request.attach(output, READ_WRITE);
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
  manager::NameRequest body;
  put_name(body.name, name);
  Message request = message_of(manager::REMOVE, body);
  return call(request);
}

Reply ManagerClient::configure_with_strings(const char* name, const char* source, const FunctionConfig& config,
                                            const char* strings, u64 argument_bytes, u64 environment_bytes,
                                            u64 secret_bytes, u64 sent_bytes) {
  Reply failed;
  auto slot = slots_.allocate();
  if (!slot.ok()) {
    failed.transport = slot.error();
    return failed;
  }
  auto memory = factory_.create_memory(slot.value(), pages_for(sent_bytes));
  if (!memory.ok() || !memory.value().write(0, strings, sent_bytes).ok()) {
    failed.transport = memory.ok() ? Error::InvalidArgument : memory.error();
  } else {
    manager::ConfigureRequest body{};
    manager::pack_name(name, body.name);
    manager::pack_name(source, body.source);
    body.config = config;
    body.mode = manager::CONFIGURE_CREATE;
    body.argument_bytes = argument_bytes;
    body.environment_bytes = environment_bytes;
    body.secret_bytes = secret_bytes;
    Message request = message_of(manager::CONFIGURE, body, manager::CONFIGURE_HEAD_BYTES);
    request.attach(memory.value(), MEMORY_READ);
    failed = call(request);
  }
  if (memory.ok()) (void)memory.value().remove();
  slots_.free(slot.value());
  return failed;
}

Reply ManagerClient::describe(const RawName& name) {
  manager::NameRequest body;
  put_name(body.name, name);
  Message request = message_of(manager::DESCRIBE, body);
  return call(request);
}

Reply ManagerClient::list(u64 first_index) {
  Message request = message_of(manager::LIST, manager::ListRequest{first_index});
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
    auto names = reply.body<manager::ListReply>();
    total = names.total;
    u64 count = names.count;
    if (count > manager::LIST_NAMES_PER_REPLY) count = manager::LIST_NAMES_PER_REPLY;
    for (u64 entry = 0; entry < count; ++entry)
      found = found || memcmp(names.names[entry], wanted.field, manager::NAME_BYTES) == 0;
    index += count;
    if (count == 0 || index >= total) break;
  }
  return found;
}

}  // namespace containers
