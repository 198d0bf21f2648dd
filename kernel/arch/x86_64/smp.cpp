// Starting application processors (INIT-SIPI-SIPI through the xAPIC), inter-processor interrupts,
// and TLB shootdown.
// Invariant: a shootdown returns only after every other online CPU has stopped using the given
// page-table root (it switched to the kernel's own tables, which also flushes its TLB).
#include "arch/x86_64/smp.hpp"
#include "arch/x86_64/address_space.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/local_apic.hpp"
#include "arch/x86_64/platform.hpp"

#include <atomic>

extern "C" char ap_trampoline_start[], ap_trampoline_end[], ap_boot_page_table[], ap_entry_address[], ap_next_index[],
    ap_stacks[];

namespace arch {

std::atomic<u32> online_cpus{1};

namespace {

constexpr u64 AP_TRAMPOLINE_BASE = 0x8000;
constexpr u32 ICR_DELIVERY_PENDING = 1 << 12;
constexpr u32 ICR_ALL_EXCLUDING_SELF = 3 << 18;
constexpr u32 ICR_LEVEL_ASSERT = 1 << 14;
constexpr u32 ICR_INIT = 5 << 8;
constexpr u32 ICR_STARTUP = 6 << 8;

u32 apic_ids[MAX_CPUS];
std::atomic<u64> shootdown_root{0};
std::atomic<bool> shootdown_leave{false};
std::atomic<bool> shootdown_pending[MAX_CPUS];
// The CPU (index + 1) halted in a shootdown's wait, 0 when none: there is at most one sender, as
// it holds the kernel lock. An answering CPU wakes it, as the kernel lock's releaser wakes a
// halted waiter (kernel/core/kernel_lock.cpp, which explains why a waiter halts at all).
std::atomic<u32> shootdown_sleeper{0};
constexpr u32 SHOOTDOWN_SPINS_BEFORE_HALT = 128;
// The page-table root each CPU runs on. Written only under the kernel lock (or by the CPU itself
// when a shootdown moves it to the kernel's tables), so a shootdown can skip CPUs that cannot
// hold translations of the root it retires.
std::atomic<u64> active_roots[MAX_CPUS];

void send_ipi(u32 high, u32 low) {
  local_apic::reg(local_apic::ICR_HIGH) = high;
  local_apic::reg(local_apic::ICR_LOW) = low;
  while ((local_apic::reg(local_apic::ICR_LOW) & ICR_DELIVERY_PENDING) != 0) pause();
}

void wait_tsc(u64 microseconds) {
  u64 start = read_tsc();
  u64 ticks = tsc_hertz() / 1'000'000 * microseconds;
  while (read_tsc() - start < ticks) pause();
}

}  // namespace

u32 local_apic_id() { return local_apic::reg(local_apic::ID) >> 24; }

void record_apic_id(u32 cpu_index) { apic_ids[cpu_index] = local_apic_id(); }

u32 start_application_processors(u32 wanted, u64 (*allocate_frame)(), u64 (*allocate_stack)(), void (*entry)(u32)) {
  if (wanted <= 1) return 1;
  if (wanted > MAX_CPUS) wanted = MAX_CPUS;
  u8* trampoline = physical_to_virtual(AP_TRAMPOLINE_BASE);
  usize size = static_cast<usize>(ap_trampoline_end - ap_trampoline_start);
  for (usize i = 0; i < size; ++i) trampoline[i] = static_cast<u8>(ap_trampoline_start[i]);
  auto field = [&](char* symbol) { return trampoline + (symbol - ap_trampoline_start); };

  // A root with the kernel's upper half and an identity map of the first 2 MiB, where the
  // trampoline runs until it jumps to the higher half.
  u64 root = allocate_frame();
  u64 directory_pointer = allocate_frame();
  u64 directory = allocate_frame();
  address_space_init(root);
  reinterpret_cast<u64*>(physical_to_virtual(root))[0] = directory_pointer | 3;
  reinterpret_cast<u64*>(physical_to_virtual(directory_pointer))[0] = directory | 3;
  reinterpret_cast<u64*>(physical_to_virtual(directory))[0] = 0 | 0x83;  // 2 MiB, present, writable.
  *reinterpret_cast<u64*>(field(ap_boot_page_table)) = root;
  *reinterpret_cast<u64*>(field(ap_entry_address)) = reinterpret_cast<u64>(entry);
  for (u32 index = 1; index < wanted; ++index) reinterpret_cast<u64*>(field(ap_stacks))[index] = allocate_stack();

  // Broadcast: every other CPU gets INIT, then two STARTUPs pointing at the trampoline page.
  send_ipi(0, ICR_ALL_EXCLUDING_SELF | ICR_LEVEL_ASSERT | ICR_INIT);
  wait_tsc(10'000);
  for (int attempt = 0; attempt < 2; ++attempt) {
    send_ipi(0, ICR_ALL_EXCLUDING_SELF | ICR_STARTUP | static_cast<u32>(AP_TRAMPOLINE_BASE >> 12));
    wait_tsc(200);
  }
  // Each AP counts itself in online; wait until all wanted arrived or 2 s passed (an AP normally
  // arrives within a millisecond; a loaded host may not run its vCPU for much longer).
  u64 start = read_tsc();
  while (online_cpus.load() < wanted && read_tsc() - start < 2 * tsc_hertz()) pause();
  return online_cpus.load();
}

void announce_online() { online_cpus.fetch_add(1); }

void send_reschedule(u32 cpu_index) { send_ipi(apic_ids[cpu_index] << 24, VECTOR_RESCHEDULE); }

void send_wake(u32 cpu_index) { send_ipi(apic_ids[cpu_index] << 24, VECTOR_WAKE); }

void note_active_root(u32 cpu_index, u64 root) { active_roots[cpu_index].store(root, std::memory_order_release); }

void handle_shootdown(u32 cpu_index) {
  if (!shootdown_pending[cpu_index].load(std::memory_order_acquire)) return;
  u64 root = shootdown_root.load();
  u64 active = read_cr3() & ~u64{0xfff};
  if (root == SHOOTDOWN_EVERY_ROOT) {
    write_cr3(active);  // Whatever runs here keeps its tables and loses its cached translations.
  } else if (active == root) {
    if (shootdown_leave.load()) {
      this_cpu().active_root = kernel_page_table_root();
      note_active_root(cpu_index, kernel_page_table_root());
      write_cr3(kernel_page_table_root());
    } else {
      // A live task lost a mapping: only stale translations go. Switching tables here would
      // return a thread of that task to user mode (or into a system call that reads its memory)
      // on the kernel's tables, where its own memory is missing.
      write_cr3(root);
    }
  }
  // Dekker with the sender's wait: clear, then look for a halted sender; it publishes its halt,
  // then looks at the flag once more.
  shootdown_pending[cpu_index].store(false, std::memory_order_seq_cst);
  u32 sleeper = shootdown_sleeper.load(std::memory_order_seq_cst);
  if (sleeper != 0) send_wake(sleeper - 1);
}

void shootdown(u32 self_index, u64 root, bool leave) {
  u32 count = online_cpus.load();
  shootdown_root.store(root);
  shootdown_leave.store(leave);
  for (u32 index = 0; index < count; ++index) {
    if (index == self_index ||
        (root != SHOOTDOWN_EVERY_ROOT && active_roots[index].load(std::memory_order_acquire) != root))
      continue;
    shootdown_pending[index].store(true, std::memory_order_release);
    send_ipi(apic_ids[index] << 24, VECTOR_SHOOTDOWN);
  }
  for (u32 index = 0; index < count; ++index) {
    u32 spins = 0;
    while (shootdown_pending[index].load(std::memory_order_acquire)) {
      if (++spins < SHOOTDOWN_SPINS_BEFORE_HALT) {
        pause();
        continue;
      }
      spins = 0;
      // Holding the kernel lock: only the urgent class may end this halt (no handler that takes
      // the lock runs here); the others wait in the local APIC.
      shootdown_sleeper.store(self_index + 1, std::memory_order_seq_cst);
      if (shootdown_pending[index].load(std::memory_order_seq_cst)) halt_until_urgent_interrupt();
      shootdown_sleeper.store(0, std::memory_order_relaxed);
    }
  }
}

}  // namespace arch
