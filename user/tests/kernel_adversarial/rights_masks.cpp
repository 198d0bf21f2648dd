// Cases that walk every rights mask of every object type (like seL4's ipc_rights test): derive
// a copy with the mask, call each operation, and expect success (or the operation's own error)
// exactly when the operation's rights are in the mask, NoRights otherwise.
#include "../support/local_thread.hpp"

namespace kernel_adversarial {
namespace {

using namespace support;

bool has(u32 mask, u32 needed) { return (mask & needed) == needed; }
Error expected_for(u32 mask, u32 needed, Error success = Error::None) { return has(mask, needed) ? success : Error::NoRights; }

// Runs body(copy_selector, mask) for every mask of `type`'s rights on a copy of `source`.
template <typename Body>
void for_every_mask(Case& test, u64 source, ObjectType type, Body body) {
  u32 full = abi::full_rights(type);
  for (u32 mask = 0; mask <= full; ++mask) {
    if ((mask & ~full) != 0) continue;
    ScopedSlot copy(test);
    if (!copy.valid()) return;
    if (!Capability(source).copy_to(copy.selector(), mask).ok()) {
      test.fail(__FILE__, __LINE__, "copy with mask %#x failed", mask);
      return;
    }
    // Operations that need no right work on every copy.
    auto info = Capability(copy.selector()).identify();
    if (!info.ok() || info->rights != mask || info->type != type)
      test.fail(__FILE__, __LINE__, "identify of the copy with mask %#x is wrong", mask);
    body(copy.selector(), mask);
    if (test.failed()) {
      test.fail(__FILE__, __LINE__, "with rights mask %#x", mask);
      return;
    }
  }
}

void task_rights(Case& test) {
  Environment& own = environment();
  ScopedSlot memory_slot(test), child_slot(test);
  REQUIRE(memory_slot.valid() && child_slot.valid());
  Memory memory = REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), 1));
  Task child = REQUIRE_OK(own.factory.create_task(child_slot.selector(), 16));
  constexpr u32 MAP = abi::rights_of(abi::TaskRight::Map);
  constexpr u32 CAPABILITIES = abi::rights_of(abi::TaskRight::Capabilities);
  for_every_mask(test, child.selector(), ObjectType::Task, [&](u64 copy, u32 mask) {
    Task task(copy);
    EXPECT_ERROR(task.map(memory, 0, 0x100000, 1, MEMORY_READ), expected_for(mask, MAP));
    EXPECT_ERROR(task.unmap(0x100000, 1), expected_for(mask, MAP));
    // A fresh destination per mask: a capability given into another task cannot be taken back.
    EXPECT_ERROR(task.give(Capability(CONSOLE), 2 + mask, 0), expected_for(mask, CAPABILITIES));
    EXPECT_ERROR(child.give(Capability(CONSOLE), 2 + mask, 0), has(mask, CAPABILITIES) ? Error::SlotOccupied : Error::None);
    (void)child.unmap(0x100000, 1);
  });
}

void thread_rights(Case& test) {
  Environment& own = environment();
  ScopedSlot task_slot(test);
  REQUIRE(task_slot.valid());
  Task task = REQUIRE_OK(own.factory.create_task(task_slot.selector(), 16));
  constexpr u32 CONTROL = abi::rights_of(abi::ThreadRight::Control);
  for (u32 mask = 0; mask <= abi::full_rights(ObjectType::Thread); ++mask) {
    ScopedSlot thread_slot(test), copy(test);
    REQUIRE(thread_slot.valid() && copy.valid());
    Thread thread = REQUIRE_OK(own.factory.create_thread(thread_slot.selector(), task, 0x10000));
    REQUIRE_OK(thread.copy_to(copy.selector(), mask));
    Thread limited(copy.selector());
    Error expected = expected_for(mask, CONTROL);
    EXPECT_ERROR(limited.configure(0, 0, 0), expected);
    // The empty task has no code: the started thread faults at once and ends (no handler).
    EXPECT_ERROR(limited.start(0x1000, 0x2000, 0), expected);
    EXPECT_ERROR(thread.start(0x1000, 0x2000, 0), has(mask, CONTROL) ? Error::Busy : Error::None);
    // Interrupt alone reaches the thread (thread_interrupt.cpp walks it with ThreadInterrupt).
    EXPECT_EQ(invoke(abi::Syscall::ThreadInterrupt, copy.selector()),
              has(mask, abi::rights_of(abi::ThreadRight::Interrupt)) ? Error::None : Error::NoRights);
    pause_for(1'000'000);
  }
}

