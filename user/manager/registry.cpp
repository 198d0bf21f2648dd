// The function registry; see registry.hpp.
#include "registry.hpp"

namespace manager {
namespace {
bool same_name(const char* a, const char* b) {
  for (usize i = 0; i < NAME_BYTES; ++i) {
    if (a[i] != b[i]) return false;
    if (a[i] == '\0') return true;
  }
  return true;
}
}  // namespace

Function* Registry::find(u64 tenant, const char* name) {
  for (Function& function : functions_)
    if (function.live && function.tenant == tenant && same_name(function.name, name)) return &function;
  return nullptr;
}

Function* Registry::reserve() {
  for (Function& function : functions_)
    if (!function.live && function.users == 0 && !function.removed && function.segment_count == 0) return &function;
  return nullptr;
}

}  // namespace manager
