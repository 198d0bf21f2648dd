// kernel_main: brings the boot CPU from the trampoline to a running kernel, then runs the
// self-test suite named on the command line or idles.
#include "arch/x86_64/address_space.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/ioapic.hpp"
#include "arch/x86_64/platform.hpp"
#include "arch/x86_64/smp.hpp"
#include "core/console.hpp"
#include "core/heap.hpp"
#include "core/ipc.hpp"
#include "core/kernel_lock.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "core/root_task.hpp"
#include "core/scheduler.hpp"
#include "core/trap_hooks.hpp"
#include "object/lazy_memory.hpp"
#include "selftest/selftest.hpp"

extern "C" void (*__init_array_start[])();
extern "C" void (*__init_array_end[])();

namespace kernel {
namespace {

constexpr u32 TIMER_HERTZ = 1000;
BootInfo boot_info;

// Before paging_init only the boot window (first GiB) is mapped.
const u8* read_boot_physical(u64 address, usize size) {
  if (address + size > (1ull << 30) || address + size < address) return nullptr;
  return arch::physical_to_virtual(address);
}

void run_constructors() {
  for (auto* constructor = __init_array_start; constructor != __init_array_end; ++constructor) (*constructor)();
}

// How many CPUs the machine reports (CPUID leaf 1, logical processors per package).
u32 expected_cpus() {
  auto leaf = arch::cpuid(1);
  bool multi = (leaf.edx & (1u << 28)) != 0;
  u32 count = multi ? (leaf.ebx >> 16) & 0xff : 1;
  return count == 0 ? 1 : count;
}

// Kernel stacks of APs: aligned to their size, so an AP finds its stack base from its stack pointer.
u64 allocate_ap_stack() {
  constexpr u64 bytes = PAGE_SIZE * KERNEL_STACK_PAGES;
  auto run = frames().allocate_contiguous(KERNEL_STACK_PAGES, bytes);
  if (!run) panic("out of memory for an AP stack");
  return reinterpret_cast<u64>(arch::physical_to_virtual(run.value())) + bytes;
}

[[noreturn]] void ap_main(u32 index) {
  arch::cpu_tables_init(index);
  scheduler_init_cpu(index, align_down(arch::stack_pointer(), PAGE_SIZE * KERNEL_STACK_PAGES));
  // Off the trampoline's tables (their identity map) onto the kernel's own.
  arch::address_space_activate(arch::kernel_page_table_root());
  arch::interrupt_controller_init_ap();
  arch::record_apic_id(index);
  arch::timer_start_periodic(TIMER_HERTZ);
  arch::announce_online();
  idle_loop();
}

}  // namespace

const BootInfo& boot_information() { return boot_info; }

void on_timer_tick() { scheduler_tick(); }

void on_user_exception(arch::TrapFrame& frame) {
  // Destroyed by another CPU while this one waited for the kernel lock: just leave.
  Thread& thread = *current_thread();
  if (thread.state == ThreadState::Dead) return;
  // A first touch of a demand-zero page is the kernel's to serve: the thread resumes at once.
  if (frame.vector == arch::VECTOR_PAGE_FAULT && thread.task != nullptr) {
    switch (resolve_demand_fault(*thread.task, arch::read_cr2(), frame.error_code)) {
      case DemandFault::Resolved: return;
      case DemandFault::QuotaExceeded: frame.error_code |= metteagle::abi::PAGE_FAULT_QUOTA_EXCEEDED; break;
      case DemandFault::OutOfMemory: frame.error_code |= metteagle::abi::PAGE_FAULT_OUT_OF_MEMORY; break;
      case DemandFault::NotDemandZero: break;
    }
  }
  deliver_exception(frame);
}

bool on_user_memory_fault(u64 address, u64 error_code) {
  Thread* thread = current_thread();
  // Only the task whose tables are loaded: a page mapped anywhere else would fault again forever.
  return thread != nullptr && thread->task != nullptr && thread->state != ThreadState::Dead &&
         arch::this_cpu().active_root == thread->task->page_table_root &&
         resolve_demand_fault(*thread->task, address, error_code) == DemandFault::Resolved;
}

bool on_exception(arch::TrapFrame& frame) { return selftest::on_exception(frame); }

}  // namespace kernel

extern "C" [[noreturn]] void kernel_main(klib::u32 magic, klib::u32 info_physical) {
  using namespace kernel;
  arch::serial_init();
  run_constructors();
  u64 boot_tsc = arch::read_tsc();
  log("\nMettEagle kernel (x86-64) booting\n");

  arch::cpu_tables_init(0);
  scheduler_init_boot_cpu();
  auto status = parse_multiboot(magic, info_physical, read_boot_physical, boot_info);
  if (status != MultibootStatus::Ok) panic("bad multiboot information (status %u, magic %#x)", unsigned(status), magic);
  log("command line: %s\n", boot_info.command_line);
  log("memory: %lu MiB usable in %zu regions, highest %#lx\n", boot_info.usable_bytes >> 20, boot_info.region_count,
      boot_info.usable_end);
  for (usize index = 0; index < boot_info.module_count; ++index) {
    const BootModule& module = boot_info.modules[index];
    log("module %zu: %#lx-%#lx \"%s\"\n", index, module.start, module.end, module.command_line);
  }

  memory_init(boot_info);
  arch::paging_init(boot_info.usable_end, allocate_boot_frame);
  heap_init();
  log("frames: %zu free of %zu\n", frames().free_frames(), frames().total_frames());

  arch::interrupt_controller_init();
  arch::ioapic_init();
  arch::timer_start_periodic(TIMER_HERTZ);
  log("clock: TSC %lu kHz, APIC timer %lu kHz, tick %u Hz\n", arch::tsc_hertz() / 1000, arch::apic_timer_hertz() / 1000,
      TIMER_HERTZ);
  arch::record_apic_id(0);
  u32 cpus = arch::start_application_processors(expected_cpus(), allocate_boot_frame, allocate_ap_stack, ap_main);
  arch::enable_interrupts();
  log("kernel ready in %lu TSC ticks, %u CPUs online\n", arch::read_tsc() - boot_tsc, cpus);

  char suite[32];
  if (command_line_value(boot_info.command_line, "test", suite, sizeof(suite))) selftest::run_suite(suite);

  if (boot_info.module_count > 0) {
    // Kernel work runs with interrupts off: an interrupt handler takes the kernel lock too.
    arch::disable_interrupts();
    kernel_lock_acquire();
    start_root_task(boot_info);
    kernel_lock_release();
  } else {
    log("idle: no boot modules, nothing to run (press Ctrl-A X to leave QEMU)\n");
  }
  // From here this is the boot CPU's idle thread.
  idle_loop();
}
