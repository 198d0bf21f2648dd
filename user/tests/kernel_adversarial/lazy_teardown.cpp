// Cases for a large lazy Memory shared by many live tasks when it, its tasks or their factory go:
// what a Linux invocation does with its file store (one 512 MiB lazy object mapped whole in every
// process, pages committed, touched and decommitted, forked children blocked) when the manager
// destroys the invocation. Every mapping is larger than one destruction step, so each is cut
// across steps; the kernel must give back every byte exactly and never free a block twice.
// When the factory goes, the children's endpoint goes first and they wake while their tasks,
// threads and the store are queued but not yet destroyed: they decommit, unmap, map, create in
// the dying factory, fault, and end their threads on the other CPU between destruction steps.
// The old kernel freed such a thread when it ended (it was marked dying) and again when its task
// was destroyed: "assertion failed: heap.free(block, size).ok()", as in scenario_linux.
#include "../support/child_task.hpp"

namespace kernel_adversarial {
namespace {

using namespace support;

// 512 MiB, mapped whole at the same address in every task (1 GiB aligned: its own page tables).
constexpr u64 STORE_PAGES = 131'072;
constexpr u64 STORE_ADDRESS = 0x0000000200000000;
// Each process's own lazy heap, a fork's copy of the first one (MemoryCopyCommitted).
constexpr u64 HEAP_PAGES = 1024;
constexpr u64 HEAP_ADDRESS = 0x0000000300000000;
constexpr u64 CHILDREN = 16;
constexpr u64 CHILD_QUOTA = 64 * 1024 * 1024;
// Selectors in each child's capability space.
constexpr u64 CHILD_REPORT = 8;   // Send: the child's report after its touches.
constexpr u64 CHILD_PARKING = 9;  // Nobody sends here: the child blocks on it until destroyed.
constexpr u64 CHILD_HEAP = 10;    // The child's own heap (the only capability to it).
// As a Linux process holds them: the store, the invocation's factory and its own task.
constexpr u64 CHILD_STORE = 11;
constexpr u64 CHILD_FACTORY = 12;
constexpr u64 CHILD_SELF = 13;
constexpr u64 CHILD_FREE = 14;
// Pages the own task touches, and the page the test's process writes for the children to read.
constexpr u64 OWN_TOUCHED_FIRST = 100;
constexpr u64 OWN_TOUCHED_COUNT = 8;
constexpr u64 SHARED_PAGE = OWN_TOUCHED_FIRST;
constexpr u64 HEAP_PAGE = 7;

u64 store_word(u64 page) { return STORE_ADDRESS + page * PAGE_SIZE; }
// Two pages per child, in leaves of their own: one low, one at the far end of the store.
u64 child_low_page(u64 index) { return 2048 + index * 600; }
u64 child_high_page(u64 index) { return STORE_PAGES - 1 - index * 513; }

// The word at the start of SHARED_PAGE while the odd children are to spin on it.
constexpr u64 SPIN = 0x5eed;

// A forked process: touches its two store pages and its heap, reports what it read from the
// page the parent wrote and from its heap copy, and blocks (as a child reading a pipe) until
// its task goes. Odd children first spin reading the parent's page while it says SPIN: running,
// they fault as soon as a dying store's destruction clears their mapping, and end there.
void store_child_entry(u64 index) {
  write_word(store_word(child_low_page(index)), 0x5100 + index);
  write_word(store_word(child_high_page(index)), 0x5200 + index);
  u64 shared = read_word(store_word(SHARED_PAGE));
  u64 heap = read_word(HEAP_ADDRESS + HEAP_PAGE * PAGE_SIZE);
  write_word(HEAP_ADDRESS + HEAP_PAGE * PAGE_SIZE + 8, index);
  (void)Endpoint(CHILD_REPORT).send(Message::make(1, {index, shared, heap}));
  if (index % 2 == 1)
    while (read_word(store_word(SHARED_PAGE)) == SPIN) {}
  Message message;
  (void)Endpoint(CHILD_PARKING).receive(message);
  // The parking endpoint went with the invocation's factory, whose other objects are queued but
  // not yet destroyed: like a process whose read failed, the child uses what it still holds.
  Memory store(CHILD_STORE);
  Task self(CHILD_SELF);
  (void)store.decommit(0, STORE_PAGES);
  (void)store.commit(child_low_page(index), 4);
  for (u64 address = STORE_ADDRESS; address < STORE_ADDRESS + STORE_PAGES * PAGE_SIZE;) {
    SyscallRegisters registers{address, STORE_PAGES - (address - STORE_ADDRESS) / PAGE_SIZE, 0, 0, 0, 0};
    if (invoke(abi::Syscall::TaskUnmap, self.selector(), registers) != Error::None) break;
    address = registers.argument1;
  }
  (void)self.map(store, 0, STORE_ADDRESS, STORE_PAGES, READ_WRITE);
  (void)Factory(CHILD_FACTORY).create_lazy_memory(CHILD_FREE, STORE_PAGES);
  (void)self.map(Memory(CHILD_FREE), 0, STORE_ADDRESS + STORE_PAGES * PAGE_SIZE, STORE_PAGES, READ_WRITE);
  write_word(store_word(child_low_page(index)) + 8, 1);  // May fault for good: the store is dying.
  (void)Capability(CHILD_SELF).remove();
  exit_thread();
}

// A child holds its own task: the test's copies of that capability go first, then the task.
void end_child(Case& test, ChildTask& child) {
  EXPECT_OK(child.task().revoke());
  child.destroy();
}

enum class Teardown { Factory, StoreFirst, TasksFirst, DecommitThenFactory };

// One invocation: a child factory holding a 512 MiB lazy store mapped whole in the own task and
// in CHILDREN live tasks (each with its own heap, a MemoryCopyCommitted copy of the first),
// pages committed, touched and decommitted, every child blocked; then it goes in `order`.
void run_invocation(Case& test, Teardown order) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  // The test runs on CPU 0, every child on CPU 1: the children run while the test's CPU destroys.
  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  ScopedSlot factory_slot(test), store_slot(test), heap_slot(test), copy_slot(test), report_slot(test),
      parking_slot(test);
  REQUIRE(factory_slot.valid() && store_slot.valid() && heap_slot.valid() && copy_slot.valid() && report_slot.valid() &&
          parking_slot.valid());
  Endpoint report = REQUIRE_OK(own.factory.create_endpoint(report_slot.selector()));
  u64 own_before = REQUIRE_OK(own.factory.info()).used_bytes;
  Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), CHILD_QUOTA));
  u64 factory_bytes = REQUIRE_OK(own.factory.info()).used_bytes - own_before;
  // The children block on an endpoint of the invocation: it goes first when the factory goes.
  Endpoint parking = REQUIRE_OK(factory.create_endpoint(parking_slot.selector()));
  u64 parking_bytes = REQUIRE_OK(factory.info()).used_bytes;
  Memory store = REQUIRE_OK(factory.create_lazy_memory(store_slot.selector(), STORE_PAGES));
  Memory heap = REQUIRE_OK(factory.create_lazy_memory(heap_slot.selector(), HEAP_PAGES));
  u64 own_unmapped = REQUIRE_OK(own.factory.info()).used_bytes;
  REQUIRE_OK(own.self_task.map(store, 0, STORE_ADDRESS, STORE_PAGES, READ_WRITE));
  u64 store_record = REQUIRE_OK(own.factory.info()).used_bytes - own_unmapped;
  // Commit ahead, touch, decommit part: the own task's tables show frames of the store.
  REQUIRE_OK(store.commit(0, 64));
  for (u64 page = 0; page < 64; ++page) write_word(store_word(page), page + 1);
  for (u64 page = 0; page < OWN_TOUCHED_COUNT; ++page) write_word(store_word(OWN_TOUCHED_FIRST + page) + 16, page);
  write_word(store_word(SHARED_PAGE), SPIN);
  REQUIRE_OK(store.decommit(0, 32));
  EXPECT_EQ(REQUIRE_OK(store.residency(0, 64)), ~u64{0} << 32);
  EXPECT_EQ(read_word(store_word(5)), 0u);  // A fresh zero page, touched again.
  EXPECT_EQ(read_word(store_word(40)), 41u);
  // The first heap gets one touched page through a temporary own mapping.
  REQUIRE_OK(own.self_task.map(heap, 0, HEAP_ADDRESS, HEAP_PAGES, READ_WRITE));
  write_word(HEAP_ADDRESS + HEAP_PAGE * PAGE_SIZE, 0x4ea9);
  REQUIRE_OK(own.self_task.unmap(HEAP_ADDRESS, HEAP_PAGES));

  ChildTask children[CHILDREN];
  for (u64 index = 0; index < CHILDREN; ++index) {
    ChildTask& child = children[index];
    REQUIRE_OK(child.create(factory));
    // Each child's heap is named only by the child's own slot: it goes with the task.
    Memory copy = REQUIRE_OK(factory.create_lazy_memory(copy_slot.selector(), HEAP_PAGES));
    REQUIRE_OK(copy.copy_committed_from(heap, 0, HEAP_PAGES));
    REQUIRE_OK(child.task().map(store, 0, STORE_ADDRESS, STORE_PAGES, READ_WRITE));
    REQUIRE_OK(child.task().map(copy, 0, HEAP_ADDRESS, HEAP_PAGES, READ_WRITE));
    REQUIRE_OK(child.give(copy, CHILD_HEAP));
    REQUIRE_OK(copy.remove());
    REQUIRE_OK(child.give(report, CHILD_REPORT, ENDPOINT_SEND));
    REQUIRE_OK(child.give(parking, CHILD_PARKING, ENDPOINT_RECEIVE));
    REQUIRE_OK(child.give(store, CHILD_STORE));
    REQUIRE_OK(child.give(factory, CHILD_FACTORY));
    REQUIRE_OK(child.give(child.task(), CHILD_SELF));
    REQUIRE_OK(child.add_thread(0, store_child_entry, index, 1));
  }
  u64 seen = 0;
  for (u64 count = 0; count < CHILDREN; ++count) {
    Message message;
    REQUIRE_OK(report.receive(message, REPORT_TIMEOUT));
    EXPECT_EQ(message.words[1], SPIN);     // The parent's page, through the child's mapping.
    EXPECT_EQ(message.words[2], 0x4ea9u);  // The heap page, copied.
    seen |= u64{1} << message.words[0];
  }
  EXPECT_EQ(seen, (u64{1} << CHILDREN) - 1);
  // The children's pages are the store's: the own task reads them.
  for (u64 index = 0; index < CHILDREN; ++index) {
    EXPECT_EQ(read_word(store_word(child_low_page(index))), 0x5100 + index);
    EXPECT_EQ(read_word(store_word(child_high_page(index))), 0x5200 + index);
  }
  EXPECT_EQ(REQUIRE_OK(heap.residency(HEAP_PAGE, 1)), 1u);
  pause_for(20'000'000);  // Every child reaches its blocking receive.
  // The own task's page tables (for the store, the heap and the children's image copies) stay.
  u64 own_settled = REQUIRE_OK(own.factory.info()).used_bytes;

  switch (order) {
    case Teardown::Factory: break;
    case Teardown::StoreFirst: {
      // The store goes while 17 live tasks map it whole: each mapping is cut across steps.
      EXPECT_OK(store.revoke());  // The children's copies first, as a manager would.
      EXPECT_OK(store.remove());
      EXPECT_ERROR(own.self_task.unmap(STORE_ADDRESS, STORE_PAGES), Error::NotFound);
      for (ChildTask& child : children) EXPECT_ERROR(child.task().unmap(STORE_ADDRESS, STORE_PAGES), Error::NotFound);
      for (ChildTask& child : children) end_child(test, child);
      EXPECT_OK(heap.remove());
      EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, parking_bytes);  // All but the endpoint.
      break;
    }
    case Teardown::TasksFirst: {
      for (ChildTask& child : children) end_child(test, child);
      EXPECT_OK(own.self_task.unmap(STORE_ADDRESS, STORE_PAGES));
      EXPECT_OK(store.remove());
      EXPECT_OK(heap.remove());
      EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, parking_bytes);  // All but the endpoint.
      break;
    }
    case Teardown::DecommitThenFactory: {
      // Every touched page goes back while 17 tasks map the store; later touches read zero.
      u64 before = REQUIRE_OK(factory.info()).used_bytes;
      EXPECT_OK(store.decommit(0, STORE_PAGES));
      // The spinning children read SHARED_PAGE again (zero now, so they stop and block): it has
      // one frame again, whoever touched it first.
      EXPECT_EQ(read_word(store_word(SHARED_PAGE)), 0u);
      u64 resident = 32 + 1 + OWN_TOUCHED_COUNT + 2 * CHILDREN;  // Page 5 was read again.
      // Each call covers fewer than 512 pages here (the budget is shared by 17 mappings), so
      // no call empties a whole leaf: the leaves stay, charged, until the store goes.
      EXPECT_EQ(before - REQUIRE_OK(factory.info()).used_bytes, (resident - 1) * PAGE_SIZE);
      EXPECT_EQ(REQUIRE_OK(store.residency(SHARED_PAGE, 1)), 1u);
      EXPECT_EQ(REQUIRE_OK(store.residency(32, 64)), 0u);
      for (u64 index = 0; index < CHILDREN; ++index)
        EXPECT_EQ(REQUIRE_OK(store.residency(child_high_page(index), 1)), 0u);
      EXPECT_EQ(read_word(store_word(child_low_page(3))), 0u);
      break;
    }
  }
  // Then the invocation goes whole: its factory, with whatever it still holds (the children's
  // copies of its capability first, as the manager does).
  EXPECT_OK(factory.revoke());
  EXPECT_OK(factory.remove());
  for (ChildTask& child : children) child.release_slots();
  EXPECT(slot_is_empty(store_slot.selector()));
  EXPECT_ERROR(own.self_task.unmap(STORE_ADDRESS, STORE_PAGES), Error::NotFound);
  // Exactly the store's mapping record, the factory and its quota came back to the own factory (the
  // own page tables stay with the own task).
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, own_settled - store_record - factory_bytes);
}

