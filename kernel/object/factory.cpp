// Object creation: every object and page is charged to the creating factory before it exists.
#include "arch/x86_64/address_space.hpp"
#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/ioapic.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/panic.hpp"
#include "core/heap.hpp"
#include "core/memory.hpp"
#include "core/scheduler.hpp"
#include "abi/syscall.hpp"
#include "object/lifetime.hpp"

namespace kernel {

using metteagle::abi::Error;

Result<void> factory_charge(Factory* factory, u64 bytes) {
  if (factory == nullptr) return {};
  if (bytes > factory->quota - factory->used) return Error::QuotaExceeded;
  factory->used += bytes;
  return {};
}

void factory_refund(Factory* factory, u64 bytes) {
  if (factory != nullptr) factory->used -= bytes;
}

namespace {

template <typename Object>
Result<Object*> allocate_object(Factory* factory, ObjectType type) {
  usize bytes = allocation_size(sizeof(Object));
  TRY_VOID(factory_charge(factory, bytes));
  void* block = heap_allocate(sizeof(Object));
  if (block == nullptr) {
    factory_refund(factory, bytes);
    return Error::OutOfMemory;
  }
  auto* object = new (block) Object();
  object->header.type = type;
  object->header.factory = factory;
  object->header.charged_bytes = bytes;
  if (factory != nullptr) factory->objects.push_back(object->header);
  return object;
}

// Frees an object whose constructor-time work failed before anything else referenced it.
template <typename Object>
void abandon_object(Object* object) {
  if (object->header.factory != nullptr) decltype(object->header.factory->objects)::remove(object->header);
  factory_refund(object->header.factory, object->header.charged_bytes);
  heap_free(object, sizeof(Object));
}

// A zeroed frame charged to factory: QuotaExceeded when the quota cannot pay for it,
// OutOfMemory when the quota could but the machine has no frame left.
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

}  // namespace

arch::TableFrameSource table_source(Task& task) { return {allocate_table_frame, release_table_frame, &task}; }

Result<Task*> create_task(Factory* factory, u64 slot_count) {
  if (slot_count < 2 || slot_count > MAX_TASK_SLOTS) return Error::InvalidArgument;
  Task* task = TRY(allocate_object<Task>(factory, ObjectType::Task));
  usize table_bytes = static_cast<usize>(slot_count * sizeof(Capability));
  usize charged_table_bytes = table_bytes <= PAGE_SIZE ? allocation_size(table_bytes) : align_up(table_bytes, PAGE_SIZE);
  // The slot table and the page-table root are paid for together, before either exists; what
  // fails after that is the machine's memory, not the quota.
  if (!factory_charge(factory, charged_table_bytes + PAGE_SIZE).ok()) {
    abandon_object(task);
    return Error::QuotaExceeded;
  }
  void* table = nullptr;
  if (table_bytes <= PAGE_SIZE) {
    table = heap_allocate(table_bytes);
  } else {
    auto run = frames().allocate_contiguous(charged_table_bytes / PAGE_SIZE, PAGE_SIZE);
    if (run) {
      table = arch::physical_to_virtual(run.value());
      arch::zero_words(table, charged_table_bytes);
    }
  }
  auto root = table == nullptr ? Result<u64>(Error::OutOfMemory) : frames().allocate();
  if (!root) {
    if (table != nullptr) {
      if (table_bytes <= PAGE_SIZE) heap_free(table, table_bytes);
      else for (usize offset = 0; offset < charged_table_bytes; offset += PAGE_SIZE)
        (void)frames().free(reinterpret_cast<u64>(table) - PHYSMAP_BASE + offset);
    }
    factory_refund(factory, charged_table_bytes + PAGE_SIZE);
    abandon_object(task);
    return Error::OutOfMemory;
  }
  arch::zero_words(arch::physical_to_virtual(root.value()), PAGE_SIZE);
  task->slots = static_cast<Capability*>(table);
  for (u64 index = 0; index < slot_count; ++index) new (&task->slots[index]) Capability();
  task->slot_count = slot_count;
  task->slots_bytes = charged_table_bytes;
  task->page_table_root = root.value();
  arch::address_space_init(root.value());
  return task;
}

Result<Thread*> create_thread(Factory* factory, Task& task, u64 utcb_address) {
  if (utcb_address < metteagle::abi::USER_SPACE_START || utcb_address >= metteagle::abi::USER_SPACE_USABLE_END ||
      !is_aligned(utcb_address, PAGE_SIZE))
    return Error::InvalidArgument;
  u64 unused;
  if (arch::address_space_translate(task.page_table_root, utcb_address, unused)) return Error::Busy;
  Thread* thread = TRY(allocate_object<Thread>(factory, ObjectType::Thread));
  u64 stack_bytes = PAGE_SIZE * KERNEL_STACK_PAGES;
  if (!factory_charge(factory, stack_bytes + PAGE_SIZE).ok()) {
    abandon_object(thread);
    return Error::QuotaExceeded;
  }
  auto stack = frames().allocate_contiguous(KERNEL_STACK_PAGES, PAGE_SIZE);
  auto utcb = frames().allocate();
  if (!stack || !utcb) {
    if (stack) for (usize i = 0; i < KERNEL_STACK_PAGES; ++i) (void)frames().free(stack.value() + i * PAGE_SIZE);
    if (utcb) (void)frames().free(utcb.value());
    factory_refund(factory, stack_bytes + PAGE_SIZE);
    abandon_object(thread);
    return Error::OutOfMemory;
  }
  auto* utcb_words = reinterpret_cast<u64*>(arch::physical_to_virtual(utcb.value()));
  arch::zero_words(utcb_words, PAGE_SIZE);
  utcb_words[0] = utcb_address;  // Utcb::self, read through %gs:0.
  auto mapped = arch::address_space_map(task.page_table_root, utcb_address, utcb.value(), {true, false}, table_source(task));
  if (!mapped.ok()) {
    for (usize i = 0; i < KERNEL_STACK_PAGES; ++i) (void)frames().free(stack.value() + i * PAGE_SIZE);
    (void)frames().free(utcb.value());
    factory_refund(factory, stack_bytes + PAGE_SIZE);
    abandon_object(thread);
    return mapped.error();
  }
  thread->task = &task;
  thread->kernel_stack = reinterpret_cast<u64>(arch::physical_to_virtual(stack.value()));
  thread->utcb_frame = utcb.value();
  thread->utcb_address = utcb_address;
  thread->priority = DEFAULT_PRIORITY;
  thread->cpu = 0;
  u64 stack_top = thread->kernel_stack + stack_bytes;
  thread->frame = reinterpret_cast<arch::TrapFrame*>(stack_top - sizeof(arch::TrapFrame));
  *thread->frame = {};
  thread->frame->cs = 0x2b;
  thread->frame->ss = 0x23;
  thread->frame->rflags = 0x202;  // Interrupts on, nothing else.
  thread->saved_kernel_rsp = arch::prepare_user_entry_stack(stack_top);
  arch::initial_extended_state(thread->extended_state);
  task.threads.push_back(*thread);
  return thread;
}

Result<Endpoint*> create_endpoint(Factory* factory) { return allocate_object<Endpoint>(factory, ObjectType::Endpoint); }

Result<Reply*> create_reply(Factory* factory) { return allocate_object<Reply>(factory, ObjectType::Reply); }

Result<Notification*> create_notification(Factory* factory) {
  return allocate_object<Notification>(factory, ObjectType::Notification);
}

namespace {
Irq* irqs_by_line[IRQ_LINES];
}  // namespace

Irq* irq_of_line(u32 line) { return line < IRQ_LINES ? irqs_by_line[line] : nullptr; }

Result<Irq*> create_irq(Factory* factory, u32 line, bool level_triggered, bool active_low) {
  if (line == 0 || line >= IRQ_LINES || !arch::ioapic_line_present(line)) return Error::InvalidArgument;
  if (irqs_by_line[line] != nullptr) return Error::Busy;
  Irq* irq = TRY(allocate_object<Irq>(factory, ObjectType::Irq));
  irq->line = line;
  irq->level_triggered = level_triggered;
  irq->active_low = active_low;
  irqs_by_line[line] = irq;
  arch::ioapic_configure(line, level_triggered, active_low);
  return irq;
}

void forget_irq(Irq& irq) {
  arch::ioapic_mask(irq.line);
  irqs_by_line[irq.line] = nullptr;
}

Result<IoPorts*> create_io_ports(Factory* factory, u32 first, u32 count) {
  IoPorts* ports = TRY(allocate_object<IoPorts>(factory, ObjectType::IoPorts));
  ports->first = first;
  ports->count = count;
  return ports;
}

Result<Memory*> create_device_memory(Factory* factory, u64 physical, u64 page_count) {
  if (page_count == 0 || page_count > PAGE_SIZE / sizeof(u64)) return Error::InvalidArgument;
  Memory* memory = TRY(allocate_object<Memory>(factory, ObjectType::Memory));
  usize table_bytes = allocation_size(static_cast<usize>(page_count * sizeof(u64)));
  if (!factory_charge(factory, table_bytes).ok()) {
    abandon_object(memory);
    return Error::QuotaExceeded;
  }
  auto* table = static_cast<u64*>(heap_allocate(table_bytes));
  if (table == nullptr) {
    factory_refund(factory, table_bytes);
    abandon_object(memory);
    return Error::OutOfMemory;
  }
  for (u64 page = 0; page < page_count; ++page) table[page] = physical + page * PAGE_SIZE;
  memory->frames = table;
  memory->page_count = page_count;
  memory->frames_table_bytes = table_bytes;
  memory->device = true;
  return memory;
}

Result<Memory*> create_contiguous_memory(Factory* factory, u64 page_count) {
  if (page_count == 0 || page_count > PAGE_SIZE / sizeof(u64)) return Error::InvalidArgument;
  Memory* memory = TRY(allocate_object<Memory>(factory, ObjectType::Memory));
  usize table_bytes = allocation_size(static_cast<usize>(page_count * sizeof(u64)));
  if (!factory_charge(factory, table_bytes + page_count * PAGE_SIZE).ok()) {
    abandon_object(memory);
    return Error::QuotaExceeded;
  }
  auto* table = static_cast<u64*>(heap_allocate(table_bytes));
  auto run = table == nullptr ? Result<u64>(Error::OutOfMemory) : frames().allocate_contiguous(page_count, PAGE_SIZE);
  if (!run) {
    if (table != nullptr) heap_free(table, table_bytes);
    factory_refund(factory, table_bytes + page_count * PAGE_SIZE);
    abandon_object(memory);
    return Error::OutOfMemory;
  }
  arch::zero_words(arch::physical_to_virtual(run.value()), static_cast<usize>(page_count * PAGE_SIZE));
  for (u64 page = 0; page < page_count; ++page) table[page] = run.value() + page * PAGE_SIZE;
  memory->frames = table;
  memory->page_count = page_count;
  memory->frames_table_bytes = table_bytes;
  return memory;
}

Platform* create_platform() {
  auto platform = allocate_object<Platform>(nullptr, ObjectType::Platform);
  KERNEL_ASSERT(platform.ok());  // Boot time: the heap has memory.
  return platform.value();
}

Result<Memory*> create_memory(Factory* factory, u64 page_count) {
  // 65536 pages (256 MiB) per object keeps the frame table within 128 contiguous pages.
  if (page_count == 0 || page_count > 65536) return Error::InvalidArgument;
  Memory* memory = TRY(allocate_object<Memory>(factory, ObjectType::Memory));
  usize table_bytes = static_cast<usize>(page_count * sizeof(u64));
  usize charged_table = table_bytes <= PAGE_SIZE ? allocation_size(table_bytes) : align_up(table_bytes, PAGE_SIZE);
  if (!factory_charge(factory, charged_table + page_count * PAGE_SIZE).ok()) {
    abandon_object(memory);
    return Error::QuotaExceeded;
  }
  u64* table = nullptr;
  if (table_bytes <= PAGE_SIZE) {
    table = static_cast<u64*>(heap_allocate(table_bytes));
  } else {
    auto run = frames().allocate_contiguous(charged_table / PAGE_SIZE, PAGE_SIZE);
    if (run) table = reinterpret_cast<u64*>(arch::physical_to_virtual(run.value()));
  }
  u64 allocated = 0;
  if (table != nullptr) {
    for (; allocated < page_count; ++allocated) {
      auto frame = frames().allocate();
      if (!frame) break;
      arch::zero_words(arch::physical_to_virtual(frame.value()), PAGE_SIZE);
      table[allocated] = frame.value();
    }
  }
  memory->frames = table;
  memory->page_count = allocated;
  memory->frames_table_bytes = charged_table;
  if (table == nullptr || allocated < page_count) {
    // Out of physical memory: undo through the normal destruction path, which frees what exists.
    factory_refund(factory, (page_count - allocated) * PAGE_SIZE);
    if (table == nullptr) {
      factory_refund(factory, charged_table);
      memory->frames_table_bytes = 0;
    }
    schedule_destroy(&memory->header);
    process_destroy_queue();
    return Error::OutOfMemory;
  }
  return memory;
}

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

DebugConsole* create_debug_console() {
  auto console = allocate_object<DebugConsole>(nullptr, ObjectType::DebugConsole);
  KERNEL_ASSERT(console.ok());  // Boot time: the heap has memory.
  return console.value();
}

}  // namespace kernel
