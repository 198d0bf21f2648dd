// Cases for destruction while threads wait: a task destroyed with threads blocked as sender,
// receiver, caller or holder of a call; an endpoint deleted under waiting threads; a child
// factory destroyed with everything it made, running threads included.
#include "blocking_code.hpp"

namespace kernel_lifecycle {
namespace {

// Long enough for a thread of this CPU to reach its blocking call while we yield.
constexpr u64 SETTLE_TIME = 20'000'000;
constexpr u64 CHILD_QUOTA = 2 * 1024 * 1024;

// A child factory and a child task on it, plus an endpoint of the test's that the child holds
// at CHILD_ENDPOINT (all rights) and one at CHILD_PARKING.
struct BlockedChild {
  explicit BlockedChild(Case& test) : factory_slot(test), endpoint_slot(test), parking_slot(test) {}
  bool set_up(Case& test) {
    if (!factory_slot.valid() || !endpoint_slot.valid() || !parking_slot.valid()) return false;
    Environment& own = environment();
    auto made = own.factory.create_factory(factory_slot.selector(), CHILD_QUOTA);
    if (!made.ok() || !own.factory.create_endpoint(endpoint_slot.selector()).ok() ||
        !own.factory.create_endpoint(parking_slot.selector()).ok() || !child.create(made.value()).ok() ||
        !child.give(endpoint(), CHILD_ENDPOINT).ok() || !child.give(Capability(parking_slot.selector()), CHILD_PARKING).ok()) {
      test.fail(__FILE__, __LINE__, "setting up the child failed");
      return false;
    }
    return true;
  }
  Endpoint endpoint() const { return Endpoint(endpoint_slot.selector()); }

