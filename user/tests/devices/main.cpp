// devices: the driver-facing kernel objects against QEMU's real devices — device memory (a
// virtio-mmio transport), I/O ports and interrupts (the RTC's periodic interrupt on line 8), and
// notifications. Runs as the root task, which holds the Platform capability.
#include "../framework.hpp"

using namespace sys;
using test::Case;

namespace {

constexpr u64 VIRTIO_MMIO_BASE = 0xfeb00000;
constexpr u32 VIRTIO_MAGIC = 0x74726976;  // "virt", little-endian.
constexpr u64 MAP_ADDRESS = 0x60000000;
constexpr u64 RTC_INDEX = 0x70;
constexpr u64 RTC_DATA = 0x71;
constexpr u64 RTC_LINE = 8;
constexpr u8 RTC_REGISTER_B = 0x0b;
constexpr u8 RTC_REGISTER_C = 0x0c;
constexpr u8 RTC_PERIODIC_ENABLE = 0x40;
constexpr u64 ONE_SECOND = 1'000'000'000;

Platform platform(abi::ROOT_PLATFORM);
Factory factory(abi::ROOT_FACTORY);
Task self(abi::ROOT_TASK);
SlotAllocator slots(abi::ROOT_FIRST_FREE, abi::ROOT_CAPABILITY_SLOTS);

// A slot that is emptied and returned when the case ends.
class Slot {
 public:
  Slot() : selector_(slots.allocate().value()) {}
  ~Slot() {
    (void)Capability(selector_).remove();
    slots.free(selector_);
  }
  u64 operator*() const { return selector_; }

 private:
  u64 selector_;
};

Result<Notification> new_notification(u64 slot) {
  auto created = factory.create(ObjectType::Notification, slot);
  if (!created.ok()) return created.error();
  return Notification(slot);
}

void platform_refuses_ram_and_interrupt_controllers(Case& test) {
  Slot slot;
  EXPECT_ERROR(platform.create_mmio(*slot, 0x100000, 1, factory), Error::InvalidArgument);       // RAM.
  EXPECT_ERROR(platform.create_mmio(*slot, 0x8000, 1, factory), Error::InvalidArgument);         // First MiB.
  EXPECT_ERROR(platform.create_mmio(*slot, 0xfee00000, 1, factory), Error::InvalidArgument);     // Local APIC.
  EXPECT_ERROR(platform.create_mmio(*slot, 0xfec00000, 1, factory), Error::InvalidArgument);     // I/O APIC.
  EXPECT_ERROR(platform.create_mmio(*slot, 0xfec10000, 1, factory), Error::InvalidArgument);     // Second one.
  EXPECT_ERROR(platform.create_mmio(*slot, VIRTIO_MMIO_BASE + 4, 1, factory), Error::InvalidArgument);
  EXPECT_ERROR(platform.create_mmio(*slot, VIRTIO_MMIO_BASE, 0, factory), Error::InvalidArgument);
  EXPECT_ERROR(platform.create_mmio(*slot, ~u64{0} & ~u64{0xfff}, 2, factory), Error::InvalidArgument);
  EXPECT_ERROR(platform.create_mmio(abi::NULL_SELECTOR, VIRTIO_MMIO_BASE, 1, factory), Error::InvalidCapability);
  EXPECT_ERROR(Platform(abi::ROOT_CONSOLE).create_mmio(*slot, VIRTIO_MMIO_BASE, 1, factory), Error::WrongType);
}

void device_memory_shows_the_virtio_transport(Case& test) {
  Slot slot;
  Memory registers = REQUIRE_OK(platform.create_mmio(*slot, VIRTIO_MMIO_BASE, 1, factory));
  auto identity = REQUIRE_OK(registers.identify());
  EXPECT_EQ(identity.rights, abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write));
  EXPECT_ERROR(self.map(registers, 0, MAP_ADDRESS, 1, abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Execute)),
               Error::NoRights);
  REQUIRE_OK(self.map(registers, 0, MAP_ADDRESS, 1, abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write)));
  auto* words = reinterpret_cast<volatile u32*>(MAP_ADDRESS);
  EXPECT_EQ(words[0], VIRTIO_MAGIC);
  EXPECT(words[1] == 1 || words[1] == 2);  // Legacy or modern transport.
  EXPECT_OK(self.unmap(MAP_ADDRESS, 1));
}

