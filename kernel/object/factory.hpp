// Factory: creates kernel objects and charges their memory to its quota.
// Invariant: used <= quota; a child factory's whole quota is charged to its parent while the child
// exists; `objects` lists every live object charged here, so destroying the factory reclaims them.
#pragma once

#include "lib/result.hpp"
#include "object/kernel_object.hpp"

namespace kernel {

struct Factory {
  KernelObject header;
  u64 quota = 0;
  u64 used = 0;
  u32 depth = 0;  // Nesting level below the root factory; bounded so destruction stays shallow.
  IntrusiveList<KernelObject, &KernelObject::factory_node> objects;
};

constexpr u32 MAX_FACTORY_DEPTH = 8;

[[nodiscard]] Result<void> factory_charge(Factory* factory, u64 bytes);
void factory_refund(Factory* factory, u64 bytes);
// A zeroed frame charged to factory: QuotaExceeded when the quota cannot pay for it,
// OutOfMemory when the quota could but the machine has no frame left.
[[nodiscard]] Result<u64> allocate_charged_frame(Factory* factory);
// Gives back a frame of allocate_charged_frame and its charge.
void free_charged_frame(Factory* factory, u64 frame);

[[nodiscard]] Result<Factory*> create_factory(Factory* parent, u64 quota);
// The root factory belongs to no factory.
Factory* create_root_factory(u64 quota);
// A factory goes last: false while the objects it created are still queued before it.
bool destroy_factory(Factory& factory);

}  // namespace kernel
