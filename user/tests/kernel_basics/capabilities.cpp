// Cases for the capability operations: DebugWrite's pointer checks, Identify, Copy (rights only
// shrink, badges are set once), Delete, and the errors for empty and out-of-range selectors.
#include "environment.hpp"

namespace kernel_basics {
namespace {

constexpr u32 ENDPOINT_SEND = abi::rights_of(abi::EndpointRight::Send);
constexpr u32 ENDPOINT_RECEIVE = abi::rights_of(abi::EndpointRight::Receive);
constexpr u32 ENDPOINT_GRANT = abi::rights_of(abi::EndpointRight::Grant);

void debug_write_prints_valid_text(Case& test) {
  static const char text[] = "# DebugWrite from user space\n";
  EXPECT_OK(environment().console.write(text, sizeof text - 1));
  EXPECT_OK(environment().console.write(text, 0));
}

// Every address a user may not read must be refused with InvalidArgument, and the kernel must
// survive: null, unmapped, non-canonical, the kernel half, and ranges that wrap or leave user space.
void debug_write_rejects_bad_pointers(Case& test) {
  Console console = environment().console;
  EXPECT_ERROR(console.write(nullptr, 16), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(0x1000), 16), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(abi::USER_SPACE_END), 16), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(0xffff800000000000), 16), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(0xffffffff80000000), 16), Error::InvalidArgument);
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(abi::USER_SPACE_END - 8), 16), Error::InvalidArgument);
  static const char text[] = "x";
  EXPECT_ERROR(console.write(text, ~u64{0}), Error::InvalidArgument);
  EXPECT_ERROR(console.write(text, u64{1} << 40), Error::InvalidArgument);
  // One byte more than the limit of 4096, from readable memory (the program's own text).
  EXPECT_ERROR(console.write(reinterpret_cast<const char*>(0x400000), 4097), Error::InvalidArgument);
}

void expect_identity(Case& test, u64 selector, ObjectType type, u32 rights, bool exact_rights) {
  auto info = Capability(selector).identify();
  if (!info.ok()) {
    test.fail(__FILE__, __LINE__, "identify(%lu) failed with %s", selector, error_name(info.error()));
    return;
  }
  EXPECT_EQ(info->type, type);
  EXPECT_EQ(info->badge, 0);
  if (exact_rights) {
    EXPECT_EQ(info->rights, rights);
  } else {
    EXPECT_EQ(info->rights & ~abi::full_rights(type), 0);
  }
}

// The root task gets full rights on its own objects (the console: Write and Exit); a child gets
// what its configuration names, so only the types are checked exactly there.
void identify_reports_standard_selectors(Case& test) {
  bool exact = environment().is_root;
  expect_identity(test, SELF_TASK, ObjectType::Task, abi::full_rights(ObjectType::Task), exact);
  expect_identity(test, SELF_THREAD, ObjectType::Thread, abi::full_rights(ObjectType::Thread), exact);
  expect_identity(test, OWN_FACTORY, ObjectType::Factory, abi::full_rights(ObjectType::Factory), exact);
  expect_identity(test, CONSOLE, ObjectType::DebugConsole, abi::full_rights(ObjectType::DebugConsole), exact);
  if (!environment().is_root) return;
  expect_identity(test, abi::ROOT_PLATFORM, ObjectType::Platform, abi::full_rights(ObjectType::Platform), true);
  // Slots between the fixed ones are empty.
  EXPECT_ERROR(Capability(6).identify(), Error::InvalidCapability);
  const abi::RootBootInfo* boot = environment().boot_info;
  EXPECT(boot->module_count <= abi::RootBootInfo::MAX_MODULES);
  for (u64 index = 0; index < boot->module_count && index < abi::RootBootInfo::MAX_MODULES; ++index)
    expect_identity(test, boot->modules[index].selector, ObjectType::Memory, abi::rights_of(abi::MemoryRight::Read), true);
}

