// INVOKE and EVENT_INVOKE: one invocation in a fresh task, from creation to teardown.
// Every invocation gets a child factory whose quota is the function's memory limit; the task,
// its thread, its memory, its invocation endpoint and everything the function itself creates are
// charged there, so deleting that one factory capability reclaims it all at once.
#include "manager/console_log.hpp"
#include "service.hpp"

namespace manager {
namespace {

using namespace sys;

constexpr u64 PAGE = 4096;
constexpr u32 READ = abi::rights_of(abi::MemoryRight::Read);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);
constexpr u32 READ_EXECUTE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Execute);

u64 pages_for(u64 bytes) { return (bytes + PAGE - 1) / PAGE; }
u64 read_tsc() {
  u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (u64{high} << 32) | low;
}

// What an invocation needs from its caller.
struct InvocationRequest {
  u64 tenant;
  char name[NAME_BYTES];
  u64 depth;
  u64 deadline_tsc;         // 0: none beyond the function's own timeout; nested: the outermost one.
  u64* nested_left;         // Nested invocations the top-level invocation may still start (all depths).
  const u8* inline_input;   // Inline input (else input_memory).
  u64 input_size;
  u64 input_memory;         // Selector of a Memory with the input, or 0.
  u64 output_memory;        // Selector of a Memory for the output, or 0 (then inline).
  u64 output_capacity;      // Bytes the caller can take.
  const char* environment;  // The request's environment (NUL-terminated strings), or null.
  u64 environment_bytes;
};

// Zero-initialised as a whole: bytes of inline_output past the output are zero, never stale stack
// (a reply carries whole words; see pack_answer).
struct Outcome {
  Status status = STATUS_OK;
  InvocationResult result{};
  u8 inline_output[INLINE_BYTES] = {};
  u8 log[INLINE_BYTES] = {};  // The last bytes of the function's log (its stderr), for the caller.
  u64 log_bytes = 0;
};

// Keeps the last INLINE_BYTES bytes the function logged; NUL bytes become spaces, so the log
// travels NUL-padded (protocol.hpp, INVOKE).
void keep_log_tail(Outcome& outcome, const u8* bytes, u64 length) {
  constexpr u64 ROOM = INLINE_BYTES;
  if (length > ROOM) {
    bytes += length - ROOM;
    length = ROOM;
  }
  u64 keep = outcome.log_bytes < ROOM - length ? outcome.log_bytes : ROOM - length;
  __builtin_memmove(outcome.log, outcome.log + outcome.log_bytes - keep, keep);
  for (u64 i = 0; i < length; ++i) outcome.log[keep + i] = bytes[i] == 0 ? ' ' : bytes[i];
  outcome.log_bytes = keep + length;
}

// The one way an Outcome becomes an answer, for clients and nested callers alike (InvokeReply):
// the result, then (with_output: the output came inline) exactly output_size bytes of output in
// whole words, the last word's tail zeroed here whatever the outcome holds; then (with_log: a
// top-level answer) as many of the last log bytes as the message has room for, NUL-padded.
void pack_answer(const Outcome& outcome, bool with_output, bool with_log, Message& answer) {
  InvokeReply reply;
  reply.result = outcome.result;
  u64 used = 0;
  bool has_output = outcome.status == STATUS_OK || outcome.status == STATUS_FAILED;
  if (with_output && has_output && outcome.result.output_size <= INLINE_BYTES) {
    u64 size = outcome.result.output_size;
    used = words_for(size) * 8;
    for (u64 i = 0; i < used; ++i) reply.tail[i] = i < size ? outcome.inline_output[i] : 0;
  }
  if (with_log) {
    u64 room = INLINE_BYTES - used;
    u64 bytes = outcome.log_bytes < room ? outcome.log_bytes : room;
    for (u64 i = 0; i < bytes; ++i) reply.tail[used + i] = outcome.log[outcome.log_bytes - bytes + i];
    used += bytes;  // put() NUL-pads the last word.
  }
  put(answer, outcome.status, reply, offsetof(InvokeReply, tail) + used);
}

