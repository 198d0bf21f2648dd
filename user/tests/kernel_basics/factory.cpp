// Cases for FactoryCreate and FactoryInfo: each object type, invalid requests, and quota
// accounting that goes up on creation and back down when the last capability is deleted.
#include "environment.hpp"

namespace kernel_basics {
namespace {

constexpr u64 CHILD_QUOTA = 64 * 1024;

void expect_created(Case& test, u64 selector, ObjectType type, u32 rights) {
  auto info = Capability(selector).identify();
  if (!info.ok()) {
    test.fail(__FILE__, __LINE__, "identify of a new object failed with %s", error_name(info.error()));
    return;
  }
  EXPECT_EQ(info->type, type);
  EXPECT_EQ(info->rights, rights);
  EXPECT_EQ(info->badge, 0);
}

void factory_creates_every_object_type(Case& test) {
  Factory factory = environment().factory;
  ScopedSlot task(test), thread(test), endpoint(test), memory(test), child_factory(test);
  REQUIRE(task.valid() && thread.valid() && endpoint.valid() && memory.valid() && child_factory.valid());
  Task new_task = REQUIRE_OK(factory.create_task(task.selector(), 16));
  expect_created(test, task.selector(), ObjectType::Task, abi::full_rights(ObjectType::Task));
  // A thread in the new (empty) task; it is never started.
  EXPECT_OK(factory.create_thread(thread.selector(), new_task, SPARE_UTCB_ADDRESS));
  expect_created(test, thread.selector(), ObjectType::Thread, abi::full_rights(ObjectType::Thread));
  EXPECT_OK(factory.create_endpoint(endpoint.selector()));
  expect_created(test, endpoint.selector(), ObjectType::Endpoint, abi::full_rights(ObjectType::Endpoint));
  EXPECT_OK(factory.create_memory(memory.selector(), 1));
  expect_created(test, memory.selector(), ObjectType::Memory, abi::full_rights(ObjectType::Memory));
  EXPECT_OK(factory.create_factory(child_factory.selector(), CHILD_QUOTA));
  // A new factory has Observe only if the factory that made it has (run as the root task or
  // started with `observe`, or not).
  auto own = Capability(factory.selector()).identify();
  REQUIRE(own.ok());
  constexpr u32 OBSERVE = abi::rights_of(abi::FactoryRight::Observe);
  expect_created(test, child_factory.selector(), ObjectType::Factory,
                 abi::full_rights(ObjectType::Factory) & ~(own->rights & OBSERVE ? 0 : OBSERVE));
  // The thread goes before its task (ScopedSlot destructors run in reverse order anyway).
  EXPECT_OK(Capability(thread.selector()).remove());
}

void factory_rejects_invalid_requests(Case& test) {
  Environment& own = environment();
  Factory factory = own.factory;
  ScopedSlot slot(test), task(test);
  REQUIRE(slot.valid() && task.valid());
  u64 destination = slot.selector();
  EXPECT_ERROR(factory.create(ObjectType::None, destination), Error::InvalidArgument);
  EXPECT_ERROR(factory.create(ObjectType::DebugConsole, destination), Error::InvalidArgument);
  EXPECT_ERROR(factory.create(static_cast<ObjectType>(abi::OBJECT_TYPE_COUNT), destination), Error::InvalidArgument);
  EXPECT_ERROR(factory.create(static_cast<ObjectType>(0xffffffffu), destination), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_memory(destination, 0), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_task(destination, 0), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_task(destination, 1), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_task(destination, 65537), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_task(destination, u64{1} << 32), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_memory(destination, 65537), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_memory(destination, u64{1} << 40), Error::InvalidArgument);
  // A valid size beyond the factory's quota (a child factory of one page).
  ScopedSlot small(test);
  REQUIRE(small.valid());
  Factory tiny = REQUIRE_OK(factory.create_factory(small.selector(), PAGE_SIZE));
  EXPECT_ERROR(tiny.create_memory(destination, 65536), Error::QuotaExceeded);
  // Thread UTCBs must be page aligned and inside user space.
  Task new_task = REQUIRE_OK(factory.create_task(task.selector(), 16));
  EXPECT_ERROR(factory.create_thread(destination, new_task, SPARE_UTCB_ADDRESS + 8), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_thread(destination, new_task, 0), Error::InvalidArgument);
  EXPECT_ERROR(factory.create_thread(destination, new_task, abi::USER_SPACE_END), Error::InvalidArgument);
  // Two threads cannot share a UTCB address.
  ScopedSlot first_thread(test);
  REQUIRE(first_thread.valid());
  EXPECT_OK(factory.create_thread(first_thread.selector(), new_task, SPARE_UTCB_ADDRESS));
  EXPECT_ERROR(factory.create_thread(destination, new_task, SPARE_UTCB_ADDRESS), Error::Busy);
  EXPECT_OK(Capability(first_thread.selector()).remove());
  // The thread's task must grant Map.
  ScopedSlot task_without_map(test);
  REQUIRE(task_without_map.valid());
  REQUIRE_OK(new_task.copy_to(task_without_map.selector(), abi::rights_of(abi::TaskRight::Capabilities)));
  EXPECT_ERROR(factory.create_thread(destination, Task(task_without_map.selector()), SPARE_UTCB_ADDRESS),
               Error::NoRights);
  // Destinations must be empty, valid slots.
  EXPECT_ERROR(factory.create_endpoint(CONSOLE), Error::SlotOccupied);
  EXPECT_ERROR(factory.create_endpoint(abi::NULL_SELECTOR), Error::InvalidCapability);
  EXPECT_ERROR(factory.create_endpoint(own.capability_slots), Error::InvalidCapability);
  EXPECT_ERROR(Capability(destination).identify(), Error::InvalidCapability);
}

void factory_quota_is_charged_and_returned(Case& test) {
  Factory factory = environment().factory;
  ScopedSlot memory(test), child_slot(test), child_memory(test), too_big(test);
  REQUIRE(memory.valid() && child_slot.valid() && child_memory.valid() && too_big.valid());
  FactoryQuota before = REQUIRE_OK(factory.info());
  EXPECT(before.quota_bytes > 0);
  EXPECT(before.used_bytes <= before.quota_bytes);

  REQUIRE_OK(factory.create_memory(memory.selector(), 4));
  FactoryQuota with_memory = REQUIRE_OK(factory.info());
  EXPECT(with_memory.used_bytes >= before.used_bytes + 4 * PAGE_SIZE);
  EXPECT_EQ(with_memory.quota_bytes, before.quota_bytes);
  REQUIRE_OK(Capability(memory.selector()).remove());
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, before.used_bytes);

