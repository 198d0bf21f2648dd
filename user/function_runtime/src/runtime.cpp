// The function runtime's core: the entry after _start, output accounting, EVENT_EXIT, EVENT_LOG and
// EVENT_INVOKE to the manager. Invariant: the context page is only read; the output area is only
// written inside [0, capacity); every message sent stays within MESSAGE_WORDS.
#include "function/function.hpp"

#include "lib/format.hpp"
#include "manager/log_format.hpp"
#include "sys/endpoint.hpp"
#include "sys/protocol.hpp"
#include "sys/slots.hpp"
#include "sys/thread.hpp"

namespace function {
namespace {

using manager::FunctionContext;

const FunctionContext* context = nullptr;
usize output_size = 0;

sys::SlotAllocator& slots() {
  static sys::SlotAllocator allocator(manager::FUNCTION_FIRST_FREE, manager::FUNCTION_CAPABILITY_SLOTS);
  return allocator;
}

sys::Endpoint manager_endpoint() { return sys::Endpoint(manager::FUNCTION_MANAGER); }

// Copies up to `capacity` bytes into the output at `offset`; counts all of them.
bool output_append(const void* bytes, usize length) {
  usize capacity = context->output_capacity;
  auto* area = reinterpret_cast<u8*>(context->output_address);
  const auto* source = static_cast<const u8*>(bytes);
  for (usize index = 0; index < length; ++index) {
    usize position = output_size + index;
    if (position < capacity) area[position] = source[index];
  }
  output_size += length;
  return output_size <= capacity;
}

void output_sink(void*, const char* text, usize length) { (void)output_append(text, length); }

}  // namespace

bool FunctionInput::equals(const char* text) const {
  usize length = strlen(text);
  return length == size() && memcmp(data(), text, length) == 0;
}

bool FunctionOutput::vprint(const char* format, va_list arguments) {
  klib::format_to_sink(output_sink, nullptr, format, arguments);
  return !overflowed();
}

bool FunctionOutput::print(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  bool fitted = vprint(format, arguments);
  va_end(arguments);
  return fitted;
}

void log(const char* text, usize length) {
  while (length > 0) {
    usize chunk = length < manager::LOG_BYTES ? length : manager::LOG_BYTES;
    manager::LogEvent event;
    event.length = chunk;
    memcpy(event.bytes, text, chunk);
    sys::Message message = sys::message_of(manager::EVENT_LOG, event, offsetof(manager::LogEvent, bytes) + chunk);
    // The manager answers each log message; a failed call (manager gone) drops the text.
    if (!manager_endpoint().call(message, message).ok()) return;
    text += chunk;
    length -= chunk;
  }
}

void logf(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  manager::format_log(log, format, arguments);
  va_end(arguments);
}

NestedResult invoke(const char* name, const void* input, usize input_size, void* output, usize output_capacity) {
  NestedResult nested{manager::STATUS_BAD_REQUEST, {}};
  if (input_size > manager::INLINE_INPUT_BYTES) return nested;
  manager::InvokeRequest request{};
  manager::pack_name(name, request.name);
  request.input_size = input_size;
  request.output_capacity = output_capacity < manager::INLINE_BYTES ? output_capacity : manager::INLINE_BYTES;
  memcpy(request.inline_bytes, input, input_size);
  sys::Message message =
      sys::message_of(manager::EVENT_INVOKE, request, offsetof(manager::InvokeRequest, inline_bytes) + input_size);
  if (!manager_endpoint().call(message, message).ok()) {
    nested.status = manager::STATUS_INTERNAL_ERROR;
    return nested;
  }
  nested.status = static_cast<manager::Status>(message.label());
  manager::InvokeReply reply;
  sys::get(message, reply);
  if (sys::carries<manager::InvokeReply>(message, offsetof(manager::InvokeReply, tail))) nested.result = reply.result;
  // Only the bytes the reply actually carries are copied, whatever output_size claims.
  usize carried = sys::bytes_from(message, offsetof(manager::InvokeReply, tail));
  usize count = nested.result.output_size;
  if (count > carried) count = carried;
  if (count > output_capacity) count = output_capacity;
  memcpy(output, reply.tail, count);
  return nested;
}

}  // namespace function

using namespace function;

[[gnu::weak]] int function_main(const FunctionInput& input, FunctionOutput& output);

extern "C" {

// Both entries are weak: a function defines one of them, the runtime calls the one that exists.
[[gnu::weak]] int metteagle_function_main(void);

const void* function_input_data(void) { return reinterpret_cast<const void*>(context->input_address); }
size_t function_input_size(void) { return context->input_size; }
uint64_t function_invocation_id(void) { return context->invocation_id; }
uint64_t function_depth(void) { return context->depth; }
const char* function_name(void) { return context->name; }

void* function_output_data(void) { return reinterpret_cast<void*>(context->output_address); }
size_t function_output_capacity(void) { return context->output_capacity; }
size_t function_output_size(void) { return output_size; }
void function_output_set_size(size_t size) { output_size = size; }
int function_output_write(const void* bytes, size_t length) { return output_append(bytes, length) ? 0 : -1; }
int function_output_printf(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  usize before = output_size;
  klib::format_to_sink(output_sink, nullptr, format, arguments);
  va_end(arguments);
  return output_size <= context->output_capacity ? static_cast<int>(output_size - before) : -1;
}

void function_log(const char* text, size_t length) { log(text, length); }
void function_logf(const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  manager::format_log(log, format, arguments);
  va_end(arguments);
}

uint32_t function_invoke(const char* name, const void* input, size_t input_size, void* output, size_t output_capacity,
                         struct function_invocation_result* result) {
  NestedResult nested = invoke(name, input, input_size, output, output_capacity);
  if (result != nullptr) memcpy(result, &nested.result, sizeof *result);
  return nested.status;
}

void function_exit(int code) {
  // A native function has no ENOSYS count: the event ends before it.
  sys::Message message = sys::message_of(manager::EVENT_EXIT,
                                         manager::ExitEvent{static_cast<u64>(static_cast<u32>(code)), output_size, 0},
                                         offsetof(manager::ExitEvent, enosys_calls));
  (void)manager_endpoint().call(message, message);
  // The manager destroys the task when it receives the exit; reaching this means it is gone or
  // misbehaved. Ending the thread is all that is left.
  sys::exit_thread();
}

uint64_t function_allocate_slot(void) {
  auto slot = slots().allocate();
  return slot.ok() ? slot.value() : 0;
}
void function_free_slot(uint64_t slot) { slots().free(slot); }

// Called by _start with the context page's address (rdi).
[[noreturn]] void function_runtime_start(u64 context_address) {
  context = reinterpret_cast<const FunctionContext*>(context_address);
  FunctionInput input(*context);
  FunctionOutput output;
  constexpr int NO_ENTRY_POINT = 127;
  int code = NO_ENTRY_POINT;
  if (&metteagle_function_main != nullptr) {
    code = metteagle_function_main();
  } else if (&function_main != nullptr) {
    code = function_main(input, output);
  }
  function_exit(code);
}

}  // extern "C"
