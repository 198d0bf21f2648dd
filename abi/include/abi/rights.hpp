// Object types and the rights a capability to each type can carry; shared by kernel and user code.
// Invariant: rights only shrink. Every derivation computes new = old & mask, so no operation
// can set a bit its source capability lacks.
#pragma once

#include <type_traits>

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
  Notification = 7,  // A word of event bits: signal sets bits, wait takes them.
  Irq = 8,           // One interrupt line, delivered as bits on a notification.
  IoPorts = 9,       // A range of I/O ports.
  Platform = 10,     // Authority over the machine's devices: creates MMIO memory, I/O port and IRQ objects.
  Reply = 11,        // Holds one caller's pending reply, so a server can answer it later.
};
constexpr u32 OBJECT_TYPE_COUNT = 12;

// Rights are bit sets whose meaning depends on the object type.
enum class TaskRight : u32 { Map = 1, Capabilities = 2 };
// Interrupt: ThreadInterrupt only (a personality sending a signal needs nothing more).
enum class ThreadRight : u32 { Control = 1, Interrupt = 2 };
enum class EndpointRight : u32 { Send = 1, Receive = 2, Grant = 4 };
enum class MemoryRight : u32 { Read = 1, Write = 2, Execute = 4 };
// Observe: read machine-wide figures (FactoryInfo's free physical memory). Only the servers the
// root task starts hold it; a factory created through a capability without it never gets it, so a
// container cannot watch other containers' memory use through the machine's free memory.
enum class FactoryRight : u32 { Create = 1, Observe = 2 };
enum class DebugConsoleRight : u32 { Write = 1, Exit = 2 };
enum class NotificationRight : u32 { Signal = 1, Wait = 2 };
enum class IrqRight : u32 { Control = 1 };
enum class IoPortsRight : u32 { Read = 1, Write = 2 };
enum class PlatformRight : u32 { Devices = 1 };
enum class ReplyRight : u32 { Reply = 1 };

// The right an operation needs when it needs none (abi/syscall.hpp's table).
enum class NoRight : u32 { None = 0 };

// Every object type, each with its rights enum named <type>Right.
#define ABI_OBJECT_TYPES(X) \
  X(Task) X(Thread) X(Endpoint) X(Memory) X(Factory) X(DebugConsole) X(Notification) X(Irq) X(IoPorts) X(Platform) X(Reply)

// True when Right is the rights enum of type.
template <typename Right>
constexpr bool is_right_of(ObjectType type) {
  switch (type) {
#define ABI_RIGHT_OF(name) \
  case ObjectType::name:   \
    return std::is_same_v<Right, name##Right>;
    ABI_OBJECT_TYPES(ABI_RIGHT_OF)
#undef ABI_RIGHT_OF
    case ObjectType::None: return false;
  }
  return false;
}

constexpr u32 ALL_RIGHTS = 0xffffffff;

// The full rights a newly created object's first capability receives; the bits beyond these are
// never set by the kernel.
constexpr u32 full_rights(ObjectType type) {
  switch (type) {
    case ObjectType::Task: return 3;
    case ObjectType::Thread: return 3;
    case ObjectType::Endpoint: return 7;
    case ObjectType::Memory: return 7;
    case ObjectType::Factory: return 3;
    case ObjectType::DebugConsole: return 3;
    case ObjectType::Notification: return 3;
    case ObjectType::Irq: return 1;
    case ObjectType::IoPorts: return 3;
    case ObjectType::Platform: return 1;
    case ObjectType::Reply: return 1;
    case ObjectType::None: return 0;
  }
  return 0;
}

template <typename Right>
constexpr u32 rights_of(Right right) { return static_cast<u32>(right); }
template <typename Right, typename... More>
constexpr u32 rights_of(Right right, More... more) { return static_cast<u32>(right) | rights_of(more...); }

}  // namespace metteagle::abi
