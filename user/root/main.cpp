// The root task: reads every boot module's command line as a boot configuration, keeps the data
// modules (text files for programs), starts each valid program with exactly the capabilities it
// names, then waits forever.
// Invariant: a bad module (unparsable configuration, invalid ELF, kernel refusal) is reported
// with its reason and skipped; it never stops the other programs from starting.
#include "boot_config.hpp"
#include "endpoints.hpp"
#include "loader.hpp"
#include "print.hpp"
#include "sys/sys.hpp"

namespace {

using namespace sys;

void report_configuration_error(Console console, u64 number, const char* line, const root::ConfigError& error) {
  printf(console, "root: module %lu: bad boot configuration: %s at column %zu in \"%s\"\n", number, error.reason,
         error.column, line);
}

void report_launch_failure(Console console, u64 number, const root::ProgramConfig& config,
                           const root::LaunchFailure& failure) {
  if (failure.error == Error::None) {
    printf(console, "root: module %lu (%s): cannot %s: %s\n", number, config.name, failure.step,
           failure.detail != nullptr ? failure.detail : "invalid");
  } else {
    printf(console, "root: module %lu (%s): cannot %s: %s\n", number, config.name, failure.step,
           error_name(failure.error));
  }
}

void report_started(Console console, u64 number, const root::ProgramConfig& config, const root::LaunchReport& report) {
  printf(console, "root: started %s (module %lu, %s): entry %#lx, %zu segments, %zu endpoints%s%s%s%s%s\n", config.name,
         number, config.path, report.entry, report.segment_count, config.endpoint_count,
         config.give_task ? ", task" : "", config.give_thread ? ", thread" : "",
         config.factory_quota != 0 || config.factory_percent != 0 ? ", factory" : "", config.give_console ? ", console" : "",
         config.give_file ? ", file" : "");
}

// Copies the module's command line so a kernel that forgot the NUL cannot make us read past it.
void copy_command_line(const abi::RootModule& module, char (&line)[sizeof(abi::RootModule::command_line) + 1]) {
  for (usize index = 0; index < sizeof module.command_line; ++index) line[index] = module.command_line[index];
  line[sizeof module.command_line] = '\0';
}

enum class ModuleOutcome { Skipped, KeptData, Started };

// One module in one pass: the data pass keeps data modules, the program pass starts programs;
// configuration errors are reported once, in the program pass. `number` is the boot module number
// (module 0 is the root task itself), which is also the program's badge.
ModuleOutcome handle_module(const abi::RootModule& module, u64 number, bool data_pass, root::RootContext& context) {
  char line[sizeof(abi::RootModule::command_line) + 1];
  copy_command_line(module, line);
  root::ProgramConfig config;
  root::ConfigError error{};
  if (!root::parse_boot_config(line, config, error)) {
    if (!data_pass) report_configuration_error(context.console, number, line, error);
    return ModuleOutcome::Skipped;
  }
  if (config.is_data != data_pass) return ModuleOutcome::Skipped;
  root::ProgramImage image{reinterpret_cast<const u8*>(module.address), module.size, number};
  root::LaunchFailure failure{};
  if (config.is_data) {
    if (!root::keep_data_file(config, image, context, failure)) {
      report_launch_failure(context.console, number, config, failure);
      return ModuleOutcome::Skipped;
    }
    printf(context.console, "root: kept data module %s (module %lu, %s): %zu bytes\n", config.name, number,
           config.path, image.size);
    return ModuleOutcome::KeptData;
  }
  root::LaunchReport report{};
  if (!root::launch_program(config, image, context, report, failure)) {
    report_launch_failure(context.console, number, config, failure);
    return ModuleOutcome::Skipped;
  }
  report_started(context.console, number, config, report);
  return ModuleOutcome::Started;
}

}  // namespace

extern "C" void metteagle_main(u64 argument) {
  Console console(abi::ROOT_CONSOLE);
  const auto* boot = reinterpret_cast<const abi::RootBootInfo*>(argument);
  if (argument != abi::ROOT_BOOT_INFO_ADDRESS) {
    printf(console, "root: unexpected boot information address %#lx\n", argument);
    exit_thread();
  }
  u64 module_count = boot->module_count;
  if (module_count > abi::RootBootInfo::MAX_MODULES) {
    printf(console, "root: kernel reports %lu modules, more than the %lu the boot page holds\n", module_count,
           abi::RootBootInfo::MAX_MODULES);
    module_count = abi::RootBootInfo::MAX_MODULES;
  }
  printf(console, "root: %lu boot modules, %lu CPUs\n", module_count, boot->cpu_count);

  static SlotAllocator slots(abi::ROOT_FIRST_FREE, abi::ROOT_CAPABILITY_SLOTS);
  static root::EndpointRegistry endpoints;
  static root::DataFiles files;
  root::RootContext context{Task(abi::ROOT_TASK), Factory(abi::ROOT_FACTORY), console, slots, endpoints, files};

  // Two passes: data modules first, so a program may name one that comes after it.
  u64 data_modules = 0;
  u64 started = 0;
  for (int pass = 0; pass < 2; ++pass) {
    bool data_pass = pass == 0;
    for (u64 index = 0; index < module_count; ++index) {
      ModuleOutcome outcome = handle_module(boot->modules[index], index + 1, data_pass, context);
      if (outcome == ModuleOutcome::KeptData) ++data_modules;
      if (outcome == ModuleOutcome::Started) ++started;
    }
  }
  printf(console, "root: %lu of %lu programs started\n", started, module_count - data_modules);

  // Nothing is left to do; block on an endpoint nobody else holds instead of ending the thread,
  // so the root's capabilities (and with them the children's objects) stay alive.
  auto idle_slot = slots.allocate();
  if (idle_slot.ok()) {
    auto idle = Factory(abi::ROOT_FACTORY).create_endpoint(idle_slot.value());
    Message message;
    while (idle.ok() && idle->receive(message, WAIT_FOREVER).ok()) {
    }
  }
  exit_thread();
}
