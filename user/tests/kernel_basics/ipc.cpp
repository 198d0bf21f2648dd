// Cases for IPC between two threads of this task: a worker thread created with FactoryCreate and
// started with ThreadStart answers calls with reply-and-wait; short (register-only) and long
// (64-word) messages, the badge set through CapabilityCopy, and capability transfer.
#include "environment.hpp"

namespace kernel_basics {
namespace {

// Finite timeouts turn a lost message into a failed case instead of a hung scenario.
constexpr u64 TIMEOUT_NANOSECONDS = 5'000'000'000;
constexpr u64 BADGE = 0x42;
constexpr u32 SEND = abi::rights_of(abi::EndpointRight::Send);

enum WorkerLabel : u32 {
  ECHO_INVERTED = 1,  // Reply with every word inverted, same count.
  WHO_AM_I = 2,       // Reply word 0 = the badge the request arrived with.
  INSPECT_RECEIVED = 3,  // Reply: received count, type and rights of the received capability.
  STOP = 4,           // Reply, then end the worker thread.
  ANSWER_THROUGH_REPLY_OBJECT = 5,  // Save the caller into a Reply object, answer through it later.
};

struct WorkerSetup {
  u64 endpoint;      // Receive right, unbadged.
  u64 receive_slot;  // Where transferred capabilities land.
  u64 reply_object;  // A Reply object.
};
WorkerSetup worker_setup;
// What the worker saw after answering through the Reply object (no caller can carry it back).
Error reply_with_on_empty_object = Error::None;

// Saves the pending caller into the Reply object, then answers through it; words: what saving
// returned, and what a second save (with no caller left) returned.
bool answer_through_reply_object(const WorkerSetup& setup) {
  Error saved = invoke(abi::Syscall::IpcSaveReply, setup.reply_object);
  Error saved_again = invoke(abi::Syscall::IpcSaveReply, setup.reply_object);
  SyscallRegisters answer{abi::MessageTag::make(ANSWER_THROUGH_REPLY_OBJECT, 2).raw, static_cast<u64>(saved),
                          static_cast<u64>(saved_again), 0, 0, 0};
  if (invoke(abi::Syscall::IpcReplyWith, setup.reply_object, answer) != Error::None) return false;
  SyscallRegisters nothing{abi::MessageTag::make(0, 0).raw, 0, 0, 0, 0, 0};
  reply_with_on_empty_object = invoke(abi::Syscall::IpcReplyWith, setup.reply_object, nothing);
  return true;
}

void worker_main(u64 argument) {
  const auto* setup = reinterpret_cast<const WorkerSetup*>(argument);
  Endpoint endpoint(setup->endpoint);
  set_receive_slots(setup->receive_slot);
  Message request;
  Message answer;
  if (!endpoint.receive(request, TIMEOUT_NANOSECONDS).ok()) return;
  while (true) {
    answer = Message::make(request.label());
    switch (request.label()) {
      case ECHO_INVERTED:
        for (u64 index = 0; index < request.word_count() && index < abi::MESSAGE_WORDS; ++index)
          answer.words[index] = ~request.words[index];
        answer.set_words(ECHO_INVERTED, request.word_count());
        break;
      case WHO_AM_I:
        answer = Message::make(WHO_AM_I, {request.badge});
        break;
      case INSPECT_RECEIVED: {
        auto info = Capability(setup->receive_slot).identify();
        answer = Message::make(INSPECT_RECEIVED, {request.received_capabilities,
                                                  info.ok() ? static_cast<u64>(info->type) : 0,
                                                  info.ok() ? info->rights : 0});
        (void)Capability(setup->receive_slot).remove();
        break;
      }
      case STOP:
        (void)reply(answer);
        return;
      case ANSWER_THROUGH_REPLY_OBJECT:
        // The caller is already answered: wait for the next request without replying.
        if (!answer_through_reply_object(*setup) || !endpoint.receive(request, TIMEOUT_NANOSECONDS).ok()) return;
        continue;
      default:
        answer = Message::make(0xdead);
        break;
    }
    if (!endpoint.reply_wait(answer, request, TIMEOUT_NANOSECONDS).ok()) return;
  }
}

// Runs the IPC checks against a worker thread; everything it creates is undone at the end.
void ipc_between_two_threads(Case& test) {
  Environment& own = environment();
  ScopedSlot endpoint_slot(test), badged_slot(test), stack_slot(test), thread_slot(test), receive_slot(test),
      console_copy(test), reply_slot(test);
  REQUIRE(endpoint_slot.valid() && badged_slot.valid() && stack_slot.valid() && thread_slot.valid() &&
          receive_slot.valid() && console_copy.valid() && reply_slot.valid());
  REQUIRE_OK(own.factory.create(ObjectType::Reply, reply_slot.selector()));
  // With no call received, a Reply object has nothing to save and nothing to answer.
  EXPECT_EQ(invoke(abi::Syscall::IpcSaveReply, reply_slot.selector()), Error::NotFound);
  EXPECT_EQ(invoke(abi::Syscall::IpcReplyWith, reply_slot.selector()), Error::NotFound);
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(endpoint_slot.selector()));
  REQUIRE_OK(endpoint.copy_to(badged_slot.selector(), SEND, BADGE));
  Endpoint badged(badged_slot.selector());

