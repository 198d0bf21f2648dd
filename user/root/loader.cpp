// launch_program: the steps of starting a child, each reporting a precise failure.
#include "loader.hpp"

#include "layout.hpp"
#include "lib/elf.hpp"

#include "sys/string.hpp"

namespace root {
namespace {

using namespace sys;

constexpr u32 CHILD_TASK_RIGHTS = abi::rights_of(abi::TaskRight::Map, abi::TaskRight::Capabilities);
constexpr u32 CHILD_THREAD_RIGHTS = abi::rights_of(abi::ThreadRight::Control);
constexpr u32 CHILD_FACTORY_RIGHTS = abi::rights_of(abi::FactoryRight::Create);
constexpr u32 CHILD_PLATFORM_RIGHTS = abi::rights_of(abi::PlatformRight::Devices);
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

// Slots filled for one launch. On failure all are emptied; on success only the temporary ones.
class CreatedSlots {
 public:
  explicit CreatedSlots(SlotAllocator& slots) : slots_(slots) {}
  Result<u64> allocate(bool keep) {
    if (count_ == MAX) return Error::QuotaExceeded;
    u64 slot = TRY(slots_.allocate());
    entries_[count_++] = Entry{slot, keep};
    return slot;
  }
  // Deletes in reverse order of creation: threads go before the task they run in.
  void release(bool everything) {
    for (usize index = count_; index > 0; --index) {
      Entry& entry = entries_[index - 1];
      if (entry.keep && !everything) continue;
      (void)Capability(entry.slot).remove();
      slots_.free(entry.slot);
    }
    count_ = 0;
  }

