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
// build_initial_stack), from the function's strings the manager mapped at FUNCTION_STRINGS_ADDRESS
// (FunctionContext's sizes). A static function: argv is its name, then its arguments, and envp
// ends with the fixed ENVIRONMENT. An image function (`loaded`, program_loader.cpp): argv[0] is the
// program's path in the tree, the arguments end at an empty string, the image's environment
// follows, and the auxiliary vector names the loader (AT_BASE). Either way envp starts with the
// function's own environment, then the request's (the context page), each variable only once
// (the first wins). 0 when they take more than a quarter of the stack (Linux's E2BIG rule).
u64 first_stack(const LoadedProgram* loaded) {
  const State& s = state();
  static char name[manager::NAME_BYTES + 1];
  memcpy(name, s.context->name, length_of(s.context->name, manager::NAME_BYTES));
  // The manager checked the strings at deploy (every run NUL-terminated) and they are read-only;
  // the walk stays inside them all the same.
  u64 argument_bytes = s.context->argument_bytes;
  u64 own_environment_bytes = s.context->environment_bytes;
  if (argument_bytes > manager::MAX_FUNCTION_STRINGS_BYTES ||
      own_environment_bytes > manager::MAX_FUNCTION_STRINGS_BYTES - argument_bytes)
    argument_bytes = own_environment_bytes = 0;
  const char* strings = reinterpret_cast<const char*>(manager::FUNCTION_STRINGS_ADDRESS);
  u64 at = 0;
  // The pointer tables: at the bottom of the program's 8 MiB stack (lazy pages, charged only as
  // far as they are used, far below the strings, which take at most a quarter of it), so the
  // personality's data, copied at every invocation, stays small; without that stack, small ones
  // here.
  constexpr usize SMALL_ARGUMENTS = 64, SMALL_ENVIRONMENT = 128;
  const char* small_arguments[SMALL_ARGUMENTS];
  const char* small_environment[SMALL_ENVIRONMENT];
  bool large = s.stack_slot != 0;
  usize max_arguments = large ? manager::MAX_STRING_COUNT + 1 : SMALL_ARGUMENTS;
  usize max_environment = large ? manager::MAX_STRING_COUNT + manager::INLINE_INPUT_BYTES / 2 + 8 : SMALL_ENVIRONMENT;
  const char** arguments = large ? reinterpret_cast<const char**>(s.stack_low) : small_arguments;
  const char** environment = large ? arguments + max_arguments : small_environment;
  usize argument_count = 0;
  u64 string_bytes = 0;  // What argv and envp's strings take on the stack.
  if (loaded != nullptr) {
    arguments[argument_count++] = strings;  // The program's path (deploy checked it).
    at = length_of(strings, static_cast<usize>(argument_bytes)) + 1;
  } else if ((s.start.flags & manager::LINUX_START_ARGV0) == 0) {
    arguments[argument_count++] = name;
  }
  while (at < argument_bytes && argument_count < max_arguments) {
    usize length = length_of(&strings[at], static_cast<usize>(argument_bytes - at - 1));
    if (length == 0 && loaded != nullptr) {
      ++at;
      break;
    }
    arguments[argument_count++] = &strings[at];
    at += length + 1;
  }
  // envp: the function's environment, the request's, then the image's or the default one.
  usize environment_count = 0;
  auto add = [&](const char* variable) {
    usize key = 0;
    while (variable[key] != '\0' && variable[key] != '=') ++key;
    for (usize i = 0; i < environment_count; ++i) {
      usize same = 0;
      while (same < key && environment[i][same] == variable[same]) ++same;
      if (same == key && environment[i][key] == variable[key]) return;
    }
    if (environment_count < max_environment) environment[environment_count++] = variable;
  };
  auto add_run = [&](const char* run, u64 begin, u64 end) {
    for (u64 offset = begin; offset < end;) {
      usize length = length_of(&run[offset], static_cast<usize>(end - offset - 1));
      if (length > 0) add(&run[offset]);
      offset += length + 1;
    }
  };
  add_run(strings, argument_bytes, argument_bytes + own_environment_bytes);
  const auto* given = reinterpret_cast<const manager::FunctionEnvironment*>(
      reinterpret_cast<const char*>(s.context) + manager::ENVIRONMENT_OFFSET);
  // The context page is read-only and the manager wrote it; still, every string is bounded here.
  static manager::FunctionEnvironment copy;
  copy = *given;
  u64 given_bytes = copy.bytes <= sizeof copy.strings ? copy.bytes : 0;
  if (given_bytes > 0) copy.strings[given_bytes - 1] = '\0';
  add_run(copy.strings, 0, given_bytes);
  if (loaded == nullptr) {
    for (usize i = 0; i < ENVIRONMENT_COUNT; ++i) add(ENVIRONMENT[i]);
  } else {
    add_run(strings, at, argument_bytes);
  }
  for (usize i = 0; i < argument_count; ++i) string_bytes += length_of(arguments[i], ~usize{0}) + 1 + 8;
  for (usize i = 0; i < environment_count; ++i) string_bytes += length_of(environment[i], ~usize{0}) + 1 + 8;
  u64 stack_bytes = manager::FUNCTION_STACK_TOP - s.stack_low;
  if (string_bytes > stack_bytes / 4) {
    logf("linux: the arguments and environment (%lu bytes) exceed a quarter of the stack (%lu bytes)\n", string_bytes,
         stack_bytes);
    return 0;
  }
  return build_initial_stack(arguments, argument_count, environment, environment_count,
                             loaded != nullptr ? loaded->loader_base : 0);
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
    u64 bytes = s.start.path_bytes < manager::PROGRAM_PATH_BYTES ? s.start.path_bytes : 0;
    usize path_length = length_of(s.start.path, static_cast<usize>(bytes));
    s.start.path[path_length] = '\0';
    i64 error = image_active() && path_length > 0 ? load_program(s.start.path, path_length, loaded) : -EIO;
    if (error < 0) {
      logf("linux: cannot start %s from the image: errno %ld\n", s.start.path, -error);
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
  if (rsp == 0) exit_program(127);

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