void memory_rights(Case& test) {
  Environment& own = environment();
  ScopedSlot memory_slot(test);
  REQUIRE(memory_slot.valid());
  REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), 1));
  for_every_mask(test, memory_slot.selector(), ObjectType::Memory, [&](u64 copy, u32 mask) {
    // Every requested combination, the malformed ones included: those fail on their own.
    for (u32 requested = 0; requested < 16; ++requested) {
      // The kernel's order: malformed bits first, then the capability's rights, then W^X.
      bool malformed = (requested & MEMORY_READ) == 0 || requested >= 8;
      bool write_and_execute = (requested & MEMORY_WRITE) != 0 && (requested & MEMORY_EXECUTE) != 0;
      Error expected = malformed ? Error::InvalidArgument
                       : !has(mask, requested) ? Error::NoRights
                       : write_and_execute ? Error::InvalidArgument
                                           : Error::None;
      EXPECT_ERROR(own.self_task.map(Memory(copy), 0, SCRATCH_MAPPING_ADDRESS, 1, requested), expected);
      if (expected == Error::None) {
        EXPECT_OK(own.self_task.unmap(SCRATCH_MAPPING_ADDRESS, 1));
      }
    }
  });
}

void factory_rights(Case& test) {
  ScopedSlot factory_slot(test);
  REQUIRE(factory_slot.valid());
  REQUIRE_OK(environment().factory.create_factory(factory_slot.selector(), 64 * 1024));
  constexpr u32 CREATE = abi::rights_of(abi::FactoryRight::Create);
  constexpr u32 OBSERVE = abi::rights_of(abi::FactoryRight::Observe);
  for_every_mask(test, factory_slot.selector(), ObjectType::Factory, [&](u64 copy, u32 mask) {
    ScopedSlot created(test);
    EXPECT_ERROR(Factory(copy).create_endpoint(created.selector()), expected_for(mask, CREATE));
    // The machine's free memory only with Observe; without, FactoryInfo still answers the quota.
    auto info = Factory(copy).info();
    EXPECT(info.ok() && info->quota_bytes == 64 * 1024);
    EXPECT(info.ok() && (has(mask, OBSERVE) ? info->machine_free_bytes > 0 : info->machine_free_bytes == 0));
    // A factory made through this copy has Observe only if the copy had it.
    if (has(mask, CREATE)) {
      ScopedSlot child(test);
      EXPECT_OK(Factory(copy).create_factory(child.selector(), 4096));
      auto child_info = Capability(child.selector()).identify();
      EXPECT(child_info.ok() && has(child_info->rights, CREATE) && has(child_info->rights, OBSERVE) == has(mask, OBSERVE));
    }
  });
}

void debug_console_rights(Case& test) {
  constexpr u32 WRITE = abi::rights_of(abi::DebugConsoleRight::Write);
  constexpr u32 EXIT = abi::rights_of(abi::DebugConsoleRight::Exit);
  for_every_mask(test, CONSOLE, ObjectType::DebugConsole, [&](u64 copy, u32 mask) {
    static const char text[] = "# console rights probe\n";
    EXPECT_ERROR(Console(copy).write(text, sizeof text - 1), expected_for(mask, WRITE));
    // Exit is only tried where it must fail: with the right it would end the scenario (and the
    // failure code 0x11 keeps a kernel that exits anyway from passing).
    if (!has(mask, EXIT)) EXPECT_ERROR(Console(copy).exit(0x11), Error::NoRights);
  });
}

// Send, Receive and Grant, with a worker receiving: a call needs Send and a capability arrives
// only with Grant; Receive decides receive and reply-and-wait.
struct GrantProbe {
  u64 endpoint;
  u64 receive_slot;
};
GrantProbe grant_probe;

void grant_worker(u64) {
  Endpoint endpoint(grant_probe.endpoint);
  set_receive_slots(grant_probe.receive_slot);
  Message request;
  Message answer;
  if (!endpoint.receive(request, REPORT_TIMEOUT).ok()) return;
  while (request.label() != 0xff) {
    auto info = Capability(grant_probe.receive_slot).identify();
    answer = Message::make(1, {request.received_capabilities, request.tag.capabilities(),
                               info.ok() ? static_cast<u64>(info->type) : 0});
    (void)Capability(grant_probe.receive_slot).remove();
    if (!endpoint.reply_wait(answer, request, REPORT_TIMEOUT).ok()) return;
  }
  (void)reply(Message::make(0xff));
}