void io_ports_reach_only_their_range(Case& test) {
  Slot slot;
  IoPorts rtc = REQUIRE_OK(platform.create_io_ports(*slot, RTC_INDEX, 2, factory));
  EXPECT_OK(rtc.write(RTC_INDEX, 1, RTC_REGISTER_B));
  auto value = rtc.read(RTC_DATA, 1);
  EXPECT_OK(value);
  EXPECT_ERROR(rtc.read(RTC_DATA + 1, 1), Error::InvalidArgument);
  EXPECT_ERROR(rtc.read(RTC_DATA, 2), Error::InvalidArgument);  // Would reach 0x72.
  EXPECT_ERROR(rtc.read(RTC_INDEX, 3), Error::InvalidArgument);
  EXPECT_ERROR(rtc.write(RTC_INDEX - 1, 1, 0), Error::InvalidArgument);
  Slot other;
  EXPECT_ERROR(platform.create_io_ports(*other, 0x3f8, 1, factory), Error::InvalidArgument);  // Console.
  EXPECT_ERROR(platform.create_io_ports(*other, 0x40, 1, factory), Error::InvalidArgument);   // PIT.
  EXPECT_ERROR(platform.create_io_ports(*other, 0xf4, 1, factory), Error::InvalidArgument);   // Exit port.
  EXPECT_ERROR(platform.create_io_ports(*other, 0xfff0, 0x20, factory), Error::InvalidArgument);
  EXPECT_ERROR(platform.create_io_ports(*other, 0x70, 0, factory), Error::InvalidArgument);
  // Read-only copy: writes need the Write right.
  Slot reduced;
  REQUIRE_OK(rtc.copy_to(*reduced, abi::rights_of(abi::IoPortsRight::Read)));
  EXPECT_ERROR(IoPorts(*reduced).write(RTC_INDEX, 1, RTC_REGISTER_B), Error::NoRights);
  EXPECT_OK(IoPorts(*reduced).read(RTC_DATA, 1));
}

void notification_bits_accumulate_and_clear(Case& test) {
  Slot slot;
  Notification notification = REQUIRE_OK(new_notification(*slot));
  EXPECT_ERROR(notification.wait(0), Error::Timeout);
  EXPECT_OK(notification.signal(0b001));
  EXPECT_OK(notification.signal(0b100));
  auto bits = notification.wait(0);
  EXPECT_OK(bits);
  if (bits.ok()) EXPECT_EQ(bits.value(), 0b101);
  EXPECT_ERROR(notification.wait(1'000'000), Error::Timeout);  // 1 ms, nothing pending.
  EXPECT_ERROR(notification.signal(0), Error::InvalidArgument);
  for (u32 mask = 0; mask < 4; ++mask) {
    Slot copy;
    REQUIRE_OK(notification.copy_to(*copy, mask));
    Notification limited(*copy);
    bool can_signal = (mask & abi::rights_of(abi::NotificationRight::Signal)) != 0;
    bool can_wait = (mask & abi::rights_of(abi::NotificationRight::Wait)) != 0;
    EXPECT_ERROR(limited.signal(1), can_signal ? Error::None : Error::NoRights);
    EXPECT_ERROR(limited.wait(0), can_wait ? (can_signal ? Error::None : Error::Timeout) : Error::NoRights);
    (void)notification.wait(0);
  }
}

// Programs the RTC's periodic interrupt (1024 Hz by default) on or off; reading register C
// acknowledges a pending RTC interrupt.
Result<void> rtc_periodic(IoPorts rtc, bool enable) {
  TRY_VOID(rtc.write(RTC_INDEX, 1, RTC_REGISTER_B));
  u64 register_b = TRY(rtc.read(RTC_DATA, 1));
  register_b = enable ? (register_b | RTC_PERIODIC_ENABLE) : (register_b & ~u64{RTC_PERIODIC_ENABLE});
  TRY_VOID(rtc.write(RTC_INDEX, 1, RTC_REGISTER_B));
  TRY_VOID(rtc.write(RTC_DATA, 1, register_b));
  TRY_VOID(rtc.write(RTC_INDEX, 1, RTC_REGISTER_C));
  TRY(rtc.read(RTC_DATA, 1));
  return {};
}

void rtc_interrupts_arrive_as_notification_bits(Case& test) {
  Slot ports_slot, irq_slot, notification_slot, second_slot;
  IoPorts rtc = REQUIRE_OK(platform.create_io_ports(*ports_slot, RTC_INDEX, 2, factory));
  Irq irq = REQUIRE_OK(platform.create_irq(*irq_slot, RTC_LINE, 0, factory));
  Notification notification = REQUIRE_OK(new_notification(*notification_slot));
  EXPECT_ERROR(platform.create_irq(*second_slot, RTC_LINE, 0, factory), Error::Busy);
  EXPECT_ERROR(irq.bind(notification, 0), Error::InvalidArgument);
  REQUIRE_OK(irq.bind(notification, 0x100));
  REQUIRE_OK(rtc_periodic(rtc, true));
  for (int round = 0; round < 3; ++round) {
    auto bits = notification.wait(ONE_SECOND);
    EXPECT_OK(bits);
    if (bits.ok()) EXPECT_EQ(bits.value(), 0x100);
    // Acknowledge at the device (register C), then at the kernel (unmask the line).
    EXPECT_OK(rtc.write(RTC_INDEX, 1, RTC_REGISTER_C));
    EXPECT_OK(rtc.read(RTC_DATA, 1));
    EXPECT_OK(irq.acknowledge());
  }
  EXPECT_OK(rtc_periodic(rtc, false));
  EXPECT_OK(irq.bind(Notification(abi::NULL_SELECTOR), 0));
}

