// kernel_main: brings the boot CPU from the trampoline to a running kernel, then runs the
// self-test suite named on the command line or idles.
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/console.hpp"
#include "core/memory.hpp"
#include "core/ipc.hpp"
#include "core/panic.hpp"
#include "core/root_task.hpp"
#include "core/scheduler.hpp"
#include "core/trap_hooks.hpp"
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

}  // namespace

const BootInfo& boot_information() { return boot_info; }

void on_timer_tick(arch::TrapFrame&) { scheduler_tick(); }

void on_user_exception(arch::TrapFrame& frame) { deliver_exception(frame); }

bool on_exception(arch::TrapFrame& frame) { return selftest::on_exception(frame); }

}  // namespace kernel

extern "C" [[noreturn]] void kernel_main(klib::u32 magic, klib::u32 info_physical) {
  using namespace kernel;
  arch::serial_init();
  run_constructors();
  u64 boot_tsc = arch::read_tsc();
  log("\nMettEagle kernel (x86-64) booting\n");

  arch::cpu_tables_init();
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
  log("frames: %zu free of %zu\n", frames().free_frames(), frames().total_frames());

  arch::interrupt_controller_init();
  arch::timer_start_periodic(TIMER_HERTZ);
  log("clock: TSC %lu kHz, APIC timer %lu kHz, tick %u Hz\n", arch::tsc_hertz() / 1000,
      arch::apic_timer_hertz() / 1000, TIMER_HERTZ);
  arch::enable_interrupts();
  log("kernel ready in %lu TSC ticks\n", arch::read_tsc() - boot_tsc);

  char suite[32];
  if (command_line_value(boot_info.command_line, "test", suite, sizeof(suite))) selftest::run_suite(suite);

  if (boot_info.module_count > 0) start_root_task(boot_info);
  else log("idle: no boot modules, nothing to run (press Ctrl-A X to leave QEMU)\n");
  // From here this is the boot CPU's idle thread.
  for (;;) {
    if (this_cpu().need_reschedule) schedule();
    arch::wait_for_interrupt();
  }
}
