// Cases for factory quotas: a small child factory runs out with QuotaExceeded (never a crash or
// OutOfMemory) for every object type, exactly when the next object no longer fits; the parent
// pays the child's quota once and nothing more; nesting has a depth limit; a task without a
// factory capability creates nothing; and churning every heap size class returns every frame.
#include "blocking_code.hpp"

namespace kernel_lifecycle {
namespace {

constexpr u64 MAX_FILL = 200;

// Creates objects with `create(slot)` from `factory` until it fails, then checks that it failed
// with QuotaExceeded, that each object cost the same, and that the rest of the quota is smaller
// than one more object. Deletes everything afterwards; returns how many were made.
template <typename Create>
u64 fill_until_quota(Case& test, Factory factory, Create create) {
  Environment& own = environment();
  static u64 made[MAX_FILL];
  u64 count = 0;
  u64 unit_cost = 0;
  FactoryQuota start = factory.info().value();  // A factory we just made: info cannot fail.
  Error failure = Error::None;
  u64 failed_slot = abi::NULL_SELECTOR;
  while (count < MAX_FILL) {
    u64 slot = own.slots->allocate().value();  // The space has far more than MAX_FILL free slots.
    u64 used_before = factory.info().value().used_bytes;
    failure = create(slot);
    if (failure != Error::None) {
      failed_slot = slot;
      break;
    }
    made[count++] = slot;
    u64 cost = factory.info().value().used_bytes - used_before;
    if (unit_cost == 0) unit_cost = cost;
    if (cost != unit_cost) test.fail(__FILE__, __LINE__, "object %lu cost %#lx, the first %#lx", count, cost, unit_cost);
  }
  FactoryQuota full = factory.info().value();
  if (failure != Error::QuotaExceeded)
    test.fail(__FILE__, __LINE__, "after %lu objects the factory said %s, expected QuotaExceeded", count,
              error_name(failure));
  EXPECT(full.used_bytes <= full.quota_bytes);
  EXPECT(full.quota_bytes - full.used_bytes < unit_cost);
  EXPECT(count > 0);
  // The refused create left its slot empty.
  if (failed_slot != abi::NULL_SELECTOR) {
    EXPECT(slot_is_empty(failed_slot));
    own.slots->free(failed_slot);
  }
  for (u64 index = count; index > 0; --index) {
    (void)Capability(made[index - 1]).remove();
    own.slots->free(made[index - 1]);
  }
  EXPECT_EQ(factory.info().value().used_bytes, start.used_bytes);
  return count;
}

// A child factory of `quota` from the root factory, and the root's accounting checked around it.
struct SmallFactory {
  SmallFactory(Case& test, u64 quota) : slot(test), test_(test) {
    Environment& own = environment();
    root_before = own.factory.info().value().used_bytes;
    if (slot.valid() && own.factory.create_factory(slot.selector(), quota).ok())
      root_with_child = own.factory.info().value().used_bytes;
    else
      test.fail(__FILE__, __LINE__, "cannot create a factory of %#lx bytes", quota);
  }
  ~SmallFactory() {
    Case& test = test_;
    // Filling the child never touched the parent beyond the child's quota.
    EXPECT_EQ(environment().factory.info().value().used_bytes, root_with_child);
    (void)factory().remove();
    EXPECT_EQ(environment().factory.info().value().used_bytes, root_before);
  }
  Factory factory() const { return Factory(slot.selector()); }
  bool valid() const { return root_with_child != 0; }

