// Cases for the checks every operation makes before acting: the target's type (WrongType) and
// the rights it needs (NoRights), walked over every rights mask like seL4's ipc_rights test.
#include "environment.hpp"

namespace kernel_basics {
namespace {

constexpr u32 ENDPOINT_SEND = abi::rights_of(abi::EndpointRight::Send);
constexpr u32 ENDPOINT_RECEIVE = abi::rights_of(abi::EndpointRight::Receive);

void operations_reject_wrong_object_types(Case& test) {
  ScopedSlot endpoint_slot(test), spare(test), memory_slot(test);
  REQUIRE(endpoint_slot.valid() && spare.valid() && memory_slot.valid());
  Environment& own = environment();
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(endpoint_slot.selector()));
  Memory memory = REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), 1));
  Message reply;

  EXPECT_ERROR(Endpoint(CONSOLE).send(Message::make(1), DO_NOT_BLOCK), Error::WrongType);
  EXPECT_ERROR(Endpoint(SELF_TASK).call(Message::make(1), reply, DO_NOT_BLOCK), Error::WrongType);
  EXPECT_ERROR(Endpoint(OWN_FACTORY).receive(reply, DO_NOT_BLOCK), Error::WrongType);
  EXPECT_ERROR(Endpoint(memory.selector()).reply_wait(Message::make(0), reply, DO_NOT_BLOCK), Error::WrongType);
  EXPECT_ERROR(Console(endpoint.selector()).write("x", 1), Error::WrongType);
  EXPECT_ERROR(Console(SELF_TASK).exit(0x11), Error::WrongType);
  EXPECT_ERROR(Factory(SELF_TASK).create_endpoint(spare.selector()), Error::WrongType);
  EXPECT_ERROR(Factory(CONSOLE).info(), Error::WrongType);
  EXPECT_ERROR(Task(OWN_FACTORY).map(memory, 0, SCRATCH_MAPPING_ADDRESS, 1, memory_rights(true, false, false)),
               Error::WrongType);
  EXPECT_ERROR(Task(SELF_THREAD).unmap(SCRATCH_MAPPING_ADDRESS, 1), Error::WrongType);
  EXPECT_ERROR(Task(endpoint.selector()).give(Capability(CONSOLE), 1), Error::WrongType);
  EXPECT_ERROR(Thread(SELF_TASK).start(0x400000, 0x60000000, 0), Error::WrongType);
  EXPECT_ERROR(Thread(CONSOLE).configure(0, 0, 0), Error::WrongType);
  // The argument capabilities are type-checked too: TaskMap's memory, FactoryCreate's task.
  EXPECT_ERROR(own.self_task.map(Memory(endpoint.selector()), 0, SCRATCH_MAPPING_ADDRESS, 1,
                                 memory_rights(true, false, false)),
               Error::WrongType);
  EXPECT_ERROR(own.factory.create_thread(spare.selector(), Task(endpoint.selector()), SPARE_UTCB_ADDRESS),
               Error::WrongType);
  // Nothing was created by the failed calls.
  EXPECT_ERROR(Capability(spare.selector()).identify(), Error::InvalidCapability);
}

// For every mask of the three endpoint rights (and with bits beyond them, which must vanish):
// Send alone decides IpcSend and IpcCall, Receive alone decides IpcReceive. With the right, the
// non-blocking operation finds no partner and reports Timeout.
void endpoint_operations_need_exactly_their_rights(Case& test) {
  ScopedSlot original(test);
  REQUIRE(original.valid());
  REQUIRE_OK(environment().factory.create_endpoint(original.selector()));
  for (u32 mask = 0; mask < 16; ++mask) {
    u32 requested = mask | (mask & 8 ? 0xfff0u : 0u);
    u32 expected = requested & abi::full_rights(ObjectType::Endpoint);
    ScopedSlot copy(test);
    REQUIRE(copy.valid());
    REQUIRE_OK(Capability(original.selector()).copy_to(copy.selector(), requested));
    EXPECT_EQ(REQUIRE_OK(Capability(copy.selector()).identify()).rights, expected);
    Endpoint endpoint(copy.selector());
    Message reply;
    Error without_send = (expected & ENDPOINT_SEND) ? Error::Timeout : Error::NoRights;
    Error without_receive = (expected & ENDPOINT_RECEIVE) ? Error::Timeout : Error::NoRights;
    EXPECT_ERROR(endpoint.send(Message::make(1, {1, 2}), DO_NOT_BLOCK), without_send);
    EXPECT_ERROR(endpoint.call(Message::make(1, {1, 2}), reply, DO_NOT_BLOCK), without_send);
    EXPECT_ERROR(endpoint.receive(reply, DO_NOT_BLOCK), without_receive);
    if (test.failed()) {
      test.fail(__FILE__, __LINE__, "with rights mask %#x", requested);
      return;
    }
  }
}

