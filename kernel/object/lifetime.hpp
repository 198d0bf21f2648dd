// The generic lifetime layer: what every kernel object's creation and destruction share.
// Creation allocates the object charged to its factory (allocate_object); destruction is deferred
// to a queue and runs iteratively in bounded steps, so deleting one capability can cascade
// through any number of objects without deep recursion. Each object's own create_* and destroy_*
// are declared in its header and defined in its file (object/<object>.cpp).
// Invariant: every byte and frame an object held is refunded to its factory when it is freed; an
// object is freed only by its destroy_* (or, before anything refers to it, by abandon_object).
#pragma once

#include <new>

#include "arch/x86_64/address_space.hpp"
#include "core/heap.hpp"
#include "lib/result.hpp"
#include "object/debug_console.hpp"
#include "object/endpoint.hpp"
#include "object/factory.hpp"
#include "object/io_ports.hpp"
#include "object/irq.hpp"
#include "object/memory.hpp"
#include "object/notification.hpp"
#include "object/platform.hpp"
#include "object/reply.hpp"
#include "object/task.hpp"
#include "object/thread.hpp"

namespace kernel {

// A new Object of type, charged to factory (null: a boot-time object nobody pays for). Always
// inlined, as it was when every creator lived in one file: it is on the cold-start path (a
// container's tasks, threads and memory), whose instruction count the benchmarks pin.
template <typename Object>
[[nodiscard]] [[gnu::always_inline]] inline Result<Object*> allocate_object(Factory* factory, ObjectType type) {
  usize bytes = allocation_size(sizeof(Object));
  TRY_VOID(factory_charge(factory, bytes));
  void* block = heap_allocate(sizeof(Object));
  if (block == nullptr) {
    factory_refund(factory, bytes);
    return metteagle::abi::Error::OutOfMemory;
  }
  auto* object = new (block) Object();
  object->header.type = type;
  object->header.factory = factory;
  object->header.charged_bytes = bytes;
  if (factory != nullptr) factory->objects.push_back(object->header);
  return object;
}

// Frees an object whose creation failed before anything else referred to it.
template <typename Object> [[gnu::always_inline]] inline void abandon_object(Object* object) {
  if (object->header.factory != nullptr) decltype(object->header.factory->objects)::remove(object->header);
  factory_refund(object->header.factory, object->header.charged_bytes);
  heap_free(object, sizeof(Object));
}

// The last step of every destruction: the object's own bytes go back.
template <typename Object> [[gnu::always_inline]] inline void free_object(Object* object) {
  KernelObject& header = object->header;
  if (header.factory != nullptr) decltype(header.factory->objects)::remove(header);
  factory_refund(header.factory, header.charged_bytes);
  heap_free(object, sizeof(Object));
}

// One unit is roughly one page-table entry cleared or one record unlinked and freed (a few
// hundred nanoseconds under TCG), so a step stays within milliseconds.
constexpr u64 DESTROY_STEP_WORK = 8192;
constexpr u64 THREAD_DESTROY_WORK = 8;

// Frees a table made by heap_allocate (small) or by a contiguous frame run (large).
void free_table(void* table, usize charged_bytes);
// Wakes a blocked thread with an error as the result of its system call.
void wake_with_error(Thread& thread, metteagle::abi::Error error);

// Marks object dying and queues it; process_destroy_queue does the work.
void schedule_destroy(KernelObject* object);
// Takes a queued object off the queue (its owner destroys it in place); false if it was not queued.
bool leave_destroy_queue(KernelObject& object);
// Queues a dying object again, behind what it queued (a factory behind its objects).
void queue_behind_its_objects(KernelObject& object);
// One bounded step of destruction (DESTROY_STEP_WORK units); whatever remains stays queued for
// finish_destroy_queue.
void process_destroy_queue_now();
extern usize destroy_queue_length;
inline void process_destroy_queue() {
  if (destroy_queue_length != 0) process_destroy_queue_now();
}
// On the way back to user mode: the CPU that queued objects destroys them all, releasing the
// kernel lock between steps; any other CPU does one step. Only where no kernel object pointer is
// held across the call (the lock is released inside).
void finish_destroy_queue();

}  // namespace kernel