  // A child factory has exactly its quota and starts empty; what it creates is charged to it and
  // fails beyond its quota, without touching the parent's other allocations.
  Factory child = REQUIRE_OK(factory.create_factory(child_slot.selector(), CHILD_QUOTA));
  FactoryQuota child_before = REQUIRE_OK(child.info());
  EXPECT_EQ(child_before.quota_bytes, CHILD_QUOTA);
  EXPECT_EQ(child_before.used_bytes, 0);
  EXPECT_ERROR(child.create_memory(too_big.selector(), CHILD_QUOTA / PAGE_SIZE + 1), Error::QuotaExceeded);
  EXPECT_ERROR(Capability(too_big.selector()).identify(), Error::InvalidCapability);
  REQUIRE_OK(child.create_memory(child_memory.selector(), 4));
  FactoryQuota child_used = REQUIRE_OK(child.info());
  EXPECT(child_used.used_bytes >= 4 * PAGE_SIZE);
  EXPECT(child_used.used_bytes <= CHILD_QUOTA);
  REQUIRE_OK(Capability(child_memory.selector()).remove());
  EXPECT_EQ(REQUIRE_OK(child.info()).used_bytes, 0);
  REQUIRE_OK(Capability(child_slot.selector()).remove());
  EXPECT_EQ(REQUIRE_OK(factory.info()).used_bytes, before.used_bytes);
}

// A capability space of the kernel's largest size (65,536 slots) is a directory of chunks of 51
// slots, each a page made when one of its slots is first filled: creating the task charges its
// object (the 256-byte heap class), its three-page directory and its page-table root, and nothing
// for the slots; each fill into an untouched chunk charges exactly one page, a fill into a chunk
// already made nothing; a fill that fails validation makes no chunk; a chunk the quota cannot pay
// for is QuotaExceeded; and destroying the task refunds every byte.
constexpr u64 LARGEST_SPACE = 65536;
constexpr u64 SLOT_CHUNK = 51;                                // PAGE_SIZE / sizeof(Capability): 4096 / 80.
constexpr u64 DIRECTORY_BYTES = 3 * PAGE_SIZE;                // 1,286 chunk pointers, in whole pages.
constexpr u64 LARGE_TASK_BYTES = 256 + DIRECTORY_BYTES + PAGE_SIZE;  // Object, directory, page-table root.

void large_capability_space_charges_chunks_on_first_fill(Case& test) {
  Factory factory = environment().factory;
  ScopedSlot child_slot(test), task_slot(test);
  REQUIRE(child_slot.valid() && task_slot.valid());
  Factory child = REQUIRE_OK(factory.create_factory(child_slot.selector(), 64 * PAGE_SIZE));
  Task large = REQUIRE_OK(child.create_task(task_slot.selector(), LARGEST_SPACE));
  EXPECT_EQ(REQUIRE_OK(child.info()).used_bytes, LARGE_TASK_BYTES);
  Capability console(CONSOLE);
  // Sparse fills, far apart: {selector, whether it opens a chunk}. Chunk 1285 holds only the last
  // slot (65,535 = 51 * 1285); 65,534 is the last of chunk 1284.
  struct Fill {
    u64 selector;
    bool new_chunk;
  };
  const Fill fills[] = {{65535, true}, {65534, true}, {30000, true}, {30001, false}, {1, true},
                        {50, false},   {51, true},    {101, false},  {102, true},    {32768, true}};
  u64 chunks = 0;
  for (const Fill& fill : fills) {
    u64 before = REQUIRE_OK(child.info()).used_bytes;
    EXPECT_OK(large.give(console, fill.selector));
    if (fill.new_chunk) ++chunks;
    u64 after = REQUIRE_OK(child.info()).used_bytes;
    if (after != before + (fill.new_chunk ? PAGE_SIZE : 0))
      test.fail(__FILE__, __LINE__, "filling slot %lu charged %lu bytes", fill.selector, after - before);
  }
  EXPECT_EQ(REQUIRE_OK(child.info()).used_bytes, LARGE_TASK_BYTES + chunks * PAGE_SIZE);
  EXPECT_ERROR(large.give(console, 65535), Error::SlotOccupied);
  EXPECT_ERROR(large.give(console, LARGEST_SPACE), Error::InvalidCapability);
  EXPECT_ERROR(large.give(console, 0), Error::InvalidCapability);
  // An empty source makes no chunk for the destination (validation comes first).
  ScopedSlot empty(test);
  REQUIRE(empty.valid());
  EXPECT_ERROR(large.give(Capability(empty.selector()), 40000), Error::InvalidCapability);
  EXPECT_EQ(REQUIRE_OK(child.info()).used_bytes, LARGE_TASK_BYTES + chunks * PAGE_SIZE);

  // A quota with room for the task and one chunk: the first fill of a second chunk is refused.
  ScopedSlot tight_slot(test), tight_task_slot(test);
  REQUIRE(tight_slot.valid() && tight_task_slot.valid());
  Factory tight = REQUIRE_OK(factory.create_factory(tight_slot.selector(), LARGE_TASK_BYTES + PAGE_SIZE));
  Task cramped = REQUIRE_OK(tight.create_task(tight_task_slot.selector(), LARGEST_SPACE));
  EXPECT_OK(cramped.give(console, 5 * SLOT_CHUNK));
  EXPECT_OK(cramped.give(console, 5 * SLOT_CHUNK + 1));  // The same chunk: free.
  EXPECT_ERROR(cramped.give(console, 6 * SLOT_CHUNK), Error::QuotaExceeded);
  EXPECT_EQ(REQUIRE_OK(tight.info()).used_bytes, LARGE_TASK_BYTES + PAGE_SIZE);

  // Destruction frees every chunk, the directory and the object: both factories are empty again.
  REQUIRE_OK(Capability(tight_task_slot.selector()).remove());
  EXPECT_EQ(REQUIRE_OK(tight.info()).used_bytes, 0);
  REQUIRE_OK(Capability(task_slot.selector()).remove());
  EXPECT_EQ(REQUIRE_OK(child.info()).used_bytes, 0);
}

}  // namespace

extern const test::TestEntry FACTORY_TESTS[] = {
    {"factory_creates_every_object_type", factory_creates_every_object_type},
    {"factory_rejects_invalid_requests", factory_rejects_invalid_requests},
    {"factory_quota_is_charged_and_returned", factory_quota_is_charged_and_returned},
    {"large_capability_space_charges_chunks_on_first_fill", large_capability_space_charges_chunks_on_first_fill},
};
extern const usize FACTORY_TEST_COUNT = sizeof FACTORY_TESTS / sizeof FACTORY_TESTS[0];

}  // namespace kernel_basics
