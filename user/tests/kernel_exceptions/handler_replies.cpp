// Cases for what a handler's reply does: Resume retries (after the handler repaired the cause),
// ResumeAt moves the thread, Kill and unknown labels end it; a thread without a handler ends
// alone; a handler endpoint that disappears ends the threads waiting on it.
#include "fixture.hpp"

namespace kernel_exceptions {
namespace {

using abi::ExceptionKind;
using abi::ExceptionReply;
constexpr u64 REPAIR_VALUE = 0xc0ffee;

void handler_maps_memory_and_resumes(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  ScopedSlot page_slot(test);
  REQUIRE(page_slot.valid());
  REQUIRE_OK(fixture.child.add_thread(0, read_entry, REPAIRED_ADDRESS + 16, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  expect_exception(test, fault, ExceptionKind::PageFault, VECTOR_PAGE_FAULT, address_of(exception_read_instruction));
  EXPECT_EQ(fault.words[1], REPAIRED_ADDRESS + 16);
  // The repair: a page with a known value, mapped where the thread looked.
  Memory page = REQUIRE_OK(fixture.factory().create_memory(page_slot.selector(), 1));
  REQUIRE_OK(environment().self_task.map(page, 0, SCRATCH_MAPPING_ADDRESS, 1, READ_WRITE));
  write_word(SCRATCH_MAPPING_ADDRESS + 16, REPAIR_VALUE);
  REQUIRE_OK(environment().self_task.unmap(SCRATCH_MAPPING_ADDRESS, 1));
  REQUIRE_OK(fixture.child.task().map(page, 0, REPAIRED_ADDRESS, 1, MEMORY_READ));
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::Resume))));
  Message report;
  REQUIRE_OK(fixture.report().receive(report, REPORT_TIMEOUT));
  EXPECT_EQ(report.label(), REPORT_AFTER_FAULT);
  EXPECT_EQ(report.words[0], REPAIR_VALUE);
  // No second fault came.
  EXPECT_ERROR(fixture.handler().receive(fault, DO_NOT_BLOCK), Error::Timeout);
}

// Resume without repairing retries the same instruction, which faults the same way again.
void resume_without_repair_faults_again(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  REQUIRE_OK(fixture.child.add_thread(0, read_entry, UNMAPPED_ADDRESS, 0, fixture.badged_handler()));
  Message first;
  Message second;
  REQUIRE_OK(fixture.handler().receive(first, REPORT_TIMEOUT));
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::Resume))));
  REQUIRE_OK(fixture.handler().receive(second, REPORT_TIMEOUT));
  EXPECT_EQ(second.label(), label_of(ExceptionKind::PageFault));
  EXPECT_EQ(second.words[0], first.words[0]);
  EXPECT_EQ(second.words[1], first.words[1]);
  EXPECT_EQ(second.words[3], first.words[3]);
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::Kill))));
}

void resume_at_continues_at_the_new_instruction(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  REQUIRE_OK(fixture.child.add_thread(0, invalid_opcode_entry, 0, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  EXPECT_EQ(fault.label(), label_of(ExceptionKind::InvalidOpcode));
  // A fresh frame at the top of the thread's stack, aligned as at a function's entry.
  u64 new_stack = fixture.child.stack_top(0) - 8;
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::ResumeAt), {reinterpret_cast<u64>(&resumed_entry), new_stack})));
  Message report;
  REQUIRE_OK(fixture.report().receive(report, REPORT_TIMEOUT));
  EXPECT_EQ(report.label(), REPORT_RESUMED_AT);
  EXPECT_ERROR(fixture.handler().receive(fault, DO_NOT_BLOCK), Error::Timeout);
}

// ResumeAt to a kernel, non-canonical or last-page address would return where no user code may
// run: the kernel kills the thread instead, and the handler's reply itself still succeeds (it did
// answer the call).
void resume_at_a_kernel_address_kills_the_thread(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  REQUIRE_OK(fixture.child.add_thread(0, invalid_opcode_entry, 0, 0, fixture.badged_handler()));
  REQUIRE_OK(fixture.child.add_thread(1, invalid_opcode_entry, 0, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::ResumeAt), {0xffff800000000000, fixture.child.stack_top(0) - 8})));
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::ResumeAt),
                                {reinterpret_cast<u64>(&resumed_entry), abi::USER_SPACE_END})));
  // Nor may a thread resume in the last page below USER_SPACE_END (a `syscall` at 0x7ffffffffffe
  // would return to the non-canonical USER_SPACE_END), or at a non-canonical address itself: it
  // ends, as its own fault, and the kernel goes on.
  REQUIRE_OK(fixture.child.add_thread(2, invalid_opcode_entry, 0, 0, fixture.badged_handler()));
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::ResumeAt),
                                {abi::USER_SPACE_END - 2, fixture.child.stack_top(2) - 8})));
  REQUIRE_OK(fixture.child.add_thread(3, invalid_opcode_entry, 0, 0, fixture.badged_handler()));
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::ResumeAt),
                                {0x0000900000000000, fixture.child.stack_top(3) - 8})));
  Message report;
  EXPECT_ERROR(fixture.report().receive(report, SILENCE_TIMEOUT), Error::Timeout);
  EXPECT_ERROR(fixture.handler().receive(fault, DO_NOT_BLOCK), Error::Timeout);
}