// The slots and objects of one invocation, deleted in teardown.
class InvocationSlots {
 public:
  explicit InvocationSlots(SlotAllocator& slots) : slots_(slots) {}
  ~InvocationSlots() { release_all(); }
  // The first slot taken holds the invocation's factory, and every later one an object made from
  // it (or a copy of one). Revoking the factory's capability removes the copies given to the
  // function (its factory and task capabilities live in its own task, which the factory owns:
  // without that, the factory would keep itself alive through its own task); deleting it then
  // destroys every object made from it, and no capability outlives its object: the other slots
  // are empty when CapabilityDelete returns (the kernel finishes a destruction before it returns)
  // and only go back to the allocator, without two system calls each. Should the factory's
  // deletion fail, every slot is revoked and emptied in turn.
  void release_all() {
    bool factory_gone = false;
    for (usize i = 0; i < count_; ++i) {
      if (!factory_gone) {
        (void)invoke(abi::Syscall::CapabilityRevoke, taken_[i]);
        factory_gone = Capability(taken_[i]).remove().ok() && i == 0;
      }
      slots_.free(taken_[i]);
    }
    count_ = 0;
  }
  Result<u64> take() {
    if (count_ == MAX) return Error::QuotaExceeded;
    u64 slot = TRY(slots_.allocate());
    taken_[count_++] = slot;
    return slot;
  }

 private:
  static constexpr usize MAX = 16;
  SlotAllocator& slots_;
  u64 taken_[MAX] = {};
  usize count_ = 0;
};

// The status for a kernel error while setting an invocation up: its own memory limit, the
// machine's memory, or the manager's fault.
Status status_of(Error error) {
  if (error == Error::QuotaExceeded) return STATUS_QUOTA_EXCEEDED;
  return error == Error::OutOfMemory ? STATUS_OUT_OF_MEMORY : STATUS_INTERNAL_ERROR;
}

bool past(u64 deadline) { return deadline != 0 && read_tsc() >= deadline; }

// The CPUs a function may use: its configured set among those online (all of them for 0). Deploy
// rejects sets without an online CPU, so this is never 0.
u64 allowed_cpus(u64 mask, u64 cpu_count) {
  u64 online = cpu_count >= 64 ? ~u64{0} : (u64{1} << cpu_count) - 1;
  return mask == 0 ? online : mask & online;
}

// The worker's own CPU when the function may run there (no cross-CPU wake-ups), else its first.
u64 choose_cpu(const Worker& worker, u64 allowed) {
  return (allowed >> worker.cpu) & 1 ? worker.cpu : static_cast<u64>(__builtin_ctzll(allowed));
}

Outcome run(Worker& worker, const InvocationRequest& request);

// Answers the function's call waiting in `reply_object` with `answer` (a function that vanished
// meanwhile needs none).
void answer_call(u64 reply_object, const Message& answer) { (void)reply_with(reply_object, answer); }

