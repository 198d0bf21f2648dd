// I/O APIC: routes device interrupt lines to vectors on the boot CPU.
// Invariant: every line is masked unless the kernel unmasked it for a bound Irq object; line n
// always uses vector VECTOR_FIRST_DEVICE + n.
#include "arch/x86_64/ioapic.hpp"

#include "arch/x86_64/platform.hpp"

namespace arch {
namespace {

constexpr u64 IOAPIC_PHYSICAL = 0xfec00000;
constexpr u32 REDIRECTION_TABLE = 0x10;
constexpr u64 MASKED = 1ull << 16;
constexpr u64 LEVEL_TRIGGERED = 1ull << 15;
constexpr u64 ACTIVE_LOW = 1ull << 13;

u64 routes[IOAPIC_LINES];

void write_register(u32 index, u32 value) {
  auto* base = reinterpret_cast<volatile u32*>(physical_to_virtual(IOAPIC_PHYSICAL));
  base[0] = index;
  base[4] = value;  // The data window is at offset 0x10.
}

void write_route(u32 line, u64 route) {
  routes[line] = route;
  write_register(REDIRECTION_TABLE + 2 * line + 1, static_cast<u32>(route >> 32));
  write_register(REDIRECTION_TABLE + 2 * line, static_cast<u32>(route));
}

}  // namespace

void ioapic_init() {
  for (u32 line = 0; line < IOAPIC_LINES; ++line) write_route(line, MASKED | (VECTOR_FIRST_DEVICE + line));
}

void ioapic_configure(u32 line, bool level_triggered, bool active_low) {
  u64 route = MASKED | (VECTOR_FIRST_DEVICE + line);  // Destination: APIC ID 0, the boot CPU.
  if (level_triggered) route |= LEVEL_TRIGGERED;
  if (active_low) route |= ACTIVE_LOW;
  write_route(line, route);
}

void ioapic_mask(u32 line) { write_route(line, routes[line] | MASKED); }
void ioapic_unmask(u32 line) { write_route(line, routes[line] & ~MASKED); }

}  // namespace arch
