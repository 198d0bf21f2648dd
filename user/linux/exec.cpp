// execve: the calling process loads a program in place, keeping its pid, task, descriptors (minus
// FD_CLOEXEC ones), ignored signals and /tmp. Only the program's own image can be loaded
// (/proc/self/exe, /<function name>: busybox re-executes itself for its applets): its read-only
// segments are already mapped and unchanged; its writable segments are read again from the file
// (FUNCTION_EXECUTABLE), the brk and mmap memory goes back to the areas (what /tmp holds stays),
// other threads end, and the program starts on a new initial stack with the new argv and envp.
// Also the Linux initial stack itself, which the first start builds too.
// Invariants: every argument and environment string is copied out of the old program (checked
// with readable()) before anything changes, so a failure before that point leaves the caller as it
// was (ENOENT, EACCES, ENOEXEC, E2BIG, EFAULT); after it, exec cannot fail.
#include <cstdint>

#include "files.hpp"
#include "process.hpp"

namespace personality {
namespace {

constexpr usize MAX_STRINGS = 512;
constexpr usize STRING_BYTES = 32768;  // argv and envp together (Linux allows far more).

struct Strings {
  char bytes[STRING_BYTES];
  usize used;
  const char* argument[MAX_STRINGS];
  usize argument_count;
  const char* environment[MAX_STRINGS];
  usize environment_count;
  alignas(8) u8 scratch[EXEC_SCRATCH_BYTES];  // memory_reset_for_exec's list of what it keeps.
};
// From the mmap area for the time of one exec: the personality stacks are small, and the
// personality's data (copied at every fork and invocation) should stay small too.
Strings* strings = nullptr;

// Copies the NUL-terminated vector at `address` (argv or envp) into `strings`.
i64 copy_vector(u64 address, const char** target, usize& count) {
  count = 0;
  if (address == 0) return 0;
  for (;; address += 8) {
    if (!readable(address, 8)) return -EFAULT;
    u64 text;
    memcpy(&text, reinterpret_cast<const void*>(address), 8);
    if (text == 0) return 0;
    if (count == MAX_STRINGS) return -E2BIG;
    char* start = strings->bytes + strings->used;
    for (u64 at = text;; ++at) {
      if (strings->used == STRING_BYTES) return -E2BIG;
      if ((at == text || (at & (PAGE - 1)) == 0) && !readable(at, 1)) return -EFAULT;
      char c = *reinterpret_cast<const char*>(at);
      strings->bytes[strings->used++] = c;
      if (c == '\0') break;
    }
    target[count++] = start;
  }
}

struct ElfHeader {
  u8 identity[16];
  std::uint16_t type, machine;
  u32 version;
  u64 entry, program_headers, section_headers;
  u32 flags;
  std::uint16_t header_size, program_header_size, program_header_count, section_header_size, section_count,
      section_names;
};
struct ProgramHeader {
  u32 type, flags;
  u64 offset, address, physical, file_bytes, memory_bytes, align;
};
constexpr u32 PT_LOAD = 1, PF_W = 2;
constexpr usize MAX_HEADERS = 16;

usize length_of(const char* text) {
  usize length = 0;
  while (text[length] != '\0') ++length;
  return length;
}

}  // namespace

u64 build_initial_stack(const char* const* arguments, usize argument_count, const char* const* environment,
                        usize environment_count, u64 loader_base) {
  enum AuxKey : u64 {
    AT_NULL = 0, AT_PHDR = 3, AT_PHENT = 4, AT_PHNUM = 5, AT_PAGESZ = 6, AT_BASE = 7, AT_FLAGS = 8, AT_ENTRY = 9,
    AT_UID = 11, AT_EUID = 12, AT_GID = 13, AT_EGID = 14, AT_PLATFORM = 15, AT_HWCAP = 16, AT_CLKTCK = 17,
    AT_SECURE = 23, AT_RANDOM = 25, AT_EXECFN = 31,
  };
  const State& s = state();
  u64 top = manager::FUNCTION_STACK_TOP;
  auto push = [&](const void* bytes, usize length) {
    top -= length;
    memcpy(reinterpret_cast<void*>(top), bytes, length);
    return top;
  };
  // Strings go first (from the top), then the vectors point at them; the pointers are kept in the
  // new stack's own words, written after the strings.
  u64 execution_name = 0;
  u64 platform = push("x86_64", 7);
  u8 random[16];
  random_bytes(random, sizeof random);
  u64 random_address = push(random, sizeof random);
  u64 string_top = top;
  for (usize i = 0; i < environment_count; ++i) push(environment[i], length_of(environment[i]) + 1);
  for (usize i = 0; i < argument_count; ++i) push(arguments[i], length_of(arguments[i]) + 1);
  top &= ~u64{15};
  // argv[0] (AT_EXECFN) lies right below the environment strings.
  u64 below_environment = string_top;
  for (usize i = 0; i < environment_count; ++i) below_environment -= length_of(environment[i]) + 1;
  if (argument_count > 0) execution_name = below_environment - (length_of(arguments[0]) + 1);

  u32 eax = 1, ebx = 0, ecx = 0, edx = 0;
  asm volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  bool have_headers = s.start.program_headers != 0;
  const u64 auxv[][2] = {
      {AT_PHDR, s.start.program_headers}, {AT_PHENT, 56}, {AT_PHNUM, have_headers ? s.start.program_header_count : 0},
      {AT_PAGESZ, PAGE}, {AT_BASE, loader_base}, {AT_FLAGS, 0}, {AT_ENTRY, s.start.entry}, {AT_UID, LINUX_UID},
      {AT_EUID, LINUX_UID}, {AT_GID, LINUX_GID}, {AT_EGID, LINUX_GID}, {AT_PLATFORM, platform}, {AT_HWCAP, edx},
      {AT_CLKTCK, 100}, {AT_SECURE, 0}, {AT_RANDOM, random_address}, {AT_EXECFN, execution_name}, {AT_NULL, 0},
  };
  constexpr usize AUX_COUNT = sizeof auxv / sizeof auxv[0];
  files_set_auxv(&auxv[0][0], sizeof auxv);  // /proc/self/auxv shows this copy, as Linux's saved_auxv.
  usize words = 1 + argument_count + 1 + environment_count + 1 + AUX_COUNT * 2;
  u64 rsp = (top - words * 8) & ~u64{15};
  auto* out = reinterpret_cast<u64*>(rsp);
  usize at = 0;
  out[at++] = argument_count;
  // Walk the strings again from the top, in the order they were pushed, to find their addresses.
  u64 cursor = string_top;
  u64 environment_addresses_start = at + argument_count + 1;
  for (usize i = 0; i < environment_count; ++i) {
    cursor -= length_of(environment[i]) + 1;
    out[environment_addresses_start + i] = cursor;
  }
  for (usize i = 0; i < argument_count; ++i) {
    cursor -= length_of(arguments[i]) + 1;
    out[at + i] = cursor;
  }
  at += argument_count;
  out[at++] = 0;
  at += environment_count;
  out[at++] = 0;
  for (const auto& pair : auxv) {
    out[at++] = pair[0];
    out[at++] = pair[1];
  }
  return rsp;
}

i64 linux_execve(u64 path, u64 argv, u64 envp) {
  i64 error = files_resolve_executable(path);
  if (error < 0) return error;
  u64 buffer = allocate_anonymous(sizeof(Strings));
  if (buffer == 0) return -ENOMEM;
  strings = reinterpret_cast<Strings*>(buffer);  // Zeroed pages.
  if ((error = copy_vector(argv, strings->argument, strings->argument_count)) < 0 ||
      (error = copy_vector(envp, strings->environment, strings->environment_count)) < 0) {
    (void)linux_munmap(buffer, page_up(sizeof(Strings)));
    return error;
  }
  ElfHeader header;
  ProgramHeader headers[MAX_HEADERS];
  if (native(abi::Syscall::MemoryRead, manager::FUNCTION_EXECUTABLE, 0, reinterpret_cast<u64>(&header),
             sizeof header) != sys::Error::None ||
      header.program_header_count > MAX_HEADERS || header.program_header_size != sizeof(ProgramHeader) ||
      native(abi::Syscall::MemoryRead, manager::FUNCTION_EXECUTABLE, header.program_headers,
             reinterpret_cast<u64>(headers), header.program_header_count * sizeof(ProgramHeader)) != sys::Error::None) {
    (void)linux_munmap(buffer, page_up(sizeof(Strings)));
    return -ENOEXEC;
  }

  // From here on exec cannot fail.
  threads_end_others();
  files_close_on_exec();
  signals_reset_for_exec();
  memory_reset_for_exec(buffer, page_up(sizeof(Strings)), strings->scratch);
  for (usize i = 0; i < header.program_header_count; ++i) {
    const ProgramHeader& segment = headers[i];
    if (segment.type != PT_LOAD || (segment.flags & PF_W) == 0) continue;
    // The segment's pages as the manager (or fork) mapped them: the file's bytes, then zeros.
    u64 start = page_down(segment.address);
    u64 end = page_up(segment.address + segment.memory_bytes);
    u64 lead = segment.address - start;
    memset(reinterpret_cast<void*>(start), 0, end - start);
    if (segment.offset >= lead)
      (void)native(abi::Syscall::MemoryRead, manager::FUNCTION_EXECUTABLE, segment.offset - lead, start,
                   segment.file_bytes + lead);
  }
  ThreadEntry& self = current_thread();
  self.clear_tid = 0;
  self.fs_base = 0;
  u64 rsp = build_initial_stack(strings->argument, strings->argument_count, strings->environment,
                                strings->environment_count, 0);
  (void)linux_munmap(buffer, page_up(sizeof(Strings)));  // Back to the area, zeroed.
  abi::Utcb* utcb = sys::utcb();
  abi::PersonalityRegisters& registers = utcb->personality_registers;
  memset(&registers, 0, sizeof registers);
  registers.rip = state().start.entry;
  registers.rsp = rsp;
  registers.rflags = 0x202;
  state_lock().unlock();  // The dispatcher's guard never runs again: this call does not return.
  (void)native(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR);
  end_process(127 << 8);
}

}  // namespace personality
