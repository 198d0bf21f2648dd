// Cases for what a handler learns: each kind of fault arrives as a call with its label, exact
// rip, fault address, error code, rsp and vector, and the badge of the exception capability.
#include "fixture.hpp"

namespace kernel_exceptions {
namespace {

using abi::ExceptionKind;
using abi::ExceptionReply;

// The handler ends the faulting thread, and nothing from it arrives afterwards.
void kill_and_expect_silence(Case& test, Fixture& fixture) {
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::Kill))));
  Message report;
  EXPECT_ERROR(fixture.report().receive(report, SILENCE_TIMEOUT), Error::Timeout);
}

void read_of_unmapped_address_is_a_page_fault(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  REQUIRE_OK(fixture.child.add_thread(0, read_entry, UNMAPPED_ADDRESS, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  expect_exception(test, fault, ExceptionKind::PageFault, VECTOR_PAGE_FAULT, address_of(exception_read_instruction));
  EXPECT_EQ(fault.words[1], UNMAPPED_ADDRESS);
  // A user-mode read of a page that is not present: only the user bit.
  EXPECT_EQ(fault.words[2], PAGE_FAULT_USER);
  expect_stack_pointer(test, fault, fixture.child, 0);
  kill_and_expect_silence(test, fixture);
}

void write_to_read_only_page_is_a_protection_fault(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  ScopedSlot page_slot(test);
  REQUIRE(page_slot.valid());
  Memory page = REQUIRE_OK(fixture.factory().create_memory(page_slot.selector(), 1));
  REQUIRE_OK(fixture.child.task().map(page, 0, READ_ONLY_ADDRESS, 1, MEMORY_READ));
  REQUIRE_OK(fixture.child.add_thread(0, write_entry, READ_ONLY_ADDRESS + 8, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  expect_exception(test, fault, ExceptionKind::PageFault, VECTOR_PAGE_FAULT, address_of(exception_write_instruction));
  EXPECT_EQ(fault.words[1], READ_ONLY_ADDRESS + 8);
  EXPECT_EQ(fault.words[2], PAGE_FAULT_PRESENT | PAGE_FAULT_WRITE | PAGE_FAULT_USER);
  expect_stack_pointer(test, fault, fixture.child, 0);
  kill_and_expect_silence(test, fixture);
}

void invalid_opcode_is_reported(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  REQUIRE_OK(fixture.child.add_thread(0, invalid_opcode_entry, 0, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  expect_exception(test, fault, ExceptionKind::InvalidOpcode, VECTOR_INVALID_OPCODE,
                   address_of(exception_invalid_opcode_instruction));
  EXPECT_EQ(fault.words[1], 0);  // Only page faults carry an address.
  EXPECT_EQ(fault.words[2], 0);
  expect_stack_pointer(test, fault, fixture.child, 0);
  kill_and_expect_silence(test, fixture);
}

void divide_by_zero_is_reported(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  REQUIRE_OK(fixture.child.add_thread(0, divide_entry, 0, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  expect_exception(test, fault, ExceptionKind::DivideError, VECTOR_DIVIDE, address_of(exception_divide_instruction));
  EXPECT_EQ(fault.words[1], 0);
  EXPECT_EQ(fault.words[2], 0);
  kill_and_expect_silence(test, fixture);
}

// int3 is a trap: the saved rip is the instruction after it.
void breakpoint_is_reported_after_the_instruction(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  REQUIRE_OK(fixture.child.add_thread(0, breakpoint_entry, 0, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  expect_exception(test, fault, ExceptionKind::Breakpoint, VECTOR_BREAKPOINT, address_of(exception_after_breakpoint));
  EXPECT_EQ(address_of(exception_after_breakpoint), address_of(exception_breakpoint_instruction) + 1);
  // Resume continues after the breakpoint: the thread reports.
  EXPECT_OK(reply(Message::make(label_of(ExceptionReply::Resume))));
  Message report;
  EXPECT_OK(fixture.report().receive(report, REPORT_TIMEOUT));
  EXPECT_EQ(report.label(), REPORT_AFTER_FAULT);
}

// A non-canonical address raises #GP, not #PF: no fault address, error code 0.
void non_canonical_access_is_a_general_protection_fault(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  REQUIRE_OK(fixture.child.add_thread(0, read_entry, NON_CANONICAL_ADDRESS, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  expect_exception(test, fault, ExceptionKind::GeneralProtection, VECTOR_GENERAL_PROTECTION,
                   address_of(exception_read_instruction));
  EXPECT_EQ(fault.words[1], 0);
  EXPECT_EQ(fault.words[2], 0);
  kill_and_expect_silence(test, fixture);
}

// The handler sees the badge of the capability given to ThreadConfigure, not of its own.
void an_unbadged_exception_capability_arrives_with_badge_zero(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  ScopedSlot send_only(test);
  REQUIRE(send_only.valid());
  REQUIRE_OK(fixture.handler().copy_to(send_only.selector(), ENDPOINT_SEND));
  REQUIRE_OK(fixture.child.add_thread(0, invalid_opcode_entry, 0, 0, send_only.selector()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  EXPECT_EQ(fault.label(), label_of(ExceptionKind::InvalidOpcode));
  EXPECT_EQ(fault.badge, 0);
  kill_and_expect_silence(test, fixture);
}

// ThreadConfigure checks the exception endpoint capability: it must be an endpoint with Send.
void exception_endpoint_must_be_an_endpoint_with_send(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  ScopedSlot receive_only(test);
  REQUIRE(receive_only.valid());
  REQUIRE_OK(fixture.handler().copy_to(receive_only.selector(), ENDPOINT_RECEIVE | ENDPOINT_GRANT));
  Thread thread = REQUIRE_OK(fixture.child.add_thread(0, invalid_opcode_entry, 0, 0, 0, false));
  u64 priority = environment().own_priority;
  EXPECT_ERROR(thread.configure(priority, 0, receive_only.selector()), Error::NoRights);
  EXPECT_ERROR(thread.configure(priority, 0, CONSOLE), Error::WrongType);
  ScopedSlot empty(test);
  REQUIRE(empty.valid());
  EXPECT_ERROR(thread.configure(priority, 0, empty.selector()), Error::InvalidCapability);
  EXPECT_ERROR(thread.configure(priority, 0, u64{1} << 63), Error::InvalidCapability);
}

// A first touch of a lazy page whose factory cannot pay for it is an ordinary page fault for the
// handler (a page not present, written by the user, marked: the quota refused it).
void lazy_page_beyond_the_quota_is_a_page_fault(Case& test) {
  Fixture fixture(test);
  REQUIRE(fixture.set_up());
  ScopedSlot tiny_slot(test), lazy_slot(test);
  REQUIRE(tiny_slot.valid() && lazy_slot.valid());
  // Room for the object and its directory of leaves, never for a page.
  Factory tiny = REQUIRE_OK(fixture.factory().create_factory(tiny_slot.selector(), 1024));
  Memory lazy = REQUIRE_OK(tiny.create_lazy_memory(lazy_slot.selector(), 16));
  u64 used = REQUIRE_OK(tiny.info()).used_bytes;
  REQUIRE_OK(fixture.child.task().map(lazy, 0, READ_ONLY_ADDRESS, 16, memory_rights(true, true, false)));
  REQUIRE_OK(fixture.child.add_thread(0, write_entry, READ_ONLY_ADDRESS + 8, 0, fixture.badged_handler()));
  Message fault;
  REQUIRE_OK(fixture.handler().receive(fault, REPORT_TIMEOUT));
  expect_exception(test, fault, ExceptionKind::PageFault, VECTOR_PAGE_FAULT, address_of(exception_write_instruction));
  EXPECT_EQ(fault.words[1], READ_ONLY_ADDRESS + 8);
  EXPECT_EQ(fault.words[2], PAGE_FAULT_WRITE | PAGE_FAULT_USER | abi::PAGE_FAULT_QUOTA_EXCEEDED);
  EXPECT_EQ(REQUIRE_OK(tiny.info()).used_bytes, used);
  kill_and_expect_silence(test, fixture);
}

}  // namespace

extern const test::TestEntry FAULT_KIND_TESTS[] = {
    {"lazy_page_beyond_the_quota_is_a_page_fault", lazy_page_beyond_the_quota_is_a_page_fault},
    {"read_of_unmapped_address_is_a_page_fault", read_of_unmapped_address_is_a_page_fault},
    {"write_to_read_only_page_is_a_protection_fault", write_to_read_only_page_is_a_protection_fault},
    {"invalid_opcode_is_reported", invalid_opcode_is_reported},
    {"divide_by_zero_is_reported", divide_by_zero_is_reported},
    {"breakpoint_is_reported_after_the_instruction", breakpoint_is_reported_after_the_instruction},
    {"non_canonical_access_is_a_general_protection_fault", non_canonical_access_is_a_general_protection_fault},
    {"an_unbadged_exception_capability_arrives_with_badge_zero",
     an_unbadged_exception_capability_arrives_with_badge_zero},
    {"exception_endpoint_must_be_an_endpoint_with_send", exception_endpoint_must_be_an_endpoint_with_send},
};
extern const usize FAULT_KIND_TEST_COUNT = sizeof FAULT_KIND_TESTS / sizeof FAULT_KIND_TESTS[0];

}  // namespace kernel_exceptions
