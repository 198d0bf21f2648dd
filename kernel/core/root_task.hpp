// Creation of the root task from boot module 0, with exactly the capabilities of abi/boot.hpp.
#pragma once

#include "lib/multiboot.hpp"

namespace kernel {

// Loads module 0 as the root task and makes its thread ready; panics with the reason if the
// module is not a valid executable (nothing can run without a root task).
void start_root_task(const klib::BootInfo& boot_info);

}  // namespace kernel
