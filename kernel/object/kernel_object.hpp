// KernelObject and Capability: every kernel object's header, and the slot that names one.
// Invariants:
// - every capability naming an object is on that object's `capabilities` list, so destroying the
//   object removes them all and no capability ever dangles;
// - a capability derived from another (copy, transfer) is on its parent's `children` list and its
//   rights are a subset of the parent's: rights only shrink;
// - an object's bytes stay charged to `factory` until they are freed.
#pragma once

#include "abi/rights.hpp"
#include "lib/intrusive_list.hpp"
#include "lib/types.hpp"

namespace kernel {
using namespace klib;
using metteagle::abi::ObjectType;

struct KernelObject;
struct Factory;

struct Capability {
  KernelObject* object = nullptr;  // Null: the slot is empty.
  u32 rights = 0;
  u64 badge = 0;
  Capability* parent = nullptr;
  ListNode sibling_node;  // On parent->children.
  IntrusiveList<Capability, &Capability::sibling_node> children;
  ListNode object_node;  // On object->capabilities.

  bool empty() const { return object == nullptr; }
  template <typename Right> bool has(Right right) const {
    return (rights & static_cast<u32>(right)) == static_cast<u32>(right);
  }
};

struct KernelObject {
  ObjectType type = ObjectType::None;
  bool dying = false;          // Set when queued for destruction; capability lookups then fail.
  Factory* factory = nullptr;  // Charged for this object; null only for boot-time objects.
  usize charged_bytes = 0;
  ListNode factory_node;  // On factory->objects, so destroying the factory finds it.
  ListNode destroy_node;  // On the deferred destruction queue.
  IntrusiveList<Capability, &Capability::object_node> capabilities;
};

}  // namespace kernel
