// I/O APIC interface: device interrupt lines to vectors VECTOR_FIRST_DEVICE + line.
#pragma once

#include "lib/types.hpp"

namespace arch {
using namespace klib;

constexpr u32 IOAPIC_LINES = 48;  // Two I/O APICs of 24 lines at most.
constexpr u8 VECTOR_FIRST_DEVICE = 0x30;

void ioapic_init();  // Finds the I/O APICs present; every line masked.
bool ioapic_line_present(u32 line);
void ioapic_configure(u32 line, bool level_triggered, bool active_low);  // Leaves it masked.
void ioapic_mask(u32 line);
void ioapic_unmask(u32 line);

}  // namespace arch
