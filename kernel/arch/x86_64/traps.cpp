// trap_dispatch: the C++ side of every interrupt and exception; decodes the vector and hands
// the event to generic kernel code.
// Invariant: an exception in kernel mode that no hook claims ends in a panic with a register dump.
#include "abi/syscall.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/ioapic.hpp"
#include "arch/x86_64/platform.hpp"
#include "arch/x86_64/smp.hpp"
#include "core/console.hpp"
#include "core/kernel_lock.hpp"
#include "core/panic.hpp"
#include "core/syscall_support.hpp"
#include "core/trap_hooks.hpp"

extern "C" char checked_copy_access_words[], checked_copy_fault_words[], checked_copy_access[], checked_copy_fault[];

namespace arch {

const char* vector_name(u64 vector) {
  // A table: four names to a line.
  // clang-format off
  static const char* const names[] = {
      "divide error",       "debug",           "non-maskable interrupt", "breakpoint",
      "overflow",           "bound range",     "invalid opcode",         "device not available",
      "double fault",       "coprocessor",     "invalid TSS",            "segment not present",
      "stack fault",        "general protection", "page fault",          "reserved",
      "x87 floating point", "alignment check", "machine check",          "SIMD floating point",
      "virtualization",     "control protection",
  };
  // clang-format on
  if (vector < sizeof(names) / sizeof(names[0])) return names[vector];
  return vector < VECTOR_FIRST_EXTERNAL ? "reserved exception" : "interrupt";
}

void dump_frame(const TrapFrame& frame) {
  kernel::log("  vector %lu (%s) error %#lx\n", frame.vector, vector_name(frame.vector), frame.error_code);
  kernel::log("  rip %016lx cs %04lx rflags %016lx rsp %016lx ss %04lx\n", frame.rip, frame.cs, frame.rflags, frame.rsp,
              frame.ss);
  kernel::log("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n", frame.rax, frame.rbx, frame.rcx, frame.rdx);
  kernel::log("  rsi %016lx rdi %016lx rbp %016lx r8  %016lx\n", frame.rsi, frame.rdi, frame.rbp, frame.r8);
  kernel::log("  r9  %016lx r10 %016lx r11 %016lx r12 %016lx\n", frame.r9, frame.r10, frame.r11, frame.r12);
  kernel::log("  r13 %016lx r14 %016lx r15 %016lx cr2 %016lx\n", frame.r13, frame.r14, frame.r15, read_cr2());
}

}  // namespace arch

namespace arch {
namespace {
// External interrupts that reached a CPU while it was halted for the kernel lock, one bit per
// vector; that CPU handles them once the lock is its own (run_deferred_interrupts).
u64 deferred_vectors[MAX_CPUS][4];
}  // namespace

// The kernel's side of an external interrupt; the caller holds the kernel lock.
void handle_external_interrupt(u64 vector) {
  if (vector == VECTOR_TIMER) {
    count_timer_tick();
    kernel::on_timer_tick();
  } else if (vector >= VECTOR_FIRST_DEVICE && vector < VECTOR_FIRST_DEVICE + IOAPIC_LINES) {
    kernel::on_device_interrupt(static_cast<u32>(vector - VECTOR_FIRST_DEVICE));
  } else if (vector != VECTOR_RESCHEDULE) {
    // A reschedule request needs no work here: the sender marked this CPU, the exit path acts.
    kernel::log("trap: unexpected interrupt vector %lu\n", vector);
  }
}

void run_deferred_interrupts() {
  u64* pending = deferred_vectors[this_cpu().index];
  for (u32 word = 0; word < 4; ++word) {
    while (pending[word] != 0) {
      u32 bit = static_cast<u32>(__builtin_ctzll(pending[word]));
      pending[word] &= pending[word] - 1;
      handle_external_interrupt(word * 64 + bit);
    }
  }
}

}  // namespace arch

extern "C" void trap_dispatch(arch::TrapFrame* frame) {
  using namespace arch;
  bool from_user = (frame->cs & 3) != 0;
  if (frame->vector == VECTOR_SPURIOUS) return;
  if (frame->vector == VECTOR_SHOOTDOWN) {
    // Answered without the kernel lock: its sender holds it and waits for us.
    handle_shootdown(this_cpu().index);
    end_of_interrupt();
    return;
  }
  if (frame->vector == VECTOR_WAKE) {
    end_of_interrupt();  // Its work was to end a halt in the kernel lock's wait.
    return;
  }
  if (frame->vector >= VECTOR_FIRST_EXTERNAL) {
    end_of_interrupt();
    if (kernel::kernel_lock_halted_here()) {
      // This CPU halted in the kernel lock's wait (it may even be next in line): taking the lock
      // here would wait behind itself. The event is handled once the lock is this CPU's.
      deferred_vectors[this_cpu().index][frame->vector / 64] |= u64{1} << (frame->vector % 64);
      return;
    }
    kernel::kernel_lock_acquire();
    handle_external_interrupt(frame->vector);
    if (from_user) kernel::on_return_to_user();
    kernel::kernel_lock_release();
    return;
  }
  if (from_user) {
    // A user fault concerns only the faulting thread: its handler decides, the kernel goes on.
    kernel::kernel_lock_acquire();
    kernel::on_user_exception(*frame);
    kernel::on_return_to_user();
    kernel::kernel_lock_release();
    return;
  }
  // A fault inside checked_copy is an expected outcome, not a kernel bug: resume at its fixup.
  // A first touch of a demand-zero page in the copy is served like the program's own and retried.
  bool in_words = frame->rip == reinterpret_cast<u64>(checked_copy_access_words);
  if (frame->vector == VECTOR_PAGE_FAULT && (in_words || frame->rip == reinterpret_cast<u64>(checked_copy_access))) {
    if (read_cr2() < metteagle::abi::USER_SPACE_END && kernel::on_user_memory_fault(read_cr2(), frame->error_code))
      return;
    frame->rip = reinterpret_cast<u64>(in_words ? checked_copy_fault_words : checked_copy_fault);
    return;
  }
  if (kernel::on_exception(*frame)) return;
  u64 fault_address = frame->vector == VECTOR_PAGE_FAULT ? read_cr2() : 0;
  kernel::log("\n*** kernel exception: %s at rip %#lx", vector_name(frame->vector), frame->rip);
  if (frame->vector == VECTOR_PAGE_FAULT)
    kernel::log(" accessing %#lx (%s, %s)", fault_address, (frame->error_code & 2) ? "write" : "read",
                (frame->error_code & 1) ? "protection violation" : "page not present");
  kernel::log("\n");
  dump_frame(*frame);
  kernel::panic("unhandled %s in kernel mode", vector_name(frame->vector));
}
