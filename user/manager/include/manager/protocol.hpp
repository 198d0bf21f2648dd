// The container manager's IPC protocol: what clients (tenants) send to the manager, what a
// function sends back during its invocation, and the fixed layout of a function's address space.
// Shared by the manager, the function runtime and every client; docs/CONTAINERS.md explains it.
// Invariant: names are at most NAME_BYTES - 1 bytes, NUL-padded in message words; every reply's
// label is a Status; numbers only grow.
#pragma once

#include "abi/syscall.hpp"
#include "abi/types.hpp"

namespace manager {

using metteagle::abi::u64;
using metteagle::abi::u32;
using metteagle::abi::u8;

constexpr u64 NAME_BYTES = 32;   // Four message words.
constexpr u64 NAME_WORDS = NAME_BYTES / 8;

// Requests on the manager's service endpoint. The badge of the client's capability is its tenant
// number (set by whoever handed out the capability); a tenant sees only its own functions.
// Bits 16-31 of a request's label select a sub-tenant inside the caller's badge (a front door
// such as the HTTP gateway maps each API key to one); the tenant is (badge << 16) | sub-tenant.
constexpr u32 request_kind(u32 label) { return label & 0xffff; }
constexpr u32 with_sub_tenant(u32 request, u32 sub_tenant) { return request | (sub_tenant << 16); }
constexpr u64 tenant_of(u64 badge, u32 label) { return (badge << 16) | (label >> 16); }

enum Request : u32 {
  // words: 0-3 name, 4 executable size in bytes, 5-11 FunctionConfig, from word 12 optional
  // arguments of a Linux function (NUL-terminated strings, at most MAX_ARGUMENT_BYTES).
  // capabilities[0]: Memory holding the executable (Read).
  DEPLOY = 1,
  // words: 0-3 name, 4 input size in bytes, 5 output capacity in bytes (for capabilities[1]),
  //        6 bytes of the request's environment (NUL-terminated "KEY=value" strings, at most
  //        INLINE_BYTES, from word 8; only with the input in Memory),
  //        8.. inline input when no input memory is sent (at most INLINE_BYTES).
  // capabilities[0]: Memory with the input (Read), optional;
  // capabilities[1]: Memory for the output (Write), optional (else the output comes inline).
  // Reply words: InvocationResult, inline output from word 8; after the output's words (none when
  // the output went to Memory) up to the last word, the tail of the function's log (its stderr,
  // at most INLINE_BYTES, NUL bytes sent as spaces), NUL-padded.
  INVOKE = 2,
  REMOVE = 3,    // words: 0-3 name.
  LIST = 4,      // words: 0 index of the first name. Reply: 0 total count, 1 names in this reply,
                 // then names from word 2 (NAME_WORDS each, at most LIST_NAMES_PER_REPLY).
  DESCRIBE = 5,  // words: 0-3 name. Reply: 0 executable size, 1-7 FunctionConfig, 8 invocations,
                 // 9 failures, 10 when this version was deployed (microseconds since boot),
                 // 11-14 its digest (DIGEST_BYTES), 15-18 the function whose executable it took
                 // (its `source`: its own name after DEPLOY), 19 environment bytes, 20 bytes of
                 // its image tree (shared by every invocation; 0: not an image function), 21 and
                 // 22 the private bytes of its last invocation and the most of any (what each
                 // invocation's own factory held when it ended; 0: none ran yet).
  STATS = 6,     // No words. Reply: ManagerStats (the manager's pool and the caller's own share).
  // A function from the executable of another function of the same tenant (`source`; the same
  // name to keep the executable while changing the rest), with its own configuration, arguments
  // and environment. CONFIGURE_REPLACE replaces a live function atomically: invocations already
  // running finish on the old version, every later one runs the new one.
  // words: 0-3 name, 4-7 source, 8-14 FunctionConfig (its flags come from the source), 15
  // CONFIGURE_* mode, 16 argument bytes, 17 environment bytes, from word CONFIGURE_TEXT_FIRST_WORD
  // the arguments (the whole argv, argv[0] first; static Linux functions only; none: the source's
  // arguments) then the environment ("KEY=value"), each a
  // run of NUL-terminated strings. Errors: NOT_FOUND (detail 0: `name` for a replace, 1: `source`),
  // NAME_TAKEN (create of a live name), and DEPLOY's.
  CONFIGURE = 7,
  // Deploys a Linux function from an image of the image store (docs/IMAGES.md, "Deploying an
  // image"): words 0-3 name, 4-19 image reference (NUL-padded, store/image.hpp), 20-26
  // FunctionConfig (FUNCTION_FLAG_LINUX and FUNCTION_FLAG_IMAGE are implied), 27 flags
  // (DEPLOY_IMAGE_ARGUMENTS: the argument strings replace the image's Cmd), 28 bytes of argument
  // strings, 29 bytes of environment strings ("KEY=VALUE", added to the image's or replacing the
  // same KEY), from word 30 the argument strings then the environment strings (each
  // NUL-terminated). The image's tree is opened in the store and shared, never copied.
  DEPLOY_IMAGE = 12,
  // Lowers the caller's own quotas below the manager's (a front door gives each API key its
  // own): words 0 functions, 1 storage bytes (0: the manager's value). Never raises them. It
  // applies to a tenant that has an account (a function, stored bytes or a running invocation)
  // and goes with the account, so a client sends it before each DEPLOY, CONFIGURE and
  // DEPLOY_IMAGE; the first function of a tenant is admitted by the manager's quotas. Always OK.
  SET_TENANT_QUOTA = 13,
};
enum ConfigureMode : u64 { CONFIGURE_CREATE = 0, CONFIGURE_REPLACE = 1 };
constexpr u64 CONFIGURE_TEXT_FIRST_WORD = 18;
constexpr u64 CONFIGURE_TEXT_BYTES = (metteagle::abi::MESSAGE_WORDS - CONFIGURE_TEXT_FIRST_WORD) * 8;  // 368.
constexpr u64 DIGEST_BYTES = 32;  // SHA-256.
constexpr u64 DESCRIBE_WORDS = 23;

constexpr u64 DEPLOY_IMAGE_REFERENCE_WORD = 4;
constexpr u64 DEPLOY_IMAGE_CONFIG_WORD = 20;
constexpr u64 DEPLOY_IMAGE_FLAGS_WORD = 27;
constexpr u64 DEPLOY_IMAGE_STRINGS_WORD = 30;
constexpr u64 DEPLOY_IMAGE_ARGUMENTS = 1;

// Events a running function sends on its invocation endpoint (selector FUNCTION_MANAGER).
enum FunctionEvent : u32 {
  EVENT_EXIT = 16,    // words: 0 exit code, 1 output size in bytes (written to the output area),
                      // 2 (optional) system calls the Linux personality answered ENOSYS.
  EVENT_LOG = 17,     // words: 0 length, from word 1 the bytes (at most LOG_BYTES per message).
  EVENT_INVOKE = 18,  // A nested invocation: like INVOKE, inline input and output only.
};

enum Status : u32 {
  STATUS_OK = 0,
  STATUS_BAD_REQUEST = 1,        // Malformed request or configuration.
  STATUS_NOT_FOUND = 2,          // No such function for this tenant.
  STATUS_NAME_TAKEN = 3,         // Deploy of a name that exists.
  STATUS_BAD_EXECUTABLE = 4,     // Deploy rejected; word 0 holds the klib::ElfStatus.
  STATUS_BUSY = 5,               // Concurrency or nesting limit reached.
  STATUS_CRASHED = 6,            // The function faulted: exit_code (word 0) = the exception kind,
                                 // detail (word 7) = the fault address (page faults).
  STATUS_TIMEOUT = 7,            // The function ran past its timeout.
  STATUS_QUOTA_EXCEEDED = 8,     // The function's memory limit stopped it (or its setup).
  STATUS_OUTPUT_TOO_LARGE = 9,   // It reported more output than its limit or the caller's buffer.
  STATUS_FAILED = 10,            // It exited with a non-zero exit code (word 0); its output comes along.
  STATUS_INTERNAL_ERROR = 11,    // The manager could not do its part (kernel error in word 7).
  STATUS_TOO_DEEP = 12,          // Nested invocation beyond the configured depth.
  STATUS_TOO_MANY_CALLS = 13,    // More nested invocations from one invocation than MAX_NESTED_CALLS,
                                 // or from one top-level invocation (all depths) than its tenant's
                                 // nested budget.
  STATUS_TENANT_BUSY = 14,       // The tenant's own share is in use: the memory limits of its running
                                 // invocations (nested ones included) or their number would exceed
                                 // its share. Not the function's own limit (QUOTA_EXCEEDED); other
                                 // tenants are unaffected. Retry when its invocations have ended.
  STATUS_TENANT_FUNCTION_LIMIT = 15,  // Deploy: the tenant has as many functions as it may have.
  STATUS_STORAGE_EXCEEDED = 16,  // Deploy: the executable would exceed the tenant's storage quota.
  STATUS_NO_TENANT_SHARE = 17,   // Deploy of a tenant's first function: the manager's pool has no
                                 // share left for another tenant.
  STATUS_OUT_OF_MEMORY = 18,     // The machine had no physical memory left (not a quota).
  STATUS_NO_SUCH_IMAGE = 19,     // DEPLOY_IMAGE: the tenant has no image of that reference (word 0:
                                 // the store's status; 0 = NOT_FOUND, else the store failed).
  STATUS_NO_CAPACITY = 20,       // INVOKE: the manager's pool cannot reserve the function's memory
                                 // limit now (word 0 of the reply's detail, word 7: the limit in
                                 // bytes); retry later. DEPLOY: the pool cannot hold the function
                                 // now, or no capability slot is left for another executable.
  STATUS_LIMIT_TOO_LARGE = 21,   // DEPLOY, CONFIGURE: the memory limit can never be admitted (word
                                 // 0: the largest limit that can, in bytes).
};

constexpr const char* status_name(u64 status) {
  constexpr const char* NAMES[] = {"OK",        "BAD_REQUEST",      "NOT_FOUND",      "NAME_TAKEN",
                                   "BAD_EXECUTABLE", "BUSY",        "CRASHED",        "TIMEOUT",
                                   "QUOTA_EXCEEDED", "OUTPUT_TOO_LARGE", "FAILED",    "INTERNAL_ERROR",
                                   "TOO_DEEP",  "TOO_MANY_CALLS",   "TENANT_BUSY",    "TENANT_FUNCTION_LIMIT",
                                   "STORAGE_EXCEEDED", "NO_TENANT_SHARE", "OUT_OF_MEMORY", "NO_SUCH_IMAGE",
                                   "NO_CAPACITY", "LIMIT_TOO_LARGE"};
  return status < sizeof NAMES / sizeof NAMES[0] ? NAMES[status] : "UNKNOWN";
}

// Reply words of STATS. The pool is what the manager's factory has but what it keeps for itself;
// running invocations reserve their memory limits from it and deployed functions their storage
// (docs/CONTAINERS.md, "The pool and tenant quotas"). The layout is unchanged from the time of
// equal tenant shares; the fields that named a share now name each tenant's quota.
struct ManagerStats {
  u64 pool_free_bytes;        // The manager factory's quota not in use (the kernel's figure).
  u64 reserved_bytes;         // The pool reserved now: running invocations' limits plus storage.
  u64 tenants;                // Tenants the manager holds an account for.
  u64 running_invocations;    // Invocations running now, nested ones included.
  u64 functions;              // Deployed functions of every tenant.
  u64 function_capacity;      // Each tenant's function quota (the table itself grows).
  u64 share_memory_bytes;     // Each tenant's memory quota (sum of its running memory limits).
  u64 share_storage_bytes;    // Each tenant's storage quota (executables and function records).
  u64 share_invocations;      // Each tenant's concurrent top-level invocations.
  u64 share_functions;        // Each tenant's functions.
  u64 nested_budget;          // Nested invocations per top-level invocation, all depths.
  u64 tenant_memory_in_use;   // The caller's own figures: memory limits of its running invocations,
  u64 tenant_storage_in_use;  // bytes its executables and records take,
  u64 tenant_invocations;     // its top-level invocations running,
  u64 tenant_functions;       // and its functions.
  u64 shares_free;            // The pool's bytes (what invocations and storage may reserve in all).
  u64 machine_free_bytes;     // Physical memory the kernel has free (0 unless the manager may see it).
  u64 kernel_heap_used_bytes; // Bytes in live kernel heap objects (same condition).
  u64 kernel_heap_bytes;      // Bytes of pages the kernel heap holds (same condition).
};
constexpr u64 STATS_WORDS = sizeof(ManagerStats) / 8;
// A running invocation reserves its memory limit plus this from the pool (and its tenant's memory
// quota): the kernel object of the invocation's own factory, charged to the manager's factory.
constexpr u64 INVOCATION_OVERHEAD_BYTES = 4096;
// What each function (its record in the manager's registry) costs its tenant's storage quota and
// the pool, beside its executable (charged once to the function that deployed it; CONFIGURE's
// functions share their source's).
constexpr u64 FUNCTION_RECORD_BYTES = 2048;

// A function's configuration, as seven message words.
struct FunctionConfig {
  u64 memory_limit_bytes;   // Everything the invocation may use: pages and kernel objects.
  u64 timeout_nanoseconds;
  u64 cpu_mask;             // CPUs it may run on (bit i = CPU i); 0 = any.
  u64 max_output_bytes;
  u64 max_nesting_depth;    // How deep its nested invocations may go (0 = none).
  u64 grants;               // Resources granted, GRANT_* bits; none by default.
  u64 flags;                // FUNCTION_FLAG_* bits (this word was `reserved`, always 0, before).
};
constexpr u64 GRANT_CONSOLE = 1;  // May print to the debug console (its log also goes there).
// The executable is an unmodified static Linux x86-64 program: it runs under the Linux
// personality (docs/LINUX.md) instead of the native function runtime.
constexpr u64 FUNCTION_FLAG_LINUX = 1;
// With FUNCTION_FLAG_LINUX: DEPLOY's Memory holds a packed image tree (docs/IMAGES.md), word 4 its
// size, and the arguments area holds the program's path in the tree, then argv[1..], then an
// empty string, then the environment ("K=V" strings). Each invocation sees the tree as "/"
// (read-only, shared) and runs the program from it, dynamically linked ones included.
constexpr u64 FUNCTION_FLAG_IMAGE = 2;
constexpr u64 FUNCTION_FLAGS_KNOWN = FUNCTION_FLAG_LINUX | FUNCTION_FLAG_IMAGE;

constexpr FunctionConfig DEFAULT_CONFIG = {
    16ull << 20, 5'000'000'000ull, 0, 1ull << 20, 4, 0, 0,
};
constexpr u64 MAX_MEMORY_LIMIT = 256ull << 20;
constexpr u64 MAX_OUTPUT_BYTES = 128ull << 20;  // The gateway passes up to 128 MiB (max_body_mib=).
constexpr u64 MAX_EXECUTABLE_BYTES = 16ull << 20;
constexpr u64 MAX_INPUT_BYTES = 128ull << 20;   // The same, for an input in Memory.
constexpr u64 MAX_IMAGE_TREE_BYTES = 1ull << 30;  // The tenant's storage quota is the real bound.
constexpr u64 MAX_NESTED_CALLS = 64;  // Nested invocations one invocation may make (fan-out).

// Reply words 0-7 of INVOKE and EVENT_INVOKE.
struct InvocationResult {
  u64 exit_code;
  u64 output_size;
  u64 create_ticks;    // TSC ticks per phase.
  u64 load_ticks;
  u64 run_ticks;
  u64 teardown_ticks;
  u64 invocation_id;
  u64 detail;          // By status: fault address, kernel error or ElfStatus; for an exit (OK, FAILED,
                       // OUTPUT_TOO_LARGE) the system calls its Linux personality answered ENOSYS.
};

constexpr u64 INLINE_FIRST_WORD = 8;
constexpr u64 INLINE_BYTES = (metteagle::abi::MESSAGE_WORDS - INLINE_FIRST_WORD) * 8;  // 448.
constexpr u64 LOG_BYTES = (metteagle::abi::MESSAGE_WORDS - 1) * 8;                      // 504.
constexpr u64 LIST_NAMES_PER_REPLY = (metteagle::abi::MESSAGE_WORDS - 2) / NAME_WORDS;  // 15.

// A function's address space (fixed; the manager builds it, the runtime relies on it).
constexpr u64 FUNCTION_CONTEXT_ADDRESS = 0x0000000030000000;  // One read-only page: FunctionContext.
constexpr u64 FUNCTION_INPUT_ADDRESS = 0x0000000040000000;    // Input, read-only.
constexpr u64 FUNCTION_OUTPUT_ADDRESS = 0x0000000050000000;   // Output area, read-write.
constexpr u64 FUNCTION_HEAP_ADDRESS = 0x0000000060000000;     // The runtime's heap (it maps it).
constexpr u64 FUNCTION_STACK_TOP = 0x00007ff000000000;
constexpr u64 FUNCTION_STACK_PAGES = 16;
constexpr u64 FUNCTION_UTCB_ADDRESS = 0x00007ff000010000;
// The priority a function's threads run at (one below the manager's workers); threads a function
// creates itself (the Linux personality's clone) use it too.
constexpr u64 FUNCTION_PRIORITY = 15;

// Capability selectors of a function: nothing else unless its configuration grants it.
constexpr u64 FUNCTION_MANAGER = 1;  // Its invocation endpoint (Send, Grant), badged.
constexpr u64 FUNCTION_FACTORY = 2;  // Its own invocation factory: the memory limit is its quota.
constexpr u64 FUNCTION_TASK = 3;     // Its own task (Map), for the runtime's heap.
// Selector 4 stays empty: the console is never handed to a function, not even with GRANT_CONSOLE
// (its log reaches the console only through EVENT_LOG, prefixed and escaped).
// A Linux program's own executable file (Memory, Read only; shared by every invocation): the
// personality shows it as /<function name>, which /proc/self/exe names, and reads it with
// MemoryRead, so an invocation pays nothing for it until the program reads it.
constexpr u64 FUNCTION_EXECUTABLE = 5;
// An image function's packed image tree (Memory, Read + Execute; shared by every invocation), also
// mapped read-only at IMAGE_TREE_ADDRESS: the personality reads files there and maps their pages
// (executable ones for PT_LOAD text) from this capability.
constexpr u64 FUNCTION_IMAGE_TREE = 6;
constexpr u64 IMAGE_TREE_ADDRESS = 0x0000600000000000;
// A Linux program's first thread (Thread, Interrupt only): the personality interrupts it to deliver
// a signal (ThreadInterrupt), as it does its other threads through their own capabilities.
constexpr u64 FUNCTION_THREAD = 7;
constexpr u64 FUNCTION_FIRST_FREE = 8;
// Slots of a function's capability space: a Linux program's processes hold every shared Memory,
// two notifications per possible process (blocking and signals), their threads and memory chunks.
constexpr u64 FUNCTION_CAPABILITY_SLOTS = 128;

struct FunctionContext {
  u64 input_address;
  u64 input_size;
  u64 output_address;
  u64 output_capacity;
  u64 invocation_id;
  u64 depth;            // 0 for a top-level invocation.
  u64 tsc_hertz;
  char name[NAME_BYTES];
  u64 cpu_mask;         // The CPUs its threads may run on (never 0): the kernel holds them to it.
  // The wall clock: nanoseconds since 1970-01-01 UTC at TSC 0, so the time now is this plus the
  // TSC in nanoseconds (tsc_hertz); 0 when the manager has no clock (its boot line lacks `rtc`).
  u64 realtime_offset;
};

// Linux executables (FUNCTION_FLAG_LINUX): the manager also maps the personality image
// (user/linux/, linked at LINUX_PERSONALITY_ADDRESS) and starts the thread at the personality's
// entry with rdi = FUNCTION_CONTEXT_ADDRESS; the context page then carries a LinuxStart at
// LINUX_START_OFFSET describing the program. Program segments lie below FUNCTION_CONTEXT_ADDRESS.
constexpr u64 LINUX_PERSONALITY_ADDRESS = 0x00007e0000000000;
constexpr u64 LINUX_START_OFFSET = 2048;
constexpr u64 LINUX_START_MAGIC = 0x7472617453786e4cull;  // "LnxStart", little-endian.
constexpr u64 LINUX_MAX_SEGMENTS = 8;
constexpr u64 LINUX_SEGMENT_WRITABLE = 1;
constexpr u64 LINUX_SEGMENT_EXECUTABLE = 2;
// A Linux function's arguments (argv[1..]), given at deploy: NUL-terminated strings back to back.
constexpr u64 DEPLOY_ARGUMENTS_FIRST_WORD = 12;
constexpr u64 MAX_ARGUMENT_BYTES = (metteagle::abi::MESSAGE_WORDS - DEPLOY_ARGUMENTS_FIRST_WORD) * 8;  // 416.

struct LinuxSegment {
  u64 address;  // Page-aligned start, as mapped.
  u64 bytes;    // Mapped length (whole pages).
  u64 flags;    // LINUX_SEGMENT_* bits; every segment is readable.
};

constexpr u64 LINUX_WORKING_DIRECTORY_BYTES = 256;  // With its NUL.
struct LinuxStart {
  u64 magic;                  // LINUX_START_MAGIC.
  u64 entry;                  // The program's entry point.
  u64 program_headers;        // Address of its program header table in memory, 0 if not mapped.
  u64 program_header_count;
  u64 image_end;              // First page-aligned address above every segment: brk starts here.
  u64 segment_count;
  LinuxSegment segments[LINUX_MAX_SEGMENTS];
  u64 argument_bytes;         // Bytes of `arguments` in use (each string NUL-terminated).
  char arguments[MAX_ARGUMENT_BYTES];
  u64 executable_size;        // Bytes of the file in FUNCTION_EXECUTABLE; 0: not given.
  u64 image_tree_bytes;       // FUNCTION_FLAG_IMAGE: bytes of the tree at IMAGE_TREE_ADDRESS; 0: none.
  u64 flags;                  // LINUX_START_* bits.
  // An image's User (LINUX_START_IDENTITY: else uid and gid 1000) and WorkingDir (empty: "/"),
  // resolved and checked against the image's tree at deploy (docs/IMAGES.md).
  u32 uid, gid;
  char working_directory[LINUX_WORKING_DIRECTORY_BYTES];
};
// `arguments` starts with argv[0] (CONFIGURE's arguments, from OpenFaaS's envProcess), instead of
// argv[0] being the function's name.
constexpr u64 LINUX_START_ARGV0 = 1;
// uid and gid hold the image's User.
constexpr u64 LINUX_START_IDENTITY = 2;
// The invocation's environment, in the context page at ENVIRONMENT_OFFSET: the function's own
// (CONFIGURE's), then the request's (INVOKE word 6: the gateway's Http_* variables), as
// NUL-terminated "KEY=value" strings back to back. The Linux personality puts them first in envp;
// a native function may read them here.
constexpr u64 ENVIRONMENT_OFFSET = 3072;
struct FunctionEnvironment {
  u64 bytes;  // Bytes of `strings` in use.
  char strings[4096 - ENVIRONMENT_OFFSET - 8];
};
static_assert(sizeof(FunctionContext) <= LINUX_START_OFFSET);
static_assert(LINUX_START_OFFSET + sizeof(LinuxStart) <= ENVIRONMENT_OFFSET);
static_assert(sizeof(FunctionEnvironment) == 4096 - ENVIRONMENT_OFFSET);
static_assert(CONFIGURE_TEXT_BYTES + INLINE_BYTES <= sizeof(FunctionEnvironment::strings));

// Name helpers: pack into / unpack from message words.
inline void pack_name(const char* name, u64* words) {
  for (u64 i = 0; i < NAME_WORDS; ++i) words[i] = 0;
  auto* bytes = reinterpret_cast<u8*>(words);
  for (u64 i = 0; i + 1 < NAME_BYTES && name[i] != '\0'; ++i) bytes[i] = static_cast<u8>(name[i]);
}
// A valid name: 1-31 bytes of [a-z0-9_-], NUL-padded.
inline bool unpack_name(const u64* words, char (&name)[NAME_BYTES]) {
  const auto* bytes = reinterpret_cast<const u8*>(words);
  u64 length = 0;
  while (length < NAME_BYTES && bytes[length] != 0) ++length;
  if (length == 0 || length >= NAME_BYTES) return false;
  for (u64 i = length; i < NAME_BYTES; ++i)
    if (bytes[i] != 0) return false;
  for (u64 i = 0; i < length; ++i) {
    u8 c = bytes[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
    name[i] = static_cast<char>(c);
  }
  name[length] = '\0';
  return true;
}

}  // namespace manager
