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

// A waiter halts until its turn comes when the host, not the holder, is what it waits for. Under
// a hypervisor (or QEMU) that runs more vCPUs than it has cores, the holder's vCPU may be
// descheduled for a whole host time slice (milliseconds), and spinning only takes the core it
// needs (a 3 s test took 60 s beside another guest). Halting gives it back; the releaser wakes
// the next ticket's CPU with VECTOR_WAKE, and any interrupt ends the halt too (it is deferred, see
// trap_dispatch), so a lost wake costs at most one timer tick. This is Linux's paravirtual ticket
// lock idea (halt, then kick). But a wake costs an IPI and the host waking the vCPU's thread,
// which under load waits for a core: halting after a fixed short wait halved the HTTP rate at 4
// and 16 connections, as holds of long kernel operations under TCG are hundreds of microseconds
// (docs/BENCHMARKS.md, HTTP, "On a quiet host at d4baf92"). So the waiter looks at the clock every
// SPINS_PER_LOOK turns: a look that finds far more time passed than the turns take means this
// vCPU was off its host core, i.e. the host is overcommitted, and it halts from then on; without
// that sign it halts only after HALT_AFTER_MICROSECONDS.
constexpr klib::u32 SPINS_PER_LOOK = 128;
constexpr klib::u64 DESCHEDULED_MICROSECONDS = 500;  // One look's gap that shows a lost host core.
constexpr klib::u64 HALT_AFTER_MICROSECONDS = 2000;
// What each CPU halted for: HALTED_FLAG | its ticket, or 0 while it runs or spins.
constexpr klib::u64 HALTED_FLAG = klib::u64{1} << 32;
std::atomic<klib::u64> halted_for[arch::MAX_CPUS];
std::atomic<klib::u32> halted_cpus{0};
std::atomic<klib::u64> halts{0};  // Halts begun, for the self-test and diagnosis.

void halt_until_turn(klib::u32 self, klib::u32 ticket) {
  // Dekker with kernel_lock_release: publish the halt, then look at the lock once more; the
  // releaser advances the lock, then looks for halted CPUs. One of the two sees the other.
  halted_for[self].store(HALTED_FLAG | ticket, std::memory_order_seq_cst);
  halted_cpus.fetch_add(1, std::memory_order_seq_cst);
  if (now_serving.load(std::memory_order_seq_cst) != ticket) {
    halts.fetch_add(1, std::memory_order_relaxed);
    arch::wait_for_interrupt();
  }
  halted_cpus.fetch_sub(1, std::memory_order_relaxed);
  halted_for[self].store(0, std::memory_order_relaxed);
}

// Wakes the CPU whose turn it now is, if it halted. Should the lock have moved on meanwhile, a
// CPU that halted for a turn already passed was woken by that turn's own release.
[[gnu::noinline]] void wake_next() {
  klib::u32 ticket = now_serving.load(std::memory_order_acquire);
  klib::u32 count = arch::online_cpu_count();
  for (klib::u32 index = 0; index < count; ++index) {
    if (halted_for[index].load(std::memory_order_relaxed) == (HALTED_FLAG | ticket)) arch::send_wake(index);
  }
}

// The wait, out of line so that the uncontended path stays a ticket, a compare and two stores.
// It answers TLB shootdowns (the holder may be waiting for this CPU), halts after a while (above),
// and checks for the two hangs: this CPU holding the lock itself, and a wait beyond any bounded hold.
[[gnu::noinline, gnu::cold]] void wait_for_ticket(klib::u32 ticket) {
  klib::u32 self = arch::this_cpu().index;
  if (holder_cpu.load(std::memory_order_relaxed) == self)
    panic("kernel lock: CPU %u asks for it again, holding it since %#lx", self,
          holder_site.load(std::memory_order_relaxed));
  klib::u64 waiting_since = arch::read_tsc();
  klib::u64 last_look = waiting_since;
  klib::u64 ticks_per_microsecond = arch::tsc_hertz() / 1'000'000;
  bool host_overcommitted = false;
  klib::u32 spins = 0;
  while (now_serving.load(std::memory_order_acquire) != ticket) {
    arch::handle_shootdown(self);
    if (++spins < SPINS_PER_LOOK) {
      arch::pause();
      continue;
    }
    spins = 0;
    klib::u64 now = arch::read_tsc();
    if (now - last_look > DESCHEDULED_MICROSECONDS * ticks_per_microsecond) host_overcommitted = true;
    last_look = now;
    klib::u64 waited = now - waiting_since;
    if (waited > LONGEST_WAIT_SECONDS * arch::tsc_hertz())
      panic("kernel lock: CPU %u waited %lu s (ticket %u, serving %u); held by CPU %u since %#lx", self,
            LONGEST_WAIT_SECONDS, ticket, now_serving.load(std::memory_order_relaxed),
            holder_cpu.load(std::memory_order_relaxed), holder_site.load(std::memory_order_relaxed));
    if (host_overcommitted || waited > HALT_AFTER_MICROSECONDS * ticks_per_microsecond) {
      halt_until_turn(self, ticket);
      last_look = arch::read_tsc();  // The halt's own length is no sign.
    }
  }
  // The lock is this CPU's: interrupts that came in while it halted are handled now, under it.
  holder_cpu.store(self, std::memory_order_relaxed);
  arch::run_deferred_interrupts();
}

}  // namespace

klib::u64 kernel_lock_halts() { return halts.load(std::memory_order_relaxed); }
klib::u32 kernel_lock_turns() { return now_serving.load(std::memory_order_acquire); }

bool kernel_lock_halted_here() { return halted_for[arch::this_cpu().index].load(std::memory_order_relaxed) != 0; }

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
  now_serving.fetch_add(1, std::memory_order_seq_cst);
  if (halted_cpus.load(std::memory_order_seq_cst) != 0) [[unlikely]]
    wake_next();
}

}  // namespace kernel

extern "C" void kernel_lock_release_for_new_thread() { kernel::kernel_lock_release(); }
