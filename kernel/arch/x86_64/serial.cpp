// 16550 UART on COM1: the kernel console. Polled output; nothing buffers, so a panic's last words arrive.
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"

namespace arch {
namespace {
constexpr u16 COM1 = 0x3f8;
constexpr u8 LINE_STATUS_TRANSMIT_EMPTY = 0x20;
}  // namespace

void serial_init() {
  out8(COM1 + 1, 0x00);  // No UART interrupts.
  out8(COM1 + 3, 0x80);  // Divisor latch access.
  out8(COM1 + 0, 0x01);  // 115200 baud.
  out8(COM1 + 1, 0x00);
  out8(COM1 + 3, 0x03);  // 8 data bits, no parity, one stop bit.
  out8(COM1 + 2, 0xc7);  // FIFO on, cleared.
  out8(COM1 + 4, 0x03);  // DTR and RTS.
}

void serial_write(const char* text, usize length) {
  for (usize i = 0; i < length; ++i) {
    if (text[i] == '\n') {
      while ((in8(COM1 + 5) & LINE_STATUS_TRANSMIT_EMPTY) == 0) pause();
      out8(COM1, '\r');
    }
    while ((in8(COM1 + 5) & LINE_STATUS_TRANSMIT_EMPTY) == 0) pause();
    out8(COM1, static_cast<u8>(text[i]));
  }
}

[[noreturn]] void qemu_exit(u8 code) {
  // isa-debug-exit at 0xf4: QEMU exits with status (code << 1) | 1. Without the device the
  // write is ignored and the CPU halts instead.
  out8(0xf4, code);
  halt_forever();
}

}  // namespace arch
