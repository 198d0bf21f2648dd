// Capability space logic on the host: lookups validate before anything else, rights only shrink,
// badges are set once, deletion re-parents children, revocation removes every descendant (in
// bounded steps, with work linear in the descendants), and the last capability's deletion queues
// its object for destruction; a large space's chunks are made on a slot's first fill only.
#include "object/capability_space.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace kernel {
// The destruction queue belongs to the kernel; here we only record what would be destroyed.
std::vector<KernelObject*> destroyed;
void schedule_destroy(KernelObject* object) {
  object->dying = true;
  destroyed.push_back(object);
}
// Chunks come from the host's heap, as many as chunks_allowed lets (then QuotaExceeded, as a
// factory would answer); made_chunks records which chunk was made, in order.
std::vector<std::unique_ptr<Capability[]>> chunk_storage;
std::vector<u64> made_chunks;
u64 chunks_allowed = ~u64{0};
Result<Capability*> make_slot_chunk(Task& task, u64 chunk) {
  EXPECT_EQ(task.slot_chunks[chunk], nullptr);  // Only an absent chunk is made.
  if (made_chunks.size() >= chunks_allowed) return metteagle::abi::Error::QuotaExceeded;
  chunk_storage.push_back(std::make_unique<Capability[]>(SLOT_CHUNK));
  made_chunks.push_back(chunk);
  task.slot_chunks[chunk] = chunk_storage.back().get();
  ++task.slot_chunk_pages;
  return task.slot_chunks[chunk];
}
}  // namespace kernel

using kernel::Capability;
using kernel::KernelObject;
using kernel::Task;
using metteagle::abi::Error;
using metteagle::abi::ObjectType;

namespace {

// Whole operations, with no step limit.
constexpr klib::u64 NO_LIMIT = ~klib::u64{0};
void remove(Capability& slot) {
  klib::u64 work = 0;
  EXPECT_TRUE(kernel::delete_capability(slot, work, NO_LIMIT));
}
void revoke(Capability& slot) {
  klib::u64 work = 0;
  EXPECT_TRUE(kernel::revoke_capability(slot, work, NO_LIMIT));
}

struct Space : ::testing::Test {
  static constexpr klib::u64 SLOTS = 16;
  std::vector<Capability> slots = std::vector<Capability>(SLOTS);
  Task task;
  KernelObject endpoint;
  KernelObject memory;

  void SetUp() override {
    kernel::destroyed.clear();
    task.slot_chunks[0] = slots.data();
    task.slot_count = SLOTS;
    endpoint.type = ObjectType::Endpoint;
    memory.type = ObjectType::Memory;
    kernel::install_capability(slots[1], &endpoint, metteagle::abi::ALL_RIGHTS);
    kernel::install_capability(slots[2], &memory, 1);  // Read only.
  }
};

}  // namespace

TEST_F(Space, LookupValidatesSelectorEmptinessTypeAndRights) {
  EXPECT_EQ(kernel::lookup(task, 0).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup(task, Space::SLOTS).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup(task, ~klib::u64{0}).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup(task, 3).error(), Error::InvalidCapability);
  EXPECT_TRUE(kernel::lookup(task, 1).ok());
  EXPECT_EQ(kernel::lookup(task, 1, ObjectType::Memory, 0).error(), Error::WrongType);
  EXPECT_TRUE(kernel::lookup(task, 2, ObjectType::Memory, 1).ok());
  EXPECT_EQ(kernel::lookup(task, 2, ObjectType::Memory, 2).error(), Error::NoRights);
  EXPECT_EQ(kernel::lookup(task, 2, ObjectType::Memory, 3).error(), Error::NoRights);
  memory.dying = true;
  EXPECT_EQ(kernel::lookup(task, 2).error(), Error::Destroyed);
}

TEST_F(Space, InstallKeepsOnlyTheTypesRights) {
  EXPECT_EQ(slots[1].rights, metteagle::abi::full_rights(ObjectType::Endpoint));
}

TEST_F(Space, EmptySlotLookup) {
  EXPECT_EQ(kernel::lookup_empty(task, 0).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup_empty(task, Space::SLOTS).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup_empty(task, 1).error(), Error::SlotOccupied);
  EXPECT_EQ(kernel::lookup_empty(task, 5).value(), &slots[5]);
}

TEST_F(Space, RightsOnlyShrinkOverEveryMask) {
  for (klib::u32 first = 0; first < 8; ++first) {
    for (klib::u32 second = 0; second < 8; ++second) {
      kernel::derive_capability(slots[4], slots[1], first, 0);
      kernel::derive_capability(slots[5], slots[4], second, 0);
      EXPECT_EQ(slots[4].rights, first & 7u);
      EXPECT_EQ(slots[5].rights, first & second & 7u);
      remove(slots[5]);
      remove(slots[4]);
    }
  }
  EXPECT_TRUE(kernel::destroyed.empty());
}

