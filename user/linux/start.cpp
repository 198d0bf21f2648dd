// The personality's start: checks the LinuxStart block the manager left in the context page,
// extends the stack, builds the Linux initial stack (argc, argv, envp, auxv), redirects the
// thread's system calls to personality_syscall_entry and enters the program through
// PersonalityReturn. Invariant: until that last call, every `syscall` here is native, because
// personality_active is 1 (as inside a handler).
#include "files.hpp"
#include "image_files.hpp"
#include "personality.hpp"

// Hidden: referenced PC-relative, never through a GOT entry (the image lies above 4 GiB).
extern "C" [[gnu::visibility("hidden")]] char personality_stack_top[];
extern "C" [[gnu::visibility("hidden")]] void personality_syscall_entry();

namespace personality {
namespace {

// Auxiliary vector keys (include/uapi/linux/auxvec.h).
enum AuxKey : u64 {
  AT_NULL = 0, AT_PHDR = 3, AT_PHENT = 4, AT_PHNUM = 5, AT_PAGESZ = 6, AT_BASE = 7, AT_FLAGS = 8, AT_ENTRY = 9,
  AT_UID = 11, AT_EUID = 12, AT_GID = 13, AT_EGID = 14, AT_PLATFORM = 15, AT_HWCAP = 16, AT_CLKTCK = 17,
  AT_SECURE = 23, AT_RANDOM = 25, AT_EXECFN = 31,
};

const char* const ENVIRONMENT[] = {"PATH=/usr/bin:/bin", "HOME=/", "LANG=C", "USER=function"};
constexpr usize ENVIRONMENT_COUNT = sizeof ENVIRONMENT / sizeof ENVIRONMENT[0];

usize length_of(const char* text, usize limit) {
  usize length = 0;
  while (length < limit && text[length] != '\0') ++length;
  return length;
}

// Builds the stack a Linux kernel gives a new program (System V ABI, x86-64 supplement 3.4.1);
// returns its rsp, which points at argc and is 16-byte aligned.
// `loaded`: an image function's program (program_loader.cpp): argv[0] is its path, the arguments
// area also carries the environment, and the auxiliary vector names the loader.
u64 build_initial_stack(const LoadedProgram* loaded) {
  const State& s = state();
  u64 top = manager::FUNCTION_STACK_TOP;
  auto push = [&](const void* bytes, usize length) {
    top -= length;
    memcpy(reinterpret_cast<void*>(top), bytes, length);
    return top;
  };
  char name[manager::NAME_BYTES + 1] = {};
  memcpy(name, s.context->name, length_of(s.context->name, manager::NAME_BYTES));
  u64 argument_bytes = s.start.argument_bytes < manager::MAX_ARGUMENT_BYTES ? s.start.argument_bytes : 0;
  u64 at = 0;
  u64 argv0;
  if (loaded != nullptr) {
    // The program's path in the tree (deploy.cpp checked that it is there and terminated).
    usize length = length_of(s.start.arguments, static_cast<usize>(argument_bytes));
    argv0 = push(s.start.arguments, length + 1);
    at = length + 1;
  } else {
    argv0 = push(name, length_of(name, manager::NAME_BYTES) + 1);
  }
  // The arguments given at deploy (argv[1..]), copied out of the read-only context page; an
  // image function's end at an empty string, and its environment follows.
  constexpr usize MAX_ARGUMENTS = 32;
  u64 arguments[MAX_ARGUMENTS];
  usize argument_count = 0;
  while (at < argument_bytes && argument_count < MAX_ARGUMENTS) {
    // The manager guarantees a terminator inside argument_bytes (deploy.cpp checks it).
    usize length = length_of(&s.start.arguments[at], static_cast<usize>(argument_bytes - at - 1));
    if (length == 0 && loaded != nullptr) {
      ++at;
      break;
    }
    arguments[argument_count++] = push(&s.start.arguments[at], length + 1);
    at += length + 1;
  }
  constexpr usize MAX_ENVIRONMENT = 32;
  u64 environment[MAX_ENVIRONMENT];
  usize environment_count = 0;
  if (loaded != nullptr) {
    while (at < argument_bytes && environment_count < MAX_ENVIRONMENT) {
      usize length = length_of(&s.start.arguments[at], static_cast<usize>(argument_bytes - at - 1));
      if (length > 0) environment[environment_count++] = push(&s.start.arguments[at], length + 1);
      at += length + 1;
    }
  } else {
    for (usize i = 0; i < ENVIRONMENT_COUNT; ++i)
      environment[environment_count++] = push(ENVIRONMENT[i], length_of(ENVIRONMENT[i], 64) + 1);
  }
  u64 platform = push("x86_64", 7);
  u8 random[16];
  random_bytes(random, sizeof random);
  top &= ~u64{15};
  u64 random_address = push(random, sizeof random);

  u32 eax = 1, ebx = 0, ecx = 0, edx = 0;
  asm volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  bool have_headers = s.start.program_headers != 0;
  const u64 auxv[][2] = {
      {AT_PHDR, s.start.program_headers}, {AT_PHENT, 56}, {AT_PHNUM, have_headers ? s.start.program_header_count : 0},
      {AT_PAGESZ, PAGE}, {AT_BASE, loaded != nullptr ? loaded->loader_base : 0}, {AT_FLAGS, 0}, {AT_ENTRY, s.start.entry}, {AT_UID, LINUX_UID},
      {AT_EUID, LINUX_UID}, {AT_GID, LINUX_GID}, {AT_EGID, LINUX_GID}, {AT_PLATFORM, platform}, {AT_HWCAP, edx},
      {AT_CLKTCK, 100}, {AT_SECURE, 0}, {AT_RANDOM, random_address}, {AT_EXECFN, argv0}, {AT_NULL, 0},
  };
  constexpr usize AUX_COUNT = sizeof auxv / sizeof auxv[0];
  usize words = 1 + 1 + argument_count + 1 + environment_count + 1 + AUX_COUNT * 2;
  u64 rsp = (top - words * 8) & ~u64{15};
  auto* out = reinterpret_cast<u64*>(rsp);
  at = 0;
  out[at++] = 1 + argument_count;  // argc
  out[at++] = argv0;
  for (usize i = 0; i < argument_count; ++i) out[at++] = arguments[i];
  out[at++] = 0;
  for (usize i = 0; i < environment_count; ++i) out[at++] = environment[i];
  out[at++] = 0;
  for (const auto& pair : auxv) {
    out[at++] = pair[0];
    out[at++] = pair[1];
  }
  return rsp;
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
  // A larger stack than native functions get: 8 MiB as Linux's RLIMIT_STACK, lazy, so each page
  // is charged to the memory limit when the stack first grows over it. Without it the program
  // still gets 64 KiB.
  if (map_fresh(STACK_LOW, STACK_EXTRA_PAGES) != 0) s.stack_low = STACK_LOW;
  u64 rsp = build_initial_stack(from_image ? &loaded : nullptr);

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
