// Physical memory: the machine-wide frame allocator, set up from the multiboot memory map.
#include "core/memory.hpp"

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/platform.hpp"
#include "core/console.hpp"
#include "core/panic.hpp"

extern "C" char __data_end[];

namespace kernel {
namespace {
// Enough bitmap for 16 GiB of RAM; more is left unused and reported at boot.
constexpr usize MAX_FRAMES = (16ull << 30) / PAGE_SIZE;
u64 frame_bitmap[FrameAllocator::bitmap_words_for(MAX_FRAMES)];
FrameAllocator allocator;
}  // namespace

FrameAllocator& frames() { return allocator; }

void memory_init(const BootInfo& boot_info) {
  u64 managed_end = boot_info.usable_end;
  if (managed_end > MAX_FRAMES * PAGE_SIZE) {
    log("memory: only the first %lu MiB of %lu MiB are used\n", (MAX_FRAMES * PAGE_SIZE) >> 20, managed_end >> 20);
    managed_end = MAX_FRAMES * PAGE_SIZE;
  }
  allocator.init(0, static_cast<usize>(managed_end / PAGE_SIZE), frame_bitmap);
  for (usize index = 0; index < boot_info.region_count; ++index) {
    const MemoryRegion& region = boot_info.regions[index];
    if (region.usable) allocator.release_range(region.start, region.end);
  }
  // The first MiB holds firmware data; the kernel image and everything the loader placed after
  // it (modules, information structures) run up to reserved_end.
  allocator.reserve_range(0, 1 << 20);
  u64 image_end = reinterpret_cast<u64>(__data_end) - KERNEL_VIRTUAL_BASE;
  allocator.reserve_range(KERNEL_LOAD_PHYSICAL,
                          image_end > boot_info.reserved_end ? image_end : boot_info.reserved_end);
  for (usize index = 0; index < boot_info.module_count; ++index)
    allocator.reserve_range(boot_info.modules[index].start, boot_info.modules[index].end);
}

u64 allocate_boot_frame() {
  auto frame = allocator.allocate();
  if (!frame) panic("out of physical memory during boot");
  arch::zero_words(arch::physical_to_virtual(frame.value()), PAGE_SIZE);
  return frame.value();
}

}  // namespace kernel