// The rights of the other object types, each missing right on its own.
void operations_need_their_rights(Case& test) {
  Environment& own = environment();
  ScopedSlot console_copy(test), factory_copy(test), task_copy(test), thread_copy(test), memory_slot(test),
      spare(test);
  REQUIRE(console_copy.valid() && factory_copy.valid() && task_copy.valid() && thread_copy.valid() &&
          memory_slot.valid() && spare.valid());
  Memory memory = REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), 1));

  // A console copy that may only exit cannot write; one that may only write cannot exit (the
  // exit code says failure, should a broken kernel exit anyway).
  REQUIRE_OK(Capability(CONSOLE).copy_to(console_copy.selector(), abi::rights_of(abi::DebugConsoleRight::Exit)));
  EXPECT_ERROR(Console(console_copy.selector()).write("x", 1), Error::NoRights);
  EXPECT_OK(Capability(console_copy.selector()).remove());
  REQUIRE_OK(Capability(CONSOLE).copy_to(console_copy.selector(), abi::rights_of(abi::DebugConsoleRight::Write)));
  EXPECT_ERROR(Console(console_copy.selector()).exit(0x11), Error::NoRights);

  REQUIRE_OK(Capability(OWN_FACTORY).copy_to(factory_copy.selector(), 0));
  EXPECT_ERROR(Factory(factory_copy.selector()).create_endpoint(spare.selector()), Error::NoRights);
  EXPECT_ERROR(Capability(spare.selector()).identify(), Error::InvalidCapability);
  // FactoryInfo needs no right: reading the quota is harmless.
  EXPECT_OK(Factory(factory_copy.selector()).info());

  REQUIRE_OK(Capability(SELF_TASK).copy_to(task_copy.selector(), abi::rights_of(abi::TaskRight::Capabilities)));
  EXPECT_ERROR(Task(task_copy.selector()).map(memory, 0, SCRATCH_MAPPING_ADDRESS, 1, memory_rights(true, false, false)),
               Error::NoRights);
  EXPECT_ERROR(Task(task_copy.selector()).unmap(SCRATCH_MAPPING_ADDRESS, 1), Error::NoRights);
  EXPECT_OK(Capability(task_copy.selector()).remove());
  REQUIRE_OK(Capability(SELF_TASK).copy_to(task_copy.selector(), abi::rights_of(abi::TaskRight::Map)));
  EXPECT_ERROR(Task(task_copy.selector()).give(Capability(CONSOLE), spare.selector()), Error::NoRights);
  // The give destination is checked like a copy's: slot 0 and occupied slots are refused.
  EXPECT_ERROR(own.self_task.give(Capability(CONSOLE), abi::NULL_SELECTOR), Error::InvalidCapability);
  EXPECT_ERROR(own.self_task.give(Capability(CONSOLE), CONSOLE), Error::SlotOccupied);
  EXPECT_ERROR(Capability(spare.selector()).identify(), Error::InvalidCapability);

  REQUIRE_OK(Capability(SELF_THREAD).copy_to(thread_copy.selector(), 0));
  EXPECT_ERROR(Thread(thread_copy.selector()).start(0x400000, 0x60000000, 0), Error::NoRights);
  EXPECT_ERROR(Thread(thread_copy.selector()).configure(0, 0, 0), Error::NoRights);
}

}  // namespace

extern const test::TestEntry RIGHTS_TESTS[] = {
    {"operations_reject_wrong_object_types", operations_reject_wrong_object_types},
    {"endpoint_operations_need_exactly_their_rights", endpoint_operations_need_exactly_their_rights},
    {"operations_need_their_rights", operations_need_their_rights},
};
extern const usize RIGHTS_TEST_COUNT = sizeof RIGHTS_TESTS / sizeof RIGHTS_TESTS[0];

}  // namespace kernel_basics
