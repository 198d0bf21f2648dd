// Object destruction and memory mappings; see lifetime.hpp.
// Bounds on the time one CPU holds the kernel lock, whatever a tenant builds within its quota:
// - map_memory finds overlaps in a task's mapping tree in O(log n); its page loop is bounded by
//   one Memory's size (65,536 pages at most), its UTCB check by the task's threads;
// - unmap_memory finds the first mapping of the range in O(log n), cuts or removes mappings in one
//   ordered pass and flushes remote TLBs once; it stops before the next mapping after
//   abi::UNMAP_MAX_MAPPINGS mappings, or inside one after abi::UNMAP_MAX_PAGES pages, and tells
//   the caller where to go on (TaskUnmap's o1);
// - destruction runs in steps of DESTROY_STEP_WORK units (a mapping record, a page-table entry,
//   a thread); between steps the CPU that queued the work releases and retakes the kernel lock,
//   so another CPU waits at most one step; a CPU that queued nothing does at most one step.
// Invariant: no frame returns to the pool while any CPU may still hold a translation to it
// (unmap only frees Mapping records, which are no translations; a Memory frees its frames after
// one batched shootdown; page tables go only after every CPU left the task's root).
#include "abi/syscall.hpp"
#include "object/lifetime.hpp"

#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/ioapic.hpp"
#include "arch/x86_64/smp.hpp"
#include "core/heap.hpp"
#include "core/kernel_lock.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "core/scheduler.hpp"
#include "object/capability_space.hpp"

