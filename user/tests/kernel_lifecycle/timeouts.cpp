// Cases for IPC timeouts: 0 polls, a finite timeout expires with Timeout after at least its
// length, and a timed-out sender leaves nothing behind on the endpoint. No case bounds how long
// anything may take (a loaded host stretches guest time); a wait that never ended would hang the
// scenario, which the harness reports.
#include "blocking_code.hpp"

namespace kernel_lifecycle {
namespace {

constexpr u64 ONE_MILLISECOND = 1'000'000;

void receive_with_zero_timeout_returns_at_once(Case& test) {
  ScopedSlot slot(test);
  REQUIRE(slot.valid());
  Endpoint endpoint = REQUIRE_OK(environment().factory.create_endpoint(slot.selector()));
  Message message;
  EXPECT_ERROR(endpoint.receive(message, DO_NOT_BLOCK), Error::Timeout);
  EXPECT_ERROR(endpoint.reply_wait(Message::make(0), message, DO_NOT_BLOCK), Error::Timeout);
}

void receive_with_one_millisecond_times_out(Case& test) {
  ScopedSlot slot(test);
  REQUIRE(slot.valid());
  Endpoint endpoint = REQUIRE_OK(environment().factory.create_endpoint(slot.selector()));
  Message message;
  u64 start = thread_self().timestamp;
  EXPECT_ERROR(endpoint.receive(message, ONE_MILLISECOND), Error::Timeout);
  EXPECT(elapsed_nanoseconds(start, thread_self().timestamp) >= ONE_MILLISECOND);  // Never early.
}

// A send and a call that time out leave the endpoint as it was: no phantom sender is queued, and
// the next exchange with a real receiver works.
void send_timeout_leaves_the_endpoint_usable(Case& test) {
  ScopedSlot slot(test), report_slot(test);
  REQUIRE(slot.valid() && report_slot.valid());
  Environment& own = environment();
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(slot.selector()));
  Endpoint report = REQUIRE_OK(own.factory.create_endpoint(report_slot.selector()));
  u64 start = thread_self().timestamp;
  EXPECT_ERROR(endpoint.send(Message::make(1, {5}), ONE_MILLISECOND), Error::Timeout);
  EXPECT(elapsed_nanoseconds(start, thread_self().timestamp) >= ONE_MILLISECOND);  // Never early.
  Message reply;
  EXPECT_ERROR(endpoint.call(Message::make(1, {6}), reply, ONE_MILLISECOND), Error::Timeout);
  EXPECT_ERROR(endpoint.send(Message::make(1, {7}), DO_NOT_BLOCK), Error::Timeout);
  Message message;
  EXPECT_ERROR(endpoint.receive(message, DO_NOT_BLOCK), Error::Timeout);

  // A worker receives (with a timeout of its own); our blocking send reaches it.
  static WorkerOrder order;
  order = {WorkerOperation::Receive, endpoint.selector(), report.selector(), REPORT_TIMEOUT};
  LocalThread worker;
  REQUIRE_OK(worker.create());
  REQUIRE_OK(worker.start(worker_entry, reinterpret_cast<u64>(&order)));
  EXPECT_OK(endpoint.send(Message::make(1, {8}), REPORT_TIMEOUT));
  REQUIRE_OK(report.receive(message, REPORT_TIMEOUT));
  EXPECT_EQ(message.label(), static_cast<u32>(Error::None));
}

// A receiver whose timeout expired is off the queue: a later poll-send finds no receiver.
void receive_timeout_leaves_no_receiver_behind(Case& test) {
  ScopedSlot slot(test), report_slot(test);
  REQUIRE(slot.valid() && report_slot.valid());
  Environment& own = environment();
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(slot.selector()));
  Endpoint report = REQUIRE_OK(own.factory.create_endpoint(report_slot.selector()));
  static WorkerOrder order;
  order = {WorkerOperation::Receive, endpoint.selector(), report.selector(), ONE_MILLISECOND};
  LocalThread worker;
  REQUIRE_OK(worker.create());
  REQUIRE_OK(worker.start(worker_entry, reinterpret_cast<u64>(&order)));
  Message message;
  REQUIRE_OK(report.receive(message, REPORT_TIMEOUT));
  EXPECT_EQ(message.label(), static_cast<u32>(Error::Timeout));
  EXPECT_ERROR(endpoint.send(Message::make(1), DO_NOT_BLOCK), Error::Timeout);
}

}  // namespace

extern const test::TestEntry TIMEOUT_TESTS[] = {
    {"receive_with_zero_timeout_returns_at_once", receive_with_zero_timeout_returns_at_once},
    {"receive_with_one_millisecond_times_out", receive_with_one_millisecond_times_out},
    {"send_timeout_leaves_the_endpoint_usable", send_timeout_leaves_the_endpoint_usable},
    {"receive_timeout_leaves_no_receiver_behind", receive_timeout_leaves_no_receiver_behind},
};
extern const usize TIMEOUT_TEST_COUNT = sizeof TIMEOUT_TESTS / sizeof TIMEOUT_TESTS[0];

}  // namespace kernel_lifecycle
