// The generic system-call dispatcher: decodes an operation's target from the ABI table's row
// (abi/syscall.hpp), then runs the operation's handler, invoke<Operation>.
// Invariant: a handler runs only once its target capability names an object of the row's type
// and carries the row's right (seL4's decode/invoke split); a handler reports failure by
// returning an error, and then the dispatcher, not the handler, writes it for the caller.
#pragma once

#include "abi/syscall.hpp"
#include "core/syscall_arguments.hpp"
#include "lib/result.hpp"
#include "object/capability_space.hpp"
#include "object/task.hpp"
#include "object/thread.hpp"

namespace kernel {

namespace abi = metteagle::abi;

// What a handler that did not fail leaves behind: Finished, the call returns success now (the
// dispatcher writes it); Continues, the result is written elsewhere (by the thread that wakes a
// blocked caller, by a restarted call's next entry, by a resumed personality) or never (exit).
enum class Outcome : u8 { Finished, Continues };

// The kernel structure of each object type: ObjectOf<ObjectType::Endpoint>::Type is Endpoint.
#define KERNEL_DECLARE_OBJECT(name) struct name;
ABI_OBJECT_TYPES(KERNEL_DECLARE_OBJECT)
#undef KERNEL_DECLARE_OBJECT
template <ObjectType Type> struct ObjectOf;
#define KERNEL_OBJECT_OF(name) \
  template <> struct ObjectOf<ObjectType::name> { using Type = name; };
ABI_OBJECT_TYPES(KERNEL_OBJECT_OF)
#undef KERNEL_OBJECT_OF

// What the dispatcher hands a handler as its target, by the row's target column.
template <abi::TargetKind Kind, ObjectType Type> struct TargetFor {};  // None: the target word names nothing.
template <ObjectType Type> struct TargetFor<abi::TargetKind::Any, Type> { Capability& capability; };
template <ObjectType Type> struct TargetFor<abi::TargetKind::Object, Type> {
  Capability& capability;
  typename ObjectOf<Type>::Type& object;
};
template <ObjectType Type> struct TargetFor<abi::TargetKind::ThreadOrSelf, Type> {
  Thread& thread;  // The named thread, or the caller for selector 0.
};
template <abi::Syscall Operation> using Target =
    TargetFor<abi::syscall_description(Operation).target.kind, abi::syscall_description(Operation).target.type>;

// Looks up the target of Operation and checks its type and right; nothing changes on failure.
template <abi::Syscall Operation>
[[nodiscard]] inline Result<Target<Operation>> decode_target(Thread& self, u64 selector) {
  constexpr abi::SyscallDescription row = abi::syscall_description(Operation);
  using Decoded = Target<Operation>;
  if constexpr (row.target.kind == abi::TargetKind::None) {
    (void)self;
    (void)selector;
    return Decoded{};
  } else if constexpr (row.target.kind == abi::TargetKind::Any) {
    Capability* capability = TRY(lookup(*self.task, selector));
    return Decoded{*capability};
  } else if constexpr (row.target.kind == abi::TargetKind::ThreadOrSelf) {
    if (selector == abi::NULL_SELECTOR) return Decoded{self};
    Capability* capability = TRY(lookup(*self.task, selector, ObjectType::Thread, row.rights));
    return Decoded{*object_of<Thread>(*capability)};
  } else {
    Capability* capability = TRY(lookup(*self.task, selector, row.target.type, row.rights));
    return Decoded{*capability, *object_of<typename ObjectOf<row.target.type>::Type>(*capability)};
  }
}

// The handler of Operation: validates its arguments, then acts. Each operation's is defined in
// the file of its object, which also instantiates the operation's dispatcher (below). Handlers
// are defined `template <> [[gnu::always_inline]] inline`: each becomes the body of its one
// dispatcher, as a hand-written table entry was, so no system call pays an extra call.
template <abi::Syscall Operation>
[[nodiscard]] Result<Outcome> invoke(Thread& self, Target<Operation> target, SyscallArguments<Operation>& arguments);

// One operation's entry in the handler table: decode, invoke, deliver the error or success.
template <abi::Syscall Operation> void dispatch(Thread& self, arch::TrapFrame& frame) {
  SyscallArguments<Operation> arguments(frame);
  auto target = decode_target<Operation>(self, arguments.selector());
  if (!target.ok()) return arguments.set_error(target.error());
  Result<Outcome> outcome = invoke<Operation>(self, target.value(), arguments);
  if (!outcome.ok()) return arguments.set_error(outcome.error());
  if (outcome.value() == Outcome::Finished) arguments.set_error(abi::Error::None);
}

// Instantiates Operation's dispatcher in the file that defines its handler, so the handler is
// inlined into it; the table (syscalls.cpp) refers to it. A missing handler or instantiation
// fails the kernel's link.
#define KERNEL_SYSCALL_DISPATCHER(name) \
  template void dispatch<metteagle::abi::Syscall::name>(Thread & self, arch::TrapFrame & frame)

// Every operation's dispatcher is instantiated in its handler's file, nowhere else.
#define KERNEL_EXTERN_DISPATCHER(name, number, target, right, lock, arguments, outputs, errors, summary) \
  extern template void dispatch<abi::Syscall::name>(Thread & self, arch::TrapFrame & frame);
ABI_SYSCALLS(KERNEL_EXTERN_DISPATCHER)
#undef KERNEL_EXTERN_DISPATCHER

}  // namespace kernel