TEST_F(Space, BadgeIsSetOnceAndInherited) {
  kernel::derive_capability(slots[4], slots[1], metteagle::abi::ALL_RIGHTS, 77);
  EXPECT_EQ(slots[4].badge, 77u);
  kernel::derive_capability(slots[5], slots[4], metteagle::abi::ALL_RIGHTS, 99);
  EXPECT_EQ(slots[5].badge, 77u);
}

TEST_F(Space, DeleteMovesChildrenToTheParent) {
  kernel::derive_capability(slots[4], slots[1], 7, 0);
  kernel::derive_capability(slots[5], slots[4], 3, 0);
  remove(slots[4]);
  EXPECT_TRUE(slots[4].empty());
  EXPECT_EQ(slots[5].parent, &slots[1]);
  EXPECT_EQ(slots[1].children.front(), &slots[5]);
  // Revoking the grandparent still reaches the re-parented child.
  revoke(slots[1]);
  EXPECT_TRUE(slots[5].empty());
  EXPECT_FALSE(slots[1].empty());
}

TEST_F(Space, RevokeRemovesEveryDescendantAndKeepsOthers) {
  kernel::derive_capability(slots[4], slots[1], 7, 0);
  kernel::derive_capability(slots[5], slots[4], 7, 0);
  kernel::derive_capability(slots[6], slots[5], 7, 0);
  kernel::derive_capability(slots[7], slots[1], 7, 0);
  kernel::derive_capability(slots[8], slots[2], 1, 0);
  revoke(slots[4]);
  EXPECT_FALSE(slots[4].empty());
  EXPECT_TRUE(slots[5].empty());
  EXPECT_TRUE(slots[6].empty());
  EXPECT_FALSE(slots[7].empty());
  revoke(slots[1]);
  EXPECT_TRUE(slots[4].empty());
  EXPECT_TRUE(slots[7].empty());
  EXPECT_FALSE(slots[8].empty());
  EXPECT_TRUE(kernel::destroyed.empty());  // slots[1] still names the endpoint.
}

TEST_F(Space, LastCapabilityQueuesTheObjectOnce) {
  kernel::derive_capability(slots[4], slots[2], 1, 0);
  remove(slots[2]);
  EXPECT_TRUE(kernel::destroyed.empty());
  remove(slots[4]);
  ASSERT_EQ(kernel::destroyed.size(), 1u);
  EXPECT_EQ(kernel::destroyed[0], &memory);
  remove(slots[4]);  // Already empty: nothing happens.
  EXPECT_EQ(kernel::destroyed.size(), 1u);
}

TEST_F(Space, RevokeOfAChainGoesInBoundedStepsOfLinearWork) {
  // A chain slots[3] .. slots[14] below slots[1]: each link but the last moves one child up and
  // each is deleted once, 2 * 12 - 1 units in all, however the steps fall.
  Capability* previous = &slots[1];
  for (klib::u64 index = 3; index < 15; ++index) {
    kernel::derive_capability(slots[index], *previous, 7, 0);
    previous = &slots[index];
  }
  constexpr klib::u64 LIMIT = 4;
  klib::u64 total = 0, calls = 0;
  for (bool done = false; !done && calls < 100; ++calls) {
    klib::u64 work = 0;
    done = kernel::revoke_capability(slots[1], work, LIMIT);
    EXPECT_LE(work, LIMIT + 1);           // One deletion may follow the last move.
    if (!done) {
      EXPECT_GE(work, LIMIT);  // A step that stops has done its share.
    }
    total += work;
  }
  EXPECT_EQ(total, 2u * 12u - 1u);
  for (klib::u64 index = 3; index < 15; ++index) EXPECT_TRUE(slots[index].empty());
  EXPECT_FALSE(slots[1].empty());
  EXPECT_TRUE(slots[1].children.empty());
  EXPECT_TRUE(kernel::destroyed.empty());
}