void endpoint_rights(Case& test) {
  Environment& own = environment();
  ScopedSlot endpoint_slot(test), receive_slot(test), quiet_slot(test);
  REQUIRE(endpoint_slot.valid() && receive_slot.valid() && quiet_slot.valid());
  Endpoint endpoint = REQUIRE_OK(own.factory.create_endpoint(endpoint_slot.selector()));
  REQUIRE_OK(own.factory.create_endpoint(quiet_slot.selector()));
  grant_probe = {endpoint.selector(), receive_slot.selector()};
  LocalThread worker;
  REQUIRE_OK(worker.create());
  REQUIRE_OK(worker.start(grant_worker, 0));
  for_every_mask(test, endpoint.selector(), ObjectType::Endpoint, [&](u64 copy, u32 mask) {
    Endpoint limited(copy);
    Message request = Message::make(1, {mask});
    request.attach(Capability(CONSOLE), abi::rights_of(abi::DebugConsoleRight::Write));
    Message answer;
    Error call = limited.call(request, answer, REPORT_TIMEOUT).error();
    EXPECT_ERROR(Result<void>(call), expected_for(mask, ENDPOINT_SEND));
    if (call == Error::None) {
      bool granted = has(mask, ENDPOINT_GRANT);
      EXPECT_EQ(answer.words[0], granted ? 1 : 0);  // received_capabilities
      EXPECT_EQ(answer.words[1], granted ? 1 : 0);  // the tag's capability count
      EXPECT_EQ(answer.words[2], granted ? static_cast<u64>(ObjectType::DebugConsole) : 0);
    }
    // Receive rights on a copy of the quiet endpoint (nobody sends there): Timeout or NoRights.
    ScopedSlot quiet_copy(test);
    REQUIRE(quiet_copy.valid());
    REQUIRE_OK(Capability(quiet_slot.selector()).copy_to(quiet_copy.selector(), mask));
    Endpoint quiet(quiet_copy.selector());
    EXPECT_ERROR(quiet.receive(answer, DO_NOT_BLOCK), expected_for(mask, ENDPOINT_RECEIVE, Error::Timeout));
    EXPECT_ERROR(quiet.reply_wait(Message::make(0), answer, DO_NOT_BLOCK), expected_for(mask, ENDPOINT_RECEIVE, Error::Timeout));
    EXPECT_ERROR(quiet.send(Message::make(1), DO_NOT_BLOCK), expected_for(mask, ENDPOINT_SEND, Error::Timeout));
  });
  Message answer;
  EXPECT_OK(endpoint.call(Message::make(0xff), answer, REPORT_TIMEOUT));
}

void reply_rights(Case& test) {
  ScopedSlot reply_slot(test);
  REQUIRE(reply_slot.valid());
  REQUIRE_OK(environment().factory.create(ObjectType::Reply, reply_slot.selector()));
  constexpr u32 REPLY = abi::rights_of(abi::ReplyRight::Reply);
  for_every_mask(test, reply_slot.selector(), ObjectType::Reply, [&](u64 copy, u32 mask) {
    // No caller waits and the object is empty: NotFound once the right is there.
    EXPECT_EQ(invoke(abi::Syscall::IpcSaveReply, copy), has(mask, REPLY) ? Error::NotFound : Error::NoRights);
    EXPECT_EQ(invoke(abi::Syscall::IpcReplyWith, copy), has(mask, REPLY) ? Error::NotFound : Error::NoRights);
  });
}

void notification_rights(Case& test) {
  ScopedSlot notification_slot(test);
  REQUIRE(notification_slot.valid());
  REQUIRE_OK(environment().factory.create(ObjectType::Notification, notification_slot.selector()));
  constexpr u32 SIGNAL = abi::rights_of(abi::NotificationRight::Signal);
  constexpr u32 WAIT = abi::rights_of(abi::NotificationRight::Wait);
  for_every_mask(test, notification_slot.selector(), ObjectType::Notification, [&](u64 copy, u32 mask) {
    Notification limited(copy);
    EXPECT_ERROR(limited.signal(0x4), expected_for(mask, SIGNAL));
    // The bit arrives only through a copy with Signal; a copy with Wait takes it, or times out.
    auto taken = limited.wait(DO_NOT_BLOCK);
    EXPECT_ERROR(taken, !has(mask, WAIT) ? Error::NoRights : has(mask, SIGNAL) ? Error::None : Error::Timeout);
    if (taken.ok()) EXPECT_EQ(taken.value(), 0x4);
    // Whatever a copy without Wait left pending goes, so the next mask starts empty.
    (void)Notification(notification_slot.selector()).wait(DO_NOT_BLOCK);
  });
}

Platform own_platform() { return Platform(abi::ROOT_PLATFORM); }

