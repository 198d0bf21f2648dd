// The kernel lock; see kernel_lock.hpp.
#include "core/kernel_lock.hpp"

#include <atomic>

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/smp.hpp"
#include "core/panic.hpp"

namespace kernel {
namespace {
// A ticket lock: CPUs enter in the order they asked. A test-and-set lock let one CPU that enters
// the kernel in a tight loop starve another indefinitely (seen under QEMU's round-robin vCPUs).
std::atomic<klib::u32> next_ticket{0};
std::atomic<klib::u32> now_serving{0};
}  // namespace

void kernel_lock_acquire() {
  // With interrupts on, an interrupt arriving here would wait for the lock this CPU holds.
  KERNEL_ASSERT(!arch::interrupts_enabled());
  klib::u32 ticket = next_ticket.fetch_add(1, std::memory_order_relaxed);
  while (now_serving.load(std::memory_order_acquire) != ticket) {
    arch::handle_shootdown(arch::this_cpu().index);
    arch::pause();
  }
}

void kernel_lock_release() { now_serving.fetch_add(1, std::memory_order_release); }

}  // namespace kernel

extern "C" void kernel_lock_release_for_new_thread() { kernel::kernel_lock_release(); }
