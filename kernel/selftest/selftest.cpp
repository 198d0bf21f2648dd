// Self-test runner and the boot suite: the checks of what kernel_main set up.
#include "selftest/selftest.hpp"

#include "arch/x86_64/cpu.hpp"
#include "arch/x86_64/layout.hpp"
#include "arch/x86_64/smp.hpp"
#include "core/console.hpp"
#include "core/heap.hpp"
#include "core/kernel_lock.hpp"
#include "core/memory.hpp"
#include "core/panic.hpp"
#include "lib/format.hpp"
#include "object/lifetime.hpp"

namespace kernel {
const BootInfo& boot_information();
}

namespace selftest {
namespace {

// Set by a constructor, so the boot suite can see that kernel_main ran the .init_array.
bool constructor_ran = false;
[[gnu::constructor]] void mark_constructor_ran() { constructor_ran = true; }

volatile u64 breakpoints_seen = 0;

bool strings_equal(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) ++a, ++b;
  return *a == *b;
}
bool ends_with(const char* text, const char* suffix) {
  usize text_length = 0, suffix_length = 0;
  while (text[text_length] != '\0') ++text_length;
  while (suffix[suffix_length] != '\0') ++suffix_length;
  return text_length >= suffix_length && strings_equal(text + text_length - suffix_length, suffix);
}
bool starts_with(const u8* data, usize size, const char* prefix) {
  for (usize i = 0; prefix[i] != '\0'; ++i)
    if (i >= size || data[i] != static_cast<u8>(prefix[i])) return false;
  return true;
}

void constructors_ran(Context& context) { EXPECT(constructor_ran); }

void boot_modules_arrive_with_command_lines(Context& context) {
  // The scenario boots with -initrd "module-alpha.txt first second,module-beta.txt third".
  const BootInfo& info = kernel::boot_information();
  EXPECT(info.module_count == 2);
  if (info.module_count != 2) return;
  EXPECT(ends_with(info.modules[0].command_line, "module-alpha.txt first second"));
  EXPECT(ends_with(info.modules[1].command_line, "module-beta.txt third"));
  for (usize index = 0; index < 2; ++index) {
    const BootModule& module = info.modules[index];
    EXPECT(is_aligned(module.start, PAGE_SIZE));
    EXPECT(!kernel::frames().is_free(module.start));
  }
  const BootModule& alpha = info.modules[0];
  EXPECT(starts_with(arch::physical_to_virtual(alpha.start), alpha.end - alpha.start, "alpha module contents"));
  const BootModule& beta = info.modules[1];
  EXPECT(starts_with(arch::physical_to_virtual(beta.start), beta.end - beta.start, "beta module contents"));
}

void memory_map_reports_the_machine(Context& context) {
  // The scenario runs with -m 512M; firmware keeps a little of it.
  const BootInfo& info = kernel::boot_information();
  EXPECT(info.usable_bytes > (500ull << 20));
  EXPECT(info.usable_bytes <= (512ull << 20));
  EXPECT(kernel::frames().free_frames() > (480ull << 20) / PAGE_SIZE);
}

void frames_are_distinct_writable_and_returned(Context& context) {
  constexpr usize COUNT = 64;
  u64 taken[COUNT];
  usize free_before = kernel::frames().free_frames();
  for (usize i = 0; i < COUNT; ++i) {
    auto frame = kernel::frames().allocate();
    EXPECT(frame.ok());
    if (!frame.ok()) return;
    taken[i] = frame.value();
    *reinterpret_cast<volatile u64*>(arch::physical_to_virtual(taken[i])) = taken[i] ^ 0x5a5a5a5a;
  }
  for (usize i = 0; i < COUNT; ++i) {
    EXPECT(*reinterpret_cast<volatile u64*>(arch::physical_to_virtual(taken[i])) == (taken[i] ^ 0x5a5a5a5a));
    EXPECT(taken[i] >= (1u << 20));
  }
  for (usize i = 0; i < COUNT; ++i) EXPECT(kernel::frames().free(taken[i]).ok());
  EXPECT(kernel::frames().free(taken[0]).error() == metteagle::abi::Error::InvalidArgument);
  EXPECT(kernel::frames().free_frames() == free_before);
}

void kernel_sections_have_their_rights(Context& context) {
  static u64 some_data = 1;
  static const u64 some_constant = 2;
  u64 physical;
  bool writable, executable;
  EXPECT(arch::translate(reinterpret_cast<u64>(&kernel_sections_have_their_rights), physical, writable, executable));
  EXPECT(!writable && executable);
  EXPECT(arch::translate(reinterpret_cast<u64>(&some_constant), physical, writable, executable));
  EXPECT(!writable && !executable);
  EXPECT(arch::translate(reinterpret_cast<u64>(&some_data), physical, writable, executable));
  EXPECT(writable && !executable);
  EXPECT(physical == reinterpret_cast<u64>(&some_data) - KERNEL_VIRTUAL_BASE);
  // The boot identity map is gone: the lower half belongs to user space alone.
  EXPECT(!arch::translate(0x100000, physical, writable, executable));
  EXPECT(arch::translate(PHYSMAP_BASE + 0x100000, physical, writable, executable));
  EXPECT(physical == 0x100000 && writable && !executable);
}

void breakpoint_trap_returns(Context& context) {
  u64 before = breakpoints_seen;
  asm volatile("int3");
  asm volatile("int3");
  EXPECT(breakpoints_seen == before + 2);
}

void checked_copy_survives_faults(Context& context) {
  u64 value = 0;
  u64 source = 0x1122334455667788;
  EXPECT(checked_copy(&value, &source, sizeof(value)) == 0);
  EXPECT(value == source);
  // Unmapped lower-half address and a non-canonical one: both fault, both are reported.
  EXPECT(checked_copy(&value, reinterpret_cast<void*>(0x1000), sizeof(value)) == sizeof(value));
  EXPECT(checked_copy(reinterpret_cast<void*>(0x1000), &source, 4) == 4);
  // Words, then the last bytes: 19 bytes copy whole; from an unmapped address all 19 are left.
  u8 bytes[19] = {};
  u8 from[19];
  for (usize i = 0; i < sizeof from; ++i) from[i] = static_cast<u8>(i + 1);
  EXPECT(checked_copy(bytes, from, sizeof bytes) == 0);
  EXPECT(bytes[0] == 1 && bytes[15] == 16 && bytes[16] == 17 && bytes[18] == 19);
  EXPECT(checked_copy(bytes, reinterpret_cast<void*>(0x1000), sizeof bytes) == sizeof bytes);
  // A write into kernel text faults (protection violation), the text stays intact.
  u8 original = *reinterpret_cast<const u8*>(&checked_copy_survives_faults);
  u8 garbage = static_cast<u8>(original ^ 0xff);
  EXPECT(checked_copy(reinterpret_cast<void*>(&checked_copy_survives_faults), &garbage, 1) == 1);
  EXPECT(*reinterpret_cast<const u8*>(&checked_copy_survives_faults) == original);
}

void timer_interrupts_arrive(Context& context) {
  u64 start_ticks = arch::timer_ticks();
  u64 start_tsc = arch::read_tsc();
  // Bounded wait: one second of TSC time is far more than five 1 ms ticks need.
  while (arch::timer_ticks() < start_ticks + 5 && arch::read_tsc() - start_tsc < arch::tsc_hertz())
    arch::wait_for_interrupt();
  arch::enable_interrupts();
  EXPECT(arch::timer_ticks() >= start_ticks + 5);
  EXPECT(arch::tsc_hertz() > 0);
}

void formatting_matches_printf(Context& context) {
  char buffer[64];
  EXPECT(format_to_buffer(buffer, sizeof(buffer), "%d|%5u|%-3s|%04x|%lx", -42, 7u, "a", 0xbeu, 0xdeadbeefcafeul) == 31);
  EXPECT(strings_equal(buffer, "-42|    7|a  |00be|deadbeefcafe"));
}

// Takes every free frame, chained through their first words; returns the chain's head (0: none).
u64 drain_frames() {
  u64 head = 0;
  while (auto frame = kernel::frames().allocate()) {
    *reinterpret_cast<u64*>(arch::physical_to_virtual(frame.value())) = head;
    head = frame.value();
  }
  return head;
}

void release_frames(u64 head) {
  while (head != 0) {
    u64 next = *reinterpret_cast<u64*>(arch::physical_to_virtual(head));
    (void)kernel::frames().free(head);  // Taken by drain_frames, freed once.
    head = next;
  }
}

// A factory whose quota exceeds the machine: when the frames run out, task creation and the page
// tables of a mapping fail with OutOfMemory (the machine), never QuotaExceeded (the quota had
// room), and destroying the factory returns every frame, heap frames included.
void out_of_frames_is_out_of_memory_and_everything_returns(Context& context) {
  using metteagle::abi::Error;
  arch::disable_interrupts();
  kernel::kernel_lock_acquire();
  usize free_before = kernel::frames().free_frames();
  usize heap_before = kernel::heap_frames();
  auto factory = kernel::create_factory(nullptr, u64{1} << 40);
  EXPECT(factory.ok());
  if (factory.ok()) {
    kernel::Factory* made = factory.value();
    // Objects made while memory lasts leave partly used heap pages for the same classes, so the
    // second task's object and slot table still fit and its page-table root is what fails.
    auto task = kernel::create_task(made, 2);
    auto memory = kernel::create_memory(made, 1);
    EXPECT(task.ok() && memory.ok());
    if (task.ok() && memory.ok()) {
      EXPECT(kernel::map_memory(*task.value(), *memory.value(), 0, 0x1000, 1, true, false).ok());
      u64 used_before = made->used;
      u64 drained = drain_frames();
      EXPECT(kernel::frames().free_frames() == 0);
      EXPECT(kernel::create_task(made, 2).error() == Error::OutOfMemory);
      // Far from the first mapping: three new page tables are needed and none can be had.
      EXPECT(kernel::map_memory(*task.value(), *memory.value(), 0, 0x7f0000000000, 1, true, false).error() ==
             Error::OutOfMemory);
      EXPECT(kernel::create_memory(made, 1).error() == Error::OutOfMemory);
      // The refused requests charged nothing.
      EXPECT(made->used == used_before);
      release_frames(drained);
    }
    kernel::schedule_destroy(&made->header);
    kernel::process_destroy_queue();
  }
  EXPECT(kernel::heap_frames() == heap_before);
  EXPECT(kernel::frames().free_frames() == free_before);
  kernel::kernel_lock_release();
  arch::enable_interrupts();
}

// The kernel lock's slow wait (kernel/core/kernel_lock.cpp): CPU 1, sent a reschedule IPI while
// this CPU holds the lock, spins, halts (counted), is woken when the lock is released, and takes
// and gives it back. Bounded waits of 10 s: CPU 1's vCPU may be off its host core for a while.
void kernel_lock_waiter_halts_and_is_woken(Context& context) {
  EXPECT(arch::online_cpu_count() >= 2);
  if (arch::online_cpu_count() < 2) return;
  arch::disable_interrupts();
  kernel::kernel_lock_acquire();
  u64 halts_before = kernel::kernel_lock_halts();
  u32 turn = kernel::kernel_lock_turns();
  arch::send_reschedule(1);
  u64 start = arch::read_tsc();
  while (kernel::kernel_lock_halts() == halts_before && arch::read_tsc() - start < 10 * arch::tsc_hertz())
    arch::pause();
  bool halted = kernel::kernel_lock_halts() > halts_before;
  kernel::kernel_lock_release();
  // This release is turn + 1; CPU 1's, once it had the lock, turn + 2.
  start = arch::read_tsc();
  while (kernel::kernel_lock_turns() - turn < 2 && arch::read_tsc() - start < 10 * arch::tsc_hertz()) arch::pause();
  arch::enable_interrupts();
  EXPECT(halted);
  EXPECT(kernel::kernel_lock_turns() - turn >= 2);
}

const Case boot_cases[] = {
    {"constructors_ran", constructors_ran},
    {"boot_modules_arrive_with_command_lines", boot_modules_arrive_with_command_lines},
    {"memory_map_reports_the_machine", memory_map_reports_the_machine},
    {"frames_are_distinct_writable_and_returned", frames_are_distinct_writable_and_returned},
    {"kernel_sections_have_their_rights", kernel_sections_have_their_rights},
    {"breakpoint_trap_returns", breakpoint_trap_returns},
    {"checked_copy_survives_faults", checked_copy_survives_faults},
    {"timer_interrupts_arrive", timer_interrupts_arrive},
    {"formatting_matches_printf", formatting_matches_printf},
    {"out_of_frames_is_out_of_memory_and_everything_returns", out_of_frames_is_out_of_memory_and_everything_returns},
    {"kernel_lock_waiter_halts_and_is_woken", kernel_lock_waiter_halts_and_is_woken},
};

// The panic suite proves the harness notices a crashing kernel: it writes through a null pointer.
void null_pointer_write_panics(Context&) {
  // Laundered through an asm barrier so the compiler cannot see (and reject) the null store.
  uptr address = 0;
  asm volatile("" : "+r"(address));
  *reinterpret_cast<volatile u64*>(address) = 1;
  kernel::panic("a null pointer write did not fault");
}
const Case panic_cases[] = {{"null_pointer_write_panics", null_pointer_write_panics}};

// The hang suite proves the harness's timeout: it never finishes.
void hang_forever(Context&) {
  for (;;) arch::wait_for_interrupt();
}
const Case hang_cases[] = {{"hang_forever", hang_forever}};

const Suite suites[] = {
    {"boot", boot_cases, sizeof(boot_cases) / sizeof(boot_cases[0])},
    {"panic", panic_cases, 1},
    {"hang", hang_cases, 1},
};

}  // namespace

