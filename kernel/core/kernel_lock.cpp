// The kernel lock; see kernel_lock.hpp.
#include "core/kernel_lock.hpp"

#include <atomic>

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/platform.hpp"
#include "arch/x86_64/smp.hpp"
#include "core/panic.hpp"

namespace kernel {
namespace {
// A ticket lock: CPUs enter in the order they asked. A test-and-set lock let one CPU that enters
// the kernel in a tight loop starve another indefinitely (seen under QEMU's round-robin vCPUs).
std::atomic<klib::u32> next_ticket{0};
std::atomic<klib::u32> now_serving{0};

// Which CPU holds the lock and where it took it. A ticket lock turns two bugs into silent hangs
// with every CPU spinning here: a CPU asking again for the lock it holds, and a holder that never
// lets go. Both end in a panic that names the CPU and the call sites instead.
constexpr klib::u32 NO_HOLDER = ~klib::u32{0};
constexpr klib::u64 LONGEST_WAIT_SECONDS = 30;  // Holds are bounded to milliseconds (docs/ARCHITECTURE.md).
std::atomic<klib::u32> holder_cpu{NO_HOLDER};
std::atomic<klib::u64> holder_site{0};

// The wait, out of line so that the uncontended path stays a ticket, a compare and two stores.
// It answers TLB shootdowns (the holder may be waiting for this CPU) and, once per 65,536 turns,
// checks for the two hangs: this CPU holding the lock itself, and a wait beyond any bounded hold.
[[gnu::noinline, gnu::cold]] void wait_for_ticket(klib::u32 ticket) {
  klib::u32 self = arch::this_cpu().index;
  klib::u64 waiting_since = 0;
  klib::u32 spins = 0;
  while (now_serving.load(std::memory_order_acquire) != ticket) {
    arch::handle_shootdown(self);
    arch::pause();
    if (++spins % 65536 != 0) continue;
    if (holder_cpu.load(std::memory_order_relaxed) == self)
      panic("kernel lock: CPU %u asks for it again, holding it since %#lx", self,
            holder_site.load(std::memory_order_relaxed));
    klib::u64 now = arch::read_tsc();
    if (waiting_since == 0) waiting_since = now;
    if (now - waiting_since > LONGEST_WAIT_SECONDS * arch::tsc_hertz())
      panic("kernel lock: CPU %u waited %lu s (ticket %u, serving %u); held by CPU %u since %#lx", self,
            LONGEST_WAIT_SECONDS, ticket, now_serving.load(std::memory_order_relaxed),
            holder_cpu.load(std::memory_order_relaxed), holder_site.load(std::memory_order_relaxed));
  }
}

}  // namespace

void kernel_lock_acquire() {
  // With interrupts on, an interrupt arriving here would wait for the lock this CPU holds.
  KERNEL_ASSERT(!arch::interrupts_enabled());
  klib::u32 ticket = next_ticket.fetch_add(1, std::memory_order_relaxed);
  if (now_serving.load(std::memory_order_acquire) != ticket) wait_for_ticket(ticket);
  holder_cpu.store(arch::this_cpu().index, std::memory_order_relaxed);
  holder_site.store(reinterpret_cast<klib::u64>(__builtin_return_address(0)), std::memory_order_relaxed);
}

void kernel_lock_release() {
  holder_cpu.store(NO_HOLDER, std::memory_order_relaxed);
  now_serving.fetch_add(1, std::memory_order_release);
}

}  // namespace kernel

extern "C" void kernel_lock_release_for_new_thread() { kernel::kernel_lock_release(); }