TEST_F(Space, DeleteWithManyChildrenMovesThemInSteps) {
  kernel::derive_capability(slots[4], slots[1], 7, 0);
  for (klib::u64 index = 5; index < 13; ++index) kernel::derive_capability(slots[index], slots[4], 7, 0);
  klib::u64 work = 0;
  EXPECT_FALSE(kernel::delete_capability(slots[4], work, 3));
  EXPECT_EQ(work, 3u);
  EXPECT_FALSE(slots[4].empty());  // Still whole, with the five children left.
  EXPECT_EQ(slots[5].parent, &slots[1]);
  EXPECT_EQ(slots[8].parent, &slots[4]);
  work = 0;
  EXPECT_FALSE(kernel::delete_capability(slots[4], work, 3));
  work = 0;
  EXPECT_TRUE(kernel::delete_capability(slots[4], work, 3));
  EXPECT_EQ(work, 3u);  // Two moves and the deletion.
  EXPECT_TRUE(slots[4].empty());
  for (klib::u64 index = 5; index < 13; ++index) EXPECT_EQ(slots[index].parent, &slots[1]);
  revoke(slots[1]);
  for (klib::u64 index = 5; index < 13; ++index) EXPECT_TRUE(slots[index].empty());
  EXPECT_TRUE(kernel::destroyed.empty());
}

// A space of MAX_TASK_SLOTS slots starts with no chunk: looking up a slot of an absent chunk finds
// it empty and makes nothing; filling one makes its chunk once (later fills of the same chunk use
// it); a chunk that cannot be made leaves the space as it was.
TEST(LargeSpace, ChunksAreMadeOnFirstFillOnly) {
  kernel::destroyed.clear();
  kernel::made_chunks.clear();
  kernel::chunk_storage.clear();
  kernel::chunks_allowed = ~klib::u64{0};
  constexpr klib::u64 SLOTS = kernel::MAX_TASK_SLOTS;
  constexpr klib::u64 CHUNKS = kernel::slot_chunk_count(SLOTS);
  EXPECT_EQ(kernel::SLOT_CHUNK, 51u);
  EXPECT_EQ(CHUNKS, 1286u);
  std::vector<Capability*> directory(CHUNKS, nullptr);
  Task task;
  task.slot_chunks = directory.data();
  task.slot_count = SLOTS;
  KernelObject endpoint;
  endpoint.type = ObjectType::Endpoint;

  for (klib::u64 selector : {klib::u64{1}, klib::u64{50}, klib::u64{51}, SLOTS - 1})
    EXPECT_EQ(kernel::lookup(task, selector).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup(task, SLOTS).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup_empty(task, SLOTS).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup_empty(task, 0).error(), Error::InvalidCapability);
  EXPECT_TRUE(kernel::made_chunks.empty());

  // The last slot: chunk 1285 (slots 65535 .. 65535, a chunk cut short by the space's end).
  Capability* last = kernel::lookup_empty(task, SLOTS - 1).value();
  EXPECT_EQ(kernel::made_chunks, std::vector<klib::u64>{CHUNKS - 1});
  EXPECT_EQ(last, &directory[CHUNKS - 1][(SLOTS - 1) % kernel::SLOT_CHUNK]);
  kernel::install_capability(*last, &endpoint, metteagle::abi::ALL_RIGHTS);
  EXPECT_EQ(kernel::lookup(task, SLOTS - 1).value(), last);
  EXPECT_EQ(kernel::lookup_empty(task, SLOTS - 1).error(), Error::SlotOccupied);

  // Slot 51 is the first of chunk 1; slot 101 its last; 102 opens chunk 2.
  Capability* first_of_one = kernel::lookup_empty(task, 51).value();
  kernel::derive_capability(*first_of_one, *last, metteagle::abi::ALL_RIGHTS, 0);
  Capability* last_of_one = kernel::lookup_empty(task, 101).value();
  EXPECT_EQ(last_of_one, first_of_one + 50);
  EXPECT_EQ(kernel::made_chunks, (std::vector<klib::u64>{CHUNKS - 1, 1}));
  EXPECT_EQ(kernel::lookup(task, 50).error(), Error::InvalidCapability);  // Chunk 0: still absent.
  EXPECT_EQ(task.slot_chunk_pages, 2u);

  // No chunk can be made: the fill fails with the factory's error and nothing changes.
  kernel::chunks_allowed = 2;
  EXPECT_EQ(kernel::lookup_empty(task, 102).error(), Error::QuotaExceeded);
  EXPECT_EQ(directory[2], nullptr);
  EXPECT_EQ(kernel::lookup(task, 102).error(), Error::InvalidCapability);
  EXPECT_EQ(kernel::lookup_empty(task, 60).value(), first_of_one + 9);  // Made chunks still serve.
  EXPECT_EQ(task.slot_chunk_pages, 2u);

  remove(*first_of_one);
  remove(*last);
  EXPECT_EQ(kernel::destroyed, std::vector<KernelObject*>{&endpoint});
  kernel::chunks_allowed = ~klib::u64{0};
}
