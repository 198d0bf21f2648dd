// The root task: loaded from boot module 0; receives every initial capability and the other
// modules, mapped read-only.
#include "core/root_task.hpp"

#include "abi/boot.hpp"
#include "abi/syscall.hpp"
#include "arch/x86_64/platform.hpp"
#include "arch/x86_64/syscall_registers.hpp"
#include "core/console.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "core/scheduler.hpp"
#include "lib/elf.hpp"
#include "object/capability_space.hpp"
#include "object/lifetime.hpp"

namespace kernel {
namespace {

namespace abi = metteagle::abi;

template <typename T> T must(Result<T> result, const char* what) {
  if (!result) panic("root task: %s failed: %s", what, abi::error_name(result.error()));
  return result.value();
}

// A Memory object of fresh pages holding bytes, mapped into task at address.
Memory* load_pages(Factory* factory, Task& task, u64 address, u64 size, const u8* bytes, u64 byte_count,
                   u64 byte_offset, bool writable, bool executable) {
  u64 pages = align_up(size, PAGE_SIZE) / PAGE_SIZE;
  Memory* memory = must(create_memory(factory, pages), "creating segment memory");
  for (u64 index = 0; index < byte_count; ++index) {
    u64 position = byte_offset + index;
    arch::physical_to_virtual(memory->frames[position / PAGE_SIZE])[position % PAGE_SIZE] = bytes[index];
  }
  // map_memory maps at most MAP_MAX_PAGES pages per call and says where it stopped.
  for (u64 done = 0; done < pages;) {
    u64 stopped = must(map_memory(task, *memory, done, address + done * PAGE_SIZE, pages - done, writable, executable),
                       "mapping segment");
    done = (stopped - address) / PAGE_SIZE;
  }
  return memory;
}

// Gives the root task a capability to a kernel object it must own.
void give(Task& task, u64 selector, KernelObject& object, u32 rights) {
  install_capability(*must(lookup_empty(task, selector), "giving a capability"), &object, rights);
}

}  // namespace

void start_root_task(const BootInfo& boot_info) {
  if (boot_info.module_count == 0) panic("no boot modules: the root task is module 0");
  const BootModule& root_module = boot_info.modules[0];
  const u8* image = arch::physical_to_virtual(root_module.start);
  u64 image_size = root_module.end - root_module.start;
  ElfImage elf;
  ElfStatus status = parse_elf(image, image_size, abi::USER_SPACE_END, elf);
  if (status != ElfStatus::Ok) panic("root task module is not a valid executable: %s", elf_status_text(status));
  if (elf.position_independent) panic("root task module must be a fixed-address executable (ET_EXEC)");

  // Everything left after boot belongs to the root factory; the kernel heap and boot objects
  // keep a small reserve.
  constexpr u64 KERNEL_RESERVE_PAGES = 256;
  u64 free_pages = frames().free_frames();
  Factory* factory =
      create_root_factory((free_pages > KERNEL_RESERVE_PAGES ? free_pages - KERNEL_RESERVE_PAGES : 0) * PAGE_SIZE);
  Task* task = must(create_task(factory, abi::ROOT_CAPABILITY_SLOTS), "creating the task");

  for (usize index = 0; index < elf.segment_count; ++index) {
    const ElfSegment& segment = elf.segments[index];
    u64 start = align_down(segment.virtual_address, PAGE_SIZE);
    u64 lead = segment.virtual_address - start;
    // Segment, stack and boot-information memory is reachable only through its mapping: the root
    // task gets no capability to it (abi/boot.hpp lists everything it holds).
    load_pages(factory, *task, start, lead + segment.memory_size, image + segment.file_offset, segment.file_size, lead,
               segment.writable, segment.executable);
  }

  u64 stack_bottom = abi::ROOT_STACK_TOP - abi::ROOT_STACK_PAGES * PAGE_SIZE;
  load_pages(factory, *task, stack_bottom, abi::ROOT_STACK_PAGES * PAGE_SIZE, nullptr, 0, 0, true, false);

  // Boot information page, then the other modules, mapped read-only one after another.
  Memory* info_page = must(create_memory(factory, 1), "creating the boot information page");
  auto& info = *reinterpret_cast<abi::RootBootInfo*>(arch::physical_to_virtual(info_page->frames[0]));
  info.cpu_count = cpu_count();
  info.tsc_hertz = arch::tsc_hertz();
  for (usize i = 0; i + 1 < sizeof(info.kernel_command_line) && boot_info.command_line[i] != '\0'; ++i)
    info.kernel_command_line[i] = boot_info.command_line[i];
  u64 module_address = abi::ROOT_MODULES_ADDRESS;
  for (usize index = 1; index < boot_info.module_count && index - 1 < abi::RootBootInfo::MAX_MODULES; ++index) {
    const BootModule& module = boot_info.modules[index];
    u64 pages = align_up(module.end - module.start, PAGE_SIZE) / PAGE_SIZE;
    if (pages == 0) pages = 1;
    // Module bytes are copied into fresh pages charged to the root factory; the loader's copy is
    // released below, so memory is accounted exactly once.
    Memory* memory = load_pages(factory, *task, module_address, pages * PAGE_SIZE,
                                arch::physical_to_virtual(module.start), module.end - module.start, 0, false, false);
    abi::RootModule& entry = info.modules[info.module_count++];
    entry.address = module_address;
    entry.size = module.end - module.start;
    entry.selector = abi::ROOT_FIRST_MODULE + index - 1;
    // The path's directories mean nothing inside the machine and would crowd out the arguments.
    const char* line = module.command_line;
    const char* word_end = line;
    while (*word_end != '\0' && *word_end != ' ') ++word_end;
    for (const char* cursor = line; cursor < word_end; ++cursor)
      if (*cursor == '/') line = cursor + 1;
    for (usize i = 0; i + 1 < sizeof(entry.command_line) && line[i] != '\0'; ++i) entry.command_line[i] = line[i];
    give(*task, entry.selector, memory->header, rights_of(abi::MemoryRight::Read));
    module_address += (pages + 1) * PAGE_SIZE;  // A guard page between modules.
  }
  (void)must(map_memory(*task, *info_page, 0, abi::ROOT_BOOT_INFO_ADDRESS, 1, false, false),
             "mapping boot information");

  // Every module now lives in pages of the root factory; the loader's copies go back to the pool.
  for (usize index = 0; index < boot_info.module_count; ++index)
    for (u64 page = align_down(boot_info.modules[index].start, PAGE_SIZE); page < boot_info.modules[index].end;
         page += PAGE_SIZE)
      (void)frames().free(page);  // Reserved at boot, so each free succeeds exactly once.

  Thread* thread = must(create_thread(factory, *task, abi::ROOT_UTCB_ADDRESS), "creating the thread");
  give(*task, abi::ROOT_TASK, task->header, abi::ALL_RIGHTS);
  give(*task, abi::ROOT_THREAD, thread->header, abi::ALL_RIGHTS);
  give(*task, abi::ROOT_FACTORY, factory->header, abi::ALL_RIGHTS);
  give(*task, abi::ROOT_CONSOLE, create_debug_console()->header, abi::ALL_RIGHTS);
  give(*task, abi::ROOT_PLATFORM, create_platform()->header, abi::ALL_RIGHTS);

  arch::set_user_entry(*thread->frame, elf.entry, abi::ROOT_STACK_TOP, abi::ROOT_BOOT_INFO_ADDRESS);
  make_ready(*thread);
  log("root task: %s, %zu segments, entry %#lx, %lu modules\n", root_module.command_line, elf.segment_count, elf.entry,
      info.module_count);
}

}  // namespace kernel
