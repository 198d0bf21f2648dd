// Task: creation (the first slot table or the chunk directory, and the page-table root, charged
// together), capability slot chunks made on first fill, the mapping and capability-giving
// operations, and destruction in bounded steps.
// Invariant: see task.hpp; every byte, slot chunk and page-table frame of a task is charged to its
// factory from its allocation until destruction frees it.
#include "object/task.hpp"

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/layout.hpp"
#include "core/memory.hpp"
#include "core/syscall_dispatch.hpp"
#include "core/syscall_support.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using abi::Error;
using abi::rights_of;
using abi::Syscall;

namespace {

Result<u64> allocate_table_frame(void* context) {
  auto* task = static_cast<Task*>(context);
  u64 frame = TRY(allocate_charged_frame(task->header.factory));
  ++task->page_table_pages;
  return frame;
}

void release_table_frame(void* context, u64 frame) {
  auto* task = static_cast<Task*>(context);
  free_charged_frame(task->header.factory, frame);
  --task->page_table_pages;
}

// One directory entry: a pointer to a chunk.
constexpr usize DIRECTORY_ENTRY_BYTES = sizeof(decltype(Task::slot_chunks[0]));

}  // namespace

arch::TableFrameSource table_source(Task& task) { return {allocate_table_frame, release_table_frame, &task}; }

Result<Task*> create_task(Factory* factory, u64 slot_count) {
  if (slot_count < 2 || slot_count > MAX_TASK_SLOTS) return Error::InvalidArgument;
  Task* task = TRY(allocate_object<Task>(factory, ObjectType::Task));
  // What is made now: a small task's one chunk (every task fills its first slots at once, so it
  // costs what a flat table did), or a large task's directory when the inline one is too short.
  // A large task's chunks come on first fill, so its size costs nothing until it is used.
  u64 chunk_count = slot_chunk_count(slot_count);
  usize table_bytes = chunk_count == 1                   ? static_cast<usize>(slot_count * sizeof(Capability))
                      : chunk_count > INLINE_SLOT_CHUNKS ? static_cast<usize>(chunk_count * DIRECTORY_ENTRY_BYTES)
                                                         : 0;
  usize charged_table_bytes = table_bytes == 0           ? 0
                              : table_bytes <= PAGE_SIZE ? allocation_size(table_bytes)
                                                         : align_up(table_bytes, PAGE_SIZE);
  // The table and the page-table root are paid for together, before either exists; what fails
  // after that is the machine's memory, not the quota.
  if (!factory_charge(factory, charged_table_bytes + PAGE_SIZE).ok()) {
    abandon_object(task);
    return Error::QuotaExceeded;
  }
  void* table = nullptr;
  if (table_bytes != 0 && table_bytes <= PAGE_SIZE) {
    table = heap_allocate(table_bytes);  // Zeroed: a directory of absent chunks.
  } else if (table_bytes != 0) {
    auto run = frames().allocate_contiguous(charged_table_bytes / PAGE_SIZE, PAGE_SIZE);
    if (run) {
      table = arch::physical_to_virtual(run.value());
      arch::zero_words(table, charged_table_bytes);
    }
  }
  auto root = table_bytes != 0 && table == nullptr ? Result<u64>(Error::OutOfMemory) : frames().allocate();
  if (!root) {
    free_table(table, charged_table_bytes);
    factory_refund(factory, charged_table_bytes + PAGE_SIZE);
    abandon_object(task);
    return Error::OutOfMemory;
  }
  arch::zero_words(arch::physical_to_virtual(root.value()), PAGE_SIZE);
  if (chunk_count == 1) {
    auto* slots = static_cast<Capability*>(table);
    for (u64 index = 0; index < slot_count; ++index) new (&slots[index]) Capability();
    task->inline_slot_chunks[0] = slots;
  } else if (table != nullptr) {
    task->slot_chunks = static_cast<Capability**>(table);
  }
  task->slot_count = slot_count;
  task->slot_table_bytes = charged_table_bytes;
  task->page_table_root = root.value();
  arch::address_space_init(root.value());
  return task;
}

Result<Capability*> make_slot_chunk(Task& task, u64 chunk) {
  // Only a large task's chunks are absent (a small task's one chunk is made with it), and its
  // chunks are whole frames.
  TRY_VOID(factory_charge(task.header.factory, PAGE_SIZE));
  auto frame = frames().allocate();
  if (!frame) {
    factory_refund(task.header.factory, PAGE_SIZE);
    return Error::OutOfMemory;
  }
  // Each slot is constructed (its list heads point at themselves), so the frame is not zeroed first.
  auto* slots = reinterpret_cast<Capability*>(arch::physical_to_virtual(frame.value()));
  for (u64 index = 0; index < SLOT_CHUNK; ++index) new (&slots[index]) Capability();
  task.slot_chunks[chunk] = slots;
  ++task.slot_chunk_pages;
  return slots;
}

