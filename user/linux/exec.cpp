// execve and execveat: the calling process loads a program in place, keeping its pid, task,
// descriptors (minus FD_CLOEXEC ones), ignored signals, blocked mask and /tmp. What it loads: an
// ELF file of the image tree (static, or dynamically linked through its PT_INTERP loader,
// program_loader.cpp), of /tmp or the image's writable layer (in an image function), the static
// function's own image (/proc/self/exe, /<function name>: busybox re-executes itself for its
// applets), or a "#!" script, whose interpreter is loaded instead with the script's path as an
// argument (nested scripts at most 5 deep, as Linux's exec_binprm: ELOOP). Also the Linux initial
// stack itself, which the first start builds too.
// Invariants: every argument and environment string is copied out of the old program (checked
// with readable()) and the program to load is found and checked (ELF headers, loader) before
// anything changes, so a failure before that point leaves the caller as it was (ENOENT, EACCES,
// ENOEXEC, E2BIG, EFAULT, ELOOP, ENOTDIR, ENAMETOOLONG); after it nothing of the old program
// stays: its threads, file mappings, brk and mmap memory and stack pages are gone (its frames
// freed, so the new program's memory is what it touches itself, charged to the invocation), and
// the new program starts on a zeroed stack. A failure to map the new program then (the memory
// limit) ends the process with SIGSEGV, as Linux does past its point of no return.
#include <cstdint>

#include "files.hpp"
#include "image_files.hpp"
#include "process.hpp"