 private:
  static constexpr usize MAX = 32;
  struct Entry {
    u64 slot;
    bool keep;
  };
  SlotAllocator& slots_;
  Entry entries_[MAX] = {};
  usize count_ = 0;
};

bool fail(LaunchFailure& failure, const char* step, Error error, const char* detail = nullptr) {
  failure = LaunchFailure{step, error, detail};
  return false;
}

u32 segment_rights(const klib::ElfSegment& segment) {
  return memory_rights(segment.readable, segment.writable, segment.executable);
}

// Checks what parse_elf leaves to the loader: the load base, page zero, and the window size.
bool check_layout(const klib::ElfImage& elf, u64 base, LaunchFailure& failure) {
  for (usize index = 0; index < elf.segment_count; ++index) {
    const klib::ElfSegment& segment = elf.segments[index];
    u64 start = klib::align_down(segment.virtual_address + base, PAGE_SIZE);
    u64 end = klib::align_up(segment.virtual_address + base + segment.memory_size, PAGE_SIZE);
    if (start < abi::USER_SPACE_START) return fail(failure, "lay out the image", Error::None, "a segment maps page zero");
    if (end > CHILD_IMAGE_LIMIT)
      return fail(failure, "lay out the image", Error::None, "a segment reaches above the child image limit");
    if ((end - start) / PAGE_SIZE > LOAD_WINDOW_PAGES)
      return fail(failure, "lay out the image", Error::None, "a segment is larger than the 1 GiB load window");
    if (segment_rights(segment) == 0)
      return fail(failure, "lay out the image", Error::None, "a segment has no access rights");
  }
  return true;
}

// Creates the segment's memory, fills it through the root's load window, maps it into the child.
bool load_segment(const klib::ElfSegment& segment, u64 base, const ProgramImage& image, Task child,
                  RootContext& context, CreatedSlots& created, LaunchFailure& failure) {
  u64 start = klib::align_down(segment.virtual_address + base, PAGE_SIZE);
  u64 pages = (klib::align_up(segment.virtual_address + base + segment.memory_size, PAGE_SIZE) - start) / PAGE_SIZE;
  auto slot = created.allocate(true);
  if (!slot.ok()) return fail(failure, "allocate a slot for a segment", slot.error());
  auto memory = context.factory.create_memory(slot.value(), pages);
  if (!memory.ok()) return fail(failure, "create memory for a segment", memory.error());
  auto mapped = context.self.map(memory.value(), 0, LOAD_WINDOW_ADDRESS, pages, READ_WRITE);
  if (!mapped.ok()) return fail(failure, "map a segment into the root task", mapped.error());
  // New memory should already be zero; clearing it here keeps bss correct whatever the kernel does.
  auto* window = reinterpret_cast<u8*>(LOAD_WINDOW_ADDRESS);
  u64 offset_in_page = (segment.virtual_address + base) - start;
  memset(window, 0, pages * PAGE_SIZE);
  memcpy(window + offset_in_page, image.bytes + segment.file_offset, segment.file_size);
  auto unmapped = context.self.unmap(LOAD_WINDOW_ADDRESS, pages);
  if (!unmapped.ok()) return fail(failure, "unmap a segment from the root task", unmapped.error());
  auto given = child.map(memory.value(), 0, start, pages, segment_rights(segment));
  if (!given.ok()) return fail(failure, "map a segment into the child", given.error());
  return true;
}

bool give(Task child, u64 own, u64 destination, u32 rights, const char* step, LaunchFailure& failure) {
  auto given = child.give(Capability(own), destination, rights);
  return given.ok() || fail(failure, step, given.error());
}

bool give_capabilities(const ProgramConfig& config, const ProgramImage& image, Task child, Thread thread,
                       RootContext& context, CreatedSlots& created, LaunchFailure& failure) {
  if (config.give_task && !give(child, child.selector(), SELF_TASK, CHILD_TASK_RIGHTS, "give the task", failure))
    return false;
  if (config.give_thread &&
      !give(child, thread.selector(), SELF_THREAD, CHILD_THREAD_RIGHTS, "give the thread", failure))
    return false;
  if (config.factory_quota != 0 || config.factory_percent != 0) {
    u64 quota = config.factory_quota;
    if (config.factory_percent != 0) {
      // A share of what is free now: the root factory's room, or the machine's free memory when
      // that is less (the kernel's own use comes from there too).
      auto info = context.factory.info();
      if (!info.ok()) return fail(failure, "read the root factory's quota", info.error());
      u64 free = info->quota_bytes - info->used_bytes;
      if (info->machine_free_bytes != 0 && info->machine_free_bytes < free) free = info->machine_free_bytes;
      quota = free / 100 * config.factory_percent & ~u64{PAGE_SIZE - 1};
    }
    auto slot = created.allocate(true);
    if (!slot.ok()) return fail(failure, "allocate a slot for the factory", slot.error());
    auto factory = context.factory.create_factory(slot.value(), quota);
    if (!factory.ok()) return fail(failure, "create the factory", factory.error());
    u32 rights = CHILD_FACTORY_RIGHTS | (config.factory_observe ? abi::rights_of(abi::FactoryRight::Observe) : 0);
    if (!give(child, slot.value(), OWN_FACTORY, rights, "give the factory", failure)) return false;
  }
  if (config.give_console &&
      !give(child, context.console.selector(), CONSOLE, config.console_rights, "give the console", failure))
    return false;
  // The root task always holds the Platform at ROOT_PLATFORM; a driver gets it at the same selector.
  if (config.give_platform &&
      !give(child, abi::ROOT_PLATFORM, abi::ROOT_PLATFORM, CHILD_PLATFORM_RIGHTS, "give the platform", failure))
    return false;
  // The clock's two ports only (index and data), never the Platform: the holder can read the
  // date (and set it, which nothing in the system relies on), nothing else.
  if (config.give_rtc) {
    auto slot = created.allocate(false);
    if (!slot.ok()) return fail(failure, "allocate a slot for the clock's ports", slot.error());
    auto ports = Platform(abi::ROOT_PLATFORM).create_io_ports(slot.value(), 0x70, 2, context.factory);
    if (!ports.ok()) return fail(failure, "create the clock's ports", ports.error());
    if (!give(child, slot.value(), RTC_PORTS,
              abi::rights_of(abi::IoPortsRight::Read, abi::IoPortsRight::Write), "give the clock's ports", failure))
      return false;
  }
  if (config.give_file) {
    const DataFile* file = context.files.find(config.file);
    if (file == nullptr)
      return fail(failure, "give the file", Error::None, "no data module has the name given by file= (docs/BOOT.md)");
    if (!give(child, file->selector, BOOT_FILE, abi::rights_of(abi::MemoryRight::Read), "give the file", failure))
      return false;
  }
  for (usize index = 0; index < config.endpoint_count; ++index) {
    const EndpointGrant& grant = config.endpoints[index];
    auto endpoint = context.endpoints.find_or_create(grant.name, context.factory, context.slots);
    if (!endpoint.ok()) return fail(failure, "create a shared endpoint", endpoint.error());
    // A badged copy, given and then dropped: the child's capability carries the program's badge.
    auto slot = created.allocate(false);
    if (!slot.ok()) return fail(failure, "allocate a slot for an endpoint", slot.error());
    auto badged = endpoint->copy_to(slot.value(), abi::ALL_RIGHTS, image.badge);
    if (!badged.ok()) return fail(failure, "badge an endpoint", badged.error());
    if (!give(child, slot.value(), FIRST_ENDPOINT + index, grant.rights, "give an endpoint", failure)) return false;
  }
  return true;
}

bool build_and_start(const ProgramConfig& config, const ProgramImage& image, RootContext& context,
                     CreatedSlots& created, LaunchReport& report, LaunchFailure& failure) {
  klib::ElfImage elf;
  klib::ElfStatus status = klib::parse_elf(image.bytes, image.size, CHILD_IMAGE_LIMIT, elf);
  if (status != klib::ElfStatus::Ok) return fail(failure, "accept the ELF image", Error::None, klib::elf_status_text(status));
  u64 base = elf.position_independent ? PIE_LOAD_BASE : 0;
  if (!check_layout(elf, base, failure)) return false;

  auto task_slot = created.allocate(true);
  if (!task_slot.ok()) return fail(failure, "allocate a slot for the task", task_slot.error());
  auto task = context.factory.create_task(task_slot.value(), config.capability_slots);
  if (!task.ok()) return fail(failure, "create the task", task.error());

  for (usize index = 0; index < elf.segment_count; ++index)
    if (!load_segment(elf.segments[index], base, image, task.value(), context, created, failure)) return false;

  auto stack_slot = created.allocate(true);
  if (!stack_slot.ok()) return fail(failure, "allocate a slot for the stack", stack_slot.error());
  auto stack = context.factory.create_memory(stack_slot.value(), CHILD_STACK_PAGES);
  if (!stack.ok()) return fail(failure, "create the stack", stack.error());
  auto stack_mapped = task->map(stack.value(), 0, CHILD_STACK_TOP - CHILD_STACK_PAGES * PAGE_SIZE, CHILD_STACK_PAGES,
                                READ_WRITE);
  if (!stack_mapped.ok()) return fail(failure, "map the stack into the child", stack_mapped.error());

  auto thread_slot = created.allocate(true);
  if (!thread_slot.ok()) return fail(failure, "allocate a slot for the thread", thread_slot.error());
  auto thread = context.factory.create_thread(thread_slot.value(), task.value(), CHILD_UTCB_ADDRESS);
  if (!thread.ok()) return fail(failure, "create the thread", thread.error());

  if (!give_capabilities(config, image, task.value(), thread.value(), context, created, failure)) return false;

  // The argument tells the child how many endpoints it holds, at FIRST_ENDPOINT onwards.
  auto started = thread->start(elf.entry + base, CHILD_STACK_TOP, config.endpoint_count);
  if (!started.ok()) return fail(failure, "start the thread", started.error());
  report = LaunchReport{task_slot.value(), elf.entry + base, elf.segment_count};
  return true;
}

bool same_name(const char* left, const char* right) {
  usize index = 0;
  for (; left[index] != '\0' && left[index] == right[index]; ++index) {
  }
  return left[index] == right[index];
}

}  // namespace

const DataFile* DataFiles::find(const char* name) const {
  for (usize index = 0; index < count; ++index)
    if (same_name(entries[index].name, name)) return &entries[index];
  return nullptr;
}

bool keep_data_file(const ProgramConfig& config, const ProgramImage& image, RootContext& context,
                    LaunchFailure& failure) {
  DataFiles& files = context.files;
  if (image.size > MAX_DATA_FILE_BYTES) return fail(failure, "keep the data module", Error::None, "larger than 1 MiB");
  for (usize index = 0; index < image.size; ++index)
    if (image.bytes[index] == 0) return fail(failure, "keep the data module", Error::None, "it holds a NUL byte (data modules are text)");
  if (files.find(config.name) != nullptr)
    return fail(failure, "keep the data module", Error::None, "another data module has the same name");
  if (files.count == DataFiles::MAX) return fail(failure, "keep the data module", Error::None, "more than 8 data modules");
  auto slot = context.slots.allocate();
  if (!slot.ok()) return fail(failure, "allocate a slot for the data module", slot.error());
  // One page more than the bytes need when they fill whole pages: the text always ends with a zero.
  auto memory = context.factory.create_memory(slot.value(), image.size / PAGE_SIZE + 1);
  if (!memory.ok()) {
    context.slots.free(slot.value());
    return fail(failure, "create the data module's Memory", memory.error());
  }
  auto written = image.size == 0 ? Result<void>{} : memory->write(0, image.bytes, image.size);
  if (!written.ok()) {
    (void)Capability(slot.value()).remove();
    context.slots.free(slot.value());
    return fail(failure, "copy the data module", written.error());
  }
  DataFile& file = files.entries[files.count++];
  for (usize index = 0; index <= MAX_NAME_LENGTH; ++index) file.name[index] = config.name[index];
  file.selector = slot.value();
  return true;
}

bool launch_program(const ProgramConfig& config, const ProgramImage& image, RootContext& context,
                    LaunchReport& report, LaunchFailure& failure) {
  CreatedSlots created(context.slots);
  bool started = build_and_start(config, image, context, created, report, failure);
  created.release(!started);
  return started;
}

}  // namespace root