  ScopedSlot factory_slot, endpoint_slot, parking_slot;
  ChildTask child;
};

void destroyed_task_leaves_no_blocked_sender(Case& test) {
  BlockedChild fixture(test);
  REQUIRE(fixture.set_up(test));
  REQUIRE_OK(fixture.child.add_thread(0, send_forever_entry, 0));
  REQUIRE_OK(fixture.child.add_thread(1, call_forever_entry, 0));
  pause_for(SETTLE_TIME);
  fixture.child.destroy();
  // The dead senders' messages must not be delivered to a later receiver.
  Message message;
  EXPECT_ERROR(fixture.endpoint().receive(message, DO_NOT_BLOCK), Error::Timeout);
  EXPECT_ERROR(fixture.endpoint().receive(message, 1'000'000), Error::Timeout);
}

void destroyed_task_leaves_no_blocked_receiver(Case& test) {
  BlockedChild fixture(test);
  REQUIRE(fixture.set_up(test));
  REQUIRE_OK(fixture.child.add_thread(0, receive_forever_entry, 0));
  pause_for(SETTLE_TIME);
  fixture.child.destroy();
  // A send must not be taken by the dead receiver.
  EXPECT_ERROR(fixture.endpoint().send(Message::make(1), DO_NOT_BLOCK), Error::Timeout);
  Message reply;
  EXPECT_ERROR(fixture.endpoint().call(Message::make(1), reply, DO_NOT_BLOCK), Error::Timeout);
}

// The test serves a call from a child thread; the child dies before the answer: reply finds nobody.
void reply_to_a_destroyed_caller_is_not_found(Case& test) {
  BlockedChild fixture(test);
  REQUIRE(fixture.set_up(test));
  REQUIRE_OK(fixture.child.add_thread(0, call_forever_entry, 0));
  Message request;
  REQUIRE_OK(fixture.endpoint().receive(request, REPORT_TIMEOUT));
  EXPECT_EQ(request.words[0], 1);
  fixture.child.destroy();
  EXPECT_ERROR(reply(Message::make(2)), Error::NotFound);
  EXPECT_ERROR(fixture.endpoint().receive(request, DO_NOT_BLOCK), Error::Timeout);
}

// A worker of the test calls a child server that took the call and never answers; destroying
// the child's task fails the worker's call with Destroyed.
void caller_of_a_destroyed_server_gets_destroyed(Case& test) {
  BlockedChild fixture(test);
  ScopedSlot report_slot(test);
  REQUIRE(fixture.set_up(test) && report_slot.valid());
  Endpoint report = REQUIRE_OK(environment().factory.create_endpoint(report_slot.selector()));
  REQUIRE_OK(fixture.child.add_thread(0, hold_call_entry, 0));
  LocalThread worker;
  static WorkerOrder order;
  order = {WorkerOperation::Call, fixture.endpoint().selector(), report.selector(), WAIT_FOREVER};
  REQUIRE_OK(worker.create());
  REQUIRE_OK(worker.start(worker_entry, reinterpret_cast<u64>(&order)));
  pause_for(SETTLE_TIME);
  // The call is taken: nothing waits on the endpoint, and the worker has not reported yet.
  Message message;
  EXPECT_ERROR(report.receive(message, DO_NOT_BLOCK), Error::Timeout);
  fixture.child.destroy();
  REQUIRE_OK(report.receive(message, REPORT_TIMEOUT));
  EXPECT_EQ(message.label(), static_cast<u32>(Error::Destroyed));
}

// Threads of the test blocked on endpoints (receiving; sending; calling) return Destroyed when
// the endpoints' last capabilities are deleted.
void deleting_an_endpoint_wakes_its_waiters_with_destroyed(Case& test) {
  ScopedSlot receive_slot(test), send_slot(test), report_slot(test);
  REQUIRE(receive_slot.valid() && send_slot.valid() && report_slot.valid());
  Environment& own = environment();
  Endpoint receive_endpoint = REQUIRE_OK(own.factory.create_endpoint(receive_slot.selector()));
  Endpoint send_endpoint = REQUIRE_OK(own.factory.create_endpoint(send_slot.selector()));
  Endpoint report = REQUIRE_OK(own.factory.create_endpoint(report_slot.selector()));
  static WorkerOrder orders[3];
  orders[0] = {WorkerOperation::Receive, receive_endpoint.selector(), report.selector(), WAIT_FOREVER};
  orders[1] = {WorkerOperation::Send, send_endpoint.selector(), report.selector(), WAIT_FOREVER};
  orders[2] = {WorkerOperation::Call, send_endpoint.selector(), report.selector(), WAIT_FOREVER};
  LocalThread workers[3];
  for (u64 index = 0; index < 3; ++index) {
    REQUIRE_OK(workers[index].create());
    REQUIRE_OK(workers[index].start(worker_entry, reinterpret_cast<u64>(&orders[index])));
  }
  pause_for(SETTLE_TIME);
  Message message;
  EXPECT_ERROR(report.receive(message, DO_NOT_BLOCK), Error::Timeout);
  REQUIRE_OK(receive_endpoint.remove());
  REQUIRE_OK(send_endpoint.remove());
  for (u64 index = 0; index < 3; ++index) {
    REQUIRE_OK(report.receive(message, REPORT_TIMEOUT));
    EXPECT_EQ(message.label(), static_cast<u32>(Error::Destroyed));
  }
}

// Everything a child factory made goes with it: a task with threads blocked and runnable,
// endpoints, memory, a grandchild factory with its own objects. The root factory's accounting
// returns to exactly where it was, and every capability to those objects is gone.
void destroying_a_factory_reclaims_everything_it_made(Case& test) {
  Environment& own = environment();
  u64 before = REQUIRE_OK(own.factory.info()).used_bytes;
  ScopedSlot factory_slot(test), grandchild_slot(test), endpoint_slot(test), memory_slot(test),
      grandchild_memory_slot(test), grandchild_task_slot(test), parking_slot(test);
  REQUIRE(factory_slot.valid() && grandchild_slot.valid() && endpoint_slot.valid() && memory_slot.valid() &&
          grandchild_memory_slot.valid() && grandchild_task_slot.valid() && parking_slot.valid());
  Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), CHILD_QUOTA));
  u64 with_factory = REQUIRE_OK(own.factory.info()).used_bytes;
  Endpoint endpoint = REQUIRE_OK(factory.create_endpoint(endpoint_slot.selector()));
  Endpoint parking = REQUIRE_OK(factory.create_endpoint(parking_slot.selector()));
  REQUIRE_OK(factory.create_memory(memory_slot.selector(), 3));
  Factory grandchild = REQUIRE_OK(factory.create_factory(grandchild_slot.selector(), 64 * 1024));
  REQUIRE_OK(grandchild.create_memory(grandchild_memory_slot.selector(), 2));
  REQUIRE_OK(grandchild.create_task(grandchild_task_slot.selector(), 32));
  {
    ChildTask child;
    REQUIRE_OK(child.create(factory));
    REQUIRE_OK(child.give(endpoint, CHILD_ENDPOINT));
    REQUIRE_OK(child.give(parking, CHILD_PARKING));
    REQUIRE_OK(child.add_thread(0, receive_forever_entry, 0));
    REQUIRE_OK(child.add_thread(1, send_forever_entry, 0));
    REQUIRE_OK(child.add_thread(2, spin_entry, 0));  // Same CPU as the test: runnable, not running.
    REQUIRE_OK(child.add_thread(3, hold_call_entry, 0));
    pause_for(SETTLE_TIME);
    // The parent's accounting does not move while the child factory spends its own quota.
    EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, with_factory);
    REQUIRE_OK(factory.remove());
    // Every capability to the child factory's objects went with them.
    EXPECT(slot_is_empty(child.task().selector()));
    for (u64 index = 0; index < 4; ++index) EXPECT(slot_is_empty(child.thread(index).selector()));
    child.release_slots();
  }
  EXPECT(slot_is_empty(endpoint_slot.selector()));
  EXPECT(slot_is_empty(memory_slot.selector()));
  EXPECT(slot_is_empty(grandchild_slot.selector()));
  EXPECT(slot_is_empty(grandchild_memory_slot.selector()));
  EXPECT(slot_is_empty(grandchild_task_slot.selector()));
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, before);
}