namespace kernel {

using metteagle::abi::Error;

namespace {

IntrusiveList<KernelObject, &KernelObject::destroy_node> destroy_queue;
// The CPUs whose current kernel entry queued objects: they finish the queue before returning.
bool queued_by_cpu[arch::MAX_CPUS];

// One unit is roughly one page-table entry cleared or one record unlinked and freed (a few
// hundred nanoseconds under TCG), so a step stays within milliseconds.
constexpr u64 DESTROY_STEP_WORK = 8192;
constexpr u64 THREAD_DESTROY_WORK = 8;

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

u64 mapping_end(const Mapping& mapping) { return mapping.address + mapping.page_count * PAGE_SIZE; }

// The mapping of task with the lowest address that overlaps [start, end), or null: O(log n).
Mapping* first_overlapping(Task& task, u64 start, u64 end) {
  Mapping* mapping = task.mappings.floor(start);
  if (mapping != nullptr && mapping_end(*mapping) > start) return mapping;
  mapping = task.mappings.lower_bound(start);
  return mapping != nullptr && mapping->address < end ? mapping : nullptr;
}

// Clears the page-table entries of [start, end) in task; other CPUs keep stale translations
// until the caller's shootdown.
void clear_pages(Task& task, u64 start, u64 end) { arch::address_space_unmap_range(task.page_table_root, start, end); }

// Unlinks and frees a mapping record whose pages are cleared (or whose tables are going away).
void free_mapping(Mapping& mapping) {
  Task& task = *mapping.task;
  task.mappings.remove(mapping);
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
    // The UTCB frame goes back to the pool with the thread: no CPU may keep its translation. A
    // task being destroyed has moved every CPU off its tables already (one shootdown for all).
    if (!thread.task->address_space_left) {
      arch::address_space_unmap(thread.task->page_table_root, thread.utcb_address);
      arch::address_space_flush_remote(thread.task->page_table_root);
    }
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

// Destroys task in steps: returns false, with work at the step's limit, when it must go on later.
bool destroy_task(Task& task, u64& work) {
  if (!task.address_space_left) {
    // Every thread ends first, so that none faults as a live thread once its tables are gone;
    // then one shootdown moves every CPU off the task's tables, for all its pages and UTCBs.
    for (Thread& thread : task.threads) {
      stop_thread(thread);
      work += 1;
    }
    // The CPU may still run on these tables (a task destroying itself): leave them first.
    arch::address_space_deactivate(task.page_table_root);
    arch::address_space_leave_remote(task.page_table_root);
    task.address_space_left = true;
  }
  while (Thread* thread = task.threads.front()) {
    if (work >= DESTROY_STEP_WORK) return false;
    // The thread may be queued already (its factory is going too); it is destroyed here instead,
    // so it must leave the queue before its memory can be reused.
    if (thread->header.destroy_node.linked()) {
      decltype(destroy_queue)::remove(thread->header);
      --destroy_queue_length;
    }
    thread->header.dying = true;
    while (Capability* capability = thread->header.capabilities.front()) delete_capability(*capability);
    destroy_thread(*thread);
    work += THREAD_DESTROY_WORK;
  }
  // No CPU uses the tables: the records go without touching page-table entries.
  while (Mapping* mapping = task.mappings.first()) {
    if (work >= DESTROY_STEP_WORK) return false;
    free_mapping(*mapping);
    work += 1;
  }
  for (u64 index = 0; index < task.slot_count; ++index) delete_capability(task.slots[index]);
  work += task.slot_count + task.page_table_pages;
  arch::address_space_release_tables(task.page_table_root, table_source(task));
  (void)frames().free(task.page_table_root);
  factory_refund(task.header.factory, PAGE_SIZE);
  free_table(task.slots, task.slots_bytes);
  factory_refund(task.header.factory, task.slots_bytes);
  free_object(&task);
  return true;
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

// Destroys memory in steps (see destroy_task). Each step ends with one shootdown for every page
// it unmapped, whichever tasks they were in; the frames go back only after the last one.
bool destroy_memory(Memory& memory, u64& work) {
  bool unmapped = false;
  while (Mapping* mapping = memory.mappings.front()) {
    if (work >= DESTROY_STEP_WORK) {
      if (unmapped) arch::address_space_flush_remote_all();
      return false;
    }
    if (!mapping->task->address_space_left) {
      // A mapping larger than what is left of the step loses its first pages now and the rest
      // in later steps (its task goes on using them meanwhile; the Memory is dying anyway).
      u64 pages = mapping->page_count < DESTROY_STEP_WORK - work ? mapping->page_count : DESTROY_STEP_WORK - work;
      clear_pages(*mapping->task, mapping->address, mapping->address + pages * PAGE_SIZE);
      work += pages;
      unmapped = true;
      if (pages < mapping->page_count) {
        mapping->address += pages * PAGE_SIZE;  // Within its own range: the tree's order holds.
        mapping->page_offset += pages;
        mapping->page_count -= pages;
        continue;
      }
    }
    free_mapping(*mapping);
    work += 1;
  }
  if (unmapped) arch::address_space_flush_remote_all();
  // Device registers were never RAM of ours: only ordinary pages go back to the pool.
  if (!memory.device) {
    for (u64 page = 0; page < memory.page_count; ++page) (void)frames().free(memory.frames[page]);
    factory_refund(memory.header.factory, memory.page_count * PAGE_SIZE);
    work += memory.page_count / 16;
  }
  factory_refund(memory.header.factory, memory.frames_table_bytes);
  free_table(memory.frames, memory.frames_table_bytes);
  free_object(&memory);
  return true;
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

// Returns false when object needs another step (it is then still whole enough to continue).
bool destroy_object(KernelObject& object, u64& work) {
  // No capability may outlive its object.
  while (Capability* capability = object.capabilities.front()) delete_capability(*capability);
  switch (object.type) {
    case ObjectType::Task: return destroy_task(reinterpret_cast<Task&>(object), work);
    case ObjectType::Thread: destroy_thread(reinterpret_cast<Thread&>(object)); break;
    case ObjectType::Endpoint: destroy_endpoint(reinterpret_cast<Endpoint&>(object)); break;
    case ObjectType::Memory: return destroy_memory(reinterpret_cast<Memory&>(object), work);
    case ObjectType::Factory: destroy_factory(reinterpret_cast<Factory&>(object)); break;
    case ObjectType::Notification: destroy_notification(reinterpret_cast<Notification&>(object)); break;
    case ObjectType::Irq: destroy_irq(reinterpret_cast<Irq&>(object)); break;
    case ObjectType::IoPorts: free_object(&reinterpret_cast<IoPorts&>(object)); break;
    case ObjectType::Reply: destroy_reply(reinterpret_cast<Reply&>(object)); break;
    case ObjectType::DebugConsole:
    case ObjectType::Platform: break;  // Boot objects: never freed.
    case ObjectType::None: panic("destroying an object of no type");
  }
  work += THREAD_DESTROY_WORK;
  return true;
}

// Destroys queued objects until the queue is empty or one step's work is done; an object left
// half-destroyed goes back to the front of the queue, where the next step continues it.
void destroy_step() {
  u64 work = 0;
  while (work < DESTROY_STEP_WORK) {
    KernelObject* object = destroy_queue.pop_front();
    if (object == nullptr) return;
    --destroy_queue_length;
    if (!destroy_object(*object, work)) {
      destroy_queue.push_front(*object);
      ++destroy_queue_length;
      return;
    }
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
  queued_by_cpu[arch::this_cpu().index] = true;
}

usize destroy_queue_length = 0;

void process_destroy_queue_now() { destroy_step(); }

void finish_destroy_queue() {
  bool& queued_here = queued_by_cpu[arch::this_cpu().index];
  destroy_step();
  // The CPU that queued the work sees it through before its thread goes on (so a deleted object's
  // quota is back when CapabilityDelete returns), letting other CPUs in between steps; a CPU
  // that only passes by has done its one step.
  while (destroy_queue_length != 0 && queued_here) {
    kernel_lock_release();
    kernel_lock_acquire();
    destroy_step();
  }
  queued_here = false;
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
  using metteagle::abi::USER_SPACE_START;
  using metteagle::abi::USER_SPACE_USABLE_END;
  if (page_count == 0 || !is_aligned(address, PAGE_SIZE) || page_offset > memory.page_count ||
      page_count > memory.page_count - page_offset || address < USER_SPACE_START ||
      address >= USER_SPACE_USABLE_END || page_count > (USER_SPACE_USABLE_END - address) / PAGE_SIZE)
    return Error::InvalidArgument;
  if (writable && executable) return Error::InvalidArgument;  // W^X.
  u64 end = address + page_count * PAGE_SIZE;
  if (first_overlapping(task, address, end) != nullptr) return Error::Busy;
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
  (void)task.mappings.insert(*mapping);  // Cannot collide: nothing overlaps [address, end).
  memory.mappings.push_back(*mapping);
  for (u64 page = 0; page < page_count; ++page) {
    auto mapped = arch::address_space_map(task.page_table_root, address + page * PAGE_SIZE,
                                          memory.frames[page_offset + page], {writable, executable, memory.device},
                                          table_source(task));
    if (!mapped.ok()) {
      // The pages mapped so far go, and with them any translation another CPU made of them.
      clear_pages(task, address, mapping_end(*mapping));
      arch::address_space_flush_remote(task.page_table_root);
      free_mapping(*mapping);
      return mapped.error();
    }
    mapping->page_count = page + 1;
  }
  return {};
}

Result<u64> unmap_memory(Task& task, u64 address, u64 page_count) {
  using metteagle::abi::UNMAP_MAX_MAPPINGS;
  using metteagle::abi::UNMAP_MAX_PAGES;
  if (!is_aligned(address, PAGE_SIZE) || page_count == 0 || address >= metteagle::abi::USER_SPACE_END ||
      page_count > (metteagle::abi::USER_SPACE_END - address) / PAGE_SIZE)
    return Error::InvalidArgument;
  u64 end = address + page_count * PAGE_SIZE;
  Mapping* mapping = first_overlapping(task, address, end);
  if (mapping == nullptr) return Error::NotFound;
  // A mapping that reaches past this call's part of the range on both sides is cut in two: its
  // tail needs a new Mapping, charged before anything changes. Only the first mapping can start
  // before the range (mappings never overlap), and this call clears at most UNMAP_MAX_PAGES.
  u64 first_limit = end - address > UNMAP_MAX_PAGES * PAGE_SIZE ? address + UNMAP_MAX_PAGES * PAGE_SIZE : end;
  Mapping* tail = nullptr;
  if (mapping->address < address && mapping_end(*mapping) > first_limit) {
    TRY_VOID(factory_charge(task.header.factory, allocation_size(sizeof(Mapping))));
    void* block = heap_allocate(sizeof(Mapping));
    if (block == nullptr) {
      factory_refund(task.header.factory, allocation_size(sizeof(Mapping)));
      return Error::OutOfMemory;
    }
    tail = new (block) Mapping();
  }
  // One ordered pass: mappings wholly inside go; the others lose only the pages inside the range,
  // so the pages around it stay mapped all along (other threads may be using them). A cut that
  // raises a mapping's address keeps the tree's order: nothing else lies in the part it drops.
  // The pass ends before the next mapping after UNMAP_MAX_MAPPINGS mappings, or inside one when
  // UNMAP_MAX_PAGES pages are cleared (that mapping keeps the rest, from where the call stopped).
  u64 mappings_done = 0;
  u64 pages_done = 0;
  u64 stopped_at = end;
  while (mapping != nullptr && mapping->address < end) {
    if (mappings_done >= UNMAP_MAX_MAPPINGS || pages_done >= UNMAP_MAX_PAGES) {
      stopped_at = mapping->address;  // Past the first mapping, so inside [address, end).
      break;
    }
    Mapping* next = decltype(task.mappings)::next(*mapping);
    u64 old_end = mapping_end(*mapping);
    u64 cut_start = mapping->address > address ? mapping->address : address;
    u64 cut_end = old_end < end ? old_end : end;
    u64 room = (UNMAP_MAX_PAGES - pages_done) * PAGE_SIZE;
    bool partial = cut_end - cut_start > room;
    if (partial) cut_end = cut_start + room;
    clear_pages(task, cut_start, cut_end);
    pages_done += (cut_end - cut_start) / PAGE_SIZE;
    ++mappings_done;
    if (mapping->address >= address && old_end <= cut_end) {
      free_mapping(*mapping);
    } else if (mapping->address < address && old_end > cut_end) {  // The cut in two (tail charged above).
      tail->task = &task;
      tail->memory = mapping->memory;
      tail->address = cut_end;
      tail->page_offset = mapping->page_offset + (cut_end - mapping->address) / PAGE_SIZE;
      tail->page_count = (old_end - cut_end) / PAGE_SIZE;
      mapping->page_count = (address - mapping->address) / PAGE_SIZE;
      (void)task.mappings.insert(*tail);  // Its range was the mapping's: no other key there.
      tail->memory->mappings.push_back(*tail);
    } else if (mapping->address < address) {
      mapping->page_count = (address - mapping->address) / PAGE_SIZE;
    } else {
      mapping->page_offset += (cut_end - mapping->address) / PAGE_SIZE;
      mapping->page_count = (old_end - cut_end) / PAGE_SIZE;
      mapping->address = cut_end;
    }
    if (partial) {
      stopped_at = cut_end;
      break;
    }
    mapping = next;
  }
  // One shootdown for the whole pass. Only Mapping records were freed (kernel memory no
  // translation points to) and page tables stay: no frame can be reached through a stale entry
  // and reused meanwhile.
  arch::address_space_flush_remote(task.page_table_root);
  return stopped_at;
}

}  // namespace kernel
