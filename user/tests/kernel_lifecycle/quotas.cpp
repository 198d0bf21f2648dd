// Cases for factory quotas: a small child factory runs out with QuotaExceeded (never a crash or
// OutOfMemory) for every object type, exactly when the next object no longer fits; the parent
// pays the child's quota once and nothing more; nesting has a depth limit; and a task without a
// factory capability creates nothing.
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

}  // namespace

extern const test::TestEntry QUOTA_TESTS[] = {
    {"memory_beyond_the_quota_is_quota_exceeded", memory_beyond_the_quota_is_quota_exceeded},
    {"endpoints_beyond_the_quota_are_quota_exceeded", endpoints_beyond_the_quota_are_quota_exceeded},
    {"tasks_beyond_the_quota_are_quota_exceeded", tasks_beyond_the_quota_are_quota_exceeded},
    {"threads_beyond_the_quota_are_quota_exceeded", threads_beyond_the_quota_are_quota_exceeded},
    {"nesting_factories_deeper_than_the_limit_is_invalid", nesting_factories_deeper_than_the_limit_is_invalid},
    {"a_task_without_a_factory_capability_creates_nothing", a_task_without_a_factory_capability_creates_nothing},
};
extern const usize QUOTA_TEST_COUNT = sizeof QUOTA_TESTS / sizeof QUOTA_TESTS[0];

}  // namespace kernel_lifecycle