void Context::expect(bool condition, const char* expression, const char* file, int line) {
  if (condition || failed_) return;
  failed_ = true;
  format_to_buffer(reason_, sizeof(reason_), "%s (%s:%d)", expression, file, line);
}

bool on_exception(arch::TrapFrame& frame) {
  if (frame.vector == arch::VECTOR_BREAKPOINT) {
    breakpoints_seen = breakpoints_seen + 1;
    return true;  // int3 is a trap: the saved instruction pointer is already past it.
  }
  return false;
}

void run_suite(const char* name) {
  for (const Suite& suite : suites) {
    if (!strings_equal(suite.name, name)) continue;
    kernel::log("suite %s: %zu cases\n", suite.name, suite.case_count);
    usize passed = 0, failed = 0;
    for (usize index = 0; index < suite.case_count; ++index) {
      Context context;
      suite.cases[index].run(context);
      if (context.failed()) {
        ++failed;
        kernel::log("not ok %zu - %s: %s\n", index + 1, suite.cases[index].name, context.reason());
      } else {
        ++passed;
        kernel::log("ok %zu - %s\n", index + 1, suite.cases[index].name);
      }
    }
    kernel::log("%zu passed, %zu failed\n", passed, failed);
    arch::qemu_exit(failed == 0 ? kernel::EXIT_SUCCESS_CODE : kernel::EXIT_FAILURE_CODE);
  }
  kernel::log("unknown test suite '%s'\n", name);
  kernel::log("0 passed, 1 failed\n");
  arch::qemu_exit(kernel::EXIT_FAILURE_CODE);
}

}  // namespace selftest