void platform_rights(Case& test) {
  Environment& own = environment();
  ScopedSlot memory_slot(test);
  REQUIRE(memory_slot.valid());
  Memory memory = REQUIRE_OK(own.factory.create_memory(memory_slot.selector(), 1));
  constexpr u32 DEVICES = abi::rights_of(abi::PlatformRight::Devices);
  for_every_mask(test, abi::ROOT_PLATFORM, ObjectType::Platform, [&](u64 copy, u32 mask) {
    Platform limited(copy);
    bool devices = has(mask, DEVICES);
    ScopedSlot created(test);
    REQUIRE(created.valid());
    // Malformed requests show that the right is checked first; one real creation shows it suffices.
    EXPECT_ERROR(limited.create_mmio(created.selector(), 0x100000, 1, own.factory),
                 devices ? Error::InvalidArgument : Error::NoRights);  // RAM.
    EXPECT_ERROR(limited.create_irq(created.selector(), 0, 0, own.factory),
                 devices ? Error::InvalidArgument : Error::NoRights);  // Line 0 is the kernel's.
    EXPECT_ERROR(limited.create_dma_memory(created.selector(), 0, own.factory),
                 devices ? Error::InvalidArgument : Error::NoRights);  // No pages.
    auto physical = limited.physical_address(memory, 0);
    EXPECT_ERROR(physical, devices ? Error::None : Error::NoRights);
    if (physical.ok()) EXPECT(physical.value() != 0 && physical.value() % 4096 == 0);
    EXPECT_ERROR(limited.create_io_ports(created.selector(), 0x80, 1, own.factory), expected_for(mask, DEVICES));
    EXPECT(slot_is_empty(created.selector()) != devices);
  });
}

void irq_rights(Case& test) {
  Environment& own = environment();
  ScopedSlot irq_slot(test), notification_slot(test);
  REQUIRE(irq_slot.valid() && notification_slot.valid());
  // Line 9: present on every machine the scenarios boot, and no test program binds it here.
  Irq irq = REQUIRE_OK(own_platform().create_irq(irq_slot.selector(), 9, 0, own.factory));
  REQUIRE_OK(own.factory.create(ObjectType::Notification, notification_slot.selector()));
  Notification notification(notification_slot.selector());
  constexpr u32 CONTROL = abi::rights_of(abi::IrqRight::Control);
  for_every_mask(test, irq.selector(), ObjectType::Irq, [&](u64 copy, u32 mask) {
    Irq limited(copy);
    EXPECT_ERROR(limited.bind(notification, 0x1), expected_for(mask, CONTROL));
    EXPECT_ERROR(limited.acknowledge(), expected_for(mask, CONTROL));
    EXPECT_ERROR(limited.bind(Notification(abi::NULL_SELECTOR), 0), expected_for(mask, CONTROL));
  });
}

void io_ports_rights(Case& test) {
  Environment& own = environment();
  ScopedSlot ports_slot(test);
  REQUIRE(ports_slot.valid());
  // Port 0x80, the POST diagnostic port: reading and writing it changes nothing the tests use.
  IoPorts ports = REQUIRE_OK(own_platform().create_io_ports(ports_slot.selector(), 0x80, 1, own.factory));
  constexpr u32 READ = abi::rights_of(abi::IoPortsRight::Read);
  constexpr u32 WRITE = abi::rights_of(abi::IoPortsRight::Write);
  for_every_mask(test, ports.selector(), ObjectType::IoPorts, [&](u64 copy, u32 mask) {
    IoPorts limited(copy);
    EXPECT_ERROR(limited.read(0x80, 1), expected_for(mask, READ));
    EXPECT_ERROR(limited.write(0x80, 1, 0x5a), expected_for(mask, WRITE));
    // Outside the range: the right is checked before the port.
    EXPECT_ERROR(limited.read(0x81, 1), has(mask, READ) ? Error::InvalidArgument : Error::NoRights);
    EXPECT_ERROR(limited.write(0x7f, 1, 0), has(mask, WRITE) ? Error::InvalidArgument : Error::NoRights);
  });
}

}  // namespace

extern const test::TestEntry RIGHTS_MASK_TESTS[] = {
    {"task_rights", task_rights},       {"thread_rights", thread_rights},
    {"memory_rights", memory_rights},   {"factory_rights", factory_rights},
    {"debug_console_rights", debug_console_rights}, {"endpoint_rights", endpoint_rights},
    {"reply_rights", reply_rights},     {"notification_rights", notification_rights},
    {"platform_rights", platform_rights}, {"irq_rights", irq_rights},
    {"io_ports_rights", io_ports_rights},
};
extern const usize RIGHTS_MASK_TEST_COUNT = sizeof RIGHTS_MASK_TESTS / sizeof RIGHTS_MASK_TESTS[0];

}  // namespace kernel_adversarial