  Memory stack = REQUIRE_OK(own.factory.create_memory(stack_slot.selector(), WORKER_STACK_PAGES));
  REQUIRE_OK(own.self_task.map(stack, 0, WORKER_STACK_ADDRESS, WORKER_STACK_PAGES,
                               abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write)));
  Thread worker = REQUIRE_OK(own.factory.create_thread(thread_slot.selector(), own.self_task, WORKER_UTCB_ADDRESS));
  worker_setup = WorkerSetup{endpoint.selector(), receive_slot.selector(), reply_slot.selector()};
  u64 stack_top = WORKER_STACK_ADDRESS + WORKER_STACK_PAGES * PAGE_SIZE;
  EXPECT_OK(start_thread(worker, stack_top, worker_main, reinterpret_cast<u64>(&worker_setup)));
  // A started thread cannot be started again.
  EXPECT_ERROR(worker.start(0x400000, stack_top, 0), Error::Busy);
  // With no call received, there is nobody to reply to.
  EXPECT_ERROR(reply(Message::make(0)), Error::NotFound);

  // Short message: three words, registers only.
  Message reply;
  Message request = Message::make(ECHO_INVERTED, {1, 2, 3});
  EXPECT_OK(badged.call(request, reply, TIMEOUT_NANOSECONDS));
  EXPECT_EQ(reply.label(), ECHO_INVERTED);
  EXPECT_EQ(reply.word_count(), 3);
  EXPECT_EQ(reply.words[0], ~u64{1});
  EXPECT_EQ(reply.words[2], ~u64{3});

  // Long message: all 64 words, most of them through the UTCBs.
  request = Message::make(ECHO_INVERTED);
  for (u64 index = 0; index < abi::MESSAGE_WORDS; ++index) request.words[index] = index * 0x0101010101010101;
  request.set_words(ECHO_INVERTED, abi::MESSAGE_WORDS);
  EXPECT_OK(badged.call(request, reply, TIMEOUT_NANOSECONDS));
  EXPECT_EQ(reply.word_count(), abi::MESSAGE_WORDS);
  bool all_inverted = true;
  for (u64 index = 0; index < abi::MESSAGE_WORDS; ++index)
    all_inverted = all_inverted && reply.words[index] == ~(index * 0x0101010101010101);
  EXPECT(all_inverted);

  // The receiver sees the badge of the capability the caller used.
  EXPECT_OK(badged.call(Message::make(WHO_AM_I), reply, TIMEOUT_NANOSECONDS));
  EXPECT_EQ(reply.words[0], BADGE);
  EXPECT_OK(endpoint.call(Message::make(WHO_AM_I), reply, TIMEOUT_NANOSECONDS));
  EXPECT_EQ(reply.words[0], 0);

  // A capability travels with a message, with its rights reduced by the sender's mask.
  REQUIRE_OK(Capability(CONSOLE).copy_to(console_copy.selector()));
  request = Message::make(INSPECT_RECEIVED);
  EXPECT(request.attach(Capability(console_copy.selector()), abi::rights_of(abi::DebugConsoleRight::Write)));
  EXPECT_OK(endpoint.call(request, reply, TIMEOUT_NANOSECONDS));
  EXPECT_EQ(reply.words[0], 1);
  EXPECT_EQ(reply.words[1], ObjectType::DebugConsole);
  EXPECT_EQ(reply.words[2], abi::rights_of(abi::DebugConsoleRight::Write));

  // A reply saved into a Reply object arrives like a direct one.
  EXPECT_OK(badged.call(Message::make(ANSWER_THROUGH_REPLY_OBJECT), reply, TIMEOUT_NANOSECONDS));
  EXPECT_EQ(reply.label(), ANSWER_THROUGH_REPLY_OBJECT);
  EXPECT_EQ(reply.words[0], Error::None);
  EXPECT_EQ(reply.words[1], Error::NotFound);
  // The worker's answer to us is proof it finished; the empty object refused a second answer.
  EXPECT_OK(badged.call(Message::make(WHO_AM_I), reply, TIMEOUT_NANOSECONDS));
  EXPECT_EQ(reply_with_on_empty_object, Error::NotFound);

  // A send-only capability cannot receive; the worker leaves after STOP.
  EXPECT_ERROR(badged.receive(reply, DO_NOT_BLOCK), Error::NoRights);
  EXPECT_OK(badged.call(Message::make(STOP), reply, TIMEOUT_NANOSECONDS));
  EXPECT_EQ(reply.label(), STOP);
  // Nobody receives any more.
  EXPECT_ERROR(badged.send(Message::make(STOP), DO_NOT_BLOCK), Error::Timeout);

  EXPECT_OK(worker.remove());
  EXPECT_OK(own.self_task.unmap(WORKER_STACK_ADDRESS, WORKER_STACK_PAGES));
}

void thread_self_reports_cpu_and_time(Case& test) {
  ThreadSelfInfo first = thread_self();
  ThreadSelfInfo second = thread_self();
  EXPECT(second.timestamp > first.timestamp);
  if (environment().is_root) EXPECT(first.cpu < environment().boot_info->cpu_count);
}

// o5 counts every ThreadYield of the machine: this thread's own three at least (other threads may
// yield meanwhile, so the difference is a lower bound).
void thread_self_counts_yields(Case& test) {
  ThreadSelfInfo before = thread_self();
  for (int i = 0; i < 3; ++i) yield_thread();
  ThreadSelfInfo after = thread_self();
  EXPECT(after.yields >= before.yields + 3);
}

}  // namespace

extern const test::TestEntry IPC_TESTS[] = {
    {"ipc_between_two_threads", ipc_between_two_threads},
    {"thread_self_reports_cpu_and_time", thread_self_reports_cpu_and_time},
    {"thread_self_counts_yields", thread_self_counts_yields},
};
extern const usize IPC_TEST_COUNT = sizeof IPC_TESTS / sizeof IPC_TESTS[0];

}  // namespace kernel_basics
