// Object destruction and memory mappings; see lifetime.hpp.
#include "abi/syscall.hpp"
#include "object/lifetime.hpp"

#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/ioapic.hpp"
#include "core/heap.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "core/scheduler.hpp"
#include "object/capability_space.hpp"

namespace kernel {

using metteagle::abi::Error;

namespace {

IntrusiveList<KernelObject, &KernelObject::destroy_node> destroy_queue;

void free_frames_run(u64 virtual_address, usize bytes) {
  for (usize offset = 0; offset < bytes; offset += PAGE_SIZE)
    (void)frames().free(virtual_address - PHYSMAP_BASE + offset);  // Ours since allocation.
}

// Frees a table made by heap_allocate (small) or by a contiguous frame run (large).
void free_table(void* table, usize charged_bytes) {
  if (table == nullptr) return;
  if (charged_bytes <= PAGE_SIZE) heap_free(table, charged_bytes);
  else free_frames_run(reinterpret_cast<u64>(table), charged_bytes);
}

template <typename Object>
void free_object(Object* object) {
  KernelObject& header = object->header;
  if (header.factory != nullptr) decltype(header.factory->objects)::remove(header);
  factory_refund(header.factory, header.charged_bytes);
  heap_free(object, sizeof(Object));
}

void remove_mapping(Mapping& mapping) {
  Task& task = *mapping.task;
  for (u64 page = 0; page < mapping.page_count; ++page)
    arch::address_space_unmap(task.page_table_root, mapping.address + page * PAGE_SIZE);
  // Frames go back to the pool below: no CPU may keep a translation to them.
  arch::address_space_flush_remote(task.page_table_root);
  decltype(task.mappings)::remove(mapping);
  decltype(mapping.memory->mappings)::remove(mapping);
  factory_refund(task.header.factory, allocation_size(sizeof(Mapping)));
  heap_free(&mapping, sizeof(Mapping));
}

// Wakes a blocked thread with an error as the result of its system call.
void wake_with_error(Thread& thread, Error error) {
  cancel_timeout(thread);
  if (thread.frame != nullptr) thread.frame->rax = static_cast<u64>(error);
  thread.blocked_on = nullptr;
  thread.sending_exception = false;
  make_ready(thread);
}

}  // namespace

// A caller whose reply can never come: its call fails, or, if it was reporting a fault, it ends
// (it cannot resume without its handler's answer).
void abandon_caller(Thread& caller) {
  if (caller.state != ThreadState::BlockedReply) return;
  if (caller.sending_exception) stop_thread(caller);
  else wake_with_error(caller, Error::Destroyed);
}

// Ends a thread's participation in everything: queues, calls, handler links, scheduling.
void stop_thread(Thread& thread) {
  cancel_timeout(thread);
  if (thread.state == ThreadState::Ready) remove_from_run_queue(thread);
  if (thread.state == ThreadState::BlockedSend || thread.state == ThreadState::BlockedReceive)
    ThreadQueue::remove(thread);  // Whichever endpoint queue it is on.
  if (thread.callee != nullptr) {
    thread.callee->caller = nullptr;
    thread.callee = nullptr;
  }
  if (thread.callee_reply != nullptr) {
    thread.callee_reply->caller = nullptr;
    thread.callee_reply = nullptr;
  }
  if (thread.caller != nullptr) {
    // Whoever called us will get no reply: its call fails.
    Thread* caller = thread.caller;
    caller->callee = nullptr;
    thread.caller = nullptr;
    abandon_caller(*caller);
  }
  if (thread.exception_endpoint != nullptr) {
    decltype(thread.exception_endpoint->handled_threads)::remove(thread);
    thread.exception_endpoint = nullptr;
  }
  thread.blocked_on = nullptr;
  thread.sending_exception = false;
  thread.state = ThreadState::Dead;
}

namespace {

void destroy_thread(Thread& thread) {
  stop_thread(thread);
  if (thread.task != nullptr) {
    arch::address_space_unmap(thread.task->page_table_root, thread.utcb_address);
    arch::address_space_flush_remote(thread.task->page_table_root);
    decltype(thread.task->threads)::remove(thread);
  }
  // A thread some CPU is running (this one, in this very call, or another one in user mode or
  // spinning for the kernel lock) keeps its stack until that CPU has switched away: the CPU
  // frees it then (exit_current). Its charges go back now, so its factory can be freed at once.
  u32 cpu = cpu_running(thread);
  if (cpu == NO_CPU) return free_dead_thread(thread);
  KernelObject& header = thread.header;
  if (header.factory != nullptr) decltype(header.factory->objects)::remove(header);
  factory_refund(header.factory, header.charged_bytes + PAGE_SIZE * (KERNEL_STACK_PAGES + 1));
  header.factory = nullptr;
  thread.task = nullptr;
  if (&thread != current_thread()) request_reschedule(cpu);
}

void destroy_task(Task& task) {
  while (Thread* thread = task.threads.front()) {
    // The thread may be queued already (its factory is going too); it is destroyed here instead,
    // so it must leave the queue before its memory can be reused.
    if (thread->header.destroy_node.linked()) {
      decltype(destroy_queue)::remove(thread->header);
      --destroy_queue_length;
    }
    thread->header.dying = true;
    while (Capability* capability = thread->header.capabilities.front()) delete_capability(*capability);
    destroy_thread(*thread);
  }
  while (Mapping* mapping = task.mappings.front()) remove_mapping(*mapping);
  for (u64 index = 0; index < task.slot_count; ++index) delete_capability(task.slots[index]);
  // The CPU may still run on these tables (a task destroying itself): leave them first.
  arch::address_space_deactivate(task.page_table_root);
  arch::address_space_leave_remote(task.page_table_root);
  arch::address_space_release_tables(task.page_table_root, table_source(task));
  (void)frames().free(task.page_table_root);
  factory_refund(task.header.factory, PAGE_SIZE);
  free_table(task.slots, task.slots_bytes);
  factory_refund(task.header.factory, task.slots_bytes);
  free_object(&task);
}

void destroy_endpoint(Endpoint& endpoint) {
  while (Thread* thread = endpoint.senders.pop_front()) {
    if (thread->sending_exception) {
      // No handler will ever answer: the faulting thread ends.
      stop_thread(*thread);
      continue;
    }
    wake_with_error(*thread, Error::Destroyed);
  }
  while (Thread* thread = endpoint.receivers.pop_front()) wake_with_error(*thread, Error::Destroyed);
  while (Thread* thread = endpoint.handled_threads.pop_front()) thread->exception_endpoint = nullptr;
  free_object(&endpoint);
}

void destroy_memory(Memory& memory) {
  while (Mapping* mapping = memory.mappings.front()) remove_mapping(*mapping);
  // Device registers were never RAM of ours: only ordinary pages go back to the pool.
  if (!memory.device) {
    for (u64 page = 0; page < memory.page_count; ++page) (void)frames().free(memory.frames[page]);
    factory_refund(memory.header.factory, memory.page_count * PAGE_SIZE);
  }
  factory_refund(memory.header.factory, memory.frames_table_bytes);
  free_table(memory.frames, memory.frames_table_bytes);
  free_object(&memory);
}

void unbind_irq(Irq& irq) {
  if (irq.notification != nullptr) decltype(irq.notification->bound_irqs)::remove(irq);
  irq.notification = nullptr;
  arch::ioapic_mask(irq.line);
}

void destroy_notification(Notification& notification) {
  while (Thread* thread = notification.waiters.pop_front()) wake_with_error(*thread, Error::Destroyed);
  while (Irq* irq = notification.bound_irqs.front()) unbind_irq(*irq);
  free_object(&notification);
}

void destroy_reply(Reply& reply) {
  if (Thread* caller = reply.caller) {
    reply.caller = nullptr;
    caller->callee_reply = nullptr;
    abandon_caller(*caller);
  }
  free_object(&reply);
}

void destroy_irq(Irq& irq) {
  unbind_irq(irq);
  forget_irq(irq);
  free_object(&irq);
}

// A factory goes last: first every object it created, then itself (requeued behind them).
bool destroy_factory(Factory& factory) {
  if (!factory.objects.empty()) {
    for (KernelObject& object : factory.objects) schedule_destroy(&object);
    destroy_queue.push_back(factory.header);
    ++destroy_queue_length;
    return false;
  }
  Factory* parent = factory.header.factory;
  u64 quota = factory.quota;
  free_object(&factory);
  factory_refund(parent, quota);
  return true;
}

void destroy_object(KernelObject& object) {
  // No capability may outlive its object.
  while (Capability* capability = object.capabilities.front()) delete_capability(*capability);
  switch (object.type) {
    case ObjectType::Task: destroy_task(reinterpret_cast<Task&>(object)); break;
    case ObjectType::Thread: destroy_thread(reinterpret_cast<Thread&>(object)); break;
    case ObjectType::Endpoint: destroy_endpoint(reinterpret_cast<Endpoint&>(object)); break;
    case ObjectType::Memory: destroy_memory(reinterpret_cast<Memory&>(object)); break;
    case ObjectType::Factory: destroy_factory(reinterpret_cast<Factory&>(object)); break;
    case ObjectType::Notification: destroy_notification(reinterpret_cast<Notification&>(object)); break;
    case ObjectType::Irq: destroy_irq(reinterpret_cast<Irq&>(object)); break;
    case ObjectType::IoPorts: free_object(&reinterpret_cast<IoPorts&>(object)); break;
    case ObjectType::Reply: destroy_reply(reinterpret_cast<Reply&>(object)); break;
    case ObjectType::DebugConsole:
    case ObjectType::Platform: break;  // Boot objects: never freed.
    case ObjectType::None: panic("destroying an object of no type");
  }
}

}  // namespace

void schedule_destroy(KernelObject* object) {
  if (object->dying) return;
  // Boot objects live as long as the machine.
  if (object->type == ObjectType::DebugConsole || object->type == ObjectType::Platform) return;
  object->dying = true;
  destroy_queue.push_back(*object);
  ++destroy_queue_length;
}

usize destroy_queue_length = 0;

void process_destroy_queue_now() {
  while (KernelObject* object = destroy_queue.pop_front()) {
    --destroy_queue_length;
    destroy_object(*object);
  }
}

void free_dead_thread(Thread& thread) {
  u64 stack_physical = thread.kernel_stack - PHYSMAP_BASE;
  for (usize page = 0; page < KERNEL_STACK_PAGES; ++page) (void)frames().free(stack_physical + page * PAGE_SIZE);
  (void)frames().free(thread.utcb_frame);
  factory_refund(thread.header.factory, PAGE_SIZE * (KERNEL_STACK_PAGES + 1));
  free_object(&thread);
}

void timeout_expired(Thread& thread) {
  ThreadQueue::remove(thread);
  thread.frame->rax = static_cast<u64>(Error::Timeout);
  thread.blocked_on = nullptr;
  thread.sending_exception = false;
  make_ready(thread);
}

void notification_signal(Notification& notification, u64 bits) {
  notification.bits |= bits;
  if (Thread* waiter = notification.waiters.pop_front()) {
    cancel_timeout(*waiter);
    waiter->blocked_on = nullptr;
    waiter->frame->rsi = notification.bits;
    waiter->frame->rax = static_cast<u64>(Error::None);
    notification.bits = 0;
    make_ready(*waiter);
  }
}

Result<void> map_memory(Task& task, Memory& memory, u64 page_offset, u64 address, u64 page_count, bool writable,
                        bool executable) {
  using metteagle::abi::USER_SPACE_END;
  using metteagle::abi::USER_SPACE_START;
  if (page_count == 0 || !is_aligned(address, PAGE_SIZE) || page_offset > memory.page_count ||
      page_count > memory.page_count - page_offset || address < USER_SPACE_START ||
      address > USER_SPACE_END || page_count > (USER_SPACE_END - address) / PAGE_SIZE)
    return Error::InvalidArgument;
  if (writable && executable) return Error::InvalidArgument;  // W^X.
  u64 end = address + page_count * PAGE_SIZE;
  for (Mapping& existing : task.mappings)
    if (address < existing.address + existing.page_count * PAGE_SIZE && existing.address < end) return Error::Busy;
  for (Thread& thread : task.threads)
    if (thread.utcb_address >= address && thread.utcb_address < end) return Error::Busy;

  TRY_VOID(factory_charge(task.header.factory, allocation_size(sizeof(Mapping))));
  void* block = heap_allocate(sizeof(Mapping));
  if (block == nullptr) {
    factory_refund(task.header.factory, allocation_size(sizeof(Mapping)));
    return Error::OutOfMemory;
  }
  auto* mapping = new (block) Mapping();
  mapping->task = &task;
  mapping->memory = &memory;
  mapping->address = address;
  mapping->page_offset = page_offset;
  mapping->page_count = 0;
  task.mappings.push_back(*mapping);
  memory.mappings.push_back(*mapping);
  for (u64 page = 0; page < page_count; ++page) {
    auto mapped = arch::address_space_map(task.page_table_root, address + page * PAGE_SIZE,
                                          memory.frames[page_offset + page], {writable, executable, memory.device},
                                          table_source(task));
    if (!mapped.ok()) {
      remove_mapping(*mapping);  // Unmaps the pages mapped so far.
      return mapped.error();
    }
    mapping->page_count = page + 1;
  }
  return {};
}

Result<void> unmap_memory(Task& task, u64 address, u64 page_count) {
  if (!is_aligned(address, PAGE_SIZE) || page_count == 0 || address >= metteagle::abi::USER_SPACE_END ||
      page_count > (metteagle::abi::USER_SPACE_END - address) / PAGE_SIZE)
    return Error::InvalidArgument;
  u64 end = address + page_count * PAGE_SIZE;
  // A mapping that reaches past the range on both sides is cut in two: its tail needs a new Mapping,
  // charged before anything changes (at most one such mapping exists: mappings never overlap).
  Mapping* middle = nullptr;
  bool found = false;
  for (Mapping& mapping : task.mappings) {
    u64 mapping_end = mapping.address + mapping.page_count * PAGE_SIZE;
    if (mapping.address >= end || mapping_end <= address) continue;
    found = true;
    if (mapping.address < address && mapping_end > end) middle = &mapping;
  }
  if (!found) return Error::NotFound;
  Mapping* tail = nullptr;
  if (middle != nullptr) {
    TRY_VOID(factory_charge(task.header.factory, allocation_size(sizeof(Mapping))));
    void* block = heap_allocate(sizeof(Mapping));
    if (block == nullptr) {
      factory_refund(task.header.factory, allocation_size(sizeof(Mapping)));
      return Error::OutOfMemory;
    }
    tail = new (block) Mapping();
  }
  // Mappings wholly inside go; the others lose only the pages inside the range, so the pages
  // around it stay mapped all along (other threads may be using them).
  for (;;) {
    Mapping* inside = nullptr;
    for (Mapping& mapping : task.mappings)
      if (mapping.address >= address && mapping.address + mapping.page_count * PAGE_SIZE <= end) inside = &mapping;
    if (inside == nullptr) break;
    remove_mapping(*inside);
  }
  for (Mapping& mapping : task.mappings) {
    u64 mapping_end = mapping.address + mapping.page_count * PAGE_SIZE;
    if (mapping.address >= end || mapping_end <= address) continue;
    u64 cut_start = mapping.address > address ? mapping.address : address;
    u64 cut_end = mapping_end < end ? mapping_end : end;
    for (u64 page = cut_start; page < cut_end; page += PAGE_SIZE)
      arch::address_space_unmap(task.page_table_root, page);
    if (&mapping == middle) {
      tail->task = &task;
      tail->memory = mapping.memory;
      tail->address = end;
      tail->page_offset = mapping.page_offset + (end - mapping.address) / PAGE_SIZE;
      tail->page_count = (mapping_end - end) / PAGE_SIZE;
      mapping.page_count = (address - mapping.address) / PAGE_SIZE;
    } else if (mapping.address < address) {
      mapping.page_count = (address - mapping.address) / PAGE_SIZE;
    } else {
      mapping.page_offset += (end - mapping.address) / PAGE_SIZE;
      mapping.page_count = (mapping_end - end) / PAGE_SIZE;
      mapping.address = end;
    }
  }
  // The lists change only after the walk above.
  if (tail != nullptr) {
    task.mappings.push_back(*tail);
    tail->memory->mappings.push_back(*tail);
  }
  arch::address_space_flush_remote(task.page_table_root);
  return {};
}

}  // namespace kernel
