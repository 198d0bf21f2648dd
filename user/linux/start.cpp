// The personality's start: checks the LinuxStart block the manager left in the context page,
// extends the stack, builds the Linux initial stack (argc, argv, envp, auxv), redirects the
// thread's system calls to personality_syscall_entry and enters the program through
// PersonalityReturn. Invariant: until that last call, every `syscall` here is native, because
// personality_active is 1 (as inside a handler).
#include "files.hpp"
#include "personality.hpp"
#include "process.hpp"

// Hidden: referenced PC-relative, never through a GOT entry (the image lies above 4 GiB).
extern "C" [[gnu::visibility("hidden")]] char personality_stack_top[];
extern "C" [[gnu::visibility("hidden")]] void personality_syscall_entry();

namespace personality {
namespace {

const char* const ENVIRONMENT[] = {"PATH=/usr/bin:/bin", "HOME=/", "LANG=C", "USER=function"};
constexpr usize ENVIRONMENT_COUNT = sizeof ENVIRONMENT / sizeof ENVIRONMENT[0];

usize length_of(const char* text, usize limit) {
  usize length = 0;
  while (length < limit && text[length] != '\0') ++length;
  return length;
}

// argv: the function's name, then the arguments given at deploy; the stack as Linux builds it
// (exec.cpp, build_initial_stack).
u64 first_stack() {
  const State& s = state();
  static char name[manager::NAME_BYTES + 1];
  memcpy(name, s.context->name, length_of(s.context->name, manager::NAME_BYTES));
  constexpr usize MAX_ARGUMENTS = 33;
  const char* arguments[MAX_ARGUMENTS];
  usize argument_count = 0;
  arguments[argument_count++] = name;
  u64 argument_bytes = s.start.argument_bytes < manager::MAX_ARGUMENT_BYTES ? s.start.argument_bytes : 0;
  for (u64 at = 0; at < argument_bytes && argument_count < MAX_ARGUMENTS;) {
    // The manager guarantees a terminator inside argument_bytes (deploy.cpp checks it).
    usize length = length_of(&s.start.arguments[at], static_cast<usize>(argument_bytes - at - 1));
    arguments[argument_count++] = &s.start.arguments[at];
    at += length + 1;
  }
  return build_initial_stack(arguments, argument_count, ENVIRONMENT, ENVIRONMENT_COUNT);
}

}  // namespace
}  // namespace personality

using namespace personality;

extern "C" [[noreturn]] void personality_start(u64 context_address) {
  State& s = state();
  abi::Utcb* utcb = sys::utcb();
  utcb->personality_active = 1;
  s.context = reinterpret_cast<const manager::FunctionContext*>(context_address);
  const auto* start = reinterpret_cast<const manager::LinuxStart*>(context_address + manager::LINUX_START_OFFSET);
  if (start->magic != manager::LINUX_START_MAGIC) {
    logf("linux: no LinuxStart block in the context page\n");
    exit_program(127);
  }
  s.start = *start;
  if (s.start.segment_count > manager::LINUX_MAX_SEGMENTS) s.start.segment_count = manager::LINUX_MAX_SEGMENTS;
  random_init();
  memory_init();
  threads_init();
  files_init();
  // A larger stack than native functions get: 8 MiB as Linux's RLIMIT_STACK, lazy, so each page
  // is charged to the memory limit when the stack first grows over it. Without it the program
  // still gets 64 KiB.
  s.stack_slot = map_fresh(STACK_LOW, STACK_EXTRA_PAGES);
  if (s.stack_slot != 0) s.stack_low = STACK_LOW;
  u64 rsp = first_stack();

  sys::Error error = native(abi::Syscall::ThreadSetSyscallHandler, abi::NULL_SELECTOR,
                            reinterpret_cast<u64>(&personality_syscall_entry),
                            reinterpret_cast<u64>(personality_stack_top));
  if (error != sys::Error::None) {
    logf("linux: ThreadSetSyscallHandler failed: %s\n", sys::error_name(error));
    exit_program(127);
  }
  // The program starts like after execve: rsp at argc, rdx = 0 (no exit handler to register),
  // every other register zero.
  utcb->personality_active = 1;
  abi::PersonalityRegisters& registers = utcb->personality_registers;
  memset(&registers, 0, sizeof registers);
  registers.rip = s.start.entry;
  registers.rsp = rsp;
  registers.rflags = 0x202;
  error = native(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR);
  logf("linux: PersonalityReturn into the program failed: %s\n", sys::error_name(error));
  exit_program(127);
}