void empty_and_out_of_range_selectors_are_invalid(Case& test) {
  ScopedSlot empty(test);
  REQUIRE(empty.valid());
  const u64 selectors[] = {abi::NULL_SELECTOR, empty.selector(), environment().capability_slots, u64{1} << 20,
                           u64{1} << 63, ~u64{0}};
  for (u64 selector : selectors) {
    EXPECT_ERROR(Capability(selector).identify(), Error::InvalidCapability);
    EXPECT_ERROR(Capability(selector).copy_to(empty.selector()), Error::InvalidCapability);
    EXPECT_ERROR(Capability(selector).remove(), Error::InvalidCapability);
    EXPECT_ERROR(Capability(selector).revoke(), Error::InvalidCapability);
    EXPECT_ERROR(Console(selector).write("x", 1), Error::InvalidCapability);
    EXPECT_ERROR(Endpoint(selector).send(Message::make(1), DO_NOT_BLOCK), Error::InvalidCapability);
    EXPECT_ERROR(Factory(selector).info(), Error::InvalidCapability);
    EXPECT_ERROR(Task(selector).unmap(SCRATCH_MAPPING_ADDRESS, 1), Error::InvalidCapability);
  }
}

void copy_reduces_rights_and_never_adds_them(Case& test) {
  ScopedSlot original(test), reduced(test), widened(test), none(test);
  REQUIRE(original.valid() && reduced.valid() && widened.valid() && none.valid());
  REQUIRE_OK(environment().factory.create_endpoint(original.selector()));
  EXPECT_EQ(REQUIRE_OK(Capability(original.selector()).identify()).rights, abi::full_rights(ObjectType::Endpoint));

  EXPECT_OK(Capability(original.selector()).copy_to(reduced.selector(), ENDPOINT_SEND | ENDPOINT_GRANT));
  EXPECT_EQ(REQUIRE_OK(Capability(reduced.selector()).identify()).rights, ENDPOINT_SEND | ENDPOINT_GRANT);
  // Copying the reduced capability with every bit set must not bring Receive back.
  EXPECT_OK(Capability(reduced.selector()).copy_to(widened.selector(), abi::ALL_RIGHTS));
  auto widened_info = REQUIRE_OK(Capability(widened.selector()).identify());
  EXPECT_EQ(widened_info.type, ObjectType::Endpoint);
  EXPECT_EQ(widened_info.rights, ENDPOINT_SEND | ENDPOINT_GRANT);
  // A disjoint mask leaves a capability without rights, which is still a valid capability.
  EXPECT_OK(Capability(reduced.selector()).copy_to(none.selector(), ENDPOINT_RECEIVE));
  EXPECT_EQ(REQUIRE_OK(Capability(none.selector()).identify()).rights, 0);
}

void copy_destination_must_be_an_empty_valid_slot(Case& test) {
  ScopedSlot original(test);
  REQUIRE(original.valid());
  REQUIRE_OK(environment().factory.create_endpoint(original.selector()));
  Capability source(original.selector());
  EXPECT_ERROR(source.copy_to(CONSOLE), Error::SlotOccupied);
  EXPECT_ERROR(source.copy_to(original.selector()), Error::SlotOccupied);
  EXPECT_ERROR(source.copy_to(abi::NULL_SELECTOR), Error::InvalidCapability);
  EXPECT_ERROR(source.copy_to(environment().capability_slots), Error::InvalidCapability);
  EXPECT_ERROR(source.copy_to(~u64{0}), Error::InvalidCapability);
  // The console was not replaced by the failed copy.
  EXPECT_EQ(REQUIRE_OK(Capability(CONSOLE).identify()).type, ObjectType::DebugConsole);
}