// Serves the events of a running function until it exits, faults, or runs out of time. The
// deadline is checked after every event, not only when a receive times out: a function that keeps
// events queued (nested calls above all) must not outlive it.
void supervise(Worker& worker, const InvocationRequest& request, const Function& function, Endpoint events,
               u64 deadline, Outcome& outcome) {
  Message event;
  u64 nested_calls = 0;
  ConsoleLog console_log(request.tenant, request.name);
  for (;;) {
    u64 now = read_tsc();
    u64 tsc_hertz = manager_state().tsc_hertz;
    u64 remaining_ns = deadline > now ? (deadline - now) / (tsc_hertz / 1'000'000 + 1) * 1000 : 0;
    auto received = events.receive(event, remaining_ns == 0 ? 1 : remaining_ns);
    if (received.error() == Error::Timeout) {
      outcome.status = STATUS_TIMEOUT;
      return;
    }
    if (!received) {
      outcome.status = STATUS_INTERNAL_ERROR;
      outcome.result.detail = static_cast<u64>(received.error());
      return;
    }
    u32 label = event.label();
    if (past(deadline) && label != EVENT_INVOKE) {
      // Whatever it was, the time is up; the teardown ends a caller waiting for its answer.
      outcome.status = STATUS_TIMEOUT;
      return;
    }
    if (label >= static_cast<u32>(abi::ExceptionKind::PageFault)) {
      abi::ExceptionMessage fault;
      get(event, fault);
      if (label == static_cast<u32>(abi::ExceptionKind::PageFault) &&
          (fault.error_code & (abi::PAGE_FAULT_QUOTA_EXCEEDED | abi::PAGE_FAULT_OUT_OF_MEMORY)) != 0) {
        // A first touch of a demand-zero page the memory limit (or the machine) could not pay for.
        outcome.status = (fault.error_code & abi::PAGE_FAULT_QUOTA_EXCEEDED) != 0 ? STATUS_QUOTA_EXCEEDED
                                                                                  : STATUS_OUT_OF_MEMORY;
        outcome.result.detail = fault.fault_address;
        return;
      }
      outcome.status = STATUS_CRASHED;
      outcome.result.detail = fault.fault_address;  // Page faults; else 0.
      outcome.result.exit_code = label;             // The exception kind.
      return;
    }
    switch (label) {
      case EVENT_EXIT: {
        ExitEvent exit;
        get(event, exit);  // The ENOSYS count is optional: 0 when not sent.
        outcome.result.exit_code = exit.exit_code;
        outcome.result.output_size = exit.output_size;
        outcome.result.detail = exit.enosys_calls;
        if (exit.output_size > request.output_capacity || exit.output_size > function.config.max_output_bytes)
          outcome.status = STATUS_OUTPUT_TOO_LARGE;
        else if (exit.exit_code != 0)
          outcome.status = STATUS_FAILED;
        return;
      }
      case EVENT_LOG: {
        // Never raw: only with GRANT_CONSOLE (the gateway grants it to operator keys only), and then
        // as whole lines under the function's prefix, control bytes shown as \xNN, at most
        // ConsoleLog::BUDGET_BYTES per invocation. Only the words actually sent count.
        LogEvent log;
        u64 sent = bytes_from(event, offsetof(LogEvent, bytes));
        get(event, log);
        u64 length = log.length < LOG_BYTES ? log.length : LOG_BYTES;
        if (length > sent) length = sent;
        keep_log_tail(outcome, log.bytes, length);
        if ((function.config.grants & GRANT_CONSOLE) != 0)
          console_log.write(log.bytes, length, [](const char* line, u64 bytes) {
            (void)manager_state().console.write(line, bytes);
          });
        (void)reply(Message::make(STATUS_OK));
        break;
      }
      case EVENT_INVOKE: {
        // The nested call waits in a Reply object of its depth while its callee runs here.
        u64 reply_object = worker.replies[request.depth + 1];
        if (!save_reply(reply_object).ok()) {
          outcome.status = STATUS_INTERNAL_ERROR;
          return;
        }
        Message answer = Message::make(STATUS_OK);
        char nested_name[NAME_BYTES];
        InvokeRequest call;
        get(event, call);
        u64 input_size = call.input_size;
        // The input must lie in the words sent: anything beyond them would be stale UTCB words.
        u64 sent_bytes = bytes_from(event, offsetof(InvokeRequest, inline_bytes));
        if (past(deadline)) {
          // Nothing more starts after the deadline: the caller learns so and the invocation ends.
          answer_call(reply_object, Message::make(STATUS_TIMEOUT));
          outcome.status = STATUS_TIMEOUT;
          return;
        }
        if (!carries<InvokeRequest>(event, INVOKE_HEAD_BYTES) || !unpack_name(call.name, nested_name) ||
            input_size > INLINE_INPUT_BYTES || input_size > sent_bytes) {
          answer = Message::make(STATUS_BAD_REQUEST);
        } else if (request.depth + 1 > function.config.max_nesting_depth || request.depth + 1 > MAX_DEPTH) {
          answer = Message::make(STATUS_TOO_DEEP);
        } else if (++nested_calls > MAX_NESTED_CALLS || *request.nested_left == 0) {
          // Fan-out is bounded per invocation and, across all depths, per top-level invocation:
          // one client request can never start more than its tenant's nested budget.
          answer = Message::make(STATUS_TOO_MANY_CALLS);
        } else {
          --*request.nested_left;
          InvocationRequest nested{};
          nested.tenant = request.tenant;
          for (usize i = 0; i < NAME_BYTES; ++i) nested.name[i] = nested_name[i];
          nested.depth = request.depth + 1;
          nested.deadline_tsc = deadline;
          nested.nested_left = request.nested_left;
          nested.inline_input = call.inline_bytes;
          nested.input_size = input_size;
          nested.output_capacity = INLINE_BYTES;
          static_assert(sizeof(Outcome) < 1100, "outcomes live on worker stacks, once per depth");
          Outcome inner = run(worker, nested);
          pack_answer(inner, true, false, answer);
        }
        answer_call(reply_object, answer);
        if (past(deadline)) {
          outcome.status = STATUS_TIMEOUT;
          return;
        }
        break;
      }
      default:
        // A protocol violation ends the function like a fault would.
        outcome.status = STATUS_CRASHED;
        outcome.result.exit_code = label;
        return;
    }
  }
}

