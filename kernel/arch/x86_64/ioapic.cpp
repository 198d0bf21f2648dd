// I/O APICs: route device interrupt lines (global system interrupts) to vectors on the boot CPU.
// microvm has one I/O APIC at 0xfec00000 (lines 0-23) and, unless `ioapic2=off`, a second at
// 0xfec10000 (lines 24-47) where its virtio-mmio transports are wired.
// Invariant: every line is masked unless the kernel unmasked it for a bound Irq object; line n
// always uses vector VECTOR_FIRST_DEVICE + n; lines of an absent I/O APIC are never touched.
#include "arch/x86_64/ioapic.hpp"

#include "arch/x86_64/platform.hpp"

namespace arch {
namespace {

constexpr u64 IOAPIC_PHYSICAL[] = {0xfec00000, 0xfec10000};
constexpr u32 LINES_PER_IOAPIC = 24;
constexpr u32 VERSION_REGISTER = 1;
constexpr u32 REDIRECTION_TABLE = 0x10;
constexpr u64 MASKED = 1ull << 16;
constexpr u64 LEVEL_TRIGGERED = 1ull << 15;
constexpr u64 ACTIVE_LOW = 1ull << 13;

u64 routes[IOAPIC_LINES];
u32 lines_present = 0;

volatile u32* registers_of(u32 line) {
  return reinterpret_cast<volatile u32*>(physical_to_virtual(IOAPIC_PHYSICAL[line / LINES_PER_IOAPIC]));
}

// What each chip's index register (IOREGSEL) holds: it is written only when another register is
// wanted. Every access is in this file, at boot or under the kernel lock. Under QEMU's TCG each
// register access is a trap that takes QEMU's global lock, and each device interrupt masks its
// line and the driver's IrqAcknowledge unmasks it: one access each instead of four.
u32 selected[sizeof(IOAPIC_PHYSICAL) / sizeof(IOAPIC_PHYSICAL[0])] = {~0u, ~0u};

void select(u32 line, volatile u32* base, u32 index) {
  u32& current = selected[line / LINES_PER_IOAPIC];
  if (current == index) return;
  base[0] = index;
  current = index;
}

u32 read_register(u32 line, u32 index) {
  volatile u32* base = registers_of(line);
  select(line, base, index);
  return base[4];  // The data window is at offset 0x10.
}

void write_route(u32 line, u64 route) {
  routes[line] = route;
  volatile u32* base = registers_of(line);
  u32 entry = line % LINES_PER_IOAPIC;
  select(line, base, REDIRECTION_TABLE + 2 * entry + 1);
  base[4] = static_cast<u32>(route >> 32);
  select(line, base, REDIRECTION_TABLE + 2 * entry);
  base[4] = static_cast<u32>(route);
}

// A change of the low half only (the mask bit): the destination in the high half stays.
void write_route_low(u32 line, u64 route) {
  routes[line] = route;
  volatile u32* base = registers_of(line);
  select(line, base, REDIRECTION_TABLE + 2 * (line % LINES_PER_IOAPIC));
  base[4] = static_cast<u32>(route);
}

}  // namespace

void ioapic_init() {
  // An I/O APIC answers its version register with a version in bits 0-7 and its last
  // redirection entry in bits 16-23; an absent one reads as all ones.
  for (u32 chip = 0; chip < sizeof(IOAPIC_PHYSICAL) / sizeof(IOAPIC_PHYSICAL[0]); ++chip) {
    u32 version = read_register(chip * LINES_PER_IOAPIC, VERSION_REGISTER);
    if (version == 0xffffffff || version == 0 || ((version >> 16) & 0xff) + 1 < LINES_PER_IOAPIC) break;
    lines_present = (chip + 1) * LINES_PER_IOAPIC;
  }
  for (u32 line = 0; line < lines_present; ++line) write_route(line, MASKED | (VECTOR_FIRST_DEVICE + line));
}

bool ioapic_line_present(u32 line) { return line < lines_present; }

void ioapic_configure(u32 line, bool level_triggered, bool active_low) {
  u64 route = MASKED | (VECTOR_FIRST_DEVICE + line);  // Destination: APIC ID 0, the boot CPU.
  if (level_triggered) route |= LEVEL_TRIGGERED;
  if (active_low) route |= ACTIVE_LOW;
  write_route(line, route);
}

void ioapic_mask(u32 line) { write_route_low(line, routes[line] | MASKED); }
void ioapic_unmask(u32 line) { write_route_low(line, routes[line] & ~MASKED); }

}  // namespace arch
