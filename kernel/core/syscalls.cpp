// System-call dispatch and the handlers of every operation in abi/syscall.hpp.
// Each handler first validates (selectors, types, rights, arguments) and only then acts, so a
// failing call changes nothing. Results go into the caller's saved registers.
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
#include "core/syscall_support.hpp"
#include "core/user_memory.hpp"
#include "object/capability_space.hpp"
#include "object/lazy_memory.hpp"
#include "object/lifetime.hpp"

namespace kernel {
namespace {

namespace abi = metteagle::abi;
using abi::Error;
using abi::rights_of;
using arch::TrapFrame;

using Handler = SyscallHandler;

void debug_write(Thread& self, TrapFrame& frame) {
  auto console = lookup(own_task(self), frame.rdi, ObjectType::DebugConsole, rights_of(abi::DebugConsoleRight::Write));
  if (!console) return finish(frame, console.error());
  u64 address = argument(frame, 1);
  u64 length = argument(frame, 2);
  if (length > PAGE_SIZE) return finish(frame, Error::InvalidArgument);
  char buffer[PAGE_SIZE];
  if (!copy_from_user(buffer, address, length)) return finish(frame, Error::InvalidArgument);
  arch::serial_write(buffer, length);
  finish(frame, Error::None);
}

void debug_exit(Thread& self, TrapFrame& frame) {
  auto console = lookup(own_task(self), frame.rdi, ObjectType::DebugConsole, rights_of(abi::DebugConsoleRight::Exit));
  if (!console) return finish(frame, console.error());
  arch::qemu_exit(static_cast<u8>(argument(frame, 1)));
}

void capability_identify(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi);
  if (!slot) return finish(frame, slot.error());
  frame.rsi = static_cast<u64>(slot.value()->object->type);
  frame.rdx = slot.value()->rights;
  frame.r10 = slot.value()->badge;
  finish(frame, Error::None);
}

void capability_copy(Thread& self, TrapFrame& frame) {
  auto source = lookup(own_task(self), frame.rdi);
  if (!source) return finish(frame, source.error());
  auto destination = lookup_empty(own_task(self), argument(frame, 1));
  if (!destination) return finish(frame, destination.error());
  u64 rights_mask = argument(frame, 2);
  u64 badge = argument(frame, 3);
  // A badge can be set once, on an unbadged endpoint capability; it then names the holder.
  if (badge != 0 && (source.value()->object->type != ObjectType::Endpoint || source.value()->badge != 0))
    return finish(frame, Error::InvalidArgument);
  derive_capability(*destination.value(), *source.value(), static_cast<u32>(rights_mask), badge);
  finish(frame, Error::None);
}

void capability_delete(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi);
  if (!slot) return finish(frame, slot.error());
  u64 work = 0;
  if (!delete_capability(*slot.value(), work, CAPABILITY_STEP_WORK))
    return continue_in_next_entry(frame, abi::Syscall::CapabilityDelete);
  finish(frame, Error::None);
}

void capability_revoke(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi);
  if (!slot) return finish(frame, slot.error());
  u64 work = 0;
  if (!revoke_capability(*slot.value(), work, CAPABILITY_STEP_WORK))
    return continue_in_next_entry(frame, abi::Syscall::CapabilityRevoke);
  finish(frame, Error::None);
}

