// Object types and the rights a capability to each type can carry; shared by kernel and user code.
// Invariant: rights only shrink. Every derivation computes new = old & mask, so no operation
// can set a bit its source capability lacks.
#pragma once

#include "abi/types.hpp"

namespace metteagle::abi {

enum class ObjectType : u32 {
  None = 0,
  Task = 1,          // Address space + capability space.
  Thread = 2,        // Registers, UTCB, priority, CPU, exception handler.
  Endpoint = 3,      // Synchronous IPC gate; each capability carries a badge.
  Memory = 4,        // Physical pages, mapped into tasks with explicit rights.
  Factory = 5,       // Creates objects and charges them to its quota.
  DebugConsole = 6,  // Serial console and machine exit, for the root task and tests.
};
constexpr u32 OBJECT_TYPE_COUNT = 7;

// Rights are bit sets whose meaning depends on the object type.
enum class TaskRight : u32 { Map = 1, Capabilities = 2 };
enum class ThreadRight : u32 { Control = 1 };
enum class EndpointRight : u32 { Send = 1, Receive = 2, Grant = 4 };
enum class MemoryRight : u32 { Read = 1, Write = 2, Execute = 4 };
enum class FactoryRight : u32 { Create = 1 };
enum class DebugConsoleRight : u32 { Write = 1, Exit = 2 };

constexpr u32 ALL_RIGHTS = 0xffffffff;

// The full rights a newly created object's first capability receives; the bits beyond these are
// never set by the kernel.
constexpr u32 full_rights(ObjectType type) {
  switch (type) {
    case ObjectType::Task: return 3;
    case ObjectType::Thread: return 1;
    case ObjectType::Endpoint: return 7;
    case ObjectType::Memory: return 7;
    case ObjectType::Factory: return 1;
    case ObjectType::DebugConsole: return 3;
    case ObjectType::None: return 0;
  }
  return 0;
}

template <typename Right>
constexpr u32 rights_of(Right right) { return static_cast<u32>(right); }
template <typename Right, typename... More>
constexpr u32 rights_of(Right right, More... more) { return static_cast<u32>(right) | rights_of(more...); }

}  // namespace metteagle::abi
