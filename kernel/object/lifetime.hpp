// Object lifetime: creation charged to a factory, and destruction that reclaims everything.
// Invariant: destruction is deferred to a queue and runs iteratively, so deleting one capability
// can cascade through any number of objects without deep recursion; every byte and frame an
// object held is refunded to its factory when it is freed.
#pragma once

#include "arch/x86_64/address_space.hpp"
#include "lib/result.hpp"
#include "object/debug_console.hpp"
#include "object/endpoint.hpp"
#include "object/factory.hpp"
#include "object/io_ports.hpp"
#include "object/irq.hpp"
#include "object/memory.hpp"
#include "object/notification.hpp"
#include "object/reply.hpp"
#include "object/task.hpp"
#include "object/thread.hpp"

namespace kernel {

[[nodiscard]] Result<Task*> create_task(Factory* factory, u64 slot_count);
[[nodiscard]] Result<Thread*> create_thread(Factory* factory, Task& task, u64 utcb_address);
[[nodiscard]] Result<Endpoint*> create_endpoint(Factory* factory);
[[nodiscard]] Result<Memory*> create_memory(Factory* factory, u64 page_count);
[[nodiscard]] Result<Factory*> create_factory(Factory* parent, u64 quota);
[[nodiscard]] Result<Notification*> create_notification(Factory* factory);
[[nodiscard]] Result<Reply*> create_reply(Factory* factory);
// Device objects: the caller (a Platform capability holder) validated the range or line.
[[nodiscard]] Result<Memory*> create_device_memory(Factory* factory, u64 physical, u64 page_count);
// Physically contiguous, zeroed pages (for DMA), charged like ordinary memory.
[[nodiscard]] Result<Memory*> create_contiguous_memory(Factory* factory, u64 page_count);
[[nodiscard]] Result<IoPorts*> create_io_ports(Factory* factory, u32 first, u32 count);
[[nodiscard]] Result<Irq*> create_irq(Factory* factory, u32 line, bool level_triggered, bool active_low);
// The Irq object of a line, or null; forget_irq masks the line and clears the entry.
Irq* irq_of_line(u32 line);
void forget_irq(Irq& irq);
// Boot-time objects belong to no factory.
Factory* create_root_factory(u64 quota);
DebugConsole* create_debug_console();
Platform* create_platform();

// Maps pages [page_offset, page_offset + page_count) of memory at address in task.
[[nodiscard]] Result<void> map_memory(Task& task, Memory& memory, u64 page_offset, u64 address, u64 page_count,
                                      bool writable, bool executable);
// Removes the pages inside [address, address + page_count pages): mappings wholly inside go, a
// mapping reaching past the range keeps the rest (cut in two if it reaches past both ends). No
// mapping there is NotFound. Returns where it stopped: the range's end, or (after
// abi::UNMAP_MAX_MAPPINGS mappings or abi::UNMAP_MAX_PAGES pages) where the rest of the range
// begins, from which the caller continues.
[[nodiscard]] Result<u64> unmap_memory(Task& task, u64 address, u64 page_count);

// Page-table frames of a task, charged to its factory.
arch::TableFrameSource table_source(Task& task);

// Marks object dying and queues it; process_destroy_queue does the work.
void schedule_destroy(KernelObject* object);
// One bounded step of destruction (DESTROY_STEP_WORK units, see lifetime.cpp); whatever remains
// stays queued for finish_destroy_queue.
void process_destroy_queue_now();
extern usize destroy_queue_length;
inline void process_destroy_queue() {
  if (destroy_queue_length != 0) process_destroy_queue_now();
}
// On the way back to user mode: the CPU that queued objects destroys them all, releasing the
// kernel lock between steps; any other CPU does one step. Only where no kernel object pointer is
// held across the call (the lock is released inside).
void finish_destroy_queue();
// Ends a thread: off every queue, its caller's call fails, state Dead. The object stays until
// its last capability goes.
void stop_thread(Thread& thread);
// A caller whose reply will never come: its call returns Destroyed (or it ends, if it faulted).
void abandon_caller(Thread& caller);
// Frees what a dead thread held once no CPU runs on its stack.
void free_dead_thread(Thread& thread);
// A blocked thread's deadline passed: it leaves its queue and its call returns Timeout.
void timeout_expired(Thread& thread);

}  // namespace kernel
