// Capability space operations; see capability_space.hpp.
#include "object/capability_space.hpp"

#include "object/lifetime.hpp"

namespace kernel {

using metteagle::abi::Error;

Result<Capability*> lookup(Task& task, u64 selector) {
  if (selector == 0 || selector >= task.slot_count) return Error::InvalidCapability;
  Capability* chunk = task.slot_chunks[selector / SLOT_CHUNK];
  if (chunk == nullptr) return Error::InvalidCapability;  // A chunk not made yet holds only empty slots.
  Capability& slot = chunk[selector % SLOT_CHUNK];
  if (slot.empty()) return Error::InvalidCapability;
  if (slot.object->dying) return Error::Destroyed;
  return &slot;
}

Result<Capability*> lookup(Task& task, u64 selector, ObjectType type, u32 needed_rights) {
  Capability* slot = TRY(lookup(task, selector));
  if (slot->object->type != type) return Error::WrongType;
  if ((slot->rights & needed_rights) != needed_rights) return Error::NoRights;
  return slot;
}

Result<Capability*> lookup_empty(Task& task, u64 selector) {
  if (selector == 0 || selector >= task.slot_count) return Error::InvalidCapability;
  Capability* chunk = task.slot_chunks[selector / SLOT_CHUNK];
  if (chunk == nullptr) chunk = TRY(make_slot_chunk(task, selector / SLOT_CHUNK));
  Capability& slot = chunk[selector % SLOT_CHUNK];
  if (!slot.empty()) return Error::SlotOccupied;
  return &slot;
}

void install_capability(Capability& slot, KernelObject* object, u32 rights, u64 badge) {
  slot.object = object;
  slot.rights = rights & metteagle::abi::full_rights(object->type);
  slot.badge = badge;
  slot.parent = nullptr;
  object->capabilities.push_back(slot);
}

void derive_capability(Capability& destination, Capability& source, u32 rights_mask, u64 badge) {
  destination.object = source.object;
  destination.rights = source.rights & rights_mask;
  destination.badge = source.badge != 0 ? source.badge : badge;
  destination.parent = &source;
  source.children.push_back(destination);
  source.object->capabilities.push_back(destination);
}

namespace {

// Moves children of capability up to its parent (or makes them roots) until none is left or work
// reaches limit; one unit per child. False while children remain.
bool lift_children(Capability& capability, u64& work, u64 limit) {
  while (!capability.children.empty()) {
    if (work >= limit) return false;
    Capability* child = capability.children.pop_front();
    child->parent = capability.parent;
    if (capability.parent != nullptr) capability.parent->children.push_back(*child);
    ++work;
  }
  return true;
}

// Empties a slot that has no children.
void delete_childless(Capability& slot) {
  if (slot.parent != nullptr) decltype(slot.children)::remove(slot);
  KernelObject* object = slot.object;
  decltype(object->capabilities)::remove(slot);
  slot.object = nullptr;
  slot.rights = 0;
  slot.badge = 0;
  slot.parent = nullptr;
  if (object->capabilities.empty()) schedule_destroy(object);
}

}  // namespace

bool delete_capability(Capability& slot, u64& work, u64 limit) {
  if (slot.empty()) return true;
  // Children survive their parent: they move up to the grandparent (or become roots).
  if (!lift_children(slot, work, limit)) return false;
  delete_childless(slot);
  ++work;
  return true;
}

bool revoke_capability(Capability& slot, u64& work, u64 limit) {
  // The first child goes after its own children moved up to slot (behind its siblings): each
  // capability moves at most once and is deleted once, so the whole revocation is linear in the
  // descendants and every unit of work is one move or one deletion, whatever the tree's shape.
  // (Deleting leaves first, found by descending from slot each time, was quadratic in a chain.)
  while (Capability* child = slot.children.front()) {
    if (work >= limit) return false;
    if (!lift_children(*child, work, limit)) return false;
    delete_childless(*child);
    ++work;
  }
  return true;
}

}  // namespace kernel
