// Factory: the quota every object and page is charged to, creation of factories and (through
// FactoryCreate) of every user-creatable object, its accounting, and destruction, which destroys
// everything it created before itself.
// Invariant: see factory.hpp; used <= quota at all times.
#include "object/factory.hpp"

#include "arch/x86_64/cpu.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/lazy_memory.hpp"

namespace kernel {

using abi::Error;
using abi::rights_of;
using abi::Syscall;

Result<void> factory_charge(Factory* factory, u64 bytes) {
  if (factory == nullptr) return {};
  if (bytes > factory->quota - factory->used) return Error::QuotaExceeded;
  factory->used += bytes;
  return {};
}

void factory_refund(Factory* factory, u64 bytes) {
  if (factory != nullptr) factory->used -= bytes;
}

Result<u64> allocate_charged_frame(Factory* factory) {
  TRY_VOID(factory_charge(factory, PAGE_SIZE));
  auto frame = frames().allocate();
  if (!frame) {
    factory_refund(factory, PAGE_SIZE);
    return Error::OutOfMemory;
  }
  arch::zero_words(arch::physical_to_virtual(frame.value()), PAGE_SIZE);
  return frame.value();
}

void free_charged_frame(Factory* factory, u64 frame) {
  // The frame came from the allocator a moment or a lifetime ago; freeing it cannot fail.
  (void)frames().free(frame);
  factory_refund(factory, PAGE_SIZE);
}

namespace {}  // namespace

Result<Factory*> create_factory(Factory* parent, u64 quota) {
  if (parent != nullptr && parent->depth + 1 > MAX_FACTORY_DEPTH) return Error::InvalidArgument;
  TRY_VOID(factory_charge(parent, quota));
  auto created = allocate_object<Factory>(parent, ObjectType::Factory);
  if (!created) {
    factory_refund(parent, quota);
    return created.error();
  }
  Factory* factory = created.value();
  factory->quota = quota;
  factory->depth = parent == nullptr ? 0 : parent->depth + 1;
  return factory;
}

Factory* create_root_factory(u64 quota) {
  auto factory = create_factory(nullptr, quota);
  KERNEL_ASSERT(factory.ok());  // Boot time: the heap has memory.
  return factory.value();
}

namespace {

// The new object of FactoryCreate, by type; nothing exists yet when it fails. Null: an ordinary
// Memory is not whole yet, and the thread enters again to go on (continue_memory_creation).
Result<KernelObject*> create_object(Thread& self, Factory* factory, ObjectType type,
                                    const SyscallArguments<Syscall::FactoryCreate>& arguments) {
  u64 size = arguments.size();
  switch (type) {
    case ObjectType::Task: return &TRY(create_task(factory, size))->header;
    case ObjectType::Thread: {
      Capability* target =
          TRY(lookup(own_task(self), arguments.task_selector(), ObjectType::Task, rights_of(abi::TaskRight::Map)));
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
      // The lazy path stays apart from ordinary creation, which fills every page before it returns.
      Memory* memory = (flags & abi::MEMORY_LAZY) != 0 ? TRY(create_lazy_memory(factory, size))
                                                       : TRY(continue_memory_creation(self, factory, size));
      return memory == nullptr ? nullptr : &memory->header;
    }
    case ObjectType::Factory: return &TRY(create_factory(factory, size))->header;
    case ObjectType::Reply: return &TRY(create_reply(factory))->header;
    case ObjectType::Notification: return &TRY(create_notification(factory))->header;
    default: return Error::InvalidArgument;
  }
}

}  // namespace

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::FactoryCreate>(
    Thread& self, Target<Syscall::FactoryCreate> target, SyscallArguments<Syscall::FactoryCreate>& arguments) {
  auto type = static_cast<ObjectType>(arguments.object_type());
  Result<KernelObject*> created = Error::InvalidArgument;
  auto destination = lookup_empty(own_task(self), arguments.destination_slot());
  if (destination) created = create_object(self, &target.object, type, arguments);
  else created = destination.error();
  if (created && created.value() == nullptr) {
    arguments.restart(Syscall::FactoryCreate);
    return Outcome::Continues;
  }
  if (!created) {
    // A Memory being built goes on only in the same call entering again: any failure drops it.
    abandon_memory_creation(self);
    return created.error();
  }
  // All rights, except that Observe passes only from a capability that has it (rights only shrink).
  u32 rights = abi::ALL_RIGHTS;
  if (type == ObjectType::Factory && !target.capability.has(abi::FactoryRight::Observe))
    rights &= ~rights_of(abi::FactoryRight::Observe);
  install_capability(*destination.value(), created.value(), rights);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(FactoryCreate);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::FactoryInfo>(
    Thread&, Target<Syscall::FactoryInfo> target, SyscallArguments<Syscall::FactoryInfo>& arguments) {
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

// A factory goes last: first every object it created, then itself (requeued behind them).
bool destroy_factory(Factory& factory) {
  if (!factory.objects.empty()) {
    for (KernelObject& object : factory.objects) schedule_destroy(&object);
    queue_behind_its_objects(factory.header);
    return false;
  }
  Factory* parent = factory.header.factory;
  u64 quota = factory.quota;
  free_object(&factory);
  factory_refund(parent, quota);
  return true;
}

}  // namespace kernel
