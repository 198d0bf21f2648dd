// Adversarial: tries to give its manager capability another badge (to pose as another
// invocation or tenant). Every attempt must fail; exit code = number that succeeded.
#include "function/function.hpp"
#include "sys/sys.hpp"

int function_main(const FunctionInput&, FunctionOutput& output) {
  using sys::Capability;
  int violations = 0;
  Capability manager_endpoint(manager::FUNCTION_MANAGER);
  auto original = manager_endpoint.identify();
  if (!original.ok()) {
    output.print("identify:%s", sys::error_name(original.error()));
    return 100;
  }
  u64 forged = function_allocate_slot();
  u64 plain = function_allocate_slot();
  u64 reforged = function_allocate_slot();
  // A direct rebadge of the badged capability.
  for (u64 badge : {u64{1}, u64{2}, original->badge + 1, ~u64{0}}) {
    auto copied = manager_endpoint.copy_to(forged, sys::abi::ALL_RIGHTS, badge);
    if (copied.ok()) {
      ++violations;
      auto info = Capability(forged).identify();
      output.print("rebadged:%lu->%lu;", original->badge, info.ok() ? info->badge : 0);
      (void)Capability(forged).remove();
    }
  }
  // A plain copy keeps the badge, and the copy cannot be rebadged either.
  if (manager_endpoint.copy_to(plain, sys::abi::ALL_RIGHTS, 0).ok()) {
    auto info = Capability(plain).identify();
    if (!info.ok() || info->badge != original->badge) {
      ++violations;
      output.print("copy-badge:%lu;", info.ok() ? info->badge : 0);
    }
    if (Capability(plain).copy_to(reforged, sys::abi::ALL_RIGHTS, 7).ok()) {
      ++violations;
      output.write("copy-rebadged;");
    }
  }
  if (violations == 0) output.print("badge-kept");
  return violations;
}