void a_factory_destroyed_with_a_shared_lazy_store_in_live_tasks(Case& test) { run_invocation(test, Teardown::Factory); }
void a_shared_lazy_store_destroyed_before_its_live_tasks(Case& test) { run_invocation(test, Teardown::StoreFirst); }
void live_tasks_destroyed_before_their_shared_lazy_store(Case& test) { run_invocation(test, Teardown::TasksFirst); }
void a_shared_lazy_store_decommitted_in_many_tasks_then_destroyed(Case& test) {
  run_invocation(test, Teardown::DecommitThenFactory);
}

}  // namespace

extern const test::TestEntry LAZY_TEARDOWN_TESTS[] = {
    {"a_factory_destroyed_with_a_shared_lazy_store_in_live_tasks",
     a_factory_destroyed_with_a_shared_lazy_store_in_live_tasks},
    {"a_shared_lazy_store_destroyed_before_its_live_tasks", a_shared_lazy_store_destroyed_before_its_live_tasks},
    {"live_tasks_destroyed_before_their_shared_lazy_store", live_tasks_destroyed_before_their_shared_lazy_store},
    {"a_shared_lazy_store_decommitted_in_many_tasks_then_destroyed",
     a_shared_lazy_store_decommitted_in_many_tasks_then_destroyed},
};
extern const usize LAZY_TEARDOWN_TEST_COUNT = sizeof LAZY_TEARDOWN_TESTS / sizeof LAZY_TEARDOWN_TESTS[0];

}  // namespace kernel_adversarial
