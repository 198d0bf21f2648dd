// The container manager's IPC protocol: what clients (tenants) send to the manager, what a
// function sends back during its invocation, and the fixed layout of a function's address space.
// Shared by the manager, the function runtime and every client; docs/CONTAINERS.md explains it.
// Invariant: each message's words are one struct below (named beside its request), moved by
// sys/protocol.hpp; names are at most NAME_BYTES - 1 bytes, NUL-padded; every reply's label is a
// Status; numbers only grow.
#pragma once

#include <stddef.h>

#include "abi/syscall.hpp"
#include "abi/types.hpp"

namespace manager {

using metteagle::abi::u64;
using metteagle::abi::u32;
using metteagle::abi::u8;

// A function's name: 1-63 bytes (a DNS label's length) and the NUL.
constexpr u64 NAME_BYTES = 64;
constexpr u64 MESSAGE_BYTES = metteagle::abi::MESSAGE_WORDS * 8;

// Requests on the manager's service endpoint. The badge of the client's capability is its tenant
// number (set by whoever handed out the capability); a tenant sees only its own functions.
// Bits 16-31 of a request's label select a sub-tenant inside the caller's badge (a front door
// such as the HTTP gateway maps each API key to one); the tenant is (badge << 16) | sub-tenant.
constexpr u32 request_kind(u32 label) { return label & 0xffff; }
constexpr u32 with_sub_tenant(u32 request, u32 sub_tenant) { return request | (sub_tenant << 16); }
constexpr u64 tenant_of(u64 badge, u32 label) { return (badge << 16) | (label >> 16); }

enum Request : u32 {
  // DeployRequest: the executable's size in bytes, then optional arguments of a Linux function
  // (NUL-terminated strings, at most MAX_ARGUMENT_BYTES). Refusals: DetailReply.
  // capabilities[0]: Memory holding the executable (Read).
  DEPLOY = 1,
  // InvokeRequest: the input size in bytes, the output capacity in bytes (for capabilities[1]),
  //        the bytes of the request's environment (NUL-terminated "KEY=value" strings, at most
  //        INLINE_INPUT_BYTES, in `inline_bytes`; only with the input in Memory, or with
  //        INVOKE_OUTPUT_ONLY), flags, and the inline input when no input memory is sent (at most
  //        INLINE_INPUT_BYTES).
  // capabilities[0]: Memory with the input (Read), optional;
  // capabilities[1]: Memory for the output (Write), optional (else the output comes inline).
  // With INVOKE_OUTPUT_ONLY the input is empty (input size 0) and capabilities[0] is the output
  // Memory (a caller with nothing to send needs no Memory object for it).
  // Reply: InvokeReply: InvocationResult, then in `tail` the inline output in whole words; after
  // them (none when the output went to Memory) up to the last word, the tail of the function's
  // log (its stderr, at most INLINE_BYTES, NUL bytes sent as spaces), NUL-padded.
  INVOKE = 2,
  REMOVE = 3,    // NameRequest.
  LIST = 4,      // ListRequest (the index of the first name). Reply: ListReply.
  DESCRIBE = 5,  // NameRequest. Reply: DescribeReply.
  STATS = 6,     // No words. Reply: ManagerStats (the manager's pool and the caller's own share).
  // A function from the executable of another function of the same tenant (`source`; the same
  // name to keep the executable while changing the rest), with its own configuration, arguments
  // and environment. CONFIGURE_REPLACE replaces a live function atomically: invocations already
  // running finish on the old version, every later one runs the new one.
  // ConfigureRequest (the configuration's flags come from the source; `text` holds the arguments,
  // the whole argv, argv[0] first, static Linux functions only, none: the source's arguments, then
  // the environment, "KEY=value", each a run of NUL-terminated strings, then the secret files
  // (SecretFile entries, `secret_bytes`)). The strings travel inline when they fit `text`, else in
  // capabilities[0] (Memory, Read) from its first byte: at most MAX_STRINGS_BYTES of arguments and
  // environment, MAX_SECRET_FILES_BYTES of secret files; the manager copies them before it checks
  // them. Errors: NOT_FOUND (DetailReply 0: `name` for a replace, 1: `source`), NAME_TAKEN (create
  // of a live name), BAD_REQUEST (DetailReply: MAX_STRINGS_BYTES when the strings are too many or
  // too large), and DEPLOY's.
  CONFIGURE = 7,
  // Deploys a Linux function from an image of the image store (docs/IMAGES.md, "Deploying an
  // image"): DeployImageRequest: the image reference (NUL-padded, store/image.hpp), the
  // configuration (FUNCTION_FLAG_LINUX and FUNCTION_FLAG_IMAGE are implied), flags
  // (DEPLOY_IMAGE_ARGUMENTS: the argument strings replace the image's Cmd), the bytes of argument
  // strings and of environment strings ("KEY=VALUE", added to the image's or replacing the same
  // KEY), then in `strings` the argument strings then the environment strings (each
  // NUL-terminated), then the secret files (`secret_bytes`, as CONFIGURE's). The strings travel
  // inline when they fit `strings`, else in capabilities[0] (Memory, Read), as CONFIGURE's. The
  // image's tree is opened in the store and shared, never copied. DEPLOY_IMAGE_REPLACE replaces
  // the live function of that name atomically, as CONFIGURE_REPLACE does (whatever it was made
  // from): invocations already running finish on the old version, every later one runs the new
  // one; a refused request leaves the old version as it was. Refusals: ImageRefusal; NOT_FOUND
  // (detail 0) for a replace of a name that has no live function, checked first.
  DEPLOY_IMAGE = 12,
  // Lowers the caller's own quotas below the manager's (a front door gives each API key its
  // own): TenantQuotaRequest (0: the manager's value). Never raises them. It
  // applies to a tenant that has an account (a function, stored bytes or a running invocation)
  // and goes with the account, so a client sends it before each DEPLOY, CONFIGURE and
  // DEPLOY_IMAGE; the first function of a tenant is admitted by the manager's quotas. Always OK.
  SET_TENANT_QUOTA = 13,
};
enum ConfigureMode : u64 { CONFIGURE_CREATE = 0, CONFIGURE_REPLACE = 1 };
constexpr u64 DIGEST_BYTES = 32;  // SHA-256.
// DeployImageRequest's flags.
constexpr u64 DEPLOY_IMAGE_ARGUMENTS = 1;  // The argument strings replace the image's Cmd.
constexpr u64 DEPLOY_IMAGE_REPLACE = 2;    // Replaces the live function of that name (an update in place).
constexpr u64 DEPLOY_IMAGE_FLAGS_KNOWN = DEPLOY_IMAGE_ARGUMENTS | DEPLOY_IMAGE_REPLACE;
static_assert((DEPLOY_IMAGE_ARGUMENTS & DEPLOY_IMAGE_REPLACE) == 0, "each flag is its own bit");

// Events a running function sends on its invocation endpoint (selector FUNCTION_MANAGER).
enum FunctionEvent : u32 {
  EVENT_EXIT = 16,    // ExitEvent (the output is written to the output area).
  EVENT_LOG = 17,     // LogEvent (at most LOG_BYTES per message).
  EVENT_INVOKE = 18,  // A nested invocation: like INVOKE (InvokeRequest), inline input and output only.
};

enum Status : u32 {
  STATUS_OK = 0,
  STATUS_BAD_REQUEST = 1,        // Malformed request or configuration.
  STATUS_NOT_FOUND = 2,          // No such function for this tenant.
  STATUS_NAME_TAKEN = 3,         // Deploy of a name that exists.
  STATUS_BAD_EXECUTABLE = 4,     // Deploy rejected; DetailReply holds the klib::ElfStatus.
  STATUS_BUSY = 5,               // Concurrency or nesting limit reached.
  STATUS_CRASHED = 6,            // The function faulted: exit_code = the exception kind,
                                 // detail = the fault address (page faults).
  STATUS_TIMEOUT = 7,            // The function ran past its timeout.
  STATUS_QUOTA_EXCEEDED = 8,     // The function's memory limit stopped it (or its setup).
  STATUS_OUTPUT_TOO_LARGE = 9,   // It reported more output than its limit or the caller's buffer.
  STATUS_FAILED = 10,            // It exited with a non-zero exit code; its output comes along.
  STATUS_INTERNAL_ERROR = 11,    // The manager could not do its part (kernel error in `detail`).
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
  STATUS_NO_SUCH_IMAGE = 19,     // DEPLOY_IMAGE: the tenant has no image of that reference (detail:
                                 // the store's status; 0 = NOT_FOUND, else the store failed).
  STATUS_NO_CAPACITY = 20,       // INVOKE: the manager's pool cannot reserve the function's memory
                                 // limit now (InvocationResult's detail: the limit in bytes); retry
                                 // later. DEPLOY: the pool cannot hold the function
                                 // now, or no capability slot is left for another executable.
  STATUS_LIMIT_TOO_LARGE = 21,   // DEPLOY, CONFIGURE: the memory limit can never be admitted
                                 // (DetailReply: the largest limit that can, in bytes).
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

// Reply of STATS. The pool is what the manager's factory has but what it keeps for itself;
// running invocations reserve their memory limits from it and deployed functions their storage
// (docs/CONTAINERS.md, "The pool and tenant quotas"). The fields that named a
// share when tenants had equal shares now name each tenant's quota.
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
// A running invocation reserves its memory limit plus this from the pool (and its tenant's memory
// quota): the kernel object of the invocation's own factory, charged to the manager's factory.
constexpr u64 INVOCATION_OVERHEAD_BYTES = 4096;
// What each function (its record in the manager's registry) costs its tenant's storage quota and
// the pool, beside its executable (charged once to the function that deployed it; CONFIGURE's
// functions share their source's).
constexpr u64 FUNCTION_RECORD_BYTES = 2048;

// A function's configuration (seven message words).
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

// The first eight reply words of INVOKE and EVENT_INVOKE.
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


// The messages. A variable-length one ends after the part of its last array in use (the word
// count covers it); what a message does not carry reads as zero on the receiving side.
constexpr u64 INVOKE_HEAD_BYTES = NAME_BYTES + 4 * 8;
constexpr u64 INLINE_INPUT_BYTES = MESSAGE_BYTES - INVOKE_HEAD_BYTES;         // 416.
constexpr u64 INLINE_BYTES = MESSAGE_BYTES - sizeof(InvocationResult);        // 448: inline output.
constexpr u64 LOG_BYTES = MESSAGE_BYTES - 8;                                  // 504.
constexpr u64 LIST_NAMES_PER_REPLY = (MESSAGE_BYTES - 16) / NAME_BYTES;       // 7.
constexpr u64 DEPLOY_HEAD_BYTES = NAME_BYTES + 8 + sizeof(FunctionConfig);
constexpr u64 MAX_ARGUMENT_BYTES = MESSAGE_BYTES - DEPLOY_HEAD_BYTES;         // 384.
constexpr u64 CONFIGURE_HEAD_BYTES = 2 * NAME_BYTES + sizeof(FunctionConfig) + 4 * 8;
constexpr u64 CONFIGURE_TEXT_BYTES = MESSAGE_BYTES - CONFIGURE_HEAD_BYTES;    // 296: inline strings.
constexpr u64 IMAGE_REFERENCE_BYTES = 128;                                    // store::NAME_BYTES.
constexpr u64 DEPLOY_IMAGE_HEAD_BYTES = NAME_BYTES + IMAGE_REFERENCE_BYTES + sizeof(FunctionConfig) + 4 * 8;
constexpr u64 DEPLOY_IMAGE_STRING_BYTES = MESSAGE_BYTES - DEPLOY_IMAGE_HEAD_BYTES;  // 232: inline strings.

// A function's strings (CONFIGURE, DEPLOY_IMAGE): what a deploy may send of arguments and
// environment together (Linux's own bound is ARG_MAX-like 2 MiB; OpenFaaS deployments carry
// kilobytes), and what the manager keeps of them with the image's own (DEPLOY_IMAGE merges the
// image's command line and environment). Beyond MAX_STRING_COUNT strings a deploy is refused (the
// personality's envp dedupe stays small).
constexpr u64 MAX_STRINGS_BYTES = 64 * 1024;
constexpr u64 MAX_STORED_STRINGS_BYTES = 2 * MAX_STRINGS_BYTES;
constexpr u64 MAX_STRING_COUNT = 2048;
// Secret files (OpenFaaS's /var/openfaas/secrets/<name>): each entry is the name (a DNS label of
// 1-63 bytes: a-z, 0-9, '-'), its NUL, the value's length (4 bytes, little-endian), the value.
constexpr u64 MAX_SECRET_FILES = 8;
constexpr u64 MAX_SECRET_FILE_BYTES = 4096;
constexpr u64 MAX_SECRET_FILES_BYTES = MAX_SECRET_FILES * (NAME_BYTES + 4 + MAX_SECRET_FILE_BYTES);
// Everything a function keeps: its arguments, environment and secret files.
constexpr u64 MAX_FUNCTION_STRINGS_BYTES = MAX_STORED_STRINGS_BYTES + MAX_STRINGS_BYTES + MAX_SECRET_FILES_BYTES;

struct DeployRequest {
  char name[NAME_BYTES];
  u64 executable_size;
  FunctionConfig config;
  char arguments[MAX_ARGUMENT_BYTES];
};
static_assert(offsetof(DeployRequest, arguments) == DEPLOY_HEAD_BYTES && sizeof(DeployRequest) == MESSAGE_BYTES);

struct InvokeRequest {  // INVOKE and EVENT_INVOKE.
  char name[NAME_BYTES];
  u64 input_size;
  u64 output_capacity;    // INVOKE with output Memory only.
  u64 environment_bytes;  // INVOKE with input Memory, or with INVOKE_OUTPUT_ONLY.
  u64 flags;              // INVOKE_* below; 0 for EVENT_INVOKE.
  u8 inline_bytes[INLINE_INPUT_BYTES];  // The input, or the environment when the input is in Memory.
};
static_assert(offsetof(InvokeRequest, inline_bytes) == INVOKE_HEAD_BYTES && sizeof(InvokeRequest) == MESSAGE_BYTES);

constexpr u64 INVOKE_OUTPUT_ONLY = 1;  // InvokeRequest.flags: no input; capabilities[0] is the output.

struct InvokeReply {
  InvocationResult result;
  u8 tail[INLINE_BYTES];  // The inline output in whole words, then the log's tail.
};
static_assert(offsetof(InvokeReply, tail) == 64 && sizeof(InvokeReply) == MESSAGE_BYTES);

struct NameRequest {  // REMOVE, DESCRIBE.
  char name[NAME_BYTES];
};

struct ListRequest {
  u64 first;
};
struct ListReply {
  u64 total;
  u64 count;  // Names in this reply.
  char names[LIST_NAMES_PER_REPLY][NAME_BYTES];
};
static_assert(offsetof(ListReply, names) == 16 && sizeof(ListReply) <= MESSAGE_BYTES);

struct DescribeReply {
  u64 executable_size;
  FunctionConfig config;
  u64 invocations;
  u64 failures;
  u64 created_microseconds;  // When this version was deployed (since boot).
  u8 digest[DIGEST_BYTES];
  char source[NAME_BYTES];   // The function whose executable it took (its own name after DEPLOY).
  u64 environment_bytes;
  u64 tree_bytes;            // Its image tree, shared by every invocation (0: not an image function).
  // The private bytes of its last invocation and the most of any: what each invocation's own
  // factory held when it ended (0: none ran yet).
  u64 private_bytes_last;
  u64 private_bytes_max;
};
static_assert(offsetof(DescribeReply, config) == 8 && offsetof(DescribeReply, digest) == 88 &&
              offsetof(DescribeReply, source) == 120 && sizeof(DescribeReply) <= MESSAGE_BYTES);
static_assert(LIST_NAMES_PER_REPLY >= 1);

struct ConfigureRequest {
  char name[NAME_BYTES];
  char source[NAME_BYTES];
  FunctionConfig config;
  u64 mode;  // ConfigureMode.
  u64 argument_bytes;
  u64 environment_bytes;
  u64 secret_bytes;
  char text[CONFIGURE_TEXT_BYTES];
};
static_assert(offsetof(ConfigureRequest, text) == CONFIGURE_HEAD_BYTES && sizeof(ConfigureRequest) == MESSAGE_BYTES);

struct DeployImageRequest {
  char name[NAME_BYTES];
  char reference[IMAGE_REFERENCE_BYTES];
  FunctionConfig config;
  u64 flags;  // DEPLOY_IMAGE_* bits (DEPLOY_IMAGE_FLAGS_KNOWN).
  u64 argument_bytes;
  u64 environment_bytes;
  u64 secret_bytes;
  char strings[DEPLOY_IMAGE_STRING_BYTES];
};
static_assert(offsetof(DeployImageRequest, strings) == DEPLOY_IMAGE_HEAD_BYTES &&
              sizeof(DeployImageRequest) == MESSAGE_BYTES);
static_assert(offsetof(DeployImageRequest, flags) == NAME_BYTES + IMAGE_REFERENCE_BYTES + sizeof(FunctionConfig),
              "flags: the word after the configuration (docs/CONTAINERS.md)");

// A refusal's detail (what the status names it for); also NOT_FOUND of CONFIGURE.
struct DetailReply {
  u64 detail;
};
// DEPLOY_IMAGE's refusals: the detail, and for BAD_REQUEST the most argument bytes a function takes
// (MAX_STORED_STRINGS_BYTES: the image's command line and environment with the deploy's exceed
// it, `detail` the bytes they need).
struct ImageRefusal {
  u64 detail;
  u64 argument_limit;
};

struct TenantQuotaRequest {  // SET_TENANT_QUOTA.
  u64 functions;
  u64 storage_bytes;
};

struct ExitEvent {
  u64 exit_code;
  u64 output_size;
  u64 enosys_calls;  // Optional: system calls the Linux personality answered ENOSYS.
};
struct LogEvent {
  u64 length;
  u8 bytes[LOG_BYTES];
};
static_assert(offsetof(LogEvent, bytes) == 8 && sizeof(LogEvent) == MESSAGE_BYTES);
static_assert(sizeof(ManagerStats) <= MESSAGE_BYTES);

// A function's address space (fixed; the manager builds it, the runtime relies on it).
constexpr u64 FUNCTION_CONTEXT_ADDRESS = 0x0000000030000000;  // One read-only page: FunctionContext.
// The function's strings (FunctionContext: arguments, environment, secret files), read-only,
// one Memory of the manager's shared by every invocation (nothing is mapped when there are none).
constexpr u64 FUNCTION_STRINGS_ADDRESS = 0x0000000038000000;
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
  // The function's strings at FUNCTION_STRINGS_ADDRESS, back to back: its arguments (a static
  // Linux function: argv[1..], or the whole argv with LINUX_START_ARGV0; an image function: the
  // program's path, argv[1..], an empty string, then the image's environment), its own environment
  // (CONFIGURE's "KEY=value" strings, first in envp), its secret files (SecretFile entries).
  u64 argument_bytes;
  u64 environment_bytes;
  u64 secret_bytes;
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

struct LinuxSegment {
  u64 address;  // Page-aligned start, as mapped.
  u64 bytes;    // Mapped length (whole pages).
  u64 flags;    // LINUX_SEGMENT_* bits; every segment is readable.
};

constexpr u64 LINUX_WORKING_DIRECTORY_BYTES = 256;  // With its NUL.
constexpr u64 PROGRAM_PATH_BYTES = 384;  // An image function's program path, with its NUL.
struct LinuxStart {
  u64 magic;                  // LINUX_START_MAGIC.
  u64 entry;                  // The program's entry point.
  u64 program_headers;        // Address of its program header table in memory, 0 if not mapped.
  u64 program_header_count;
  u64 image_end;              // First page-aligned address above every segment: brk starts here.
  u64 segment_count;
  LinuxSegment segments[LINUX_MAX_SEGMENTS];
  u64 path_bytes;             // An image function: its program's path in the tree (with its NUL),
  char path[PROGRAM_PATH_BYTES];  // also the first argument string; the personality's copy follows exec.
  u64 executable_size;        // Bytes of the file in FUNCTION_EXECUTABLE; 0: not given.
  u64 image_tree_bytes;       // FUNCTION_FLAG_IMAGE: bytes of the tree at IMAGE_TREE_ADDRESS; 0: none.
  u64 flags;                  // LINUX_START_* bits.
  // An image's User (LINUX_START_IDENTITY: else uid and gid 1000) and WorkingDir (empty: "/"),
  // resolved and checked against the image's tree at deploy (docs/IMAGES.md).
  u32 uid, gid;
  char working_directory[LINUX_WORKING_DIRECTORY_BYTES];
};
// The arguments start with argv[0] (CONFIGURE's arguments, from OpenFaaS's envProcess), instead of
// argv[0] being the function's name.
constexpr u64 LINUX_START_ARGV0 = 1;
// uid and gid hold the image's User.
constexpr u64 LINUX_START_IDENTITY = 2;
// The request's environment (INVOKE's: the gateway's Http_* variables), in the context page at
// ENVIRONMENT_OFFSET, as NUL-terminated "KEY=value" strings back to back. The Linux personality
// puts them in envp after the function's own (FunctionContext::environment_bytes); a native
// function may read both.
constexpr u64 ENVIRONMENT_OFFSET = 3072;
struct FunctionEnvironment {
  u64 bytes;  // Bytes of `strings` in use.
  char strings[4096 - ENVIRONMENT_OFFSET - 8];
};
static_assert(sizeof(FunctionContext) <= LINUX_START_OFFSET);
static_assert(LINUX_START_OFFSET + sizeof(LinuxStart) <= ENVIRONMENT_OFFSET);
static_assert(sizeof(FunctionEnvironment) == 4096 - ENVIRONMENT_OFFSET);
static_assert(INLINE_INPUT_BYTES <= sizeof(FunctionEnvironment::strings));

// Name helpers: pack into / unpack from a name field.
inline void pack_name(const char* name, char (&field)[NAME_BYTES]) {
  for (u64 i = 0; i < NAME_BYTES; ++i) field[i] = 0;
  for (u64 i = 0; i + 1 < NAME_BYTES && name[i] != '\0'; ++i) field[i] = name[i];
}
// A valid name: 1-63 bytes of [a-z0-9_-], NUL-padded.
inline bool unpack_name(const char (&field)[NAME_BYTES], char (&name)[NAME_BYTES]) {
  const auto* bytes = reinterpret_cast<const u8*>(field);
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