// The smallest form of the next case: the last capability of one thread that is running (in
// user mode, spinning) on the other CPU is deleted. The thread must stop and the kernel go on.
void deleting_a_thread_running_on_another_cpu_stops_it(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  ScopedSlot factory_slot(test), endpoint_slot(test);
  REQUIRE(factory_slot.valid() && endpoint_slot.valid());
  Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), CHILD_QUOTA));
  ChildTask child;
  REQUIRE_OK(child.create(factory));
  Thread spinner = REQUIRE_OK(child.add_thread(0, spin_entry, 0, 1));
  pause_for(SETTLE_TIME / 4);
  REQUIRE_OK(spinner.remove());
  pause_for(SETTLE_TIME / 4);
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(endpoint_slot.selector()));
  Message message;
  EXPECT_ERROR(endpoint.receive(message, 1'000'000), Error::Timeout);
}

// A thread that is running on the other CPU at the moment its task is destroyed must stop
// there too; the kernel must not keep running it on freed memory.
void destroying_a_task_stops_a_thread_running_on_another_cpu(Case& test) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  u64 before = REQUIRE_OK(own.factory.info()).used_bytes;
  ScopedSlot factory_slot(test), endpoint_slot(test);
  REQUIRE(factory_slot.valid() && endpoint_slot.valid());
  for (u64 round = 0; round < 8; ++round) {
    Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), CHILD_QUOTA));
    {
      ChildTask child;
      REQUIRE_OK(child.create(factory));
      REQUIRE_OK(child.add_thread(0, spin_entry, 0, 1));
      REQUIRE_OK(child.add_thread(1, spin_entry, 0, 1));
      pause_for(SETTLE_TIME / 4);
      if (round % 2 == 0) {
        child.destroy();  // The task and its threads by their own capabilities.
      } else {
        REQUIRE_OK(factory.remove());  // Or everything at once with the factory.
        child.release_slots();
      }
    }
    (void)factory.remove();
    pause_for(SETTLE_TIME / 4);
  }
  // The machine still works, and the accounting is whole again.
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(endpoint_slot.selector()));
  Message message;
  EXPECT_ERROR(endpoint.receive(message, 1'000'000), Error::Timeout);
  REQUIRE_OK(endpoint.remove());
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, before);
}

}  // namespace

extern const test::TestEntry DESTRUCTION_TESTS[] = {
    {"destroyed_task_leaves_no_blocked_sender", destroyed_task_leaves_no_blocked_sender},
    {"destroyed_task_leaves_no_blocked_receiver", destroyed_task_leaves_no_blocked_receiver},
    {"reply_to_a_destroyed_caller_is_not_found", reply_to_a_destroyed_caller_is_not_found},
    {"caller_of_a_destroyed_server_gets_destroyed", caller_of_a_destroyed_server_gets_destroyed},
    {"deleting_an_endpoint_wakes_its_waiters_with_destroyed", deleting_an_endpoint_wakes_its_waiters_with_destroyed},
    {"destroying_a_factory_reclaims_everything_it_made", destroying_a_factory_reclaims_everything_it_made},
    {"deleting_a_thread_running_on_another_cpu_stops_it", deleting_a_thread_running_on_another_cpu_stops_it},
    {"destroying_a_task_stops_a_thread_running_on_another_cpu",
     destroying_a_task_stops_a_thread_running_on_another_cpu},
};
extern const usize DESTRUCTION_TEST_COUNT = sizeof DESTRUCTION_TESTS / sizeof DESTRUCTION_TESTS[0];

}  // namespace kernel_lifecycle
