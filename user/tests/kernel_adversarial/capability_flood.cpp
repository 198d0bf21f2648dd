// Cases for a tenant that grows the kernel's work per call with its own objects: a derivation
// tree of tens of thousands of copies spread over tasks it creates (revoked, deleted from the
// middle, destroyed with its object) and 16 MiB byte copies between memory objects. Each call
// must give its exact result while a thread on the other CPU keeps making system calls.
#include "../support/child_task.hpp"
#include "bystander.hpp"

namespace kernel_adversarial {
namespace {

using namespace support;

// Round one's tree: a chain of copies in the own task, continued by a chain in a child task that
// then gives its last copy into every slot of LEAF_TASKS tasks.
constexpr u64 CHAIN_DEPTH = 900;
constexpr u64 LEAF_TASKS = 12;
constexpr u64 LEAF_TASK_SLOTS = 4096;
constexpr u64 LEAVES = LEAF_TASKS * (LEAF_TASK_SLOTS - 1);
// The kernel gives a space of more than 51 slots a page of 51 slots, charged to the task's factory,
// when one of them is first filled, and keeps it until the task goes: the leaves fill every slot,
// so from then on each leaf task holds all 81 pages of its space.
constexpr u64 SLOT_CHUNK = 51;
constexpr u64 LEAF_SPACE_BYTES = LEAF_TASKS * ((LEAF_TASK_SLOTS + SLOT_CHUNK - 1) / SLOT_CHUNK) * PAGE_SIZE;
// The child's slots: its chain in 1 .. CHILD_CHAIN_LAST, the leaf tasks after it, and the
// endpoint on which it reports in the last slot.
constexpr u64 CHILD_SLOTS = 4096;
constexpr u64 CHILD_CHAIN_LAST = 4079;
constexpr u64 CHILD_TASKS_FIRST = CHILD_CHAIN_LAST + 1;
constexpr u64 CHILD_DONE = CHILD_SLOTS - 1;
static_assert(CHILD_TASKS_FIRST + LEAF_TASKS <= CHILD_DONE);
constexpr u64 DEPTH = CHAIN_DEPTH + CHILD_CHAIN_LAST;
// The old revocation walked down from the revoked slot to a leaf for every capability it deleted:
// about LEAVES * DEPTH steps (250 million), seconds under TCG with the kernel lock held. Now the
// longest gap is milliseconds, so one second is a generous liveness bound.
constexpr u64 LIVENESS_BOUND_NANOSECONDS = 1'000'000'000;
// The largest MemoryCopy: 4,096 pages, copied at an odd offset (byte by byte).
constexpr u64 COPY_PAGES = 4096;
constexpr u64 COPY_BYTES = COPY_PAGES * PAGE_SIZE;

// The bystander's longest gap (in microseconds) since the last call; it goes into `longest`.
u64 phase_gap(u64& longest) {
  // A gap still open when the phase ends belongs to it: wait for two more calls.
  u64 seen = bystander.calls;
  u64 start = thread_self().timestamp;
  while (bystander.calls < seen + 2 && elapsed_nanoseconds(start, thread_self().timestamp) < REPORT_TIMEOUT) {
  }
  u64 gap = bystander.longest_gap;
  bystander.longest_gap = 0;
  if (gap > longest) longest = gap;
  return elapsed_nanoseconds(0, gap) / 1000;
}

// In the child: extends the chain from slot 1, gives its end into every slot of the leaf tasks,
// and reports the number of calls that failed.
void child_builds_the_tree(u64) {
  u64 failures = 0;
  for (u64 slot = 2; slot <= CHILD_CHAIN_LAST; ++slot)
    if (!Capability(slot - 1).copy_to(slot).ok()) ++failures;
  for (u64 task = 0; task < LEAF_TASKS; ++task)
    for (u64 slot = 1; slot < LEAF_TASK_SLOTS; ++slot)
      if (!Task(CHILD_TASKS_FIRST + task).give(Capability(CHILD_CHAIN_LAST), slot).ok()) ++failures;
  Message message;
  message.tag = abi::MessageTag::make(0, 1);
  message.words[0] = failures;
  (void)Endpoint(CHILD_DONE).send(message, REPORT_TIMEOUT);
  exit_thread();
}

// Gives `source` into every slot but 0 of every leaf task; returns the number of failures.
u64 give_leaves(Case& test, const Task* tasks, Capability source) {
  u64 failures = 0;
  for (u64 task = 0; task < LEAF_TASKS; ++task)
    for (u64 slot = 1; slot < LEAF_TASK_SLOTS; ++slot) {
      Error error = tasks[task].give(source, slot).error();
      if (error != Error::None && failures++ == 0)
        test.fail(__FILE__, __LINE__, "giving into task %lu slot %lu: %s", task, slot, error_name(error));
    }
  return failures;
}

// How many of the leaf slots are occupied, probed by giving `probe` into the first, middle and
// last slot of every task (each probe that succeeds is deleted again by the task's deletion).
u64 occupied_probes(const Task* tasks, Capability probe) {
  u64 occupied = 0;
  for (u64 task = 0; task < LEAF_TASKS; ++task)
    for (u64 slot : {u64{1}, LEAF_TASK_SLOTS / 2, LEAF_TASK_SLOTS - 1})
      if (tasks[task].give(probe, slot).error() == Error::SlotOccupied) ++occupied;
  return occupied;
}

// One attempt: the floods with their exact checks; the longest bounded gap goes to `longest_gap`.
void capability_flood_once(Case& test, u64& longest_gap) {
  Environment& own = environment();
  REQUIRE(own.boot_info->cpu_count >= 2);
  REQUIRE(slots().free_count() > CHAIN_DEPTH + LEAF_TASKS + 8);
  Console console(CONSOLE);
  ScopedSlot factory_slot(test), parking_slot(test), root_slot(test), probe_slot(test), middle_slot(test);
  REQUIRE(factory_slot.valid() && parking_slot.valid() && root_slot.valid() && probe_slot.valid() &&
          middle_slot.valid());
  Endpoint parking = REQUIRE_OK(own.factory.create_endpoint(parking_slot.selector()));
  LocalThread::warm_up_page_tables();
  u64 own_before = REQUIRE_OK(own.factory.info()).used_bytes;
  Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), 64 * 1024 * 1024));
  u64 task_slots[LEAF_TASKS];
  Task tasks[LEAF_TASKS];
  for (u64 index = 0; index < LEAF_TASKS; ++index) {
    task_slots[index] = REQUIRE_OK(slots().allocate());
    tasks[index] = REQUIRE_OK(factory.create_task(task_slots[index], LEAF_TASK_SLOTS));
  }
  u64 chain[CHAIN_DEPTH];
  for (u64 index = 0; index < CHAIN_DEPTH; ++index) chain[index] = REQUIRE_OK(slots().allocate());
  Endpoint root = REQUIRE_OK(factory.create_endpoint(root_slot.selector()));
  Endpoint probe = REQUIRE_OK(factory.create_endpoint(probe_slot.selector()));
  u64 with_objects = REQUIRE_OK(factory.info()).used_bytes;

  REQUIRE_OK(own.self_thread.configure(own.own_priority, 0, 0));
  bystander = {0, 0, 0, 0, parking.selector()};
  LocalThread thread;
  REQUIRE_OK(thread.create(1));
  REQUIRE_OK(thread.start(bystander_entry, 0));
  while (bystander.calls == 0) pause_for(100'000);
  u64 longest = 0;
  u64 ignored = 0;
  (void)phase_gap(ignored);

  // Round one: revoking the root of a tree DEPTH copies deep across two tasks, whose end has
  // LEAVES copies in other tasks.
  u64 previous = root.selector();
  for (u64 index = 0; index < CHAIN_DEPTH; ++index) {
    REQUIRE_OK(Capability(previous).copy_to(chain[index]));
    previous = chain[index];
  }
  ScopedSlot report_slot(test);
  REQUIRE(report_slot.valid());
  Endpoint report = REQUIRE_OK(factory.create_endpoint(report_slot.selector()));
  ChildTask child;
  REQUIRE_OK(child.create(factory, CHILD_SLOTS));
  REQUIRE_OK(child.give(Capability(previous), 1));
  for (u64 index = 0; index < LEAF_TASKS; ++index) REQUIRE_OK(child.give(tasks[index], CHILD_TASKS_FIRST + index));
  REQUIRE_OK(child.give(report, CHILD_DONE, ENDPOINT_SEND));
  u64 build_start = thread_self().timestamp;
  REQUIRE_OK(child.add_thread(0, child_builds_the_tree, 0));
  Message built;
  REQUIRE_OK(report.receive(built, 60 * REPORT_TIMEOUT));
  EXPECT_EQ(built.words[0], 0);
  sys::printf(console, "# a tree %lu deep with %lu leaves built: %lu ms; longest gap on CPU 1: %lu us\n", DEPTH, LEAVES,
              milliseconds(build_start, thread_self().timestamp), phase_gap(ignored));
  (void)phase_gap(ignored);
  u64 revoke_start = thread_self().timestamp;
  EXPECT_OK(root.revoke());
  u64 revoke_end = thread_self().timestamp;
  sys::printf(console, "# revoking %lu descendants (a chain of %lu, then %lu leaves): %lu ms; longest gap on CPU 1: %lu us\n",
              DEPTH + LEAVES, DEPTH, LEAVES, milliseconds(revoke_start, revoke_end), phase_gap(longest));
  // The child's chain went too: its slots take new copies again.
  for (u64 slot : {u64{1}, CHILD_CHAIN_LAST / 2, CHILD_CHAIN_LAST}) EXPECT_OK(child.give(probe, slot));
  child.destroy();
  EXPECT_OK(report.remove());
  // Every descendant went, the root stayed, and nothing was destroyed or charged but the pages of
  // the leaf tasks' spaces.
  u64 chain_left = 0;
  for (u64 index = 0; index < CHAIN_DEPTH; ++index) if (!slot_is_empty(chain[index])) ++chain_left;
  EXPECT_EQ(chain_left, 0);
  EXPECT_EQ(occupied_probes(tasks, probe), 0);
  EXPECT_OK(root.identify());
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, with_objects + LEAF_SPACE_BYTES);
  EXPECT_OK(probe.revoke());  // The probes go again.
  EXPECT_EQ(occupied_probes(tasks, probe), 0);
  EXPECT_OK(probe.revoke());

  // Round two: deleting a capability with LEAVES children moves them all to its parent, which
  // then revokes them.
  REQUIRE_OK(root.copy_to(middle_slot.selector()));
  REQUIRE(give_leaves(test, tasks, Capability(middle_slot.selector())) == 0);
  (void)phase_gap(ignored);
  u64 delete_start = thread_self().timestamp;
  EXPECT_OK(Capability(middle_slot.selector()).remove());
  u64 delete_end = thread_self().timestamp;
  sys::printf(console, "# deleting a capability with %lu children: %lu ms; longest gap on CPU 1: %lu us\n", LEAVES,
              milliseconds(delete_start, delete_end), phase_gap(longest));
  EXPECT(slot_is_empty(middle_slot.selector()));
  EXPECT_EQ(occupied_probes(tasks, probe), 3 * LEAF_TASKS);
  EXPECT_OK(root.revoke());
  EXPECT_EQ(occupied_probes(tasks, probe), 0);
  EXPECT_OK(probe.revoke());
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, with_objects + LEAF_SPACE_BYTES);

  // Round three: an endpoint with LEAVES + 1 capabilities is destroyed with its factory; every
  // copy goes with it, in steps.
  ScopedSlot inner_slot(test), doomed_slot(test);
  REQUIRE(inner_slot.valid() && doomed_slot.valid());
  Factory inner = REQUIRE_OK(factory.create_factory(inner_slot.selector(), 4096));
  Endpoint doomed = REQUIRE_OK(inner.create_endpoint(doomed_slot.selector()));
  REQUIRE(give_leaves(test, tasks, doomed) == 0);
  (void)phase_gap(ignored);
  u64 destroy_start = thread_self().timestamp;
  EXPECT_OK(inner.remove());
  u64 destroy_end = thread_self().timestamp;
  sys::printf(console, "# destroying an endpoint with %lu capabilities: %lu ms; longest gap on CPU 1: %lu us\n",
              LEAVES + 1, milliseconds(destroy_start, destroy_end), phase_gap(longest));
  EXPECT(slot_is_empty(doomed_slot.selector()));
  EXPECT_EQ(occupied_probes(tasks, probe), 0);
  EXPECT_OK(probe.revoke());
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, with_objects + LEAF_SPACE_BYTES);

  // Round four: 16 MiB copied between two objects at odd offsets, and read back in part.
  ScopedSlot source_slot(test), target_slot(test), buffer_slot(test);
  REQUIRE(source_slot.valid() && target_slot.valid() && buffer_slot.valid());
  Memory source = REQUIRE_OK(factory.create_memory(source_slot.selector(), COPY_PAGES + 1));
  Memory target = REQUIRE_OK(factory.create_memory(target_slot.selector(), COPY_PAGES + 1));
  constexpr u64 BUFFER_PAGES = 256;
  Memory buffer = REQUIRE_OK(factory.create_memory(buffer_slot.selector(), BUFFER_PAGES));
  (void)phase_gap(ignored);
  u64 head = 0x0123456789abcdef, tail = 0xfedcba9876543210;
  EXPECT_OK(source.write(1, &head, sizeof head));
  EXPECT_OK(source.write(1 + COPY_BYTES - sizeof tail, &tail, sizeof tail));
  (void)phase_gap(ignored);
  u64 copy_start = thread_self().timestamp;
  EXPECT_OK(target.copy_from(3, source, 1, COPY_BYTES));
  u64 copy_end = thread_self().timestamp;
  sys::printf(console, "# MemoryCopy of %lu bytes at odd offsets: %lu ms; longest gap on CPU 1: %lu us\n", COPY_BYTES,
              milliseconds(copy_start, copy_end), phase_gap(longest));
  u64 word = 0;
  EXPECT_OK(target.read(3, &word, sizeof word));
  EXPECT_EQ(word, head);
  EXPECT_OK(target.read(3 + COPY_BYTES - sizeof tail, &word, sizeof word));
  EXPECT_EQ(word, tail);
  u8 edge[3] = {0xff, 0xff, 0xff};
  EXPECT_OK(target.read(0, edge, 3));  // Before the copy: still zero.
  EXPECT_EQ(edge[0] | edge[1] | edge[2], 0);
  EXPECT_OK(target.read(3 + COPY_BYTES, edge, 1));  // Just past it: zero too.
  EXPECT_EQ(edge[0], 0);
  // A read of a whole megabyte into a mapping (several kernel entries) brings the tail along.
  REQUIRE_OK(own.self_task.map(buffer, 0, SCRATCH_MAPPING_ADDRESS, BUFFER_PAGES, READ_WRITE));
  u64 megabyte = BUFFER_PAGES * PAGE_SIZE;
  EXPECT_OK(target.read(3 + COPY_BYTES - megabyte, reinterpret_cast<void*>(SCRATCH_MAPPING_ADDRESS), megabyte));
  EXPECT_EQ(read_word(SCRATCH_MAPPING_ADDRESS + megabyte - sizeof tail), tail);
  EXPECT_EQ(read_word(SCRATCH_MAPPING_ADDRESS), 0);
  // And a megabyte written from the mapping lands whole.
  write_word(SCRATCH_MAPPING_ADDRESS + megabyte - 8, 0x5555aaaa5555aaaa);
  EXPECT_OK(source.write(PAGE_SIZE + 5, reinterpret_cast<const void*>(SCRATCH_MAPPING_ADDRESS), megabyte));
  EXPECT_OK(source.read(PAGE_SIZE + 5 + megabyte - 8, &word, sizeof word));
  EXPECT_EQ(word, 0x5555aaaa5555aaaa);
  EXPECT_OK(own.self_task.unmap(SCRATCH_MAPPING_ADDRESS, BUFFER_PAGES));
  EXPECT_OK(buffer.remove());
  EXPECT_OK(source.remove());
  EXPECT_OK(target.remove());
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, with_objects + LEAF_SPACE_BYTES);

  longest_gap = stop_bystander(test, longest, "revoke, delete, destroy and copy");
  thread.destroy();
  for (u64 index = 0; index < CHAIN_DEPTH; ++index) slots().free(chain[index]);
  EXPECT_OK(probe.remove());
  EXPECT_OK(root.remove());
  for (u64 index = 0; index < LEAF_TASKS; ++index) {
    EXPECT_OK(tasks[index].remove());
    slots().free(task_slots[index]);
  }
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, 0);
  EXPECT_OK(factory.remove());
  EXPECT_EQ(REQUIRE_OK(own.factory.info()).used_bytes, own_before);
}

