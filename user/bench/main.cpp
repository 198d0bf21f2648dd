// MettEagle's benchmark workloads, run as the root task: null system call, IPC round trips between
// two tasks on one CPU and across CPUs, page map/unmap, a demand-zero page's first touch, task
// create/destroy and spawning an ELF
// program until it runs and tearing it down. Prints BENCH lines (statistics.hpp), then BENCH-DONE,
// and ends the machine.
// Boot modules: 1 = bench_server.elf, 2 = bench_empty.elf.
#include "boot_config.hpp"
#include "endpoints.hpp"
#include "loader.hpp"
#include "print.hpp"
#include "statistics.hpp"
#include "sys/sys.hpp"

using namespace sys;

namespace {

constexpr u64 SAMPLE_LIMIT = 128;
constexpr u64 MAP_ADDRESS = 0x50000000;
constexpr u32 LABEL_MOVE_TO_CPU = 1;

struct Bench {
  Console console{abi::ROOT_CONSOLE};
  Task self{abi::ROOT_TASK};
  Factory factory{abi::ROOT_FACTORY};
  u64 tsc_hertz = 0;
  u64 cpu_count = 0;
  u64 samples[SAMPLE_LIMIT] = {};
};

// Runs `operation` batch times per sample and reports the per-operation figures.
template <typename Operation>
void measure(Bench& bench, const char* metric, u64 sample_count, u64 batch, Operation operation) {
  printf(bench.console, "BENCH-START %s\n", metric);
  for (u64 i = 0; i < batch; ++i)  // Warm-up: caches, TLB, first-touch page tables.
    if (!operation()) return bench::report_error(bench.console, metric, "operation failed during warm-up");
  for (u64 sample = 0; sample < sample_count; ++sample) {
    u64 start = bench::read_tsc();
    for (u64 i = 0; i < batch; ++i)
      if (!operation()) return bench::report_error(bench.console, metric, "operation failed");
    bench.samples[sample] = bench::tenths_of_nanoseconds(bench::read_tsc() - start, batch, bench.tsc_hertz);
  }
  bench::report(bench.console, metric, bench.samples, sample_count);
}

bool round_trip(u64 endpoint, u32 label, u64 word) {
  SyscallRegisters registers{};
  registers.argument1 = abi::MessageTag::make(label, 1).raw;
  registers.argument2 = word;
  registers.timeout_or_badge = abi::TIMEOUT_INFINITE;
  return invoke(abi::Syscall::IpcCall, endpoint, registers) == Error::None && registers.argument2 == word &&
         abi::MessageTag{registers.argument1}.label() == 0;
}

bool launch(const char* line, const abi::RootModule& module, root::RootContext& context, u64 badge,
            root::LaunchReport& report) {
  root::ProgramConfig config;
  root::ConfigError config_error{};
  if (!root::parse_boot_config(line, config, config_error)) return false;
  root::ProgramImage image{reinterpret_cast<const u8*>(module.address), module.size, badge};
  root::LaunchFailure failure{};
  return root::launch_program(config, image, context, report, failure);
}

}  // namespace

