// Capability space operations: finding, filling, deriving, deleting and revoking slots of a task.
// Invariant: every lookup validates selector range, emptiness, liveness, type and rights before
// returning a slot; derive never grants a right the source lacks.
#pragma once

#include "lib/result.hpp"
#include "object/kernel_object.hpp"
#include "object/task.hpp"

namespace kernel {

// The slot named by selector; InvalidCapability when out of range or empty, Destroyed when dying.
[[nodiscard]] Result<Capability*> lookup(Task& task, u64 selector);
// As lookup, plus WrongType and NoRights checks.
[[nodiscard]] Result<Capability*> lookup(Task& task, u64 selector, ObjectType type, u32 needed_rights);
// An empty slot to fill; InvalidCapability for selector 0 or out of range, SlotOccupied if full.
// Makes the slot's chunk when it is the chunk's first fill (make_slot_chunk: QuotaExceeded or
// OutOfMemory when it cannot), so callers validate everything else first.
[[nodiscard]] Result<Capability*> lookup_empty(Task& task, u64 selector);

template <typename Object> Object* object_of(Capability& capability) {
  return reinterpret_cast<Object*>(capability.object);
}

// Fills an empty slot with a capability to object that has no parent (the object's first one).
void install_capability(Capability& slot, KernelObject* object, u32 rights, u64 badge = 0);
// Fills an empty slot with a child of source: rights = source.rights & rights_mask, and the badge
// given when source is unbadged (a badge, once set, is fixed).
void derive_capability(Capability& destination, Capability& source, u32 rights_mask, u64 badge);
// Capabilities can have any number of children (copies spread over a tenant's tasks), so both
// operations below work in bounded steps: each child moved or capability deleted adds one unit
// to work, and they stop (false) once work reaches limit, leaving a consistent tree to continue
// from (the slot keeps the children not yet handled).
//
// Empties a slot; its children move to its parent. When it was the object's last capability, the
// object is queued for destruction. False, with the slot still full, while children remain.
[[nodiscard]] bool delete_capability(Capability& slot, u64& work, u64 limit);
// Deletes every capability derived from slot, directly or indirectly; slot itself stays. False
// while descendants remain.
[[nodiscard]] bool revoke_capability(Capability& slot, u64& work, u64 limit);
// How much of that work one system call does before it continues in a new kernel entry.
constexpr u64 CAPABILITY_STEP_WORK = 8192;

}  // namespace kernel