// A badge is set once, on a copy of an unbadged endpoint capability; it can never be changed
// afterwards, and capabilities of other types never carry one.
void copy_sets_a_badge_once(Case& test) {
  ScopedSlot original(test), badged(test), rebadged(test), console_copy(test);
  REQUIRE(original.valid() && badged.valid() && rebadged.valid() && console_copy.valid());
  REQUIRE_OK(environment().factory.create_endpoint(original.selector()));
  EXPECT_EQ(REQUIRE_OK(Capability(original.selector()).identify()).badge, 0);
  EXPECT_OK(Capability(original.selector()).copy_to(badged.selector(), abi::ALL_RIGHTS, 0x42));
  EXPECT_EQ(REQUIRE_OK(Capability(badged.selector()).identify()).badge, 0x42);
  EXPECT_ERROR(Capability(badged.selector()).copy_to(rebadged.selector(), abi::ALL_RIGHTS, 0x43),
               Error::InvalidArgument);
  EXPECT_ERROR(Capability(CONSOLE).copy_to(console_copy.selector(), abi::ALL_RIGHTS, 0x44), Error::InvalidArgument);
  // Badge 0 keeps the source's badge.
  EXPECT_OK(Capability(badged.selector()).copy_to(rebadged.selector(), abi::ALL_RIGHTS, 0));
  EXPECT_EQ(REQUIRE_OK(Capability(rebadged.selector()).identify()).badge, 0x42);
  // The original stays unbadged.
  EXPECT_EQ(REQUIRE_OK(Capability(original.selector()).identify()).badge, 0);
}

void delete_empties_only_that_slot(Case& test) {
  ScopedSlot copy(test);
  REQUIRE(copy.valid());
  REQUIRE_OK(Capability(CONSOLE).copy_to(copy.selector(), abi::rights_of(abi::DebugConsoleRight::Write)));
  EXPECT_OK(Console(copy.selector()).write("", 0));
  EXPECT_OK(Capability(copy.selector()).remove());
  EXPECT_ERROR(Capability(copy.selector()).identify(), Error::InvalidCapability);
  EXPECT_ERROR(Console(copy.selector()).write("x", 1), Error::InvalidCapability);
  EXPECT_ERROR(Capability(copy.selector()).remove(), Error::InvalidCapability);
  // Deleting a copy leaves its source alone.
  EXPECT_EQ(REQUIRE_OK(Capability(CONSOLE).identify()).type, ObjectType::DebugConsole);
  // The emptied slot can be filled again.
  EXPECT_OK(Capability(CONSOLE).copy_to(copy.selector()));
}

void revoke_deletes_derived_capabilities(Case& test) {
  ScopedSlot original(test), child(test), grandchild(test);
  REQUIRE(original.valid() && child.valid() && grandchild.valid());
  REQUIRE_OK(environment().factory.create_endpoint(original.selector()));
  REQUIRE_OK(Capability(original.selector()).copy_to(child.selector()));
  REQUIRE_OK(Capability(child.selector()).copy_to(grandchild.selector()));
  EXPECT_OK(Capability(original.selector()).revoke());
  EXPECT_ERROR(Capability(child.selector()).identify(), Error::InvalidCapability);
  EXPECT_ERROR(Capability(grandchild.selector()).identify(), Error::InvalidCapability);
  EXPECT_EQ(REQUIRE_OK(Capability(original.selector()).identify()).type, ObjectType::Endpoint);
}

}  // namespace

extern const test::TestEntry CAPABILITY_TESTS[] = {
    {"debug_write_prints_valid_text", debug_write_prints_valid_text},
    {"debug_write_rejects_bad_pointers", debug_write_rejects_bad_pointers},
    {"identify_reports_standard_selectors", identify_reports_standard_selectors},
    {"empty_and_out_of_range_selectors_are_invalid", empty_and_out_of_range_selectors_are_invalid},
    {"copy_reduces_rights_and_never_adds_them", copy_reduces_rights_and_never_adds_them},
    {"copy_destination_must_be_an_empty_valid_slot", copy_destination_must_be_an_empty_valid_slot},
    {"copy_sets_a_badge_once", copy_sets_a_badge_once},
    {"delete_empties_only_that_slot", delete_empties_only_that_slot},
    {"revoke_deletes_derived_capabilities", revoke_deletes_derived_capabilities},
};
extern const usize CAPABILITY_TEST_COUNT = sizeof CAPABILITY_TESTS / sizeof CAPABILITY_TESTS[0];

}  // namespace kernel_basics
