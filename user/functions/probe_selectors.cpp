// Adversarial: uses every capability selector it was not given, and the given ones beyond their
// rights. Exit code = number of attempts that succeeded (0 = isolation held); the output names
// the first few.
#include "function/function.hpp"
#include "sys/sys.hpp"

namespace {

using sys::Error;
using sys::SyscallRegisters;
namespace abi = sys::abi;

struct Report {
  FunctionOutput& output;
  int violations = 0;
  void violation(u64 selector, const char* operation, Error error) {
    if (violations++ < 8) output.print("%lu:%s:%s;", selector, operation, sys::error_name(error));
  }
};

// Every operation on a selector that names nothing must fail with InvalidCapability.
void probe_empty(Report& report, u64 selector) {
  Error error = sys::invoke(abi::Syscall::CapabilityIdentify, selector);
  if (error != Error::InvalidCapability) report.violation(selector, "identify", error);
  SyscallRegisters registers{abi::MessageTag::make(manager::EVENT_LOG, 1).raw, 0, 0, 0, 0, 0};
  error = sys::invoke(abi::Syscall::IpcSend, selector, registers);
  if (error != Error::InvalidCapability) report.violation(selector, "send", error);
  error = sys::invoke(abi::Syscall::FactoryCreate, selector, static_cast<u64>(abi::ObjectType::Endpoint),
                      manager::FUNCTION_FIRST_FREE + 40);
  if (error != Error::InvalidCapability) report.violation(selector, "create", error);
  static const char text[] = "escaped\n";
  error = sys::invoke(abi::Syscall::DebugWrite, selector, reinterpret_cast<u64>(text), sizeof text - 1);
  if (error != Error::InvalidCapability) report.violation(selector, "write", error);
  error = sys::invoke(abi::Syscall::CapabilityCopy, selector, manager::FUNCTION_FIRST_FREE + 41, abi::ALL_RIGHTS);
  if (error != Error::InvalidCapability) report.violation(selector, "copy", error);
}

}  // namespace

int function_main(const FunctionInput&, FunctionOutput& output) {
  Report report{output};
  // Slots 0 and 4 .. the end of the space (the console is not granted by default), and far beyond.
  for (u64 selector = 0; selector < manager::FUNCTION_CAPABILITY_SLOTS + 8; ++selector) {
    if (selector >= manager::FUNCTION_MANAGER && selector <= manager::FUNCTION_TASK) continue;
    probe_empty(report, selector);
  }
  for (u64 selector : {u64{4095}, u64{4096}, u64{1} << 32, ~u64{0}}) probe_empty(report, selector);

  // The given capabilities: only the rights protocol.hpp lists.
  SyscallRegisters registers{};
  registers.timeout_or_badge = 0;
  Error error = sys::invoke(abi::Syscall::IpcReceive, manager::FUNCTION_MANAGER, registers);
  if (error != Error::NoRights) report.violation(manager::FUNCTION_MANAGER, "receive", error);
  error = sys::invoke(abi::Syscall::TaskGiveCapability, manager::FUNCTION_TASK, manager::FUNCTION_MANAGER, 9,
                      abi::ALL_RIGHTS);
  if (error != Error::NoRights) report.violation(manager::FUNCTION_TASK, "give", error);
  auto manager_info = sys::Capability(manager::FUNCTION_MANAGER).identify();
  if (!manager_info.ok() || manager_info->type != abi::ObjectType::Endpoint ||
      (manager_info->rights & abi::rights_of(abi::EndpointRight::Receive)) != 0 || manager_info->badge == 0)
    report.violation(manager::FUNCTION_MANAGER, "rights", manager_info.error());
  auto task_info = sys::Capability(manager::FUNCTION_TASK).identify();
  if (!task_info.ok() || task_info->type != abi::ObjectType::Task ||
      (task_info->rights & abi::rights_of(abi::TaskRight::Capabilities)) != 0)
    report.violation(manager::FUNCTION_TASK, "rights", task_info.error());
  auto factory_info = sys::Capability(manager::FUNCTION_FACTORY).identify();
  if (!factory_info.ok() || factory_info->type != abi::ObjectType::Factory ||
      factory_info->rights != abi::rights_of(abi::FactoryRight::Create))
    report.violation(manager::FUNCTION_FACTORY, "rights", factory_info.error());
  // The machine's free memory would tell of other tenants' use: it reads as 0 without Observe.
  auto quota = sys::Factory(manager::FUNCTION_FACTORY).info();
  if (!quota.ok() || quota->machine_free_bytes != 0)
    report.violation(manager::FUNCTION_FACTORY, "observe", quota.ok() ? Error::None : quota.error());
  if (report.violations == 0) output.write("isolated");
  return report.violations;
}