extern "C" void metteagle_main(u64 argument) {
  static Bench bench;
  const auto* boot = reinterpret_cast<const abi::RootBootInfo*>(argument);
  bench.tsc_hertz = boot->tsc_hertz;
  bench.cpu_count = boot->cpu_count;
  printf(bench.console, "BENCH-BEGIN metteagle: %lu CPUs, TSC %lu kHz\n", bench.cpu_count, bench.tsc_hertz / 1000);
  if (boot->module_count < 2) {
    bench::report_error(bench.console, "setup", "boot modules bench_server.elf and bench_empty.elf are missing");
    (void)Console(abi::ROOT_CONSOLE).exit(0x11);
  }

  static SlotAllocator slots(abi::ROOT_FIRST_FREE, abi::ROOT_CAPABILITY_SLOTS);
  static root::EndpointRegistry endpoints;
  static root::DataFiles files;  // The benchmarks start no program that names a data module.
  root::RootContext context{bench.self, bench.factory, bench.console, slots, endpoints, files};

  measure(bench, "null_syscall", 100, 1000,
          [] { return invoke(abi::Syscall::ThreadSelf, abi::NULL_SELECTOR) == Error::None; });

  // ThreadInterrupt's cost: the mark on the own thread, then the wait it ends at once (Interrupted):
  // two kernel entries per operation, what a signal to a thread costs before any context switch.
  auto notification_slot = slots.allocate();
  if (!notification_slot || !bench.factory.create(ObjectType::Notification, notification_slot.value()).ok()) {
    bench::report_error(bench.console, "thread_interrupt", "cannot create a notification");
  } else {
    u64 notification = notification_slot.value();
    measure(bench, "thread_interrupt", 100, 1000, [notification] {
      SyscallRegisters registers{};
      registers.timeout_or_badge = abi::TIMEOUT_INFINITE;
      return invoke(abi::Syscall::ThreadInterrupt, abi::ROOT_THREAD) == Error::None &&
             invoke(abi::Syscall::NotificationWait, notification, registers) == Error::Interrupted;
    });
  }

  root::LaunchReport server{};
  auto server_endpoint = endpoints.find_or_create("bench", bench.factory, slots);
  if (!server_endpoint || !launch("bench_server.elf thread endpoint=bench:receive", boot->modules[0], context, 1, server)) {
    bench::report_error(bench.console, "ipc_roundtrip_same_cpu", "cannot start bench_server.elf");
  } else {
    u64 endpoint = server_endpoint.value().selector();
    if (!round_trip(endpoint, LABEL_MOVE_TO_CPU, 0)) bench::report_error(bench.console, "ipc_roundtrip_same_cpu", "pin");
    measure(bench, "ipc_roundtrip_same_cpu", 100, 200, [endpoint] { return round_trip(endpoint, 0, 42); });
    if (bench.cpu_count > 1 && round_trip(endpoint, LABEL_MOVE_TO_CPU, 1))
      measure(bench, "ipc_roundtrip_cross_cpu", 50, 100, [endpoint] { return round_trip(endpoint, 0, 42); });
    else
      bench::report_error(bench.console, "ipc_roundtrip_cross_cpu", "needs two CPUs");
  }

  auto memory_slot = slots.allocate();
  auto memory = memory_slot ? bench.factory.create_memory(memory_slot.value(), 1) : Result<Memory>(Error::NotFound);
  if (!memory) {
    bench::report_error(bench.console, "map_unmap_page", "cannot create memory");
  } else {
    measure(bench, "map_unmap_page", 100, 50, [&] {
      return bench.self.map(memory.value(), 0, MAP_ADDRESS, 1, abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write)).ok() &&
             bench.self.unmap(MAP_ADDRESS, 1).ok();
    });
  }

  // A first touch of a demand-zero page: the fault, a zeroed frame charged to the factory, its
  // mapping, the return; every 512th also pays its leaf of frame addresses and page table. Each
  // operation touches a page never touched before (warm-up and samples: 4,040 of 4,096).
  auto lazy_slot = slots.allocate();
  auto lazy = lazy_slot ? bench.factory.create_lazy_memory(lazy_slot.value(), 4096) : Result<Memory>(Error::NotFound);
  if (!lazy || !bench.self.map(lazy.value(), 0, MAP_ADDRESS, 4096, abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write)).ok()) {
    bench::report_error(bench.console, "demand_zero_page", "cannot create or map lazy memory");
  } else {
    u64 next_page = 0;
    measure(bench, "demand_zero_page", 100, 40, [&] {
      *reinterpret_cast<volatile u64*>(MAP_ADDRESS + next_page++ * 4096) = 1;
      return true;
    });
    (void)bench.self.unmap(MAP_ADDRESS, 4096);
    (void)lazy.value().remove();
  }

  auto task_slot = slots.allocate();
  if (task_slot) {
    u64 slot = task_slot.value();
    measure(bench, "task_create_destroy", 50, 20, [&] {
      auto task = bench.factory.create_task(slot, 64);
      return task.ok() && task.value().remove().ok();
    });
  }

  // Spawn: a child factory per run, the ELF loaded into a new task, its thread started; the run
  // ends when the program has called us and its factory (with everything in it) is gone.
  auto done = endpoints.find_or_create("done", bench.factory, slots);
  auto factory_slot = slots.allocate();
  if (done && factory_slot) {
    u64 done_endpoint = done.value().selector();
    measure(bench, "task_spawn_wait", 30, 1, [&] {
      auto child_factory = bench.factory.create_factory(factory_slot.value(), 4u << 20);
      if (!child_factory) return false;
      root::RootContext child_context{bench.self, child_factory.value(), bench.console, slots, endpoints, files};
      root::LaunchReport report{};
      if (!launch("bench_empty.elf slots=128 endpoint=done:send", boot->modules[1], child_context, 2, report)) return false;
      SyscallRegisters registers{};
      registers.timeout_or_badge = abi::TIMEOUT_INFINITE;
      if (invoke(abi::Syscall::IpcReceive, done_endpoint, registers) != Error::None) return false;
      // The task capability the loader kept goes with the factory; free its slot for the next run.
      slots.free(report.task_selector);
      return child_factory.value().remove().ok();
    });
  }

  printf(bench.console, "BENCH-DONE\n");
  (void)Console(abi::ROOT_CONSOLE).exit(0x10);
}