void factory_create(Thread& self, TrapFrame& frame) {
  Task& task = own_task(self);
  auto factory_slot = lookup(task, frame.rdi, ObjectType::Factory, rights_of(abi::FactoryRight::Create));
  if (!factory_slot) return finish(frame, factory_slot.error());
  auto* factory = object_of<Factory>(*factory_slot.value());
  auto type = static_cast<ObjectType>(argument(frame, 1));
  auto destination = lookup_empty(task, argument(frame, 2));
  if (!destination) return finish(frame, destination.error());
  u64 size = argument(frame, 3);

  KernelObject* created = nullptr;
  switch (type) {
    case ObjectType::Task: {
      auto result = create_task(factory, size);
      if (!result) return finish(frame, result.error());
      created = &result.value()->header;
      break;
    }
    case ObjectType::Thread: {
      auto target = lookup(task, argument(frame, 4), ObjectType::Task, rights_of(abi::TaskRight::Map));
      if (!target) return finish(frame, target.error());
      auto result = create_thread(factory, *object_of<Task>(*target.value()), argument(frame, 5));
      if (!result) return finish(frame, result.error());
      // A new thread may not outrank its creator, nor run where its creator may not.
      result.value()->priority = self.priority;
      result.value()->allowed_cpus = self.allowed_cpus;
      result.value()->cpu = static_cast<u32>(__builtin_ctzll(self.allowed_cpus));
      created = &result.value()->header;
      break;
    }
    case ObjectType::Endpoint: {
      auto result = create_endpoint(factory);
      if (!result) return finish(frame, result.error());
      created = &result.value()->header;
      break;
    }
    case ObjectType::Memory: {
      u64 flags = argument(frame, 4);
      if ((flags & ~abi::MEMORY_LAZY) != 0) return finish(frame, Error::InvalidArgument);
      // The lazy path stays apart from ordinary creation, which fills every page now.
      auto result = (flags & abi::MEMORY_LAZY) != 0 ? create_lazy_memory(factory, size) : create_memory(factory, size);
      if (!result) return finish(frame, result.error());
      created = &result.value()->header;
      break;
    }
    case ObjectType::Factory: {
      auto result = create_factory(factory, size);
      if (!result) return finish(frame, result.error());
      created = &result.value()->header;
      break;
    }
    case ObjectType::Reply: {
      auto result = create_reply(factory);
      if (!result) return finish(frame, result.error());
      created = &result.value()->header;
      break;
    }
    case ObjectType::Notification: {
      auto result = create_notification(factory);
      if (!result) return finish(frame, result.error());
      created = &result.value()->header;
      break;
    }
    default:
      return finish(frame, Error::InvalidArgument);
  }
  // All rights, except that Observe passes only from a capability that has it (rights only shrink).
  u32 rights = abi::ALL_RIGHTS;
  if (type == ObjectType::Factory && (factory_slot.value()->rights & rights_of(abi::FactoryRight::Observe)) == 0)
    rights &= ~rights_of(abi::FactoryRight::Observe);
  install_capability(*destination.value(), created, rights);
  finish(frame, Error::None);
}

void factory_info(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi, ObjectType::Factory, 0);
  if (!slot) return finish(frame, slot.error());
  auto* factory = object_of<Factory>(*slot.value());
  frame.rsi = factory->quota;
  frame.rdx = factory->used;
  // What the frame allocator can still hand out: heap frames come back when their objects go,
  // so a churn that ends where it began shows the same figure (the soak and /metrics check it).
  // Only with Observe: the machine's free memory tells of every other task's use.
  bool observe = (slot.value()->rights & rights_of(abi::FactoryRight::Observe)) != 0;
  frame.r10 = observe ? frames().free_frames() * PAGE_SIZE : 0;
  // The kernel heap's share of it: bytes in live objects and the pages that hold them. Free
  // memory plus heap pages is what a leak changes; objects spread differently over slab pages
  // change only the split.
  frame.r8 = observe ? heap_bytes_in_use() : 0;
  frame.r9 = observe ? heap_frames() * PAGE_SIZE : 0;
  finish(frame, Error::None);
}

void task_map(Thread& self, TrapFrame& frame) {
  Task& task = own_task(self);
  auto target = lookup(task, frame.rdi, ObjectType::Task, rights_of(abi::TaskRight::Map));
  if (!target) return finish(frame, target.error());
  u64 rights = argument(frame, 5);
  if ((rights & ~u64{7}) != 0 || (rights & rights_of(abi::MemoryRight::Read)) == 0)
    return finish(frame, Error::InvalidArgument);
  auto memory = lookup(task, argument(frame, 1), ObjectType::Memory, static_cast<u32>(rights));
  if (!memory) return finish(frame, memory.error());
  bool writable = (rights & rights_of(abi::MemoryRight::Write)) != 0;
  bool executable = (rights & rights_of(abi::MemoryRight::Execute)) != 0;
  auto stopped_at = map_memory(*object_of<Task>(*target.value()), *object_of<Memory>(*memory.value()),
                               argument(frame, 2), argument(frame, 3), argument(frame, 4), writable, executable);
  if (!stopped_at) return finish(frame, stopped_at.error());
  frame.rsi = stopped_at.value();
  finish(frame, Error::None);
}

void task_unmap(Thread& self, TrapFrame& frame) {
  auto target = lookup(own_task(self), frame.rdi, ObjectType::Task, rights_of(abi::TaskRight::Map));
  if (!target) return finish(frame, target.error());
  auto stopped_at = unmap_memory(*object_of<Task>(*target.value()), argument(frame, 1), argument(frame, 2));
  if (!stopped_at) return finish(frame, stopped_at.error());
  frame.rsi = stopped_at.value();
  finish(frame, Error::None);
}

