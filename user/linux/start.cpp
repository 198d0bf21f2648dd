// The personality's start: checks the LinuxStart block the manager left in the context page,
// extends the stack, builds the Linux initial stack (argc, argv, envp, auxv), redirects the
// thread's system calls to personality_syscall_entry and enters the program through
// PersonalityReturn. Invariant: until that last call, every `syscall` here is native, because
// personality_active is 1 (as inside a handler).
#include "files.hpp"
#include "image_files.hpp"
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

// argv and envp of the first program, on the stack as Linux builds it (exec.cpp,
// build_initial_stack). A static function: argv is its name, then the arguments given at deploy,
// and envp the fixed ENVIRONMENT. An image function (`loaded`, program_loader.cpp): argv[0] is the
// program's path in the tree, the arguments end at an empty string, its environment follows, and
// the auxiliary vector names the loader (AT_BASE).
u64 first_stack(const LoadedProgram* loaded) {
  const State& s = state();
  static char name[manager::NAME_BYTES + 1];
  memcpy(name, s.context->name, length_of(s.context->name, manager::NAME_BYTES));
  // The manager guarantees a terminator inside argument_bytes (deploy.cpp checks it); the
  // strings stay in the personality's copy of the start block while the stack is built.
  u64 argument_bytes = s.start.argument_bytes < manager::MAX_ARGUMENT_BYTES ? s.start.argument_bytes : 0;
  u64 at = 0;
  constexpr usize MAX_ARGUMENTS = 33;
  const char* arguments[MAX_ARGUMENTS];
  usize argument_count = 0;
  if (loaded != nullptr) {
    arguments[argument_count++] = s.start.arguments;  // The program's path (deploy.cpp checked it).
    at = length_of(s.start.arguments, static_cast<usize>(argument_bytes)) + 1;
  } else if ((s.start.flags & manager::LINUX_START_ARGV0) == 0) {
    arguments[argument_count++] = name;
  }
  while (at < argument_bytes && argument_count < MAX_ARGUMENTS) {
    usize length = length_of(&s.start.arguments[at], static_cast<usize>(argument_bytes - at - 1));
    if (length == 0 && loaded != nullptr) {
      ++at;
      break;
    }
    arguments[argument_count++] = &s.start.arguments[at];
    at += length + 1;
  }
  // envp: the invocation's environment (the function's and the request's, from the context page),
  // then the image's or the default one, each variable only once (the first wins).
  constexpr usize MAX_ENVIRONMENT = 96;
  const char* environment[MAX_ENVIRONMENT];
  usize environment_count = 0;
  auto add = [&](const char* variable) {
    usize key = 0;
    while (variable[key] != '\0' && variable[key] != '=') ++key;
    for (usize i = 0; i < environment_count; ++i) {
      usize same = 0;
      while (same < key && environment[i][same] == variable[same]) ++same;
      if (same == key && environment[i][key] == variable[key]) return;
    }
    if (environment_count < MAX_ENVIRONMENT) environment[environment_count++] = variable;
  };
  const auto* given = reinterpret_cast<const manager::FunctionEnvironment*>(
      reinterpret_cast<const char*>(s.context) + manager::ENVIRONMENT_OFFSET);
  // The context page is read-only and the manager wrote it; still, every string is bounded here.
  static manager::FunctionEnvironment copy;
  copy = *given;
  u64 given_bytes = copy.bytes <= sizeof copy.strings ? copy.bytes : 0;
  if (given_bytes > 0) copy.strings[given_bytes - 1] = '\0';
  for (u64 offset = 0; offset < given_bytes;) {
    usize length = length_of(&copy.strings[offset], static_cast<usize>(given_bytes - offset));
    if (length > 0) add(&copy.strings[offset]);
    offset += length + 1;
  }
  if (loaded == nullptr) {
    for (usize i = 0; i < ENVIRONMENT_COUNT; ++i) add(ENVIRONMENT[i]);
    return build_initial_stack(arguments, argument_count, environment, environment_count, 0);
  }
  while (at < argument_bytes) {
    usize length = length_of(&s.start.arguments[at], static_cast<usize>(argument_bytes - at - 1));
    if (length > 0) add(&s.start.arguments[at]);
    at += length + 1;
  }
  return build_initial_stack(arguments, argument_count, environment, environment_count, loaded->loader_base);
}

}  // namespace
}  // namespace personality

using namespace personality;

extern "C" [[noreturn]] void personality_start(u64 context_address) {
  State& s = state();
  abi::Utcb* utcb = sys::utcb();
  utcb->personality_active = 1;
  profile_start();
  s.context = reinterpret_cast<const manager::FunctionContext*>(context_address);
  const auto* start = reinterpret_cast<const manager::LinuxStart*>(context_address + manager::LINUX_START_OFFSET);
  if (start->magic != manager::LINUX_START_MAGIC) {
    logf("linux: no LinuxStart block in the context page\n");
    exit_program(127);
  }
  s.start = *start;
  if (s.start.segment_count > manager::LINUX_MAX_SEGMENTS) s.start.segment_count = manager::LINUX_MAX_SEGMENTS;
  // An image function: the program comes from its tree (program_loader.cpp), before memory_init
  // places the brk area after it.
  LoadedProgram loaded{};
  bool from_image = s.start.image_tree_bytes != 0;
  if (from_image) {
    image_init();
    u64 bytes = s.start.argument_bytes < manager::MAX_ARGUMENT_BYTES ? s.start.argument_bytes : 0;
    usize path_length = length_of(s.start.arguments, static_cast<usize>(bytes));
    i64 error = image_active() ? load_program(s.start.arguments, path_length, loaded) : -EIO;
    if (error < 0) {
      // The path is NUL-terminated inside argument_bytes (deploy.cpp checked it).
      logf("linux: cannot start %s from the image: errno %ld\n", s.start.arguments, -error);
      exit_program(127);
    }
    s.start.entry = loaded.entry;
    s.start.program_headers = loaded.program_headers;
    s.start.program_header_count = loaded.program_header_count;
    s.start.image_end = loaded.image_end;
    s.start.segment_count = 0;  // Its pages are file mappings (image_files.cpp), checked there.
  }
  random_init();
  memory_init();
  threads_init();
  files_init();
  // The image's WorkingDir (deploy checked that the tree has it).
  if (from_image && s.start.working_directory[0] != '\0') {
    usize length = length_of(s.start.working_directory, manager::LINUX_WORKING_DIRECTORY_BYTES);
    if (i64 error = image_start_directory(s.start.working_directory, length); error < 0) {
      logf("linux: cannot start in %s: errno %ld\n", s.start.working_directory, -error);
      exit_program(127);
    }
  }
  // A larger stack than native functions get: 8 MiB as Linux's RLIMIT_STACK, lazy, so each page
  // is charged to the memory limit when the stack first grows over it. Without it the program
  // still gets 64 KiB.
  s.stack_slot = map_fresh(STACK_LOW, STACK_EXTRA_PAGES);
  if (s.stack_slot != 0) s.stack_low = STACK_LOW;
  u64 rsp = first_stack(from_image ? &loaded : nullptr);

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
  registers.rip = from_image ? loaded.start : s.start.entry;
  registers.rsp = rsp;
  registers.rflags = 0x202;
  error = native(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR);
  logf("linux: PersonalityReturn into the program failed: %s\n", sys::error_name(error));
  exit_program(127);
}