void a_capability_flood_never_stalls_the_other_cpu(Case& test) {
  expect_liveness(test, capability_flood_once, LIVENESS_BOUND_NANOSECONDS);
}

// TaskMap maps at most MAP_MAX_PAGES pages per call (the largest Memory took 9-21 ms under TCG
// in one call) and answers where it stopped; the whole range is checked before anything is mapped.
void task_map_stops_after_map_max_pages_and_says_where(Case& test) {
  Environment& own = environment();
  constexpr u64 PAGES = 2 * abi::MAP_MAX_PAGES + 1;
  constexpr u64 BASE = 0x0000000100000000;
  constexpr u64 SECOND_BASE = 0x0000000200000000;
  ScopedSlot factory_slot(test), task_slot(test), memory_slot(test);
  REQUIRE(factory_slot.valid() && task_slot.valid() && memory_slot.valid());
  Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), 80 * 1024 * 1024));
  Task task = REQUIRE_OK(factory.create_task(task_slot.selector(), 16));
  u64 task_bytes = REQUIRE_OK(factory.info()).used_bytes;
  Memory memory = REQUIRE_OK(factory.create_memory(memory_slot.selector(), PAGES));
  u64 memory_bytes = REQUIRE_OK(factory.info()).used_bytes - task_bytes;

  // Three calls, each answering exactly where the next begins; between them the rest is free.
  u64 address = BASE, page_offset = 0, calls = 0;
  while (address < BASE + PAGES * PAGE_SIZE && calls < 4) {
    SyscallRegisters registers{memory.selector(), page_offset, address, PAGES - page_offset, MEMORY_READ, 0};
    EXPECT_EQ(invoke(abi::Syscall::TaskMap, task.selector(), registers), Error::None);
    ++calls;
    u64 expected = address + (PAGES - page_offset < abi::MAP_MAX_PAGES ? PAGES - page_offset : abi::MAP_MAX_PAGES) * PAGE_SIZE;
    EXPECT_EQ(registers.argument1, expected);
    if (registers.argument1 != expected) break;
    if (calls == 1) {
      EXPECT_OK(task.map(memory, 0, expected, 1, MEMORY_READ));
      EXPECT_OK(task.unmap(expected, 1));
    }
    page_offset += (expected - address) / PAGE_SIZE;
    address = expected;
  }
  EXPECT_EQ(calls, 3);
  EXPECT_ERROR(task.map(memory, 0, BASE + (PAGES - 1) * PAGE_SIZE, 1, MEMORY_READ), Error::Busy);
  EXPECT_ERROR(task.map(memory, 0, BASE + PAGES * PAGE_SIZE - 2 * PAGE_SIZE, 1, MEMORY_READ), Error::Busy);
  EXPECT_OK(task.unmap(BASE, PAGES));
  EXPECT_ERROR(task.unmap(BASE, PAGES), Error::NotFound);

  // sys::Task::map goes on by itself; a range whose last part is taken maps nothing at all.
  EXPECT_OK(task.map(memory, 0, SECOND_BASE, PAGES, MEMORY_READ));
  EXPECT_ERROR(task.map(memory, 0, SECOND_BASE + (PAGES - 1) * PAGE_SIZE, 1, MEMORY_READ), Error::Busy);
  EXPECT_OK(task.unmap(SECOND_BASE, PAGES));
  EXPECT_OK(task.map(memory, 0, BASE + (PAGES - 1) * PAGE_SIZE, 1, MEMORY_READ));
  EXPECT_ERROR(task.map(memory, 0, BASE, PAGES, MEMORY_READ), Error::Busy);
  EXPECT_OK(task.map(memory, 0, BASE, 1, MEMORY_READ));  // The first part was not mapped.
  EXPECT_OK(task.unmap(BASE, PAGES));
  EXPECT_OK(task.remove());
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, memory_bytes);
  EXPECT_OK(memory.remove());
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, 0);
  EXPECT_OK(factory.remove());
}

}  // namespace

extern const test::TestEntry CAPABILITY_FLOOD_TESTS[] = {
    {"a_capability_flood_never_stalls_the_other_cpu", a_capability_flood_never_stalls_the_other_cpu},
    {"task_map_stops_after_map_max_pages_and_says_where", task_map_stops_after_map_max_pages_and_says_where},
};
extern const usize CAPABILITY_FLOOD_TEST_COUNT = sizeof CAPABILITY_FLOOD_TESTS / sizeof CAPABILITY_FLOOD_TESTS[0];

}  // namespace kernel_adversarial
