// The system-call handler table, generated from abi/syscall.hpp's table, and the entry from
// user mode; with the handlers of the debug console, capabilities, factories, tasks, threads and IPC.
// Invariant: each handler runs only after the dispatcher validated its target (type and right);
// it validates its arguments before it changes anything, so a failing call changes nothing.
#include "abi/syscall.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/console.hpp"
#include "arch/x86_64/address_space.hpp"
#include "core/ipc.hpp"
#include "core/kernel_lock.hpp"
#include "core/heap.hpp"
#include "core/memory.hpp"
#include "core/scheduler.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/capability_space.hpp"
#include "object/lazy_memory.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::rights_of;
using abi::Syscall;

template <>
Result<Outcome> invoke<Syscall::DebugWrite>(Thread&, Target<Syscall::DebugWrite>,
                                            SyscallArguments<Syscall::DebugWrite>& arguments) {
  if (arguments.length() > PAGE_SIZE) return Error::InvalidArgument;
  char buffer[PAGE_SIZE];
  TRY_VOID(arguments.text().copy_in(buffer));
  arch::serial_write(buffer, arguments.length());
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(DebugWrite);

template <>
Result<Outcome> invoke<Syscall::DebugExit>(Thread&, Target<Syscall::DebugExit>,
                                           SyscallArguments<Syscall::DebugExit>& arguments) {
  arch::qemu_exit(arguments.exit_code());
}
KERNEL_SYSCALL_DISPATCHER(DebugExit);

template <>
Result<Outcome> invoke<Syscall::CapabilityIdentify>(Thread&, Target<Syscall::CapabilityIdentify> target,
                                                    SyscallArguments<Syscall::CapabilityIdentify>& arguments) {
  arguments.set_description(static_cast<u64>(target.capability.object->type), target.capability.rights,
                            target.capability.badge);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(CapabilityIdentify);

template <>
Result<Outcome> invoke<Syscall::CapabilityCopy>(Thread& self, Target<Syscall::CapabilityCopy> target,
                                                SyscallArguments<Syscall::CapabilityCopy>& arguments) {
  Capability& source = target.capability;
  Capability* destination = TRY(lookup_empty(own_task(self), arguments.destination_slot()));
  u64 badge = arguments.badge();
  // A badge can be set once, on an unbadged endpoint capability; it then names the holder.
  if (badge != 0 && (source.object->type != ObjectType::Endpoint || source.badge != 0)) return Error::InvalidArgument;
  derive_capability(*destination, source, static_cast<u32>(arguments.rights_mask()), badge);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(CapabilityCopy);

template <>
Result<Outcome> invoke<Syscall::CapabilityDelete>(Thread&, Target<Syscall::CapabilityDelete> target,
                                                  SyscallArguments<Syscall::CapabilityDelete>& arguments) {
  u64 work = 0;
  if (!delete_capability(target.capability, work, CAPABILITY_STEP_WORK)) {
    arguments.restart(Syscall::CapabilityDelete);
    return Outcome::Continues;
  }
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(CapabilityDelete);

template <>
Result<Outcome> invoke<Syscall::CapabilityRevoke>(Thread&, Target<Syscall::CapabilityRevoke> target,
                                                  SyscallArguments<Syscall::CapabilityRevoke>& arguments) {
  u64 work = 0;
  if (!revoke_capability(target.capability, work, CAPABILITY_STEP_WORK)) {
    arguments.restart(Syscall::CapabilityRevoke);
    return Outcome::Continues;
  }
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(CapabilityRevoke);

namespace {

// The new object of FactoryCreate, by type; nothing exists yet when it fails.
Result<KernelObject*> create_object(Thread& self, Factory* factory, ObjectType type,
                                    const SyscallArguments<Syscall::FactoryCreate>& arguments) {
  u64 size = arguments.size();
  switch (type) {
    case ObjectType::Task: return &TRY(create_task(factory, size))->header;
    case ObjectType::Thread: {
      Capability* target = TRY(lookup(own_task(self), arguments.task_selector(), ObjectType::Task,
                                      rights_of(abi::TaskRight::Map)));
      Thread* thread = TRY(create_thread(factory, *object_of<Task>(*target), arguments.utcb_address()));
      // A new thread may not outrank its creator, nor run where its creator may not.
      thread->priority = self.priority;
      thread->allowed_cpus = self.allowed_cpus;
      thread->cpu = static_cast<u32>(__builtin_ctzll(self.allowed_cpus));
      return &thread->header;
    }
    case ObjectType::Endpoint: return &TRY(create_endpoint(factory))->header;
    case ObjectType::Memory: {
      u64 flags = arguments.memory_flags();
      if ((flags & ~abi::MEMORY_LAZY) != 0) return Error::InvalidArgument;
      // The lazy path stays apart from ordinary creation, which fills every page now.
      Memory* memory = (flags & abi::MEMORY_LAZY) != 0 ? TRY(create_lazy_memory(factory, size))
                                                       : TRY(create_memory(factory, size));
      return &memory->header;
    }
    case ObjectType::Factory: return &TRY(create_factory(factory, size))->header;
    case ObjectType::Reply: return &TRY(create_reply(factory))->header;
    case ObjectType::Notification: return &TRY(create_notification(factory))->header;
    default: return Error::InvalidArgument;
  }
}

}  // namespace

template <>
Result<Outcome> invoke<Syscall::FactoryCreate>(Thread& self, Target<Syscall::FactoryCreate> target,
                                               SyscallArguments<Syscall::FactoryCreate>& arguments) {
  auto type = static_cast<ObjectType>(arguments.object_type());
  Capability* destination = TRY(lookup_empty(own_task(self), arguments.destination_slot()));
  KernelObject* created = TRY(create_object(self, &target.object, type, arguments));
  // All rights, except that Observe passes only from a capability that has it (rights only shrink).
  u32 rights = abi::ALL_RIGHTS;
  if (type == ObjectType::Factory && !target.capability.has(abi::FactoryRight::Observe))
    rights &= ~rights_of(abi::FactoryRight::Observe);
  install_capability(*destination, created, rights);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(FactoryCreate);

template <>
Result<Outcome> invoke<Syscall::FactoryInfo>(Thread&, Target<Syscall::FactoryInfo> target,
                                             SyscallArguments<Syscall::FactoryInfo>& arguments) {
  Factory& factory = target.object;
  arguments.set_quota(factory.quota);
  arguments.set_used(factory.used);
  // What the frame allocator can still hand out: heap frames come back when their objects go,
  // so a churn that ends where it began shows the same figure (the soak and /metrics check it).
  // Only with Observe: the machine's free memory tells of every other task's use.
  bool observe = target.capability.has(abi::FactoryRight::Observe);
  arguments.set_machine_free(observe ? frames().free_frames() * PAGE_SIZE : 0);
  // The kernel heap's share of it: bytes in live objects and the pages that hold them. Free
  // memory plus heap pages is what a leak changes; objects spread differently over slab pages
  // change only the split.
  arguments.set_heap_in_objects(observe ? heap_bytes_in_use() : 0);
  arguments.set_heap_pages(observe ? heap_frames() * PAGE_SIZE : 0);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(FactoryInfo);

template <>
Result<Outcome> invoke<Syscall::TaskMap>(Thread& self, Target<Syscall::TaskMap> target,
                                         SyscallArguments<Syscall::TaskMap>& arguments) {
  u64 rights = arguments.rights();
  if ((rights & ~u64{7}) != 0 || (rights & rights_of(abi::MemoryRight::Read)) == 0) return Error::InvalidArgument;
  Capability* memory = TRY(lookup(own_task(self), arguments.memory_selector(), ObjectType::Memory, static_cast<u32>(rights)));
  bool writable = (rights & rights_of(abi::MemoryRight::Write)) != 0;
  bool executable = (rights & rights_of(abi::MemoryRight::Execute)) != 0;
  u64 stopped_at = TRY(map_memory(target.object, *object_of<Memory>(*memory), arguments.first_page(),
                                  arguments.address(), arguments.page_count(), writable, executable));
  arguments.set_stopped_at(stopped_at);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(TaskMap);

template <>
Result<Outcome> invoke<Syscall::TaskUnmap>(Thread&, Target<Syscall::TaskUnmap> target,
                                           SyscallArguments<Syscall::TaskUnmap>& arguments) {
  arguments.set_stopped_at(TRY(unmap_memory(target.object, arguments.address(), arguments.page_count())));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(TaskUnmap);

template <>
Result<Outcome> invoke<Syscall::TaskGiveCapability>(Thread& self, Target<Syscall::TaskGiveCapability> target,
                                                    SyscallArguments<Syscall::TaskGiveCapability>& arguments) {
  Capability* source = TRY(lookup(own_task(self), arguments.own_slot()));
  Capability* destination = TRY(lookup_empty(target.object, arguments.task_slot()));
  derive_capability(*destination, *source, static_cast<u32>(arguments.rights_mask()), 0);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(TaskGiveCapability);

template <>
Result<Outcome> invoke<Syscall::ThreadStart>(Thread&, Target<Syscall::ThreadStart> target,
                                             SyscallArguments<Syscall::ThreadStart>& arguments) {
  Thread& thread = target.object;
  u64 instruction_pointer = arguments.instruction_pointer();
  u64 stack_pointer = arguments.stack_pointer();
  if (thread.state != ThreadState::Inactive) return Error::Busy;
  // Code can only run in mapped pages, below the usable end (abi/syscall.hpp).
  if (instruction_pointer >= abi::USER_SPACE_USABLE_END || stack_pointer >= abi::USER_SPACE_END)
    return Error::InvalidArgument;
  arch::set_user_entry(*thread.frame, instruction_pointer, stack_pointer, arguments.start_argument());
  make_ready(thread);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadStart);

template <>
Result<Outcome> invoke<Syscall::ThreadConfigure>(Thread& self, Target<Syscall::ThreadConfigure> target,
                                                 SyscallArguments<Syscall::ThreadConfigure>& arguments) {
  Thread& thread = target.object;
  u64 priority = arguments.priority();
  u64 cpu = arguments.cpu();
  u64 handler_selector = arguments.exception_endpoint_selector();
  // Ceilings are the caller's own: no thread can raise another above its priority or let it run
  // on a CPU outside its own set. The new set (0: keep the target's) must lie within the caller's.
  u64 allowed = arguments.allowed_cpus() != 0 ? arguments.allowed_cpus() : thread.allowed_cpus;
  if (priority >= PRIORITY_LEVELS || priority > self.priority || cpu >= cpu_count() ||
      (allowed & ~self.allowed_cpus) != 0 || ((allowed >> cpu) & 1) == 0)
    return Error::InvalidArgument;
  Endpoint* handler = nullptr;
  u64 handler_badge = 0;
  if (handler_selector != abi::NULL_SELECTOR) {
    Capability* endpoint = TRY(lookup(own_task(self), handler_selector, ObjectType::Endpoint,
                                      rights_of(abi::EndpointRight::Send)));
    handler = object_of<Endpoint>(*endpoint);
    handler_badge = endpoint->badge;
  }
  thread.allowed_cpus = allowed;
  move_thread(thread, static_cast<u32>(cpu), static_cast<u8>(priority));
  if (thread.exception_endpoint != nullptr) decltype(thread.exception_endpoint->handled_threads)::remove(thread);
  thread.exception_endpoint = handler;
  thread.exception_badge = handler_badge;
  if (handler != nullptr) handler->handled_threads.push_back(thread);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadConfigure);

template <>
Result<Outcome> invoke<Syscall::ThreadExit>(Thread& self, Target<Syscall::ThreadExit>,
                                            SyscallArguments<Syscall::ThreadExit>&) {
  stop_thread(self);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadExit);

template <>
Result<Outcome> invoke<Syscall::ThreadYield>(Thread&, Target<Syscall::ThreadYield>,
                                             SyscallArguments<Syscall::ThreadYield>& arguments) {
  // The result is written before the switch: this thread's frame is read when it runs again.
  arguments.set_error(Error::None);
  yield_current();
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(ThreadYield);

template <>
Result<Outcome> invoke<Syscall::IpcCall>(Thread&, Target<Syscall::IpcCall> target,
                                         SyscallArguments<Syscall::IpcCall>& arguments) {
  ipc_send(target.capability, true, arguments.timeout());
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(IpcCall);

template <>
Result<Outcome> invoke<Syscall::IpcSend>(Thread&, Target<Syscall::IpcSend> target,
                                         SyscallArguments<Syscall::IpcSend>& arguments) {
  ipc_send(target.capability, false, arguments.timeout());
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(IpcSend);

template <>
Result<Outcome> invoke<Syscall::IpcReceive>(Thread&, Target<Syscall::IpcReceive> target,
                                            SyscallArguments<Syscall::IpcReceive>& arguments) {
  ipc_receive(target.object, arguments.timeout());
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(IpcReceive);

template <>
Result<Outcome> invoke<Syscall::IpcReply>(Thread&, Target<Syscall::IpcReply>, SyscallArguments<Syscall::IpcReply>&) {
  if (!ipc_reply()) return Error::NotFound;
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IpcReply);

template <>
Result<Outcome> invoke<Syscall::IpcReplyWait>(Thread&, Target<Syscall::IpcReplyWait> target,
                                              SyscallArguments<Syscall::IpcReplyWait>& arguments) {
  (void)ipc_reply();  // With no caller there is nothing to answer; the wait still happens.
  ipc_receive(target.object, arguments.timeout());
  return Outcome::Continues;
}
KERNEL_SYSCALL_DISPATCHER(IpcReplyWait);

template <>
Result<Outcome> invoke<Syscall::IpcSaveReply>(Thread&, Target<Syscall::IpcSaveReply> target,
                                              SyscallArguments<Syscall::IpcSaveReply>&) {
  TRY_VOID(ipc_save_reply(target.object));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IpcSaveReply);

template <>
Result<Outcome> invoke<Syscall::IpcReplyWith>(Thread&, Target<Syscall::IpcReplyWith> target,
                                              SyscallArguments<Syscall::IpcReplyWith>&) {
  TRY_VOID(ipc_reply_with(target.object));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(IpcReplyWith);

template <>
Result<Outcome> invoke<Syscall::ThreadSelf>(Thread& self, Target<Syscall::ThreadSelf>,
                                            SyscallArguments<Syscall::ThreadSelf>& arguments) {
  arguments.set_cpu(self.cpu);
  arguments.set_timestamp(arch::read_tsc());
  arguments.set_timestamp_hertz(arch::tsc_hertz());
  arguments.set_cpus_online(cpu_count());
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(ThreadSelf);

namespace {

// Every operation's dispatcher, indexed by number: the table is the ABI table, so its order,
// its length and each entry's target and right cannot drift from abi/syscall.hpp.
using Handler = void (*)(Thread& self, arch::TrapFrame& frame);
constexpr Handler handlers[abi::SYSCALL_COUNT] = {
#define KERNEL_HANDLER_ENTRY(name, number, target, right, lock, arguments, outputs, errors, summary) \
  dispatch<Syscall::name>,
    ABI_SYSCALLS(KERNEL_HANDLER_ENTRY)
#undef KERNEL_HANDLER_ENTRY
};

// The dispatcher below takes the kernel lock for every operation: the table may not yet ask for less.
#define KERNEL_LOCK_CHECK(name, number, target, right, lock, arguments, outputs, errors, summary) \
  static_assert(abi::SyscallLock::lock == abi::SyscallLock::Kernel, #name ": only the kernel lock exists");
ABI_SYSCALLS(KERNEL_LOCK_CHECK)
#undef KERNEL_LOCK_CHECK

}  // namespace

// Everything that must happen before any return to user mode.
void on_return_to_user() {
  if (destroy_queue_length != 0) finish_destroy_queue();
  Thread& self = *current_thread();
  // Every path that sets a user rip checks it; should one ever let a return address outside
  // usable user space through, the thread ends as its own fault: the exit path never returns to
  // it (sysret to a non-canonical rip faults in ring 0 on the user's stack, CVE-2012-0217).
  if (self.state != ThreadState::Dead && arch::user_instruction_pointer(*self.frame) >= metteagle::abi::USER_SPACE_USABLE_END) stop_thread(self);
  if (current_thread()->state == ThreadState::Dead) exit_current();
  preempt_if_needed();
  // A shootdown may have moved this CPU to the kernel's tables; user code needs its own.
  // (A dead thread never gets here: exit_current does not return.)
  arch::address_space_activate(current_thread()->task->page_table_root);
}

}  // namespace kernel

extern "C" void syscall_dispatch(arch::TrapFrame* frame) {
  using namespace kernel;
  kernel_lock_acquire();
  Thread& self = *current_thread();
  arch::SyscallRegisters registers(*frame);
  u64 operation = registers.operation();
  // While this CPU waited for the kernel lock, another may have destroyed this thread: then it
  // only leaves (on_return_to_user), it does nothing more.
  if (self.state == ThreadState::Dead) {
    // Nothing: its task may be gone.
  } else if (self.syscall_handler_entry != 0 && redirect_to_personality(self, *frame)) {
    // A foreign system call: the thread continues in its user-level handler.
  } else if (operation < metteagle::abi::SYSCALL_COUNT) {
    handlers[operation](self, *frame);
  } else {
    registers.set_error(metteagle::abi::Error::Unsupported);
  }
  on_return_to_user();
  kernel_lock_release();
}