// Kill (and any label that is not Resume or ResumeAt) ends the thread for good: it reports
// nothing, faults no more, and cannot be started again.
void kill_and_unknown_labels_end_the_thread(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  Thread killed = REQUIRE_OK(fixture.child.add_thread(0, invalid_opcode_entry, 0, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::Kill))));
  Thread unknown = REQUIRE_OK(fixture.child.add_thread(1, invalid_opcode_entry, 0, 0, fixture.badged_handler()));
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  EXPECT_OK(reply(Message::make(0x77)));
  Message report;
  EXPECT_ERROR(fixture.report().receive(report, SILENCE_TIMEOUT), Error::Timeout);
  EXPECT_ERROR(fixture.handler().receive(fault, DO_NOT_BLOCK), Error::Timeout);
  EXPECT_ERROR(killed.start(reinterpret_cast<u64>(&resumed_entry), fixture.child.stack_top(0) - 8, 0), Error::Busy);
  EXPECT_ERROR(unknown.start(reinterpret_cast<u64>(&resumed_entry), fixture.child.stack_top(1) - 8, 0), Error::Busy);
  // Nobody is left to answer.
  EXPECT_ERROR(reply(Message::make(0)), Error::NotFound);
  EXPECT_ERROR(fixture.report().receive(report, SILENCE_TIMEOUT), Error::Timeout);
}

// A thread without a handler ends at its first fault; the other thread of its task (an echo
// server) and the test itself go on.
void a_fault_without_handler_ends_only_that_thread(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  ScopedSlot service_slot(test);
  REQUIRE(service_slot.valid());
  Endpoint service = REQUIRE_OK(environment().factory.create_endpoint(service_slot.selector()));
  REQUIRE_OK(fixture.child.give(service, CHILD_SERVICE, ENDPOINT_RECEIVE));
  REQUIRE_OK(fixture.child.add_thread(0, echo_entry, 0));
  Message answer;
  REQUIRE_OK(service.call(Message::make(1, {41}), answer, REPORT_TIMEOUT));
  EXPECT_EQ(answer.label(), REPORT_ECHO);
  EXPECT_EQ(answer.words[0], 42);

  Thread faulting = REQUIRE_OK(fixture.child.add_thread(1, read_entry, UNMAPPED_ADDRESS, 0));
  Message report;
  EXPECT_ERROR(fixture.report().receive(report, SILENCE_TIMEOUT), Error::Timeout);
  EXPECT_ERROR(faulting.start(reinterpret_cast<u64>(&resumed_entry), fixture.child.stack_top(1) - 8, 0), Error::Busy);
  REQUIRE_OK(service.call(Message::make(1, {99}), answer, REPORT_TIMEOUT));
  EXPECT_EQ(answer.words[0], 100);
  // The own thread with a handler that nobody configured keeps running too: this line runs.
  EXPECT_ERROR(fixture.handler().receive(answer, DO_NOT_BLOCK), Error::Timeout);
}

// A fault waiting for a handler that is deleted before receiving it ends the faulting thread;
// the rest of its task continues.
void deleting_the_handler_endpoint_ends_the_waiting_thread(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  ScopedSlot service_slot(test), lone_handler_slot(test);
  REQUIRE(service_slot.valid() && lone_handler_slot.valid());
  Endpoint service = REQUIRE_OK(environment().factory.create_endpoint(service_slot.selector()));
  Endpoint lone_handler = REQUIRE_OK(environment().factory.create_endpoint(lone_handler_slot.selector()));
  REQUIRE_OK(fixture.child.give(service, CHILD_SERVICE, ENDPOINT_RECEIVE));
  REQUIRE_OK(fixture.child.add_thread(0, echo_entry, 0));
  Thread faulting = REQUIRE_OK(fixture.child.add_thread(1, invalid_opcode_entry, 0, 0, lone_handler.selector()));
  // Let the thread fault and queue on the handler endpoint (nobody receives).
  Message answer;
  REQUIRE_OK(service.call(Message::make(1, {1}), answer, REPORT_TIMEOUT));
  for (int round = 0; round < 10; ++round) yield_thread();
  REQUIRE_OK(lone_handler.remove());
  Message report;
  EXPECT_ERROR(fixture.report().receive(report, SILENCE_TIMEOUT), Error::Timeout);
  EXPECT_ERROR(faulting.start(reinterpret_cast<u64>(&resumed_entry), fixture.child.stack_top(1) - 8, 0), Error::Busy);
  REQUIRE_OK(service.call(Message::make(1, {7}), answer, REPORT_TIMEOUT));
  EXPECT_EQ(answer.words[0], 8);
}

}  // namespace

extern const test::TestEntry HANDLER_REPLY_TESTS[] = {
    {"handler_maps_memory_and_resumes", handler_maps_memory_and_resumes},
    {"resume_without_repair_faults_again", resume_without_repair_faults_again},
    {"resume_at_continues_at_the_new_instruction", resume_at_continues_at_the_new_instruction},
    {"resume_at_a_kernel_address_kills_the_thread", resume_at_a_kernel_address_kills_the_thread},
    {"kill_and_unknown_labels_end_the_thread", kill_and_unknown_labels_end_the_thread},
    {"a_fault_without_handler_ends_only_that_thread", a_fault_without_handler_ends_only_that_thread},
    {"deleting_the_handler_endpoint_ends_the_waiting_thread", deleting_the_handler_endpoint_ends_the_waiting_thread},
};
extern const usize HANDLER_REPLY_TEST_COUNT = sizeof HANDLER_REPLY_TESTS / sizeof HANDLER_REPLY_TESTS[0];

}  // namespace kernel_exceptions