  ScopedSlot slot;
  Case& test_;
  u64 root_before = 0;
  u64 root_with_child = 0;
};

void memory_beyond_the_quota_is_quota_exceeded(Case& test) {
  SmallFactory small(test, 64 * 1024);
  REQUIRE(small.valid());
  EXPECT_EQ(small.factory().info().value().quota_bytes, 64 * 1024);
  // The parent paid the quota (and the factory object) once.
  EXPECT(small.root_with_child - small.root_before >= 64 * 1024);
  u64 pages = fill_until_quota(test, small.factory(), [&](u64 slot) {
    return small.factory().create_memory(slot, 1).error();
  });
  // Each one-page Memory costs at least its page: at most 16 fit.
  EXPECT(pages <= 15);
  // A single object larger than the whole quota is refused the same way.
  ScopedSlot big(test);
  REQUIRE(big.valid());
  EXPECT_ERROR(small.factory().create_memory(big.selector(), 17), Error::QuotaExceeded);
  EXPECT_ERROR(small.factory().create_memory(big.selector(), 65536), Error::QuotaExceeded);
  EXPECT(slot_is_empty(big.selector()));
}

void endpoints_beyond_the_quota_are_quota_exceeded(Case& test) {
  SmallFactory small(test, 4 * 1024);
  REQUIRE(small.valid());
  fill_until_quota(test, small.factory(), [&](u64 slot) { return small.factory().create_endpoint(slot).error(); });
}

void tasks_beyond_the_quota_are_quota_exceeded(Case& test) {
  SmallFactory small(test, 64 * 1024);
  REQUIRE(small.valid());
  fill_until_quota(test, small.factory(), [&](u64 slot) { return small.factory().create_task(slot, 64).error(); });
}

void threads_beyond_the_quota_are_quota_exceeded(Case& test) {
  SmallFactory small(test, 96 * 1024);
  REQUIRE(small.valid());
  ScopedSlot task_slot(test);
  REQUIRE(task_slot.valid());
  Task task = REQUIRE_OK(small.factory().create_task(task_slot.selector(), 16));
  // Warm the UTCB region's page tables (charged to the task's factory) so every thread costs the same.
  {
    ScopedSlot warm_slot(test);
    REQUIRE(warm_slot.valid());
    REQUIRE_OK(small.factory().create_thread(warm_slot.selector(), task, 0x70000000));
  }
  static u64 next_utcb;
  next_utcb = 0x70000000;
  fill_until_quota(test, small.factory(), [&](u64 slot) {
    next_utcb += PAGE_SIZE;
    return small.factory().create_thread(slot, task, next_utcb).error();
  });
  EXPECT_OK(task.remove());
}

// The depth limit of nested factories: each level made from the one above, with a little less
// quota, until the kernel refuses with InvalidArgument (not QuotaExceeded: the quota would fit).
void nesting_factories_deeper_than_the_limit_is_invalid(Case& test) {
  Environment& own = environment();
  u64 before = own.factory.info().value().used_bytes;
  constexpr u64 MAX_LEVELS = 32;
  u64 slots[MAX_LEVELS] = {};
  u64 levels = 0;
  u64 quota = 1024 * 1024;
  Factory parent = own.factory;
  Error refusal = Error::None;
  while (levels < MAX_LEVELS) {
    slots[levels] = own.slots->allocate().value();  // Far fewer than the free slots.
    auto made = parent.create_factory(slots[levels], quota);
    if (!made.ok()) {
      refusal = made.error();
      break;
    }
    parent = made.value();
    quota -= 16 * 1024;
    ++levels;
  }
  EXPECT_ERROR(Result<void>(refusal), Error::InvalidArgument);
  // The kernel's MAX_FACTORY_DEPTH is 8 levels below the root factory.
  EXPECT_EQ(levels, 8);
  // The refused level charged nothing; the deepest factory still creates objects.
  EXPECT_EQ(parent.info().value().used_bytes, 0);
  EXPECT(slot_is_empty(slots[levels]));
  ScopedSlot endpoint_slot(test);
  REQUIRE(endpoint_slot.valid());
  EXPECT_OK(parent.create_endpoint(endpoint_slot.selector()));
  EXPECT_OK(Capability(endpoint_slot.selector()).remove());
  // Deleting the top level removes all levels below it.
  if (levels > 0) EXPECT_OK(Capability(slots[0]).remove());
  for (u64 index = 0; index <= levels && index < MAX_LEVELS; ++index) {
    EXPECT(slot_is_empty(slots[index]));
    own.slots->free(slots[index]);
  }
  EXPECT_EQ(own.factory.info().value().used_bytes, before);
}

// A child task's thread tries FactoryCreate with no factory capability, with one lacking Create
// and with an endpoint; only the real factory works.
void a_task_without_a_factory_capability_creates_nothing(Case& test) {
  Environment& own = environment();
  ScopedSlot factory_slot(test), report_slot(test), no_create_slot(test);
  REQUIRE(factory_slot.valid() && report_slot.valid() && no_create_slot.valid());
  Factory factory = REQUIRE_OK(own.factory.create_factory(factory_slot.selector(), 2 * 1024 * 1024));
  Endpoint report = REQUIRE_OK(own.factory.create_endpoint(report_slot.selector()));
  REQUIRE_OK(factory.copy_to(no_create_slot.selector(), 0));
  ChildTask child;
  REQUIRE_OK(child.create(factory));
  REQUIRE_OK(child.give(report, CHILD_REPORT, ENDPOINT_SEND));
  REQUIRE_OK(child.give(Capability(no_create_slot.selector()), CHILD_FACTORY_COPY));
  REQUIRE_OK(child.give(report, CHILD_NOT_A_FACTORY));
  REQUIRE_OK(child.give(factory, CHILD_REAL_FACTORY));
  u64 used_before = REQUIRE_OK(factory.info()).used_bytes;
  REQUIRE_OK(child.add_thread(0, factory_probe_entry, 0));
  Message message;
  REQUIRE_OK(report.receive(message, REPORT_TIMEOUT));
  EXPECT_EQ(message.words[0], static_cast<u64>(Error::InvalidCapability));
  EXPECT_EQ(message.words[1], static_cast<u64>(Error::NoRights));
  EXPECT_EQ(message.words[2], static_cast<u64>(Error::WrongType));
  EXPECT_EQ(message.words[3], static_cast<u64>(Error::None));
  // Only the one endpoint was charged beyond the thread itself.
  u64 used_after = REQUIRE_OK(factory.info()).used_bytes;
  EXPECT(used_after > used_before);
}

// Heap churn over every size class: objects of nine kinds (endpoints, notifications, replies,
// factories, tasks of 2 to 512 slots (slot tables from 160 bytes to 4 KiB, chunk directories),
// memory with frame tables from 8 bytes to 4 KiB, threads, and mappings) are made and deleted thousands of times in a pattern that
// leaves every class with holes (every other one deleted, the holes refilled with another kind).
// Afterwards the factory's accounting and the machine's free memory are exactly where they
// started: the kernel heap gave every frame back (the old heap kept them, so free memory shrank
// by each class's high-water mark for good).
constexpr u64 CHURN_ROUNDS = 24;
constexpr u64 CHURN_BATCH = 240;
constexpr u64 CHURN_MAPPINGS = 400;
constexpr u64 CHURN_KINDS = 8;
constexpr u64 CHURN_MAPPING_BASE = 0x10000000;
constexpr u64 CHURN_UTCB_BASE = 0x40000000;

void churning_every_size_class_returns_every_frame(Case& test) {
  Environment& own = environment();
  FactoryQuota start = REQUIRE_OK(own.factory.info());
  REQUIRE(start.machine_free_bytes > 0);
  REQUIRE(start.machine_free_bytes % PAGE_SIZE == 0);
  static u64 made[CHURN_BATCH];
  u64 lowest_free = start.machine_free_bytes;
  u64 creations = 0;
  u64 next_utcb = CHURN_UTCB_BASE;
  {
    ScopedSlot child_slot(test), page_slot(test);
    REQUIRE(child_slot.valid() && page_slot.valid());
    Task child = REQUIRE_OK(own.factory.create_task(child_slot.selector(), 16));
    Memory page = REQUIRE_OK(own.factory.create_memory(page_slot.selector(), 1));
    auto create = [&](u64 slot, u64 kind, u64 index) -> Error {
      ++creations;
      switch (kind) {
        case 0: return own.factory.create_endpoint(slot).error();
        case 1: return own.factory.create(ObjectType::Notification, slot).error();
        case 2: return own.factory.create(ObjectType::Reply, slot).error();
        case 3: return own.factory.create_factory(slot, 8 * PAGE_SIZE).error();
        case 4: return own.factory.create_task(slot, u64{2} << (index % 9)).error();
        case 5: return own.factory.create_memory(slot, u64{1} << (index % 10)).error();
        case 6:
          next_utcb += PAGE_SIZE;
          return own.factory.create_thread(slot, child, next_utcb).error();
        default: return own.factory.create_endpoint(slot).error();
      }
    };
    auto mapping_address = [](u64 index) { return CHURN_MAPPING_BASE + index * 3 * PAGE_SIZE; };
    for (u64 round = 0; round < CHURN_ROUNDS && !test.failed(); ++round) {
      for (u64 index = 0; index < CHURN_BATCH && !test.failed(); ++index) {
        made[index] = own.slots->allocate().value();  // The space holds far more free slots.
        EXPECT_ERROR(Result<void>(create(made[index], (index + round) % CHURN_KINDS, index + round)), Error::None);
      }
      for (u64 index = 0; index < CHURN_MAPPINGS && !test.failed(); ++index)
        EXPECT_OK(child.map(page, 0, mapping_address(index), 1, READ_WRITE));
      // Holes in every class: every other object and mapping goes, and the holes are refilled
      // with the next kind, so each class's pages end up shared by old and new objects.
      for (u64 index = round % 2; index < CHURN_BATCH; index += 2) EXPECT_OK(Capability(made[index]).remove());
      for (u64 index = round % 2; index < CHURN_MAPPINGS; index += 2) EXPECT_OK(child.unmap(mapping_address(index), 1));
      for (u64 index = round % 2; index < CHURN_BATCH && !test.failed(); index += 2)
        EXPECT_ERROR(Result<void>(create(made[index], (index + round + 1) % CHURN_KINDS, index + round + 1)),
                     Error::None);
      u64 free_now = REQUIRE_OK(own.factory.info()).machine_free_bytes;
      if (free_now < lowest_free) lowest_free = free_now;
      for (u64 index = 0; index < CHURN_BATCH; ++index) {
        EXPECT_OK(Capability(made[index]).remove());
        own.slots->free(made[index]);
      }
      for (u64 index = 1 - round % 2; index < CHURN_MAPPINGS; index += 2) EXPECT_OK(child.unmap(mapping_address(index), 1));
    }
    EXPECT_OK(child.remove());
    EXPECT_OK(page.remove());
  }
  EXPECT(creations >= CHURN_ROUNDS * CHURN_BATCH * 3 / 2);
  // The churn did take memory while it ran, so the figure below is not unchanged by default.
  EXPECT(lowest_free < start.machine_free_bytes);
  FactoryQuota end = REQUIRE_OK(own.factory.info());
  EXPECT_EQ(end.used_bytes, start.used_bytes);
  EXPECT_EQ(end.quota_bytes, start.quota_bytes);
  EXPECT_EQ(end.machine_free_bytes, start.machine_free_bytes);
}

}  // namespace

extern const test::TestEntry QUOTA_TESTS[] = {
    {"memory_beyond_the_quota_is_quota_exceeded", memory_beyond_the_quota_is_quota_exceeded},
    {"endpoints_beyond_the_quota_are_quota_exceeded", endpoints_beyond_the_quota_are_quota_exceeded},
    {"tasks_beyond_the_quota_are_quota_exceeded", tasks_beyond_the_quota_are_quota_exceeded},
    {"threads_beyond_the_quota_are_quota_exceeded", threads_beyond_the_quota_are_quota_exceeded},
    {"nesting_factories_deeper_than_the_limit_is_invalid", nesting_factories_deeper_than_the_limit_is_invalid},
    {"a_task_without_a_factory_capability_creates_nothing", a_task_without_a_factory_capability_creates_nothing},
    {"churning_every_size_class_returns_every_frame", churning_every_size_class_returns_every_frame},
};
extern const usize QUOTA_TEST_COUNT = sizeof QUOTA_TESTS / sizeof QUOTA_TESTS[0];

}  // namespace kernel_lifecycle