Outcome run(Worker& worker, const InvocationRequest& request) {
  Manager& state = manager_state();
  Outcome outcome{};
  outcome.result.invocation_id = new_invocation_id();
  // A nested invocation asked for after the outermost deadline does not start at all.
  if (past(request.deadline_tsc)) {
    outcome.status = STATUS_TIMEOUT;
    return outcome;
  }
  bool top_level = request.depth == 0;

  Function* function;
  u64 memory_limit;
  {
    LockGuard guard(state.registry.lock());
    function = state.registry.find(request.tenant, request.name);
    if (function == nullptr) {
      outcome.status = STATUS_NOT_FOUND;
      return outcome;
    }
    // The invocation's memory limit is reserved now, from the tenant's quota and from the pool:
    // over its quota only this tenant waits (TENANT_BUSY); a pool that cannot hold it is a
    // capacity answer (NO_CAPACITY), never the function's own limit.
    memory_limit = function->config.memory_limit_bytes;
    Status admitted = state.registry.begin_invocation(request.tenant, memory_limit, top_level);
    if (admitted != STATUS_OK) {
      outcome.status = admitted;
      outcome.result.detail = admitted == STATUS_NO_CAPACITY ? memory_limit : 0;  // For the caller's message.
      return outcome;
    }
    ++function->users;
    ++function->invocations;
  }

  u64 started = read_tsc();
  InvocationSlots slots(*worker.slots);
  const FunctionConfig& config = function->config;
  u64 output_capacity = request.output_capacity < config.max_output_bytes ? request.output_capacity : config.max_output_bytes;
  Error error = Error::None;
  u64 loaded = 0, ran = 0;
  // What the invocation's factory holds when the function has ended: every page and object the
  // invocation owns alone (its private memory), which an image function's shared tree is not.
  u64 private_bytes = 0;
  // One pass through the phases; `break` leaves with outcome set.
  do {
    // Create: the invocation's factory and task.
    auto factory_slot = slots.take();
    if (!factory_slot) { error = factory_slot.error(); break; }
    auto factory = state.factory.create_factory(factory_slot.value(), config.memory_limit_bytes);
    if (!factory && factory.error() == Error::QuotaExceeded) {
      // The manager's own factory, not the function's limit: the pool had no room after all
      // (what the manager keeps for itself was overrun). Never "memory limit exceeded".
      outcome.status = STATUS_NO_CAPACITY;
      outcome.result.detail = config.memory_limit_bytes;
      break;
    }
    if (!factory) { error = factory.error(); break; }
    auto task_slot = slots.take();
    auto events_slot = slots.take();
    if (!task_slot || !events_slot) { error = Error::QuotaExceeded; break; }
    auto task = factory.value().create_task(task_slot.value(), FUNCTION_CAPABILITY_SLOTS);
    if (!task) { error = task.error(); break; }
    auto events = factory.value().create_endpoint(events_slot.value());
    if (!events) { error = events.error(); break; }
    u64 created = read_tsc();
    outcome.result.create_ticks = created - started;

    // Load: segments (read-only ones shared), stack, context, input, output, capabilities.
    // A Linux executable also gets the personality's image, which is where its thread starts.
    // A function's segments: shared ones mapped straight from the image; the others copied from
    // it into fresh Memory of the invocation (zero past the file bytes: the .bss).
    Memory image(function->image);
    for (usize i = 0; i < function->segment_count && error == Error::None; ++i) {
      const ImageSegment& segment = function->segments[i];
      u32 rights = segment.writable ? READ_WRITE : segment.executable ? READ_EXECUTE : READ;
      if (segment.shared) {
        error = task.value().map(image, (segment.file_offset - segment.lead) / PAGE, segment.address, segment.pages,
                                 rights).error();
        continue;
      }
      auto copy_slot = slots.take();
      if (!copy_slot) { error = copy_slot.error(); break; }
      auto copy = factory.value().create_memory(copy_slot.value(), segment.pages);
      if (!copy) { error = copy.error(); break; }
      if (segment.file_bytes > 0)
        error = copy.value().copy_from(segment.lead, image, segment.file_offset, segment.file_bytes).error();
      if (error == Error::None) error = task.value().map(copy.value(), 0, segment.address, segment.pages, rights).error();
    }
    // The personality's segments: read-only ones shared, writable ones copied per invocation.
    const PersonalityImage& personality = state.registry.personality();
    for (usize i = 0; function->linux_abi && i < personality.segment_count && error == Error::None; ++i) {
      const Segment& segment = personality.segments[i];
      if (!segment.writable) {
        error = task.value().map(Memory(segment.memory), 0, segment.address, segment.pages,
                                 segment.executable ? READ_EXECUTE : READ).error();
        continue;
      }
      auto copy_slot = slots.take();
      if (!copy_slot) { error = copy_slot.error(); break; }
      auto copy = factory.value().create_memory(copy_slot.value(), segment.pages);
      if (!copy) { error = copy.error(); break; }
      error = copy.value().copy_from(0, Memory(segment.memory), 0, segment.pages * PAGE).error();
      if (error == Error::None) error = task.value().map(copy.value(), 0, segment.address, segment.pages, READ_WRITE).error();
    }
    // An image function's tree: one Memory for every invocation, mapped read-only (charged once,
    // at deploy, to the tenant's storage; here only the mapping's records count).
    if (error == Error::None && function->image_tree)
      error = task.value().map(image, 0, IMAGE_TREE_ADDRESS, pages_for(function->linux_start.image_tree_bytes), READ).error();
    // Its strings (arguments, environment, secret files): one Memory of the function's, mapped
    // read-only, never copied (charged once, at deploy, to the tenant's storage).
    u64 strings_bytes = function->argument_bytes + function->environment_bytes + function->secret_bytes;
    if (error == Error::None && function->strings != 0)
      error = task.value().map(Memory(function->strings), 0, FUNCTION_STRINGS_ADDRESS, pages_for(strings_bytes), READ).error();
    if (error != Error::None) break;

    auto stack_slot = slots.take();
    auto context_slot = slots.take();
    auto input_slot = slots.take();
    auto output_slot = slots.take();
    auto thread_slot = slots.take();
    if (!stack_slot || !context_slot || !input_slot || !output_slot || !thread_slot) { error = Error::QuotaExceeded; break; }
    // Demand-zero: a function touches a page or two of its 64 KiB, and zeroing, mapping and freeing
    // all 16 on every invocation was kernel work under the one lock.
    auto stack = factory.value().create_lazy_memory(stack_slot.value(), FUNCTION_STACK_PAGES);
    if (!stack) { error = stack.error(); break; }
    error = task.value().map(stack.value(), 0, FUNCTION_STACK_TOP - FUNCTION_STACK_PAGES * PAGE, FUNCTION_STACK_PAGES,
                             READ_WRITE).error();
    if (error != Error::None) break;

    // Input: the caller's memory mapped read-only (no copy), or the inline bytes in a fresh page.
    if (request.input_size > 0) {
      if (request.input_memory != 0) {
        error = task.value().map(Memory(request.input_memory), 0, FUNCTION_INPUT_ADDRESS, pages_for(request.input_size),
                                 READ).error();
        if (error == Error::InvalidArgument) { outcome.status = STATUS_BAD_REQUEST; break; }
      } else {
        auto input = factory.value().create_memory(input_slot.value(), pages_for(request.input_size));
        if (!input) { error = input.error(); break; }
        error = input.value().write(0, request.inline_input, request.input_size).error();
        if (error == Error::None)
          error = task.value().map(input.value(), 0, FUNCTION_INPUT_ADDRESS, pages_for(request.input_size), READ).error();
      }
      if (error != Error::None) break;
    }
    // Output: the caller's memory mapped writable (no copy), or a fresh area read back here.
    u64 output_pages = pages_for(output_capacity == 0 ? 1 : output_capacity);
    Memory output_memory(request.output_memory);
    if (request.output_memory == 0) {
      auto output = factory.value().create_memory(output_slot.value(), output_pages);
      if (!output) { error = output.error(); break; }
      output_memory = output.value();
    }
    error = task.value().map(output_memory, 0, FUNCTION_OUTPUT_ADDRESS, output_pages, READ_WRITE).error();
    if (error == Error::InvalidArgument && request.output_memory != 0) { outcome.status = STATUS_BAD_REQUEST; break; }
    if (error != Error::None) break;

    auto context_memory = factory.value().create_memory(context_slot.value(), 1);
    if (!context_memory) { error = context_memory.error(); break; }
    u64 cpus = allowed_cpus(config.cpu_mask, state.cpu_count);
    FunctionContext context{FUNCTION_INPUT_ADDRESS, request.input_size, FUNCTION_OUTPUT_ADDRESS, output_capacity,
                            outcome.result.invocation_id, request.depth, state.tsc_hertz, {}, cpus,
                            state.realtime_offset, function->argument_bytes, function->environment_bytes,
                            function->secret_bytes};
    for (usize i = 0; i < NAME_BYTES; ++i) context.name[i] = request.name[i];
    error = context_memory.value().write(0, &context, sizeof(context)).error();
    if (error == Error::None && function->linux_abi)
      error = context_memory.value().write(LINUX_START_OFFSET, &function->linux_start, sizeof(LinuxStart)).error();
    // The request's environment (protocol.hpp, FunctionEnvironment); the function's own is in its strings.
    // Its length word and its strings in one MemoryWrite (handle_invoke bounds them by
    // INLINE_INPUT_BYTES).
    u64 environment_bytes = request.environment_bytes;
    if (environment_bytes > INLINE_INPUT_BYTES) error = Error::InvalidArgument;  // Never: refused before.
    if (error == Error::None && environment_bytes > 0) {
      u8 block[sizeof(u64) + INLINE_INPUT_BYTES];
      static_assert(sizeof block <= sizeof(FunctionEnvironment));
      __builtin_memcpy(block, &environment_bytes, sizeof environment_bytes);
      __builtin_memcpy(block + sizeof environment_bytes, request.environment, environment_bytes);
      error = context_memory.value().write(ENVIRONMENT_OFFSET, block, sizeof environment_bytes + environment_bytes).error();
    }
    if (error == Error::None) error = task.value().map(context_memory.value(), 0, FUNCTION_CONTEXT_ADDRESS, 1, READ).error();
    if (error != Error::None) break;

    // The function's capability to its invocation endpoint carries the invocation number as its
    // badge (a function cannot set another: badges are set once).
    Task child = task.value();
    auto badged_slot = slots.take();
    if (!badged_slot) { error = badged_slot.error(); break; }
    error = events.value().copy_to(badged_slot.value(), abi::rights_of(abi::EndpointRight::Send, abi::EndpointRight::Grant),
                                   outcome.result.invocation_id).error();
    if (error == Error::None) error = child.give(Capability(badged_slot.value()), FUNCTION_MANAGER).error();
    if (error == Error::None) error = child.give(factory.value(), FUNCTION_FACTORY, abi::rights_of(abi::FactoryRight::Create)).error();
    if (error == Error::None) error = child.give(child, FUNCTION_TASK, abi::rights_of(abi::TaskRight::Map)).error();
    if (error == Error::None && function->linux_abi && !function->image_tree)
      error = child.give(Capability(function->image), FUNCTION_EXECUTABLE,
                         abi::rights_of(abi::MemoryRight::Read)).error();
    // Read and Execute, never Write: the personality maps program text from it (W^X holds, the
    // tree cannot change).
    if (error == Error::None && function->image_tree)
      error = child.give(Capability(function->image), FUNCTION_IMAGE_TREE, READ_EXECUTE).error();
    if (error != Error::None) break;

    auto thread = factory.value().create_thread(thread_slot.value(), child, FUNCTION_UTCB_ADDRESS);
    if (!thread) { error = thread.error(); break; }
    // One level below the workers: a function that never blocks cannot keep its worker from
    // noticing the timeout (or other workers on its CPU from serving).
    // Confined to its CPU set: threads it creates inherit the set and cannot leave it.
    error = thread.value().configure(FUNCTION_PRIORITY, choose_cpu(worker, cpus), events.value().selector(), cpus).error();
    if (error == Error::None && function->linux_abi)
      error = child.give(thread.value(), FUNCTION_THREAD, abi::rights_of(abi::ThreadRight::Interrupt)).error();
    if (error != Error::None) break;
    loaded = read_tsc();
    outcome.result.load_ticks = loaded - created;

    // Run: until it exits, faults or its time is up (nested calls share the outer deadline).
    u64 entry = function->linux_abi ? personality.entry : function->entry;
    error = thread.value().start(entry, FUNCTION_STACK_TOP, FUNCTION_CONTEXT_ADDRESS).error();
    if (error != Error::None) break;
    u64 deadline = loaded + config.timeout_nanoseconds / 1000 * (state.tsc_hertz / 1'000'000);
    if (request.deadline_tsc != 0 && request.deadline_tsc < deadline) deadline = request.deadline_tsc;
    supervise(worker, request, *function, events.value(), deadline, outcome);
    ran = read_tsc();
    outcome.result.run_ticks = ran - loaded;
    if (auto quota = factory.value().info()) private_bytes = quota.value().used_bytes;

    // Inline output is read back before the task's memory goes away.
    bool has_output = outcome.status == STATUS_OK || outcome.status == STATUS_FAILED;
    if (has_output && request.output_memory == 0 && outcome.result.output_size > 0) {
      u64 length = outcome.result.output_size < INLINE_BYTES ? outcome.result.output_size : INLINE_BYTES;
      (void)output_memory.read(0, outcome.inline_output, length);
    }
  } while (false);

  if (error != Error::None && outcome.status == STATUS_OK) {
    outcome.status = status_of(error);
    outcome.result.detail = static_cast<u64>(error);
  }
  if (ran == 0) ran = read_tsc();
  // Teardown: the invocation's factory capability is deleted with the other slots, which destroys
  // every object the invocation and the function created.
  slots.release_all();
  outcome.result.teardown_ticks = read_tsc() - ran;

  LockGuard guard(state.registry.lock());
  if (outcome.status != STATUS_OK) ++function->failures;
  if (private_bytes > 0) {
    function->private_bytes_last = private_bytes;
    if (private_bytes > function->private_bytes_max) function->private_bytes_max = private_bytes;
  }
  if (--function->users == 0 && function->removed) release_image(*function);
  state.registry.end_invocation(request.tenant, memory_limit, top_level);
  return outcome;
}

}  // namespace