void task_give_capability(Thread& self, TrapFrame& frame) {
  Task& task = own_task(self);
  auto target = lookup(task, frame.rdi, ObjectType::Task, rights_of(abi::TaskRight::Capabilities));
  if (!target) return finish(frame, target.error());
  auto source = lookup(task, argument(frame, 1));
  if (!source) return finish(frame, source.error());
  auto destination = lookup_empty(*object_of<Task>(*target.value()), argument(frame, 2));
  if (!destination) return finish(frame, destination.error());
  derive_capability(*destination.value(), *source.value(), static_cast<u32>(argument(frame, 3)), 0);
  finish(frame, Error::None);
}

void thread_start(Thread& self, TrapFrame& frame) {
  auto target = lookup(own_task(self), frame.rdi, ObjectType::Thread, rights_of(abi::ThreadRight::Control));
  if (!target) return finish(frame, target.error());
  auto* thread = object_of<Thread>(*target.value());
  u64 rip = argument(frame, 1);
  u64 rsp = argument(frame, 2);
  if (thread->state != ThreadState::Inactive) return finish(frame, Error::Busy);
  // rip: code can only run in mapped pages, below the usable end (abi/syscall.hpp).
  if (rip >= abi::USER_SPACE_USABLE_END || rsp >= abi::USER_SPACE_END) return finish(frame, Error::InvalidArgument);
  thread->frame->rip = rip;
  thread->frame->rsp = rsp;
  thread->frame->rdi = argument(frame, 3);
  make_ready(*thread);
  finish(frame, Error::None);
}

void thread_configure(Thread& self, TrapFrame& frame) {
  Task& task = own_task(self);
  auto target = lookup(task, frame.rdi, ObjectType::Thread, rights_of(abi::ThreadRight::Control));
  if (!target) return finish(frame, target.error());
  auto* thread = object_of<Thread>(*target.value());
  u64 priority = argument(frame, 1);
  u64 cpu = argument(frame, 2);
  u64 handler_selector = argument(frame, 3);
  // Ceilings are the caller's own: no thread can raise another above its priority or let it run
  // on a CPU outside its own set. The new set (0: keep the target's) must lie within the caller's.
  u64 allowed = argument(frame, 4) != 0 ? argument(frame, 4) : thread->allowed_cpus;
  if (priority >= PRIORITY_LEVELS || priority > self.priority || cpu >= cpu_count() ||
      (allowed & ~self.allowed_cpus) != 0 || ((allowed >> cpu) & 1) == 0)
    return finish(frame, Error::InvalidArgument);
  Endpoint* handler = nullptr;
  u64 handler_badge = 0;
  if (handler_selector != abi::NULL_SELECTOR) {
    auto endpoint = lookup(task, handler_selector, ObjectType::Endpoint, rights_of(abi::EndpointRight::Send));
    if (!endpoint) return finish(frame, endpoint.error());
    handler = object_of<Endpoint>(*endpoint.value());
    handler_badge = endpoint.value()->badge;
  }
  thread->allowed_cpus = allowed;
  move_thread(*thread, static_cast<u32>(cpu), static_cast<u8>(priority));
  if (thread->exception_endpoint != nullptr) decltype(thread->exception_endpoint->handled_threads)::remove(*thread);
  thread->exception_endpoint = handler;
  thread->exception_badge = handler_badge;
  if (handler != nullptr) handler->handled_threads.push_back(*thread);
  finish(frame, Error::None);
}

void thread_exit(Thread& self, TrapFrame& frame) {
  stop_thread(self);
  finish(frame, Error::None);
}

void thread_yield(Thread&, TrapFrame& frame) {
  finish(frame, Error::None);
  yield_current();
}

void ipc_call_handler(Thread& self, TrapFrame& frame) {
  auto endpoint = lookup(own_task(self), frame.rdi, ObjectType::Endpoint, rights_of(abi::EndpointRight::Send));
  if (!endpoint) return finish(frame, endpoint.error());
  ipc_send(*endpoint.value(), true, frame.r12);
}

void ipc_send_handler(Thread& self, TrapFrame& frame) {
  auto endpoint = lookup(own_task(self), frame.rdi, ObjectType::Endpoint, rights_of(abi::EndpointRight::Send));
  if (!endpoint) return finish(frame, endpoint.error());
  ipc_send(*endpoint.value(), false, frame.r12);
}

void ipc_receive_handler(Thread& self, TrapFrame& frame) {
  auto endpoint = lookup(own_task(self), frame.rdi, ObjectType::Endpoint, rights_of(abi::EndpointRight::Receive));
  if (!endpoint) return finish(frame, endpoint.error());
  ipc_receive(*object_of<Endpoint>(*endpoint.value()), frame.r12);
}

void ipc_reply_handler(Thread&, TrapFrame& frame) { finish(frame, ipc_reply() ? Error::None : Error::NotFound); }

