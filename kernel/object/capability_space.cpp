// Capability space operations; see capability_space.hpp.
#include "object/capability_space.hpp"

#include "object/lifetime.hpp"

namespace kernel {

using metteagle::abi::Error;

Result<Capability*> lookup(Task& task, u64 selector) {
  if (selector == 0 || selector >= task.slot_count) return Error::InvalidCapability;
  Capability& slot = task.slots[selector];
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
  Capability& slot = task.slots[selector];
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

void delete_capability(Capability& slot) {
  if (slot.empty()) return;
  // Children survive their parent: they move up to the grandparent (or become roots).
  while (Capability* child = slot.children.pop_front()) {
    child->parent = slot.parent;
    if (slot.parent != nullptr) slot.parent->children.push_back(*child);
  }
  if (slot.parent != nullptr) decltype(slot.children)::remove(slot);
  KernelObject* object = slot.object;
  decltype(object->capabilities)::remove(slot);
  slot.object = nullptr;
  slot.rights = 0;
  slot.badge = 0;
  slot.parent = nullptr;
  if (object->capabilities.empty()) schedule_destroy(object);
}

void revoke_capability(Capability& slot) {
  // Delete leaves first; each step removes one descendant, so the loop ends after as many steps
  // as there are descendants.
  while (Capability* leaf = slot.children.front()) {
    while (Capability* deeper = leaf->children.front()) leaf = deeper;
    delete_capability(*leaf);
  }
}

}  // namespace kernel
