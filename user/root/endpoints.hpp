// The shared endpoints of the boot configuration: one Endpoint object per name, created the first
// time a program names it. Invariant: a name maps to exactly one endpoint for the whole boot.
#pragma once

#include "boot_config.hpp"
#include "sys/sys.hpp"

namespace root {

class EndpointRegistry {
 public:
  static constexpr sys::usize MAX_ENDPOINTS = 32;

  // The root's full-rights, unbadged capability for `name`, creating the endpoint if needed.
  [[nodiscard]] sys::Result<sys::Endpoint> find_or_create(const char* name, sys::Factory factory,
                                                          sys::SlotAllocator& slots);

 private:
  struct Entry {
    char name[MAX_NAME_LENGTH + 1];
    sys::Endpoint endpoint;
  };
  Entry entries_[MAX_ENDPOINTS] = {};
  sys::usize count_ = 0;
};

}  // namespace root