void ipc_reply_wait_handler(Thread& self, TrapFrame& frame) {
  auto endpoint = lookup(own_task(self), frame.rdi, ObjectType::Endpoint, rights_of(abi::EndpointRight::Receive));
  if (!endpoint) return finish(frame, endpoint.error());
  (void)ipc_reply();  // With no caller there is nothing to answer; the wait still happens.
  ipc_receive(*object_of<Endpoint>(*endpoint.value()), frame.r12);
}

void ipc_save_reply_handler(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi, ObjectType::Reply, rights_of(abi::ReplyRight::Reply));
  if (!slot) return finish(frame, slot.error());
  finish(frame, ipc_save_reply(*object_of<Reply>(*slot.value())).error());
}

void ipc_reply_with_handler(Thread& self, TrapFrame& frame) {
  auto slot = lookup(own_task(self), frame.rdi, ObjectType::Reply, rights_of(abi::ReplyRight::Reply));
  if (!slot) return finish(frame, slot.error());
  finish(frame, ipc_reply_with(*object_of<Reply>(*slot.value())).error());
}

void thread_self(Thread& self, TrapFrame& frame) {
  frame.rsi = self.cpu;
  frame.rdx = arch::read_tsc();
  frame.r10 = arch::tsc_hertz();
  frame.r8 = cpu_count();
  finish(frame, Error::None);
}

constexpr Handler handlers[abi::SYSCALL_COUNT] = {
    debug_write,        debug_exit,        capability_identify,  capability_copy,   capability_delete,
    capability_revoke,  factory_create,    factory_info,         task_map,          task_unmap,
    task_give_capability, thread_start,    thread_configure,     thread_exit,       thread_yield,
    ipc_call_handler,   ipc_send_handler,  ipc_receive_handler,  ipc_reply_handler, ipc_reply_wait_handler,
    thread_self,        notification_signal_handler, notification_wait_handler, platform_create_mmio,
    platform_create_io_ports, platform_create_irq, irq_bind, irq_acknowledge, io_port_read, io_port_write,
    ipc_save_reply_handler, ipc_reply_with_handler, platform_create_dma_memory, platform_memory_physical,
    memory_write,       memory_read,       memory_copy,       thread_set_syscall_handler, personality_return,
    thread_set_fs_base, memory_decommit, memory_commit, memory_copy_committed,
};
// The table is indexed by operation number: the order above must follow abi/syscall.hpp.
static_assert(static_cast<u64>(abi::Syscall::ThreadSelf) == 20);
static_assert(static_cast<u64>(abi::Syscall::IoPortWrite) == 29);
static_assert(static_cast<u64>(abi::Syscall::IpcReplyWith) == 31);
static_assert(static_cast<u64>(abi::Syscall::PlatformMemoryPhysical) == 33);
static_assert(static_cast<u64>(abi::Syscall::MemoryCopy) == 36);
static_assert(static_cast<u64>(abi::Syscall::ThreadSetFsBase) == 39);
static_assert(static_cast<u64>(abi::Syscall::MemoryDecommit) == 40);
static_assert(static_cast<u64>(abi::Syscall::MemoryCommit) == 41);
static_assert(static_cast<u64>(abi::Syscall::MemoryCopyCommitted) == abi::SYSCALL_COUNT - 1);

}  // namespace

// Everything that must happen before any return to user mode.
void on_return_to_user() {
  if (destroy_queue_length != 0) finish_destroy_queue();
  Thread& self = *current_thread();
  // Every path that sets a user rip checks it; should one ever let a return address outside
  // usable user space through, the thread ends as its own fault: the exit path never returns to
  // it (sysret to a non-canonical rip faults in ring 0 on the user's stack, CVE-2012-0217).
  if (self.state != ThreadState::Dead && self.frame->rip >= metteagle::abi::USER_SPACE_USABLE_END) stop_thread(self);
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
  u64 operation = frame->rax;
  // While this CPU waited for the kernel lock, another may have destroyed this thread: then it
  // only leaves (on_return_to_user), it does nothing more.
  if (self.state == ThreadState::Dead) {
    // Nothing: its task may be gone.
  } else if (self.syscall_handler_entry != 0 && redirect_to_personality(self, *frame)) {
    // A foreign system call: the thread continues in its user-level handler.
  } else if (operation < metteagle::abi::SYSCALL_COUNT) {
    handlers[operation](self, *frame);
  } else {
    frame->rax = static_cast<u64>(metteagle::abi::Error::Unsupported);
  }
  on_return_to_user();
  kernel_lock_release();
}
