// The kernel lock; see kernel_lock.hpp.
#include "core/kernel_lock.hpp"

#include <atomic>

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/smp.hpp"
#include "core/panic.hpp"

namespace kernel {
namespace {
std::atomic<bool> locked{false};
}  // namespace

void kernel_lock_acquire() {
  // With interrupts on, an interrupt arriving here would wait for the lock this CPU holds.
  KERNEL_ASSERT(!arch::interrupts_enabled());
  for (;;) {
    if (!locked.exchange(true, std::memory_order_acquire)) return;
    while (locked.load(std::memory_order_relaxed)) {
      arch::handle_shootdown(arch::this_cpu().index);
      arch::pause();
    }
  }
}

void kernel_lock_release() { locked.store(false, std::memory_order_release); }

}  // namespace kernel

extern "C" void kernel_lock_release_for_new_thread() { kernel::kernel_lock_release(); }