void handle_invoke(Worker& worker, Message& request, Message& answer) {
  InvocationRequest invocation{};
  invocation.tenant = request.badge;
  InvokeRequest body;
  get(request, body);
  u64 sent = bytes_from(request, offsetof(InvokeRequest, inline_bytes));
  invocation.input_size = body.input_size;
  if (!unpack_name(body.name, invocation.name) || !carries<InvokeRequest>(request, INVOKE_HEAD_BYTES)) {
    answer = Message::make(STATUS_BAD_REQUEST);
    return;
  }
  u64 received = request.received_capabilities;
  bool output_only = body.flags == INVOKE_OUTPUT_ONLY;
  if ((body.flags & ~INVOKE_OUTPUT_ONLY) != 0 || (output_only && (body.input_size != 0 || received < 1))) {
    answer = Message::make(STATUS_BAD_REQUEST);
    return;
  }
  bool has_input_memory = !output_only && request.tag.capabilities() >= 1 && received >= 1;
  invocation.input_memory = has_input_memory ? worker.receive_slots[0] : 0;
  invocation.output_memory = output_only ? worker.receive_slots[0] : received >= 2 ? worker.receive_slots[1] : 0;
  invocation.output_capacity = invocation.output_memory != 0 ? body.output_capacity : INLINE_BYTES;
  if (invocation.input_memory == 0 && !output_only) {
    if (invocation.input_size > INLINE_INPUT_BYTES || invocation.input_size > sent) {
      answer = Message::make(STATUS_BAD_REQUEST);
      return;
    }
    invocation.inline_input = body.inline_bytes;
  } else if (invocation.input_size > MAX_INPUT_BYTES) {
    answer = Message::make(STATUS_BAD_REQUEST);
    return;
  } else if (body.environment_bytes > 0) {
    // The request's environment: inline (the input is in Memory), NUL-terminated, in the words sent.
    u64 bytes = body.environment_bytes;
    const char* strings = reinterpret_cast<const char*>(body.inline_bytes);
    if (bytes > INLINE_INPUT_BYTES || bytes > sent || strings[bytes - 1] != '\0') {
      answer = Message::make(STATUS_BAD_REQUEST);
      return;
    }
    invocation.environment = strings;
    invocation.environment_bytes = bytes;
  }
  u64 nested_left;
  {
    LockGuard guard(manager_state().registry.lock());
    nested_left = manager_state().registry.limits().nested_budget;
  }
  invocation.nested_left = &nested_left;
  static_assert(sizeof(Outcome) < 1100);
  Outcome outcome = run(worker, invocation);
  pack_answer(outcome, invocation.output_memory == 0, true, answer);
}

}  // namespace manager
