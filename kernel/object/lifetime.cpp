// The generic lifetime layer: the deferred destruction queue, run in bounded steps, and the
// helpers every object's destruction shares. Each object's own creation and destruction live in
// its file (object/<object>.cpp); destroy_object below only chooses by type.
// Bound on the time one CPU holds the kernel lock: destruction runs in steps of
// DESTROY_STEP_WORK units (a mapping record, a page-table entry, a thread, a capability deleted
// or moved up); between steps the CPU that queued the work releases and retakes the kernel lock,
// so another CPU waits at most one step; a CPU that queued nothing does at most one step.
// Invariant: an object is on the queue exactly while it is dying and not yet freed (or being
// continued); every byte an object held is refunded to its factory when it is freed.
#include "object/lifetime.hpp"

#include "arch/x86_64/cpu_local.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/smp.hpp"
#include "arch/x86_64/syscall_registers.hpp"
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

void free_frames_run(u64 virtual_address, usize bytes) {
  for (usize offset = 0; offset < bytes; offset += PAGE_SIZE)
    (void)frames().free(virtual_address - PHYSMAP_BASE + offset);  // Ours since allocation.
}

}  // namespace

usize destroy_queue_length = 0;

// Frees a table made by heap_allocate (small) or by a contiguous frame run (large).
void free_table(void* table, usize charged_bytes) {
  if (table == nullptr) return;
  if (charged_bytes <= PAGE_SIZE) heap_free(table, charged_bytes);
  else free_frames_run(reinterpret_cast<u64>(table), charged_bytes);
}

// Wakes a blocked thread with an error as the result of its system call.
void wake_with_error(Thread& thread, Error error) {
  cancel_timeout(thread);
  if (thread.frame != nullptr) arch::SyscallRegisters(*thread.frame).set_error(error);
  thread.blocked_on = nullptr;
  thread.sending_exception = false;
  make_ready(thread);
}

bool leave_destroy_queue(KernelObject& object) {
  if (!object.destroy_node.linked()) return false;
  decltype(destroy_queue)::remove(object);
  --destroy_queue_length;
  return true;
}

void queue_behind_its_objects(KernelObject& object) {
  destroy_queue.push_back(object);
  ++destroy_queue_length;
}

namespace {

// Returns false when object needs another step (it is then still whole enough to continue).
bool destroy_object(KernelObject& object, u64& work) {
  // No capability may outlive its object. An object can have any number of capabilities (copies
  // in many tasks): they go across steps, one unit each and one per child moved.
  while (Capability* capability = object.capabilities.front())
    if (!delete_capability(*capability, work, DESTROY_STEP_WORK)) return false;
  switch (object.type) {
    case ObjectType::Task: return destroy_task(reinterpret_cast<Task&>(object), work);
    case ObjectType::Thread: destroy_thread(reinterpret_cast<Thread&>(object)); break;
    case ObjectType::Endpoint: destroy_endpoint(reinterpret_cast<Endpoint&>(object)); break;
    case ObjectType::Memory: return destroy_memory(reinterpret_cast<Memory&>(object), work);
    case ObjectType::Factory: destroy_factory(reinterpret_cast<Factory&>(object)); break;
    case ObjectType::Notification: destroy_notification(reinterpret_cast<Notification&>(object)); break;
    case ObjectType::Irq: destroy_irq(reinterpret_cast<Irq&>(object)); break;
    case ObjectType::IoPorts: destroy_io_ports(reinterpret_cast<IoPorts&>(object)); break;
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

}  // namespace kernel