namespace personality {
namespace {

constexpr std::int32_t AT_FDCWD = -100;
constexpr u64 AT_EMPTY_PATH = 0x1000, AT_SYMLINK_NOFOLLOW = 0x100;
// Linux's limits (fs/exec.c, include/uapi/linux/binfmts.h): a string of at most MAX_ARG_STRLEN
// bytes with its NUL; all strings, the file name and the vectors' pointers within a quarter of
// the 8 MiB RLIMIT_STACK; the "#!" line is read from the first 256 bytes; nesting of scripts.
constexpr u64 MAX_ARG_STRLEN = 32 * PAGE;
constexpr u64 ARGUMENT_LIMIT = STACK_TOTAL_BYTES / 4;
constexpr usize SCRIPT_LINE_BYTES = 256;
constexpr usize MAX_SCRIPT_DEPTH = 5;
// Pointers the vector holds: more than fit in the limit (each string costs a pointer and a byte),
// and room for the interpreter, its argument and the script's path that "#!" adds.
constexpr usize MAX_VECTOR = ARGUMENT_LIMIT / 8 + 3 * MAX_SCRIPT_DEPTH;
constexpr usize STRING_BYTES = ARGUMENT_LIMIT + 3 * MAX_SCRIPT_DEPTH * (SCRIPT_LINE_BYTES + 4096);

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
// exec's buffers, in one lazy range of the mmap area for the time of one exec (the personality's
// stacks are small, and its data, copied at every fork and invocation, should stay small too):
// the header's pages are committed at once, the strings and pointers as they fill.
struct Strings {
  alignas(8) u8 scratch[EXEC_SCRATCH_BYTES];  // memory_reset_for_exec's list of what it keeps.
  ProgramPath path;                           // The file being looked up (the script's, then its interpreter's).
  char line[SCRIPT_LINE_BYTES + 1];           // A script's "#!" line.
  usize used;                                 // Bytes of `bytes` in use.
  u64 vector_committed, bytes_committed;      // The first bytes of `vector` and of `bytes` with frames.
  usize argument_count, environment_count;    // vector[0, argc) then vector[argc, argc + envc).
  u64 accounted;                              // Linux's count against ARGUMENT_LIMIT.
  CheckedProgram checked;                     // The program to load and its loader (program_loader.cpp).
  ElfHeader own_header;                       // A static function's own image: its headers.
  ProgramHeader own_headers[MAX_HEADERS];
  const char* vector[MAX_VECTOR];
  char bytes[STRING_BYTES];
};
Strings* strings = nullptr;
constexpr u64 HEADER_BYTES = page_up(__builtin_offsetof(Strings, vector));

// Frames for the buffer up to `end` (an address in `vector` or in `bytes`, each with its own mark
// of what has frames): the personality never faults on the limit. A region grows by at least what
// it holds already (up to 64 KiB), so long strings cost few MemoryCommit calls and short ones one.
bool commit_to(u64 end) {
  u64 vector = reinterpret_cast<u64>(strings->vector);
  u64 bytes = reinterpret_cast<u64>(strings->bytes);
  bool in_bytes = end > bytes;
  u64 region = in_bytes ? bytes : vector;
  u64 region_end = in_bytes ? bytes + STRING_BYTES : bytes;
  u64& committed = in_bytes ? strings->bytes_committed : strings->vector_committed;
  // The region's first page may be shared with the one before it, which may not have its frame.
  u64 low = committed == 0 ? page_down(region) : page_up(region + committed);
  if (region + committed >= end) return true;
  constexpr u64 STEP = 64 * 1024;
  u64 extra = committed < STEP ? committed : STEP;
  u64 want = page_up(end) + page_up(extra);
  if (want > page_up(region_end)) want = page_up(region_end);
  if (low < want && !commit_pages(low, want)) {
    want = page_up(end);  // Near the limit: only what is needed.
    if (low < want && !commit_pages(low, want)) return false;
  }
  committed = want - region;
  return true;
}

// Appends one string (personality memory) to `bytes`, counted as Linux counts it: E2BIG past the limits.
i64 add_string(const char* text, usize length, const char*& out) {
  if (length + 1 > MAX_ARG_STRLEN || strings->accounted + length + 1 > ARGUMENT_LIMIT) return -E2BIG;
  if (strings->used + length + 1 > STRING_BYTES) return -E2BIG;
  char* start = strings->bytes + strings->used;
  if (!commit_to(reinterpret_cast<u64>(start + length + 1))) return -ENOMEM;
  memcpy(start, text, length);
  start[length] = '\0';
  strings->used += length + 1;
  strings->accounted += length + 1;
  out = start;
  return 0;
}

// Counts the NUL-terminated vector at `address` (argv or envp): EFAULT, E2BIG, or the count.
i64 count_vector(u64 address) {
  if (address == 0) return 0;
  for (u64 count = 0;; ++count, address += 8) {
    if (!readable(address, 8)) return -EFAULT;
    u64 text;
    memcpy(&text, reinterpret_cast<const void*>(address), 8);
    if (text == 0) return static_cast<i64>(count);
    if (count >= MAX_VECTOR) return -E2BIG;
  }
}

// Copies the `count` strings of the vector at `address` into vector[first, first + count).
i64 copy_vector(u64 address, usize first, usize count) {
  for (usize i = 0; i < count; ++i, address += 8) {
    u64 text;
    memcpy(&text, reinterpret_cast<const void*>(address), 8);  // count_vector checked the pointers.
    char* start = strings->bytes + strings->used;
    usize length = 0;
    for (u64 at = text;; ++at, ++length) {
      if ((at == text || (at & (PAGE - 1)) == 0) && !readable(at, 1)) return -EFAULT;
      if (length + 1 > MAX_ARG_STRLEN || strings->accounted + length + 1 > ARGUMENT_LIMIT) return -E2BIG;
      if (!commit_to(reinterpret_cast<u64>(start + length + 1))) return -ENOMEM;
      char c = *reinterpret_cast<const char*>(at);
      start[length] = c;
      if (c == '\0') break;
    }
    strings->used += length + 1;
    strings->accounted += length + 1;
    strings->vector[first + i] = start;
  }
  return 0;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// A "#!" script (binfmt_script): its interpreter and optional argument replace argv[0], followed
// by the script's path as execve was given it; the interpreter is looked up next. 0, ENOEXEC (no
// interpreter, or a name cut off by the 256-byte line), E2BIG, or ENOMEM.
i64 substitute_interpreter(const ExecutableFile& file) {
  usize length = file.size < SCRIPT_LINE_BYTES ? static_cast<usize>(file.size) : SCRIPT_LINE_BYTES;
  memcpy(strings->line, file.bytes, length);
  usize end = 2;
  while (end < length && strings->line[end] != '\n') ++end;
  bool whole_line = end < length || file.size <= SCRIPT_LINE_BYTES;
  usize name = 2;
  while (name < end && is_blank(strings->line[name])) ++name;
  usize name_end = name;
  while (name_end < end && !is_blank(strings->line[name_end]) && strings->line[name_end] != '\0') ++name_end;
  if (name_end == name) return -ENOEXEC;
  if (!whole_line && name_end == end) return -ENOEXEC;  // The interpreter's name may go on past the line read.
  usize argument = name_end;
  while (argument < end && is_blank(strings->line[argument])) ++argument;
  usize argument_end = end;
  while (argument_end > argument && (is_blank(strings->line[argument_end - 1]) || strings->line[argument_end - 1] == '\0'))
    --argument_end;
  for (usize i = argument; i < argument_end; ++i)
    if (strings->line[i] == '\0') argument_end = i;  // The argument ends at a NUL, as Linux reads it.
  // argv[0] goes; interpreter, argument and the path come first.
  usize added = argument_end > argument ? 3 : 2;
  usize removed = strings->argument_count > 0 ? 1 : 0;
  usize total = strings->argument_count + strings->environment_count;
  if (total - removed + added > MAX_VECTOR) return -E2BIG;
  if (removed > 0) strings->accounted -= [](const char* text) {
    usize n = 0;
    while (text[n] != '\0') ++n;
    return n + 1;
  }(strings->vector[0]);
  const char* interpreter = nullptr;
  const char* interpreter_argument = nullptr;
  const char* script = nullptr;
  i64 error = 0;
  if ((error = add_string(strings->path.text, strings->path.length, script)) < 0 ||
      (argument_end > argument &&
       (error = add_string(strings->line + argument, argument_end - argument, interpreter_argument)) < 0) ||
      (error = add_string(strings->line + name, name_end - name, interpreter)) < 0)
    return error;
  strings->accounted += 8 * (added - removed);
  if (strings->accounted > ARGUMENT_LIMIT) return -E2BIG;
  u64 vector_end = reinterpret_cast<u64>(&strings->vector[total - removed + added]);
  if (!commit_to(vector_end)) return -ENOMEM;
  const char** vector = strings->vector;
  if (added > removed) {
    for (usize i = total; i-- > removed;) vector[i + added - removed] = vector[i];
  }
  usize at = 0;
  vector[at++] = interpreter;
  if (interpreter_argument != nullptr) vector[at++] = interpreter_argument;
  vector[at++] = script;
  strings->argument_count += added - removed;
  // The interpreter is the next file to look up (from the working directory, as Linux's open_exec).
  memcpy(strings->path.text, strings->line + name, name_end - name);
  strings->path.text[name_end - name] = '\0';
  strings->path.length = name_end - name;
  return 0;
}

// Zero stack for the new program: the lazy pages' frames go back, the manager's pages are cleared.
void clear_stack() {
  State& s = state();
  constexpr u64 EAGER_STACK_LOW = manager::FUNCTION_STACK_TOP - manager::FUNCTION_STACK_PAGES * PAGE;
  memset(reinterpret_cast<void*>(EAGER_STACK_LOW), 0, manager::FUNCTION_STACK_PAGES * PAGE);
  if (s.stack_slot == 0) return;
  u64 pages = (EAGER_STACK_LOW - s.stack_low) / PAGE;
  for (u64 page = 0; page < pages;) {
    sys::SyscallRegisters registers{page, pages - page, 0, 0, 0, 0};
    if (sys::invoke(abi::Syscall::MemoryDecommit, s.stack_slot, registers) != sys::Error::None) {
      memset(reinterpret_cast<void*>(s.stack_low + page * PAGE), 0, (pages - page) * PAGE);
      break;
    }
    page = registers.argument1;
  }
}


usize length_of(const char* text) {
  usize length = 0;
  while (text[length] != '\0') ++length;
  return length;
}

// The static function's own image again: its read-only segments are mapped and unchanged; its
// writable segments are read again from the file (FUNCTION_EXECUTABLE).
void reload_own_image() {
  for (usize i = 0; i < strings->own_header.program_header_count; ++i) {
    const ProgramHeader& segment = strings->own_headers[i];
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
}

// Finds and checks what to load, following "#!" lines; `file` is the ELF (or the own image) at the end.
i64 find_program(u64 directory, u64 flags, ExecutableFile& file) {
  for (usize depth = 0;; ++depth) {
    i64 error = files_resolve_executable(depth == 0 ? directory : static_cast<u64>(static_cast<std::int64_t>(AT_FDCWD)),
                                         strings->path.text, strings->path.length, depth == 0 ? flags : 0, file);
    if (error < 0) return error;
    if (file.kind == ExecutableKind::Own) {
      ElfHeader& header = strings->own_header;
      if (native(abi::Syscall::MemoryRead, manager::FUNCTION_EXECUTABLE, 0, reinterpret_cast<u64>(&header),
                 sizeof header) != sys::Error::None ||
          header.program_header_count > MAX_HEADERS || header.program_header_size != sizeof(ProgramHeader) ||
          native(abi::Syscall::MemoryRead, manager::FUNCTION_EXECUTABLE, header.program_headers,
                 reinterpret_cast<u64>(strings->own_headers), header.program_header_count * sizeof(ProgramHeader)) !=
              sys::Error::None)
        return -ENOEXEC;
      return 0;
    }
    if (file.size >= 2 && file.bytes[0] == '#' && file.bytes[1] == '!') {
      if (depth == MAX_SCRIPT_DEPTH) return -ELOOP;
      if ((error = substitute_interpreter(file)) < 0) return error;
      continue;
    }
    // Another program needs the image's file mappings (a static function has no loader for it).
    if (!image_active()) return -ENOEXEC;
    return check_program(file, strings->checked);
  }
}

// The path /proc/self/exe shows from now on: the image path loaded (State::start.path).
void record_program_path() {
  manager::LinuxStart& start = state().start;
  usize length = strings->path.length < manager::PROGRAM_PATH_BYTES - 1 ? strings->path.length
                                                                         : manager::PROGRAM_PATH_BYTES - 1;
  memcpy(start.path, strings->path.text, length);
  start.path[length] = '\0';
  start.path_bytes = length + 1;
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
      {AT_PAGESZ, PAGE}, {AT_BASE, loader_base}, {AT_FLAGS, 0}, {AT_ENTRY, s.start.entry}, {AT_UID, linux_uid()},
      {AT_EUID, linux_uid()}, {AT_GID, linux_gid()}, {AT_EGID, linux_gid()}, {AT_PLATFORM, platform}, {AT_HWCAP, edx},
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

i64 linux_execveat(u64 directory, u64 path, u64 argv, u64 envp, u64 flags) {
  if ((flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) != 0) return -EINVAL;
  // Linux counts the vectors first (EFAULT, E2BIG), then copies the strings, then opens the file.
  i64 argument_count = count_vector(argv);
  if (argument_count < 0) return argument_count;
  i64 environment_count = count_vector(envp);
  if (environment_count < 0) return environment_count;
  u64 pointers = 8 * static_cast<u64>((argument_count > 0 ? argument_count : 1) + environment_count);
  if (pointers >= ARGUMENT_LIMIT) return -E2BIG;
  i64 region = linux_mmap(0, sizeof(Strings), 3, 0x22, ~u64{0}, 0);  // PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS.
  if (region < 0) return -ENOMEM;
  u64 buffer = static_cast<u64>(region);
  auto give_back = [&](i64 error) {
    (void)linux_munmap(buffer, page_up(sizeof(Strings)));  // Back to the area, its frames freed.
    return error;
  };
  if (!commit_pages(buffer, buffer + HEADER_BYTES)) return give_back(-ENOMEM);
  strings = reinterpret_cast<Strings*>(buffer);  // Zeroed pages.
  // The header's pages have frames; so has the part of `vector` that shares its last page.
  strings->vector_committed = buffer + HEADER_BYTES - reinterpret_cast<u64>(strings->vector);
  strings->argument_count = static_cast<usize>(argument_count);
  strings->environment_count = static_cast<usize>(environment_count);
  // The file name counts too, and 8 bytes at the stack's top (bprm->p starts below them).
  strings->accounted = pointers + 8;
  i64 error = copy_program_path(path, strings->path);
  if (error < 0) return give_back(error);
  strings->accounted += strings->path.length + 1;
  if (strings->accounted > ARGUMENT_LIMIT) return give_back(-E2BIG);
  if (!commit_to(reinterpret_cast<u64>(&strings->vector[argument_count + environment_count])))
    return give_back(-ENOMEM);
  if ((error = copy_vector(envp, static_cast<usize>(argument_count), static_cast<usize>(environment_count))) < 0 ||
      (error = copy_vector(argv, 0, static_cast<usize>(argument_count))) < 0)
    return give_back(error);
  ExecutableFile file{};
  if ((error = find_program(directory, flags, file)) < 0) return give_back(error);

  // From here on exec cannot fail back to the old program.
  State& s = state();
  threads_end_others();
  files_close_on_exec();
  signals_reset_for_exec();
  memory_reset_for_exec(buffer, page_up(sizeof(Strings)), strings->scratch);
  LoadedProgram loaded{};
  if (file.kind == ExecutableKind::Own) {
    reload_own_image();
  } else {
    // Nothing of the old program stays mapped: its segments, loader, libraries and file mappings
    // (their private copies deleted), its break; the new one is mapped afresh.
    image_release_mappings();
    memory_release_break();
    error = load_checked_program(file, strings->checked, loaded);
    if (error < 0) {
      logf("linux: exec of %s failed past its point of no return: errno %ld\n", strings->path.text, -error);
      (void)give_back(0);
      state_lock().unlock();
      end_process(11);  // SIGSEGV, as Linux's force_fatal_sig after a failed load.
    }
    s.start.entry = loaded.entry;
    s.start.program_headers = loaded.program_headers;
    s.start.program_header_count = loaded.program_header_count;
    s.start.image_end = loaded.image_end;
    s.start.segment_count = 0;
    memory_init();
    if (image_active()) record_program_path();
  }
  ThreadEntry& self = current_thread();
  self.tid = own_pid;  // Linux's de_thread: an exec from another thread takes the process's id.
  self.clear_tid = 0;
  self.fs_base = 0;
  clear_stack();
  const char** vector = strings->vector;
  u64 rsp = build_initial_stack(vector, strings->argument_count, vector + strings->argument_count,
                                strings->environment_count, loaded.loader_base);
  (void)give_back(0);
  abi::Utcb* utcb = sys::utcb();
  abi::PersonalityRegisters& registers = utcb->personality_registers;
  memset(&registers, 0, sizeof registers);
  registers.rip = file.kind == ExecutableKind::Own ? s.start.entry : loaded.start;
  registers.rsp = rsp;
  registers.rflags = 0x202;
  state_lock().unlock();  // The dispatcher's guard never runs again: this call does not return.
  (void)native(abi::Syscall::PersonalityReturn, abi::NULL_SELECTOR);
  end_process(127 << 8);
}

i64 linux_execve(u64 path, u64 argv, u64 envp) {
  return linux_execveat(static_cast<u64>(static_cast<std::int64_t>(AT_FDCWD)), path, argv, envp, 0);
}

}  // namespace personality