template <>
[[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::TaskMap>(Thread& self, Target<Syscall::TaskMap> target,
                                                                       SyscallArguments<Syscall::TaskMap>& arguments) {
  u64 rights = arguments.rights();
  if ((rights & ~u64{7}) != 0 || (rights & rights_of(abi::MemoryRight::Read)) == 0) return Error::InvalidArgument;
  Capability* memory =
      TRY(lookup(own_task(self), arguments.memory_selector(), ObjectType::Memory, static_cast<u32>(rights)));
  bool writable = (rights & rights_of(abi::MemoryRight::Write)) != 0;
  bool executable = (rights & rights_of(abi::MemoryRight::Execute)) != 0;
  u64 stopped_at = TRY(map_memory(target.object, *object_of<Memory>(*memory), arguments.first_page(),
                                  arguments.address(), arguments.page_count(), writable, executable));
  arguments.set_stopped_at(stopped_at);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(TaskMap);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::TaskUnmap>(
    Thread&, Target<Syscall::TaskUnmap> target, SyscallArguments<Syscall::TaskUnmap>& arguments) {
  arguments.set_stopped_at(TRY(unmap_memory(target.object, arguments.address(), arguments.page_count())));
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(TaskUnmap);

template <> [[gnu::always_inline]] inline Result<Outcome> invoke<Syscall::TaskGiveCapability>(
    Thread& self, Target<Syscall::TaskGiveCapability> target,
    SyscallArguments<Syscall::TaskGiveCapability>& arguments) {
  Capability* source = TRY(lookup(own_task(self), arguments.own_slot()));
  Capability* destination = TRY(lookup_empty(target.object, arguments.task_slot()));
  derive_capability(*destination, *source, static_cast<u32>(arguments.rights_mask()), 0);
  return Outcome::Finished;
}
KERNEL_SYSCALL_DISPATCHER(TaskGiveCapability);

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
    leave_destroy_queue(thread->header);
    thread->header.dying = true;
    while (Capability* capability = thread->header.capabilities.front())
      if (!delete_capability(*capability, work, DESTROY_STEP_WORK)) return false;
    destroy_thread(*thread);
    work += THREAD_DESTROY_WORK;
  }
  // No CPU uses the tables: the records go without touching page-table entries.
  while (Mapping* mapping = task.mappings.first()) {
    if (work >= DESTROY_STEP_WORK) return false;
    free_mapping(*mapping);
    work += 1;
  }
  // A slot with many children (copies in other tasks) moves them up across steps; each step goes
  // on from the first slot not yet emptied (nothing fills a slot of a dying task: its threads are
  // gone and every capability to it fails lookup), so the walk is linear in the slots of the
  // chunks made, and an absent chunk costs one unit.
  while (task.slots_deleted < task.slot_count) {
    if (work >= DESTROY_STEP_WORK) return false;
    Capability* chunk = task.slot_chunks[task.slots_deleted / SLOT_CHUNK];
    u64 chunk_end = (task.slots_deleted / SLOT_CHUNK + 1) * SLOT_CHUNK;
    if (chunk_end > task.slot_count) chunk_end = task.slot_count;
    if (chunk == nullptr) {
      task.slots_deleted = chunk_end;
      work += 1;
      continue;
    }
    for (; task.slots_deleted < chunk_end; ++task.slots_deleted)
      if (!delete_capability(chunk[task.slots_deleted % SLOT_CHUNK], work, DESTROY_STEP_WORK)) return false;
    work += SLOT_CHUNK;
  }
  work += task.slot_chunk_pages + task.page_table_pages;
  arch::address_space_release_tables(task.page_table_root, table_source(task));
  (void)frames().free(task.page_table_root);
  factory_refund(task.header.factory, PAGE_SIZE);
  u64 chunk_count = slot_chunk_count(task.slot_count);
  if (chunk_count == 1) {
    free_table(task.slot_chunks[0], task.slot_table_bytes);
  } else {
    for (u64 chunk = 0; chunk < chunk_count; ++chunk)
      if (task.slot_chunks[chunk] != nullptr)
        free_charged_frame(task.header.factory, arch::virtual_to_physical(task.slot_chunks[chunk]));
    if (task.slot_chunks != task.inline_slot_chunks) free_table(task.slot_chunks, task.slot_table_bytes);
  }
  factory_refund(task.header.factory, task.slot_table_bytes);
  free_object(&task);
  return true;
}

}  // namespace kernel
