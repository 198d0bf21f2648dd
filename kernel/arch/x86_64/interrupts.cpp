// Interrupt controllers and clocks: legacy PIC masked, local APIC on, TSC and APIC timer
// calibrated against PIT channel 0.
// Invariant: after interrupt_controller_init the 8259 delivers nothing (firmware leaves IRQ 0 on
// vector 8, which would look like a double fault), and apic_hertz_ and calibrated_tsc_hertz are non-zero.
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/local_apic.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/console.hpp"

namespace arch {

u64 calibrated_tsc_hertz = 0;

namespace {

using local_apic::EOI;
using local_apic::LVT_TIMER;
using local_apic::SPURIOUS;
using local_apic::TIMER_CURRENT;
using local_apic::TIMER_DIVIDE;
using local_apic::TIMER_INITIAL;
constexpr u32 APIC_LVT_MASKED = 1 << 16;
constexpr u32 APIC_TIMER_PERIODIC = 1 << 17;
constexpr u32 APIC_DIVIDE_BY_1 = 0x0b;

constexpr u32 PIT_HERTZ = 1193182;
constexpr u16 PIT_CHANNEL0 = 0x40;
constexpr u16 PIT_COMMAND = 0x43;
// Calibration measures windows of this length until two in a row agree (at most
// CALIBRATION_ROUNDS): a window stretched because the host did not run this vCPU for a while
// (QEMU under load) reads too many ticks, and such a stretch rarely hits two windows alike.
constexpr u32 CALIBRATION_MILLISECONDS = 5;
constexpr u32 CALIBRATION_ROUNDS = 6;
constexpr u64 AGREEMENT_PER_MILLE = 5;
// Used only when no PIT answers; under TCG the APIC timer and TSC were seen to run at 1 GHz.
constexpr u64 FALLBACK_HERTZ = 1'000'000'000;

u64 apic_hertz_ = 0;
volatile u64 ticks_ = 0;

void mask_legacy_pic() {
  // Remap both 8259s to vectors 0x20-0x2f first so a stray interrupt cannot alias an exception,
  // then mask every line.
  out8(0x20, 0x11);
  out8(0xa0, 0x11);
  out8(0x21, 0x20);
  out8(0xa1, 0x28);
  out8(0x21, 0x04);
  out8(0xa1, 0x02);
  out8(0x21, 0x01);
  out8(0xa1, 0x01);
  out8(0x21, 0xff);
  out8(0xa1, 0xff);
}

// Starts a PIT one-shot (mode 0) of the given length and waits for its OUT pin through the
// read-back status command (microvm has no port 0x61). False if no PIT is behind the ports: the
// status must show the mode just programmed (an absent device reads 0xff). OUT may already be
// high at the first look when the host paused this vCPU for longer than the window.
bool pit_wait(u32 milliseconds) {
  constexpr u8 STATUS_OUT = 0x80, STATUS_PROGRAMMING = 0x3f, PROGRAMMED = 0x30;  // Lo/hi bytes, mode 0, binary.
  u32 count = PIT_HERTZ / 1000 * milliseconds;
  out8(PIT_COMMAND, 0x30);  // Channel 0, low then high byte, mode 0, binary.
  out8(PIT_CHANNEL0, static_cast<u8>(count));
  out8(PIT_CHANNEL0, static_cast<u8>(count >> 8));
  for (;;) {
    out8(PIT_COMMAND, 0xe2);  // Read back: latch status of channel 0.
    u8 status = in8(PIT_CHANNEL0);
    if ((status & STATUS_PROGRAMMING) != PROGRAMMED) return false;
    if ((status & STATUS_OUT) != 0) return true;
    pause();
  }
}

struct Measurement {
  u64 tsc;
  u64 apic;
};

// TSC and APIC timer ticks in one PIT window; false without a PIT.
bool measure(Measurement& result) {
  local_apic::reg(TIMER_INITIAL) = 0xffffffff;
  u64 tsc_start = read_tsc();
  bool have_pit = pit_wait(CALIBRATION_MILLISECONDS);
  u64 tsc_end = read_tsc();
  u32 apic_elapsed = 0xffffffff - local_apic::reg(TIMER_CURRENT);
  local_apic::reg(TIMER_INITIAL) = 0;
  result = {tsc_end - tsc_start, apic_elapsed};
  return have_pit;
}

void calibrate() {
  local_apic::reg(TIMER_DIVIDE) = APIC_DIVIDE_BY_1;
  local_apic::reg(LVT_TIMER) = APIC_LVT_MASKED | VECTOR_TIMER;
  Measurement best{}, previous{};
  for (u32 round = 0; round < CALIBRATION_ROUNDS; ++round) {
    Measurement now{};
    if (!measure(now)) {
      kernel::log("clock: no PIT found, assuming %lu Hz for TSC and APIC timer\n", FALLBACK_HERTZ);
      calibrated_tsc_hertz = apic_hertz_ = FALLBACK_HERTZ;
      return;
    }
    // The shortest window is the least disturbed one.
    if (round == 0 || now.tsc < best.tsc) best = now;
    u64 difference = now.tsc > previous.tsc ? now.tsc - previous.tsc : previous.tsc - now.tsc;
    if (round > 0 && difference * 1000 <= AGREEMENT_PER_MILLE * best.tsc) break;
    previous = now;
  }
  calibrated_tsc_hertz = best.tsc * (1000 / CALIBRATION_MILLISECONDS);
  apic_hertz_ = best.apic * (1000 / CALIBRATION_MILLISECONDS);
}

}  // namespace

void interrupt_controller_init() {
  mask_legacy_pic();
  u64 apic_base = read_msr(0x1b);
  write_msr(0x1b, apic_base | (1 << 11));  // Global APIC enable.
  local_apic::reg(SPURIOUS) = 0x100 | VECTOR_SPURIOUS;
  calibrate();
}

void interrupt_controller_init_ap() {
  u64 apic_base = read_msr(0x1b);
  write_msr(0x1b, apic_base | (1 << 11));
  local_apic::reg(SPURIOUS) = 0x100 | VECTOR_SPURIOUS;
}

void timer_start_periodic(u32 hertz) {
  local_apic::reg(TIMER_DIVIDE) = APIC_DIVIDE_BY_1;
  local_apic::reg(LVT_TIMER) = APIC_TIMER_PERIODIC | VECTOR_TIMER;
  local_apic::reg(TIMER_INITIAL) = static_cast<u32>(apic_hertz_ / hertz);
}

void end_of_interrupt() { local_apic::reg(EOI) = 0; }
u64 timer_ticks() { return ticks_; }
u64 apic_timer_hertz() { return apic_hertz_; }

void count_timer_tick() { ticks_ = ticks_ + 1; }

}  // namespace arch