void irq_lines_are_validated_and_freed_with_their_object(Case& test) {
  Slot slot;
  EXPECT_ERROR(platform.create_irq(*slot, 0, 0, factory), Error::InvalidArgument);
  EXPECT_ERROR(platform.create_irq(*slot, 48, 0, factory), Error::InvalidArgument);
  // microvm's second I/O APIC (lines 24-47) carries the virtio-mmio transports.
  Slot second_chip;
  EXPECT_OK(platform.create_irq(*second_chip, 47, 0, factory));
  EXPECT_ERROR(platform.create_irq(*slot, 9, 4, factory), Error::InvalidArgument);
  Irq irq = REQUIRE_OK(platform.create_irq(*slot, 9, 3, factory));
  EXPECT_OK(irq.remove());
  EXPECT_OK(platform.create_irq(*slot, 9, 0, factory));  // The line is free again.
}

void device_objects_are_charged_to_the_named_factory(Case& test) {
  Slot child_slot, ports_slot;
  Factory child = REQUIRE_OK(factory.create_factory(*child_slot, 64));
  EXPECT_ERROR(platform.create_io_ports(*ports_slot, 0x70, 2, child), Error::QuotaExceeded);
  Slot bigger_slot;
  Factory bigger = REQUIRE_OK(factory.create_factory(*bigger_slot, 4096));
  EXPECT_OK(platform.create_io_ports(*ports_slot, 0x70, 2, bigger));
  auto quota = REQUIRE_OK(bigger.info());
  EXPECT(quota.used_bytes > 0);
  EXPECT_OK(Capability(*ports_slot).remove());
  auto after = REQUIRE_OK(bigger.info());
  EXPECT_EQ(after.used_bytes, 0);
}

void dma_memory_is_contiguous_and_its_addresses_are_platform_only(Case& test) {
  Slot slot, other;
  Memory dma = REQUIRE_OK(platform.create_dma_memory(*slot, 4, factory));
  u64 first = REQUIRE_OK(platform.physical_address(dma, 0));
  EXPECT_EQ(first % 4096, 0);
  for (u64 page = 1; page < 4; ++page) {
    auto address = platform.physical_address(dma, page);
    EXPECT_OK(address);
    if (address.ok()) EXPECT_EQ(address.value(), first + page * 4096);
  }
  EXPECT_ERROR(platform.physical_address(dma, 4), Error::InvalidArgument);
  EXPECT_ERROR(platform.physical_address(Memory(abi::ROOT_CONSOLE), 0), Error::WrongType);
  EXPECT_ERROR(platform.create_dma_memory(*other, 0, factory), Error::InvalidArgument);
  EXPECT_ERROR(platform.create_dma_memory(*other, 513, factory), Error::InvalidArgument);
  // Ordinary memory also has physical pages, but only a Platform holder may learn them.
  Memory plain = REQUIRE_OK(factory.create_memory(*other, 1));
  EXPECT_OK(platform.physical_address(plain, 0));
  EXPECT_ERROR(Platform(abi::ROOT_FACTORY).physical_address(plain, 0), Error::WrongType);
  // DMA memory is ordinary memory to map: write, read back.
  REQUIRE_OK(self.map(dma, 0, MAP_ADDRESS, 4, abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write)));
  auto* words = reinterpret_cast<volatile u64*>(MAP_ADDRESS);
  EXPECT_EQ(words[0], 0);
  words[511] = 0x1234;
  EXPECT_EQ(words[511], 0x1234);
  EXPECT_OK(self.unmap(MAP_ADDRESS, 4));
}

const test::TestEntry tests[] = {
    {"platform_refuses_ram_and_interrupt_controllers", platform_refuses_ram_and_interrupt_controllers},
    {"device_memory_shows_the_virtio_transport", device_memory_shows_the_virtio_transport},
    {"io_ports_reach_only_their_range", io_ports_reach_only_their_range},
    {"notification_bits_accumulate_and_clear", notification_bits_accumulate_and_clear},
    {"rtc_interrupts_arrive_as_notification_bits", rtc_interrupts_arrive_as_notification_bits},
    {"irq_lines_are_validated_and_freed_with_their_object", irq_lines_are_validated_and_freed_with_their_object},
    {"device_objects_are_charged_to_the_named_factory", device_objects_are_charged_to_the_named_factory},
    {"dma_memory_is_contiguous_and_its_addresses_are_platform_only",
     dma_memory_is_contiguous_and_its_addresses_are_platform_only},
};

}  // namespace

extern "C" void metteagle_main(u64) {
  Console console(abi::ROOT_CONSOLE);
  printf(console, "# devices: %zu cases\n", sizeof(tests) / sizeof(tests[0]));
  test::run_all(console, tests, sizeof(tests) / sizeof(tests[0]));
}
