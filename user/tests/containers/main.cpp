// container_tests: the container manager's contract, checked from a tenant started by the root
// task. Deploys the embedded functions, invokes them (inline and through 1 MiB Memory), runs one
// adversarial function per attack followed by a normal invocation, checks every rejection, and
// asks a second tenant (container_tenant_b) to try this tenant's function.
// Invariant: cases run in order and rely on the deploys of the first cases (echo, sha256, caller);
// every case removes what else it deployed.
#include "../framework.hpp"
#include "checks.hpp"
#include "tenant.hpp"
#include "lib/elf.hpp"
#include "lib/format.hpp"
#include "sha256.hpp"

#include "sys/string.hpp"

namespace {

using namespace containers;
using test::Case;

struct FunctionImage {
  const char* name;
  const u8* bytes;
  u64 size;
};
extern "C" const FunctionImage function_images[];
extern "C" const u64 function_image_count;

const FunctionImage* image_of(const char* name) {
  for (u64 index = 0; index < function_image_count; ++index) {
    const char* candidate = function_images[index].name;
    if (strlen(candidate) == strlen(name) && memcmp(candidate, name, strlen(name)) == 0) return &function_images[index];
  }
  return nullptr;
}


FunctionConfig config_with(u64 memory_limit, u64 timeout_nanoseconds = manager::DEFAULT_CONFIG.timeout_nanoseconds) {
  FunctionConfig config = manager::DEFAULT_CONFIG;
  config.memory_limit_bytes = memory_limit;
  config.timeout_nanoseconds = timeout_nanoseconds;
  return config;
}

// Deploys the embedded image `image_name` as `name`; the case fails unless the manager says OK.
#define DEPLOY(name, image_name, config)                                                \
  do {                                                                                  \
    const FunctionImage* deploy_image_ = image_of(image_name);                          \
    REQUIRE(deploy_image_ != nullptr);                                                  \
    DEPLOY_BYTES(name, deploy_image_->bytes, deploy_image_->size, config);              \
  } while (0)

// The check after every attack: the manager still serves a normal invocation.
#define EXPECT_STILL_SERVES()                                          \
  do {                                                                 \
    Reply still_ = client().invoke("echo", "still here");              \
    EXPECT_STATUS(still_, manager::STATUS_OK);                         \
    EXPECT_OUTPUT(still_, "still here");                               \
  } while (0)

// ---- Deploy, list, describe, remove -----------------------------------------------------------

void deploy_and_describe(Case& test) {
  DEPLOY("echo", "echo", manager::DEFAULT_CONFIG);
  Reply described = client().describe("echo");
  EXPECT_STATUS(described, manager::STATUS_OK);
  manager::DescribeReply fields = described.described();
  EXPECT_EQ(fields.executable_size, image_of("echo")->size);
  const u64* config = reinterpret_cast<const u64*>(&manager::DEFAULT_CONFIG);
  const u64* sent = reinterpret_cast<const u64*>(&fields.config);
  for (u64 index = 0; index < 7; ++index) EXPECT_EQ(sent[index], config[index]);
  EXPECT_EQ(fields.invocations, 0);
  EXPECT_EQ(fields.failures, 0);
}

void list_shows_every_deployed_function(Case& test) {
  DEPLOY("sha256", "sha256", manager::DEFAULT_CONFIG);
  DEPLOY("caller", "caller", manager::DEFAULT_CONFIG);
  u64 total = 0;
  Status status = manager::STATUS_OK;
  for (const char* name : {"echo", "sha256", "caller"}) {
    bool listed = client().listed(name, total, status);
    if (!listed) test.fail(__FILE__, __LINE__, "%s not listed (LIST %s, total %lu)", name, status_name(status), total);
  }
  EXPECT_EQ(total, 3);
  EXPECT(!client().listed("never-deployed", total, status));
}

void remove_then_not_found_then_redeploy(Case& test) {
  DEPLOY("short-lived", "echo", manager::DEFAULT_CONFIG);
  EXPECT_STATUS(client().remove("short-lived"), manager::STATUS_OK);
  EXPECT_STATUS(client().invoke("short-lived", "x"), manager::STATUS_NOT_FOUND);
  EXPECT_STATUS(client().describe("short-lived"), manager::STATUS_NOT_FOUND);
  EXPECT_STATUS(client().remove("short-lived"), manager::STATUS_NOT_FOUND);
  u64 total = 0;
  Status status = manager::STATUS_OK;
  EXPECT(!client().listed("short-lived", total, status));
  DEPLOY("short-lived", "echo", manager::DEFAULT_CONFIG);
  EXPECT_STATUS(client().invoke("short-lived", "back"), manager::STATUS_OK);
  EXPECT_STATUS(client().remove("short-lived"), manager::STATUS_OK);
}

// ---- Invocations ---------------------------------------------------------------------------------

void echo_inline(Case& test) {
  Reply reply = client().invoke("echo", "hello, containers");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_EQ(reply.result().exit_code, 0);
  EXPECT_OUTPUT(reply, "hello, containers");
  char full[manager::INLINE_INPUT_BYTES];  // The largest inline input (416 bytes since names are 63).
  for (u64 index = 0; index < sizeof full; ++index) full[index] = static_cast<char>('a' + index % 26);
  Reply largest = client().invoke("echo", full, sizeof full);
  EXPECT_STATUS(largest, manager::STATUS_OK);
  EXPECT_EQ(largest.result().output_size, sizeof full);
  EXPECT(memcmp(largest.inline_output(), full, sizeof full) == 0);
  Reply nothing = client().invoke("echo", "");
  EXPECT_STATUS(nothing, manager::STATUS_OK);
  EXPECT_EQ(nothing.result().output_size, 0);
}

// Every invocation gets a factory with the full memory limit (16 MiB here) from the manager's
// quota; 40 in a row need far more than the manager has, so each must give everything back.
void repeated_invocations_release_their_memory(Case& test) {
  constexpr u64 ROUNDS = 40;
  for (u64 round = 0; round < ROUNDS; ++round) {
    Reply reply = client().invoke("echo", "again");
    if (reply.status != manager::STATUS_OK) {
      test.fail(__FILE__, __LINE__, "invocation %lu of %lu gave %s (detail %#lx)", round + 1, ROUNDS,
                status_name(reply.status), reply.result().detail);
      return;
    }
  }
}

// A Memory object of `pages` pages with a capability in a fresh slot; released at scope end.
class ScratchMemory {
 public:
  ScratchMemory(Case& test, u64 pages) : pages_(pages) {
    auto slot = slots().allocate();
    if (!slot.ok()) return;
    slot_ = slot.value();
    auto created = Factory(OWN_FACTORY).create_memory(slot_, pages);
    if (!created.ok()) test.fail(__FILE__, __LINE__, "create_memory: %s", error_name(created.error()));
    ok_ = created.ok();
  }
  ~ScratchMemory() {
    if (slot_ == 0) return;
    (void)Capability(slot_).remove();
    slots().free(slot_);
  }
  bool ok() const { return ok_; }
  Memory memory() const { return Memory(slot_); }
  u64 pages() const { return pages_; }

 private:
  u64 slot_ = 0;
  u64 pages_;
  bool ok_ = false;
};

constexpr u64 MEBIBYTE = 1 << 20;
constexpr u32 READ_WRITE = abi::rights_of(abi::MemoryRight::Read, abi::MemoryRight::Write);

void fill_pattern(u8* bytes, u64 size, u64 seed) {
  u64 state = seed;
  for (u64 index = 0; index < size; ++index) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    bytes[index] = static_cast<u8>(state >> 56);
  }
}

void echo_one_mebibyte_through_memory(Case& test) {
  ScratchMemory input(test, MEBIBYTE / PAGE_SIZE);
  ScratchMemory output(test, MEBIBYTE / PAGE_SIZE);
  REQUIRE(input.ok() && output.ok());
  Task self(SELF_TASK);
  REQUIRE_OK(self.map(input.memory(), 0, SCRATCH_INPUT, input.pages(), READ_WRITE));
  REQUIRE_OK(self.map(output.memory(), 0, SCRATCH_OUTPUT, output.pages(), READ_WRITE));
  auto* in = reinterpret_cast<u8*>(SCRATCH_INPUT);
  auto* out = reinterpret_cast<u8*>(SCRATCH_OUTPUT);
  fill_pattern(in, MEBIBYTE, 42);
  memset(out, 0, MEBIBYTE);
  Reply reply = client().invoke_memory("echo", input.memory(), MEBIBYTE, output.memory(), MEBIBYTE);
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_EQ(reply.result().output_size, MEBIBYTE);
  EXPECT(memcmp(in, out, MEBIBYTE) == 0);

  // The same input hashed by the sha256 function, compared with the hash computed here.
  memset(out, 0, PAGE_SIZE);
  Reply hashed = client().invoke_memory("sha256", input.memory(), MEBIBYTE, output.memory(), PAGE_SIZE);
  EXPECT_STATUS(hashed, manager::STATUS_OK);
  char expected[hashing::Sha256::HEX_BYTES];
  hashing::sha256_hex(in, MEBIBYTE, expected);
  EXPECT_EQ(hashed.result().output_size, 64);
  EXPECT(memcmp(out, expected, 64) == 0);
  (void)self.unmap(SCRATCH_INPUT, input.pages());
  (void)self.unmap(SCRATCH_OUTPUT, output.pages());
}

// INVOKE_OUTPUT_ONLY: no input, the output Memory as the only capability (what the gateway sends
// for a request without a body). The sha256 of nothing lands in it; a flag the manager does not
// know, an input with the flag, or the flag without a capability is a bad request.
void output_only_invocation(Case& test) {
  ScratchMemory output(test, 1);
  REQUIRE(output.ok());
  Task self(SELF_TASK);
  REQUIRE_OK(self.map(output.memory(), 0, SCRATCH_OUTPUT, output.pages(), READ_WRITE));
  auto* out = reinterpret_cast<u8*>(SCRATCH_OUTPUT);
  memset(out, 0, PAGE_SIZE);
  Reply hashed = client().invoke_flags("sha256", manager::INVOKE_OUTPUT_ONLY, 0, output.memory(), PAGE_SIZE);
  EXPECT_STATUS(hashed, manager::STATUS_OK);
  char expected[hashing::Sha256::HEX_BYTES];
  hashing::sha256_hex(out, 0, expected);
  EXPECT_EQ(hashed.result().output_size, 64);
  EXPECT(memcmp(out, expected, 64) == 0);
  EXPECT(memcmp(out, "e3b0c44298fc1c149afbf4c8996fb924", 32) == 0);
  (void)self.unmap(SCRATCH_OUTPUT, output.pages());
  EXPECT_STATUS(client().invoke_flags("sha256", 2, 0, output.memory(), PAGE_SIZE), manager::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client().invoke_flags("sha256", manager::INVOKE_OUTPUT_ONLY, 1, output.memory(), PAGE_SIZE),
                manager::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client().invoke_flags("sha256", manager::INVOKE_OUTPUT_ONLY, 0, Memory(0), PAGE_SIZE),
                manager::STATUS_BAD_REQUEST);
}

void sha256_of_known_input(Case& test) {
  Reply reply = client().invoke("sha256", "abc");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Reply empty = client().invoke("sha256", "");
  EXPECT_OUTPUT(empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

void caller_nests_echo(Case& test) {
  Reply reply = client().invoke("caller", "nested hello");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "caller:nested hello");
}

void empty_function_and_phase_ticks(Case& test) {
  DEPLOY("empty", "empty", manager::DEFAULT_CONFIG);
  Reply reply = client().invoke("empty", "");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_EQ(reply.result().exit_code, 0);
  EXPECT_EQ(reply.result().output_size, 0);
  printf(console(), "# empty: create %lu, load %lu, run %lu, teardown %lu ticks, invocation %lu\n",
         reply.result().create_ticks, reply.result().load_ticks, reply.result().run_ticks,
         reply.result().teardown_ticks, reply.result().invocation_id);
  Reply again = client().invoke("empty", "");
  EXPECT(again.result().invocation_id != reply.result().invocation_id);
  EXPECT_STATUS(client().remove("empty"), manager::STATUS_OK);
}

void describe_counts_invocations_and_failures(Case& test) {
  DEPLOY("counted", "null_deref", manager::DEFAULT_CONFIG);
  (void)client().invoke("counted", "");
  (void)client().invoke("counted", "");
  Reply described = client().describe("counted");
  EXPECT_STATUS(described, manager::STATUS_OK);
  EXPECT_EQ(described.described().invocations, 2);
  EXPECT_EQ(described.described().failures, 2);
  EXPECT_STATUS(client().remove("counted"), manager::STATUS_OK);
}

// ---- One adversarial function per attack -------------------------------------------------------

// Deploys `image` under its own name with `config`, invokes it once, checks the status (and, for
// OK, exit code 0), prints its output as a comment, removes it and checks echo still works.
#define ATTACK(image, config, expected)                                                               \
  Reply attack = Reply();                                                                             \
  do {                                                                                                \
    DEPLOY(image, image, config);                                                                     \
    attack = client().invoke(image, "attack");                                                       \
    printf(console(), "# %s: %s, exit %lu, detail %#lx, output \"%s\"\n", image, status_name(attack.status), \
           attack.result().exit_code, attack.result().detail, OutputText(attack).text);               \
    EXPECT_STATUS(attack, expected);                                                                  \
    if ((expected) == manager::STATUS_OK) EXPECT_EQ(attack.result().exit_code, 0);                   \
    EXPECT_STATUS(client().remove(image), manager::STATUS_OK);                                        \
    EXPECT_STILL_SERVES();                                                                            \
  } while (0)

void attack_unowned_selectors(Case& test) {
  ATTACK("probe_selectors", manager::DEFAULT_CONFIG, manager::STATUS_OK);
  EXPECT_OUTPUT(attack, "isolated");
}

void attack_forged_badge(Case& test) {
  ATTACK("forge_badge", manager::DEFAULT_CONFIG, manager::STATUS_OK);
  EXPECT_OUTPUT(attack, "badge-kept");
}

void attack_malloc_past_limit(Case& test) {
  ATTACK("malloc_limit", config_with(8 * MEBIBYTE), manager::STATUS_OK);
  // 64 KiB blocks: at least 1 MiB fits, never more than the limit.
  OutputText text(attack);
  EXPECT(memcmp(text.text, "blocks=", 7) == 0);
}

void attack_memory_past_limit(Case& test) {
  ATTACK("memory_limit", config_with(8 * MEBIBYTE), manager::STATUS_OK);
  OutputText text(attack);
  EXPECT(memcmp(text.text, "objects=", 8) == 0);
}

void attack_objects_past_limit(Case& test) {
  ATTACK("object_limit", config_with(4 * MEBIBYTE), manager::STATUS_OK);
}

// A function confined to one CPU creates a thread and tries every CPU and then every CPU at once:
// the kernel lets it use only its configured CPU, whichever that is.
void attack_cpu_set_escape(Case& test) {
  manager::FunctionConfig config = manager::DEFAULT_CONFIG;
  config.cpu_mask = 0b01;
  {
    ATTACK("cpu_escape", config, manager::STATUS_OK);
    EXPECT_OUTPUT(attack, "cpus=0 widen=InvalidArgument");
  }
  config.cpu_mask = 0b10;
  {
    ATTACK("cpu_escape", config, manager::STATUS_OK);
    EXPECT_OUTPUT(attack, "cpus=1 widen=InvalidArgument");
  }
}

void attack_spin_forever(Case& test) {
  ATTACK("spin", config_with(4 * MEBIBYTE, 200'000'000), manager::STATUS_TIMEOUT);
}

void attack_null_dereference(Case& test) {
  ATTACK("null_deref", manager::DEFAULT_CONFIG, manager::STATUS_CRASHED);
}

void attack_write_own_code(Case& test) {
  ATTACK("write_code", manager::DEFAULT_CONFIG, manager::STATUS_CRASHED);
}

void attack_unbounded_recursion(Case& test) {
  ATTACK("recurse", config_with(4 * MEBIBYTE), manager::STATUS_OK);
  // Every level answers; the deepest one was refused with TOO_DEEP.
  OutputText text(attack);
  u64 length = strlen(text.text);
  EXPECT(memcmp(text.text, "d0:d1:", 6) == 0);
  EXPECT(length >= 9 && memcmp(text.text + length - 9, "status=12", 9) == 0);
}

void attack_output_over_limit(Case& test) {
  ATTACK("big_output", manager::DEFAULT_CONFIG, manager::STATUS_OUTPUT_TOO_LARGE);
}

void attack_log_flood(Case& test) {
  // 1000 round trips to the manager, often between CPUs: on a loaded host (QEMU's vCPU threads
  // waiting for a host core) that took over the default 5 s once. The case is about the manager
  // surviving the flood, not its speed, so the timeout is generous.
  manager::FunctionConfig config = manager::DEFAULT_CONFIG;
  config.timeout_nanoseconds = 60'000'000'000;
  ATTACK("log_flood", config, manager::STATUS_OK);
  EXPECT_OUTPUT(attack, "logs=1000");
}

// ---- Rejections ---------------------------------------------------------------------------------

// Deploys echo's image changed by `patch` and cut to `size` bytes; expects BAD_EXECUTABLE with
// the ElfStatus the reader gives for the same bytes (and that it is `expected`).
void expect_rejected_image(Case& test, const char* name, u64 size, ManagerClient::Patch patch, klib::ElfStatus expected) {
  const FunctionImage* echo = image_of("echo");
  if (echo == nullptr) return test.fail(__FILE__, __LINE__, "echo image missing");
  static u8 copy[256 * 1024];
  if (size > sizeof copy) return test.fail(__FILE__, __LINE__, "image too large for the check");
  memcpy(copy, echo->bytes, size);
  if (patch != nullptr) patch(copy, size);
  klib::ElfImage parsed{};
  klib::ElfStatus local = klib::parse_elf(copy, size, 0x0000700000000000, parsed);
  if (local != expected)
    test.fail(__FILE__, __LINE__, "%s: the local reader says %s", name, klib::elf_status_text(local));
  Reply reply = client().deploy(RawName::of(name), echo->bytes, size, manager::DEFAULT_CONFIG, patch);
  EXPECT_STATUS(reply, manager::STATUS_BAD_EXECUTABLE);
  if (reply.detail() != static_cast<u64>(expected))
    test.fail(__FILE__, __LINE__, "%s: the detail is %lu, expected %u (%s)", name, reply.detail(),
              static_cast<unsigned>(expected), klib::elf_status_text(expected));
  EXPECT_STATUS(client().describe(name), manager::STATUS_NOT_FOUND);
}

void patch_machine(u8* bytes, u64) {
  bytes[18] = 3;  // e_machine = EM_386.
  bytes[19] = 0;
}

template <typename T>
T read_at(const u8* bytes, u64 offset) {
  T value;
  memcpy(&value, bytes + offset, sizeof value);
  return value;
}

// Moves the second PT_LOAD segment onto the first one's address.
void patch_overlap(u8* bytes, u64) {
  u64 table = read_at<u64>(bytes, 32);
  u16 entry_size = read_at<u16>(bytes, 54);
  u16 count = read_at<u16>(bytes, 56);
  u64 first_address = 0;
  bool seen_first = false;
  for (u16 index = 0; index < count; ++index) {
    u8* header = bytes + table + u64{index} * entry_size;
    if (read_at<u32>(header, 0) != 1) continue;  // PT_LOAD
    if (!seen_first) {
      first_address = read_at<u64>(header, 16);
      seen_first = true;
      continue;
    }
    memcpy(header + 16, &first_address, 8);  // p_vaddr
    memcpy(header + 24, &first_address, 8);  // p_paddr
    return;
  }
}

void patch_not_elf(u8* bytes, u64 size) {
  const char text[] = "#!/bin/sh\necho this is not an executable\n";
  for (u64 index = 0; index < size; ++index) bytes[index] = static_cast<u8>(text[index % (sizeof text - 1)]);
}

void rejects_bad_executables(Case& test) {
  u64 size = image_of("echo")->size;
  expect_rejected_image(test, "truncated", 200, nullptr, klib::ElfStatus::ProgramHeadersOutOfFile);
  expect_rejected_image(test, "tiny", 16, nullptr, klib::ElfStatus::TooSmall);
  expect_rejected_image(test, "not-elf", size, patch_not_elf, klib::ElfStatus::BadMagic);
  expect_rejected_image(test, "wrong-machine", size, patch_machine, klib::ElfStatus::WrongMachine);
  expect_rejected_image(test, "overlapping", size, patch_overlap, klib::ElfStatus::SegmentsOverlap);
  EXPECT_STILL_SERVES();
}

void rejects_deploy_without_memory(Case& test) {
  const FunctionImage* echo = image_of("echo");
  Reply reply = client().deploy(RawName::of("no-memory"), echo->bytes, echo->size, manager::DEFAULT_CONFIG, nullptr, false);
  EXPECT_STATUS(reply, manager::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client().describe("no-memory"), manager::STATUS_NOT_FOUND);
}

void rejects_bad_configurations(Case& test) {
  const FunctionImage* echo = image_of("echo");
  FunctionConfig too_much_memory = config_with(manager::MAX_MEMORY_LIMIT + PAGE_SIZE);
  EXPECT_STATUS(client().deploy("bad-config", echo->bytes, echo->size, too_much_memory), manager::STATUS_BAD_REQUEST);
  FunctionConfig too_much_output = manager::DEFAULT_CONFIG;
  too_much_output.max_output_bytes = manager::MAX_OUTPUT_BYTES + 1;
  EXPECT_STATUS(client().deploy("bad-config", echo->bytes, echo->size, too_much_output), manager::STATUS_BAD_REQUEST);
  FunctionConfig offline_cpus = manager::DEFAULT_CONFIG;
  offline_cpus.cpu_mask = u64{1} << 63;  // No CPU of this machine.
  EXPECT_STATUS(client().deploy("bad-config", echo->bytes, echo->size, offline_cpus), manager::STATUS_BAD_REQUEST);
  EXPECT_STATUS(client().describe("bad-config"), manager::STATUS_NOT_FOUND);
}

void rejects_bad_names(Case& test) {
  const FunctionImage* echo = image_of("echo");
  RawName empty;
  RawName upper = RawName::of("Echo");
  RawName slash = RawName::of("a/b");
  RawName unterminated;
  memset(unterminated.field, 'a', sizeof unterminated.field);  // NAME_BYTES bytes, no NUL.
  RawName garbage_after_end = RawName::of("ab");
  garbage_after_end.field[5] = 'x';
  for (const RawName* name : {&empty, &upper, &slash, &unterminated, &garbage_after_end}) {
    EXPECT_STATUS(client().deploy(*name, echo->bytes, echo->size, manager::DEFAULT_CONFIG), manager::STATUS_BAD_REQUEST);
    EXPECT_STATUS(client().invoke(*name, "x", 1), manager::STATUS_BAD_REQUEST);
    EXPECT_STATUS(client().describe(*name), manager::STATUS_BAD_REQUEST);
    EXPECT_STATUS(client().remove(*name), manager::STATUS_BAD_REQUEST);
  }
  u64 total = 0;
  Status status = manager::STATUS_OK;
  (void)client().listed("echo", total, status);
  EXPECT_EQ(total, 3);  // echo, sha256, caller: nothing was added.
}

void rejects_duplicate_and_unknown_names(Case& test) {
  const FunctionImage* echo = image_of("echo");
  EXPECT_STATUS(client().deploy("echo", echo->bytes, echo->size, manager::DEFAULT_CONFIG), manager::STATUS_NAME_TAKEN);
  EXPECT_STATUS(client().invoke("no-such-function", "x"), manager::STATUS_NOT_FOUND);
  EXPECT_STATUS(client().describe("no-such-function"), manager::STATUS_NOT_FOUND);
  EXPECT_STATUS(client().remove("no-such-function"), manager::STATUS_NOT_FOUND);
  EXPECT_STILL_SERVES();
}

// ---- Issue 10: nested replies, deadlines, budgets and tenant shares ----------------------------

u64 read_tsc() {
  u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (u64{high} << 32) | low;
}

u64 nanoseconds_since(u64 start) {
  u64 hertz = thread_self().tsc_hertz;
  u64 ticks = read_tsc() - start;
  return hertz == 0 ? 0 : ticks / hertz * 1'000'000'000 + ticks % hertz * 1'000'000'000 / hertz;
}

// Tenant B's side: a request on `sync` and its answer.
struct TenantB {
  Status status = manager::STATUS_INTERNAL_ERROR;
  SyncAnswer answer = {};
  bool delivered = false;
};
TenantB ask_tenant_b(u32 label) {
  Message request = Message::make(label);
  Message answer;
  TenantB result;
  constexpr u64 TENANT_TIMEOUT = 60'000'000'000;  // Only the send phase: tenant B must be waiting.
  result.delivered = Endpoint(SYNC_ENDPOINT).call(request, answer, TENANT_TIMEOUT).ok();
  if (result.delivered) get(answer, result.answer);
  result.status = static_cast<Status>(result.answer.status);
  return result;
}

// Tenant B's echo, timed by tenant B: it must answer right, within a liveness bound that is ten
// times what a loaded machine needs (under 1 s; the manager's old shared pool answered "memory
// limit exceeded" instead, and a runaway fan-out never ended).
constexpr u64 TENANT_B_BOUND_NS = 10'000'000'000;
#define EXPECT_TENANT_B_ANSWERS()                                                                          \
  do {                                                                                                     \
    TenantB echoed_ = ask_tenant_b(SYNC_TIMED_ECHO);                                                       \
    REQUIRE(echoed_.delivered);                                                                            \
    if (echoed_.status != manager::STATUS_OK || echoed_.answer.output_right != 1)                          \
      test.fail(__FILE__, __LINE__, "tenant B's echo gave %s (output right: %lu)", status_name(echoed_.status), \
                echoed_.answer.output_right);                                                              \
    if (echoed_.answer.round_trip_ns > TENANT_B_BOUND_NS)                                                  \
      test.fail(__FILE__, __LINE__, "tenant B's echo took %lu ms", echoed_.answer.round_trip_ns / 1'000'000); \
  } while (0)

// Waits about a millisecond blocked in the kernel. Polling loops use it rather than yielding: a
// yield gives the CPU only to threads of our priority or higher, so a function running below us on
// the same CPU (a paused invocation whose wait just ended) would never get to finish.
void pause_briefly() {
  static u64 notification = 0;
  if (notification == 0) {
    auto slot = slots().allocate();
    if (!slot.ok() || !Factory(OWN_FACTORY).create(ObjectType::Notification, slot.value()).ok()) {
      yield_thread();  // No slot or memory: fall back to yielding (the test itself will report).
      return;
    }
    notification = slot.value();
  }
  (void)Notification(notification).wait(1'000'000);
}

manager::ManagerStats stats_now(Case& test) {
  Reply reply = client().stats();
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_EQ(reply.message.word_count(), words_for(sizeof(manager::ManagerStats)));
  return reply.stats();
}

// One invocation on a thread of our own, so this thread can do other things meanwhile.
class BackgroundInvocation {
 public:
  BackgroundInvocation(Case& test, const char* name, const char* input) : name_(name), input_(input) {
    auto thread_slot = slots().allocate();
    auto stack_slot = slots().allocate();
    if (!thread_slot.ok() || !stack_slot.ok()) {
      test.fail(__FILE__, __LINE__, "no slots for a thread");
      return;
    }
    thread_slot_ = thread_slot.value();
    stack_slot_ = stack_slot.value();
    Factory factory(OWN_FACTORY);
    Task self(SELF_TASK);
    auto stack = factory.create_memory(stack_slot_, STACK_PAGES);
    if (!stack.ok() || !self.map(stack.value(), 0, STACK_ADDRESS, STACK_PAGES, READ_WRITE).ok())
    {
      test.fail(__FILE__, __LINE__, "cannot map a stack");
      return;
    }
    auto thread = factory.create_thread(thread_slot_, self, UTCB_ADDRESS);
    if (!thread.ok()) {
      test.fail(__FILE__, __LINE__, "create_thread: %s", error_name(thread.error()));
      return;
    }
    // The highest priority it accepts is our own (ThreadConfigure refuses more).
    bool configured = false;
    for (u64 priority = 63; priority > 0 && !configured; --priority)
      configured = thread.value().configure(priority, 1 % thread_self().cpu_count, abi::NULL_SELECTOR).ok();
    auto started = configured ? start_thread(thread.value(), STACK_ADDRESS + STACK_PAGES * PAGE_SIZE, run, reinterpret_cast<u64>(this))
                              : Result<void>(Error::InvalidArgument);
    if (!started.ok()) {
      test.fail(__FILE__, __LINE__, "start_thread: %s", error_name(started.error()));
      return;
    }
    started_ = true;
  }
  ~BackgroundInvocation() {
    (void)Capability(thread_slot_).remove();
    (void)Capability(stack_slot_).remove();  // Its mapping goes with the last capability.
    slots().free(thread_slot_);
    slots().free(stack_slot_);
  }
  // Waits (at most `bound_ns`) for the answer; false when it did not come.
  bool wait(u64 bound_ns) {
    u64 start = read_tsc();
    while (started_ && !__atomic_load_n(&done_, __ATOMIC_ACQUIRE) && nanoseconds_since(start) < bound_ns) pause_briefly();
    return __atomic_load_n(&done_, __ATOMIC_ACQUIRE);
  }
  const Reply& reply() const { return reply_; }

 private:
  static constexpr u64 STACK_PAGES = 16;
  static constexpr u64 STACK_ADDRESS = 0x0000000058000000;
  static constexpr u64 UTCB_ADDRESS = 0x0000000059000000;
  static void run(u64 argument) {
    auto* self = reinterpret_cast<BackgroundInvocation*>(argument);
    self->reply_ = client().invoke(self->name_, self->input_);
    __atomic_store_n(&self->done_, true, __ATOMIC_RELEASE);
  }
  const char* name_;
  const char* input_;
  u64 thread_slot_ = 0;
  u64 stack_slot_ = 0;
  bool started_ = false;
  bool done_ = false;
  Reply reply_;
};

// Finding 1: a nested reply's padding bytes are zero (the probe primes the manager with 64 bytes of
// 0xa5, then reads 8k+1-byte outputs word by word); finding 9: an EVENT_INVOKE whose input size
// exceeds the words sent is BAD_REQUEST (1).
void nested_reply_padding_is_zero(Case& test) {
  DEPLOY("reply_padding", "reply_padding", manager::DEFAULT_CONFIG);
  Reply reply = client().invoke("reply_padding", "");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "padding 4/4 oversized 1");
  EXPECT_STATUS(client().remove("reply_padding"), manager::STATUS_OK);
}

manager::FunctionConfig fan_out_config(u64 timeout_nanoseconds) {
  manager::FunctionConfig config = config_with(4 * MEBIBYTE, timeout_nanoseconds);
  config.max_nesting_depth = 8;  // The deepest allowed: 9 invocations of 4 MiB fit in a share.
  return config;
}

// Finding 3: 64 nested calls per level to depth 8 with time enough: the tenant's nested budget
// (all depths of one top-level invocation) stops it after exactly that many invocations.
void nested_fan_out_stops_at_the_budget(Case& test) {
  manager::ManagerStats stats = stats_now(test);
  EXPECT_EQ(stats.nested_budget, 256);
  DEPLOY("fan_out", "fan_out", fan_out_config(120'000'000'000));
  Reply reply = client().invoke("fan_out", "");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  char expected[24];
  klib::format_to_buffer(expected, sizeof expected, "%lu", stats.nested_budget);
  EXPECT_OUTPUT(reply, expected);
  EXPECT_STATUS(client().remove("fan_out"), manager::STATUS_OK);
  EXPECT_STILL_SERVES();
}

// Finding 3: the same fan-out with a 1 s timeout, each invocation waiting 20 ms first (the budget's
// 256 invocations then need over 5 s on any machine), ends as TIMEOUT (nested calls after the
// deadline start nothing), while tenant B's echo, made during the attack, keeps answering.
void nested_fan_out_ends_at_its_deadline(Case& test) {
  REQUIRE(ask_tenant_b(SYNC_DEPLOY_ECHO).status == manager::STATUS_OK);
  DEPLOY("fan_out", "fan_out", fan_out_config(1'000'000'000));
  {
    BackgroundInvocation attack(test, "fan_out", "20");
    // Wait until its nested invocations run (the attack is under way), then ask tenant B.
    u64 start = read_tsc();
    while (stats_now(test).running_invocations < 2 && nanoseconds_since(start) < 30'000'000'000) pause_briefly();
    EXPECT_TENANT_B_ANSWERS();
    // Generous: the deadline is 1 s; the old manager ran such a fan-out for over ten minutes.
    REQUIRE(attack.wait(60'000'000'000));
    EXPECT_STATUS(attack.reply(), manager::STATUS_TIMEOUT);
  }
  EXPECT_STATUS(client().remove("fan_out"), manager::STATUS_OK);
  EXPECT_EQ(ask_tenant_b(SYNC_REMOVE_ECHO).status, manager::STATUS_OK);
  EXPECT_EQ(stats_now(test).running_invocations, 0);
  EXPECT_STILL_SERVES();
}

// Finding 4: tenant A holds its whole memory share with one paused invocation; its second
// invocation gets TENANT_BUSY (not QUOTA_EXCEEDED), tenant B keeps being served, and the pool is
// back to its start once everything ended.
void tenant_share_starves_only_its_owner(Case& test) {
  manager::ManagerStats start = stats_now(test);
  REQUIRE(ask_tenant_b(SYNC_DEPLOY_ECHO).status == manager::STATUS_OK);
  DEPLOY("hog", "pause", config_with(start.share_memory_bytes - manager::INVOCATION_OVERHEAD_BYTES, 60'000'000'000));
  {
    BackgroundInvocation hog(test, "hog", "3000");
    u64 begun = read_tsc();
    while (stats_now(test).tenant_memory_in_use != start.share_memory_bytes && nanoseconds_since(begun) < 30'000'000'000)
      pause_briefly();
    manager::ManagerStats held = stats_now(test);
    EXPECT_EQ(held.tenant_memory_in_use, start.share_memory_bytes);
    EXPECT_EQ(held.tenant_invocations, 1);
    Reply second = client().invoke("echo", "me too");
    EXPECT_STATUS(second, manager::STATUS_TENANT_BUSY);
    for (int round = 0; round < 3; ++round) EXPECT_TENANT_B_ANSWERS();
    REQUIRE(hog.wait(60'000'000'000));
    EXPECT_STATUS(hog.reply(), manager::STATUS_OK);
    EXPECT_OUTPUT(hog.reply(), "paused 3000 ms");
  }
  EXPECT_STILL_SERVES();
  EXPECT_STATUS(client().remove("hog"), manager::STATUS_OK);
  EXPECT_EQ(ask_tenant_b(SYNC_REMOVE_ECHO).status, manager::STATUS_OK);
  manager::ManagerStats end = stats_now(test);
  EXPECT_EQ(end.pool_free_bytes, start.pool_free_bytes);
  EXPECT_EQ(end.tenant_memory_in_use, 0);
  EXPECT_EQ(end.tenant_storage_in_use, start.tenant_storage_in_use);
  EXPECT_EQ(end.tenants, start.tenants);
  EXPECT_EQ(end.running_invocations, 0);
}

// Finding 4: a 40 MiB .bss is not stored at deploy; it counts against the function's own limit
// (refused below it, with the bytes it needs), never against the manager's pool.
void big_bss_counts_against_its_own_limit(Case& test) {
  const FunctionImage* image = image_of("big_bss");
  REQUIRE(image != nullptr);
  klib::ElfImage parsed{};
  REQUIRE(klib::parse_elf(image->bytes, image->size, 0x0000700000000000, parsed) == klib::ElfStatus::Ok);
  u64 per_invocation = 0;  // What docs/CONTAINERS.md says an invocation makes of its own.
  for (u64 index = 0; index < parsed.segment_count; ++index) {
    const klib::ElfSegment& segment = parsed.segments[index];
    u64 lead = segment.virtual_address % PAGE_SIZE;
    bool shared = !segment.writable && segment.file_size > 0 && segment.file_size == segment.memory_size &&
                  segment.file_offset % PAGE_SIZE == lead;
    if (!shared) per_invocation += (lead + segment.memory_size + PAGE_SIZE - 1) / PAGE_SIZE * PAGE_SIZE;
  }
  EXPECT(per_invocation > 40 * MEBIBYTE);
  manager::ManagerStats start = stats_now(test);
  Reply refused = client().deploy("big_bss", image->bytes, image->size, config_with(16 * MEBIBYTE));
  EXPECT_STATUS(refused, manager::STATUS_QUOTA_EXCEEDED);
  EXPECT_EQ(refused.detail(), per_invocation);
  EXPECT_STATUS(client().describe("big_bss"), manager::STATUS_NOT_FOUND);
  DEPLOY("big_bss", "big_bss", config_with(43 * MEBIBYTE));
  manager::ManagerStats deployed = stats_now(test);
  u64 pages = (image->size + PAGE_SIZE - 1) / PAGE_SIZE;
  EXPECT_EQ(deployed.tenant_storage_in_use - start.tenant_storage_in_use,
            (pages + 1) * PAGE_SIZE + manager::FUNCTION_RECORD_BYTES);
  // The record comes from the registry's arena (already mapped), the executable from the pool.
  EXPECT(start.pool_free_bytes - deployed.pool_free_bytes <= (pages + 1) * PAGE_SIZE);
  REQUIRE(ask_tenant_b(SYNC_DEPLOY_ECHO).status == manager::STATUS_OK);
  EXPECT_TENANT_B_ANSWERS();
  Reply reply = client().invoke("big_bss", "");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "bss 40 MiB zero");
  EXPECT_STATUS(client().remove("big_bss"), manager::STATUS_OK);
  EXPECT_EQ(ask_tenant_b(SYNC_REMOVE_ECHO).status, manager::STATUS_OK);
  EXPECT_EQ(stats_now(test).pool_free_bytes, start.pool_free_bytes);
}

// ---- Issue 14: per-tenant function quotas and a table that grows ------------------------------

bool same_text(const char* a, const char* b) {
  for (; *a != '\0' && *a == *b; ++a, ++b) {}
  return *a == *b;
}

// SET_TENANT_QUOTA: the caller lowers its own quotas (0: the manager's).
Reply set_tenant_quota(u64 functions, u64 storage_bytes) {
  Message request = message_of(manager::SET_TENANT_QUOTA, manager::TenantQuotaRequest{functions, storage_bytes});
  return client().call(request);
}

// CONFIGURE of `name` from `source`'s executable, with `config`, no arguments or environment
// (CONFIGURE_CREATE, or `mode`).
Reply configure_from(const char* name, const char* source, const FunctionConfig& config,
                     manager::ConfigureMode mode = manager::CONFIGURE_CREATE) {
  manager::ConfigureRequest body{};
  manager::pack_name(name, body.name);
  manager::pack_name(source, body.source);
  body.config = config;
  body.mode = mode;
  Message request = message_of(manager::CONFIGURE, body, manager::CONFIGURE_HEAD_BYTES);
  return client().call(request);
}

// DEPLOY_IMAGE of `name` from the image `reference` with `flags`, no strings.
Reply deploy_image_with(const char* name, const char* reference, u64 flags) {
  manager::DeployImageRequest body{};
  manager::pack_name(name, body.name);
  for (u64 i = 0; reference[i] != '\0' && i + 1 < sizeof body.reference; ++i) body.reference[i] = reference[i];
  body.config = manager::DEFAULT_CONFIG;
  body.flags = flags;
  Message request = message_of(manager::DEPLOY_IMAGE, body, manager::DEPLOY_IMAGE_HEAD_BYTES);
  return client().call(request);
}

// Update in place (issue 14, item 5) through Registry::replace, the one swap of CONFIGURE_REPLACE
// and DEPLOY_IMAGE_REPLACE: the invocation in flight at the swap ends on the old version (pause's
// answer) while the next one runs the new one (echo's); the counts carry over, the tenant's function
// count does not grow, and every byte is back once both are removed. A DEPLOY_IMAGE replace of a
// name with no function is NOT_FOUND, an unknown flag BAD_REQUEST, and a refused replace (no such
// image: this system has no store) leaves the function exactly as it was.
void update_in_place(Case& test) {
  manager::ManagerStats start = stats_now(test);
  DEPLOY("upd_echo", "echo", manager::DEFAULT_CONFIG);
  DEPLOY("upd", "pause", config_with(4 * MEBIBYTE, 60'000'000'000));
  Reply before = client().describe("upd");
  EXPECT_STATUS(before, manager::STATUS_OK);
  {
    BackgroundInvocation slow(test, "upd", "3000");
    u64 begun = read_tsc();
    while (stats_now(test).running_invocations != 1 && nanoseconds_since(begun) < 30'000'000'000) pause_briefly();
    EXPECT_EQ(stats_now(test).running_invocations, 1);
    EXPECT_STATUS(configure_from("upd", "upd_echo", manager::DEFAULT_CONFIG, manager::CONFIGURE_REPLACE), manager::STATUS_OK);
    EXPECT_EQ(stats_now(test).running_invocations, 1);  // The old version's invocation still runs.
    Reply fresh = client().invoke("upd", "new version");
    EXPECT_STATUS(fresh, manager::STATUS_OK);
    EXPECT_OUTPUT(fresh, "new version");
    REQUIRE(slow.wait(60'000'000'000));
    EXPECT_STATUS(slow.reply(), manager::STATUS_OK);
    EXPECT_OUTPUT(slow.reply(), "paused 3000 ms");
  }
  Reply after = client().describe("upd");
  EXPECT_STATUS(after, manager::STATUS_OK);
  manager::DescribeReply was = before.described();
  manager::DescribeReply now = after.described();
  char source[manager::NAME_BYTES];
  EXPECT(manager::unpack_name(now.source, source) && strlen(source) == 8 && memcmp(source, "upd_echo", 8) == 0);
  EXPECT_EQ(now.invocations, 2);
  EXPECT(memcmp(now.digest, was.digest, manager::DIGEST_BYTES) != 0);
  EXPECT(now.created_microseconds > was.created_microseconds);
  EXPECT_EQ(stats_now(test).tenant_functions, start.tenant_functions + 2);

  EXPECT_STATUS(deploy_image_with("upd_none", "busybox:1", manager::DEPLOY_IMAGE_REPLACE), manager::STATUS_NOT_FOUND);
  EXPECT_STATUS(deploy_image_with("upd", "busybox:1", manager::DEPLOY_IMAGE_REPLACE | 4), manager::STATUS_BAD_REQUEST);
  EXPECT_STATUS(deploy_image_with("upd", "busybox:1", manager::DEPLOY_IMAGE_REPLACE), manager::STATUS_NO_SUCH_IMAGE);
  Reply kept = client().describe("upd");
  EXPECT_STATUS(kept, manager::STATUS_OK);
  EXPECT(memcmp(kept.described().digest, now.digest, manager::DIGEST_BYTES) == 0);
  EXPECT_EQ(kept.described().created_microseconds, now.created_microseconds);
  Reply still = client().invoke("upd", "same version");
  EXPECT_STATUS(still, manager::STATUS_OK);
  EXPECT_OUTPUT(still, "same version");
  EXPECT_STATUS(client().remove("upd"), manager::STATUS_OK);
  EXPECT_STATUS(client().remove("upd_echo"), manager::STATUS_OK);
  manager::ManagerStats end = stats_now(test);
  EXPECT_EQ(end.tenant_functions, start.tenant_functions);
  EXPECT_EQ(end.tenant_storage_in_use, start.tenant_storage_in_use);
  EXPECT_EQ(end.running_invocations, 0);
}

// CONFIGURE with its strings in a Memory object (issues 11 and 14): 60,000 bytes of environment
// and a secret file are taken, described, charged to the tenant's storage (their pages and one
// more beside the record) and given back at REMOVE; the function still runs. The manager checks
// its own copy: an environment string without '=', a secret name that is no DNS label, a secret
// entry longer than what was sent, more than MAX_STRINGS_BYTES, and counts beyond the Memory sent
// are each BAD_REQUEST and leave nothing behind.
void configure_strings_in_memory(Case& test) {
  DEPLOY("strings_base", "echo", manager::DEFAULT_CONFIG);
  manager::ManagerStats start = stats_now(test);
  static char strings[manager::MAX_STRINGS_BYTES + 64];
  constexpr u64 ENVIRONMENT = 60000;
  memcpy(strings, "BIG=", 4);
  memset(strings + 4, 'x', ENVIRONMENT - 5);
  strings[ENVIRONMENT - 1] = '\0';
  const char secret[] = {'d', 'b', '\0', 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'};  // "db": "hello".
  memcpy(strings + ENVIRONMENT, secret, sizeof secret);
  u64 total = ENVIRONMENT + sizeof secret;
  const FunctionConfig& config = manager::DEFAULT_CONFIG;
  EXPECT_STATUS(client().configure_with_strings("strings_big", "strings_base", config, strings, 0, ENVIRONMENT,
                                                sizeof secret, total),
                manager::STATUS_OK);
  Reply described = client().describe("strings_big");
  EXPECT_STATUS(described, manager::STATUS_OK);
  EXPECT_EQ(described.described().environment_bytes, ENVIRONMENT);
  manager::ManagerStats made = stats_now(test);
  u64 pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
  EXPECT_EQ(made.tenant_storage_in_use - start.tenant_storage_in_use,
            (pages + 1) * PAGE_SIZE + manager::FUNCTION_RECORD_BYTES);
  Reply ran = client().invoke("strings_big", "with strings");
  EXPECT_STATUS(ran, manager::STATUS_OK);
  EXPECT_OUTPUT(ran, "with strings");
  EXPECT_STATUS(client().remove("strings_big"), manager::STATUS_OK);
  EXPECT_EQ(stats_now(test).tenant_storage_in_use, start.tenant_storage_in_use);

  auto refused = [&](const char* what, const char* text, u64 length, u64 environment, u64 secrets, u64 sent,
                     u64 detail) {
    memcpy(strings, text, length);
    Reply reply = client().configure_with_strings("strings_bad", "strings_base", config, strings, 0, environment,
                                                  secrets, sent);
    if (reply.status != manager::STATUS_BAD_REQUEST || reply.detail() != detail)
      test.fail(__FILE__, __LINE__, "%s: %s detail %lu, expected BAD_REQUEST detail %lu", what,
                status_name(reply.status), reply.detail(), detail);
    EXPECT_STATUS(client().describe("strings_bad"), manager::STATUS_NOT_FOUND);
  };
  refused("an environment string without '='", "NOEQUALS\0", 9, 9, 0, 9, manager::MAX_STRINGS_BYTES);
  refused("a secret name that is no DNS label", "Bad\0\1\0\0\0x", 9, 0, 9, 9, manager::MAX_STRINGS_BYTES);
  refused("a secret longer than what was sent", "db\0\144\0\0\0hello", 12, 0, 12, 12, manager::MAX_STRINGS_BYTES);
  refused("more than MAX_STRINGS_BYTES", "A=1\0", 4, manager::MAX_STRINGS_BYTES + 1, 0, 4, manager::MAX_STRINGS_BYTES);
  refused("counts beyond the Memory sent", "A=1\0", 4, 2 * PAGE_SIZE, 0, 4, 0);
  EXPECT_EQ(stats_now(test).tenant_storage_in_use, start.tenant_storage_in_use);
  EXPECT_STATUS(client().remove("strings_base"), manager::STATUS_OK);
}

// A tenant that lowered its function quota to five more than it has deploys exactly those five;
// the sixth is TENANT_FUNCTION_LIMIT (word 0 = its quota) while tenant B still deploys and runs;
// the quota goes back to the manager's (10,000) and everything taken is given back.
void function_quota_is_per_tenant(Case& test) {
  const FunctionImage* empty = image_of("empty");
  REQUIRE(empty != nullptr);
  manager::ManagerStats start = stats_now(test);
  EXPECT_EQ(start.share_functions, 10000);
  u64 quota = start.tenant_functions + 5;
  EXPECT_STATUS(set_tenant_quota(quota, 0), manager::STATUS_OK);
  EXPECT_EQ(stats_now(test).share_functions, quota);
  // A client cannot raise its quota above the manager's.
  EXPECT_STATUS(set_tenant_quota(1'000'000, 0), manager::STATUS_OK);
  EXPECT_EQ(stats_now(test).share_functions, 10000);
  EXPECT_STATUS(set_tenant_quota(quota, 0), manager::STATUS_OK);
  char name[16];
  for (u64 index = 0; index < 5; ++index) {
    klib::format_to_buffer(name, sizeof name, "q%lu", index);
    EXPECT_STATUS(client().deploy(name, empty->bytes, empty->size, manager::DEFAULT_CONFIG), manager::STATUS_OK);
  }
  Reply over = client().deploy("one-too-many", empty->bytes, empty->size, manager::DEFAULT_CONFIG);
  EXPECT_STATUS(over, manager::STATUS_TENANT_FUNCTION_LIMIT);
  EXPECT_EQ(over.detail(), quota);
  EXPECT_STATUS(configure_from("one-too-many", "q0", manager::DEFAULT_CONFIG), manager::STATUS_TENANT_FUNCTION_LIMIT);
  EXPECT_STATUS(client().describe("one-too-many"), manager::STATUS_NOT_FOUND);
  EXPECT_EQ(stats_now(test).tenant_functions, quota);
  EXPECT_EQ(ask_tenant_b(SYNC_DEPLOY_ECHO).status, manager::STATUS_OK);
  EXPECT_TENANT_B_ANSWERS();
  EXPECT_EQ(ask_tenant_b(SYNC_REMOVE_ECHO).status, manager::STATUS_OK);
  for (u64 index = 0; index < 5; ++index) {
    klib::format_to_buffer(name, sizeof name, "q%lu", index);
    EXPECT_STATUS(client().remove(name), manager::STATUS_OK);
  }
  EXPECT_STATUS(set_tenant_quota(0, 0), manager::STATUS_OK);
  manager::ManagerStats end = stats_now(test);
  EXPECT_EQ(end.share_functions, 10000);
  EXPECT_EQ(end.tenant_functions, start.tenant_functions);
  EXPECT_EQ(end.tenant_storage_in_use, start.tenant_storage_in_use);
  EXPECT_EQ(end.reserved_bytes, start.reserved_bytes);
}

// 10,000 functions of one tenant (its whole default quota): one deployed echo and 9,999 made
// from it with CONFIGURE (they share its executable: one capability slot, one copy); the next one
// is TENANT_FUNCTION_LIMIT with word 0 = 10,000; all are listed page by page in order, some
// described and invoked; tenant B is served meanwhile; removing them gives every byte back.
void ten_thousand_functions(Case& test) {
  constexpr u64 COUNT = 9999;  // With `base`, the tenant's 10,000.
  manager::ManagerStats start = stats_now(test);
  REQUIRE(start.tenant_functions == 0);  // The scale boot runs only its own cases.
  EXPECT_EQ(start.share_functions, COUNT + 1);
  FunctionConfig small = config_with(MEBIBYTE);
  DEPLOY("base", "echo", small);
  u64 begun = read_tsc();
  char name[16];
  u64 made = 0;
  for (; made < COUNT; ++made) {
    klib::format_to_buffer(name, sizeof name, "n%lu", made);
    Reply reply = configure_from(name, "base", small);
    if ((made + 1) % 2500 == 0)
      printf(console(), "# %lu functions configured in %lu ms\n", made + 1, nanoseconds_since(begun) / 1'000'000);
    if (reply.status != manager::STATUS_OK) {
      test.fail(__FILE__, __LINE__, "configure %s gave %s (word 0 %lu)", name, status_name(reply.status), reply.detail());
      break;
    }
  }
  u64 configure_ms = nanoseconds_since(begun) / 1'000'000;
  Reply over = configure_from("one-too-many", "base", small);
  EXPECT_STATUS(over, manager::STATUS_TENANT_FUNCTION_LIMIT);
  EXPECT_EQ(over.detail(), COUNT + 1);
  manager::ManagerStats full = stats_now(test);
  EXPECT_EQ(full.tenant_functions, start.tenant_functions + 1 + COUNT);
  EXPECT_EQ(full.functions, start.functions + 1 + COUNT);
  // Every page of LIST, in the order the functions went live: base, n0, n1, ...
  begun = read_tsc();
  u64 seen = 0;
  u64 wrong = 0;
  for (u64 first = start.tenant_functions; first < full.tenant_functions;) {
    Reply page = client().list(first);
    auto names = page.body<manager::ListReply>();
    if (page.status != manager::STATUS_OK || names.total != full.tenant_functions || names.count == 0) {
      test.fail(__FILE__, __LINE__, "LIST %lu gave %s, total %lu, %lu names", first, status_name(page.status),
                names.total, names.count);
      break;
    }
    for (u64 index = 0; index < names.count; ++index) {
      char listed[manager::NAME_BYTES + 1] = {};
      __builtin_memcpy(listed, names.names[index], manager::NAME_BYTES);
      u64 position = first + index - start.tenant_functions;
      if (position == 0) klib::format_to_buffer(name, sizeof name, "base");
      else klib::format_to_buffer(name, sizeof name, "n%lu", position - 1);
      if (!same_text(listed, name)) ++wrong;
      ++seen;
    }
    first += names.count;
  }
  u64 list_ms = nanoseconds_since(begun) / 1'000'000;
  EXPECT_EQ(seen, COUNT + 1);
  EXPECT_EQ(wrong, 0);
  for (u64 index : {u64{0}, u64{4999}, COUNT - 1}) {
    klib::format_to_buffer(name, sizeof name, "n%lu", index);
    Reply described = client().describe(name);
    EXPECT_STATUS(described, manager::STATUS_OK);
    char source[manager::NAME_BYTES + 1] = {};
    manager::DescribeReply fields = described.described();
    __builtin_memcpy(source, fields.source, manager::NAME_BYTES);
    EXPECT(same_text(source, "base"));
    EXPECT_EQ(fields.config.memory_limit_bytes, MEBIBYTE);
    Reply invoked = client().invoke(name, name);
    EXPECT_STATUS(invoked, manager::STATUS_OK);
    EXPECT_OUTPUT(invoked, name);
  }
  EXPECT_EQ(ask_tenant_b(SYNC_DEPLOY_ECHO).status, manager::STATUS_OK);
  EXPECT_TENANT_B_ANSWERS();
  EXPECT_EQ(ask_tenant_b(SYNC_REMOVE_ECHO).status, manager::STATUS_OK);
  begun = read_tsc();
  for (u64 index = 0; index < made; ++index) {
    klib::format_to_buffer(name, sizeof name, "n%lu", index);
    Reply removed = client().remove(name);
    if (removed.status != manager::STATUS_OK) {
      test.fail(__FILE__, __LINE__, "remove %s gave %s", name, status_name(removed.status));
      break;
    }
  }
  u64 remove_ms = nanoseconds_since(begun) / 1'000'000;
  EXPECT_STATUS(client().remove("base"), manager::STATUS_OK);
  manager::ManagerStats end = stats_now(test);
  EXPECT_EQ(end.tenant_functions, start.tenant_functions);
  EXPECT_EQ(end.functions, start.functions);
  EXPECT_EQ(end.tenant_storage_in_use, start.tenant_storage_in_use);
  EXPECT_EQ(end.reserved_bytes, start.reserved_bytes);
  printf(console(), "# 10,000 functions: 9,999 configures %lu ms, 667 lists %lu ms, removes %lu ms\n",
         configure_ms, list_ms, remove_ms);
}

// What the next deploy writes into its copy of the executable's ELF identification padding
// (e_ident[9..15], which no loader reads), so each deploy is a distinct executable: its own
// digest, its own copy in the manager and its own capability slot there.
u64 distinct_mark = 0;
void mark_distinct(u8* bytes, u64 size) {
  if (size < 16) return;
  for (u64 index = 0; index < 7; ++index) bytes[9 + index] = static_cast<u8>(distinct_mark >> (8 * index));
}

// 2,000 distinct executables of one tenant (a 4,096-slot manager held about 1,400, one slot
// each): the echo ELF with a different mark each; some are invoked and described (their digests
// all differ); the tenant's storage grows by exactly each one's cost, and removing them gives
// every byte back.
void two_thousand_distinct_executables(Case& test) {
  constexpr u64 COUNT = 2000;
  manager::ManagerStats start = stats_now(test);
  REQUIRE(start.tenant_functions == 0);  // The case before it removed all of its functions.
  const FunctionImage* echo = image_of("echo");
  REQUIRE(echo != nullptr);
  u64 image_pages = (echo->size + PAGE_SIZE - 1) / PAGE_SIZE;
  REQUIRE(image_pages <= 512);  // image_cost's small case: the copy plus one page.
  u64 cost = (image_pages + 1) * PAGE_SIZE + manager::FUNCTION_RECORD_BYTES;
  // The default storage quota holds them (the scale boot's manager has the defaults).
  REQUIRE(COUNT * cost <= start.share_storage_bytes);
  FunctionConfig small = config_with(MEBIBYTE);
  u64 begun = read_tsc();
  char name[16];
  u64 made = 0;
  for (; made < COUNT; ++made) {
    klib::format_to_buffer(name, sizeof name, "d%lu", made);
    distinct_mark = made + 1;
    Reply reply = client().deploy(RawName::of(name), echo->bytes, echo->size, small, mark_distinct);
    if ((made + 1) % 500 == 0)
      printf(console(), "# %lu distinct executables deployed in %lu ms\n", made + 1, nanoseconds_since(begun) / 1'000'000);
    if (reply.status != manager::STATUS_OK || reply.transport != Error::None) {
      test.fail(__FILE__, __LINE__, "deploy %s gave %s (ipc %s, word 0 %lu)", name, status_name(reply.status),
                error_name(reply.transport), reply.detail());
      break;
    }
  }
  u64 deploy_ms = nanoseconds_since(begun) / 1'000'000;
  manager::ManagerStats full = stats_now(test);
  EXPECT_EQ(full.tenant_functions, start.tenant_functions + made);
  EXPECT_EQ(full.tenant_storage_in_use, start.tenant_storage_in_use + made * cost);
  u8 first_digest[manager::DIGEST_BYTES] = {};
  for (u64 index : {u64{0}, u64{1}, u64{999}, COUNT - 1}) {
    klib::format_to_buffer(name, sizeof name, "d%lu", index);
    Reply invoked = client().invoke(name, name);
    EXPECT_STATUS(invoked, manager::STATUS_OK);
    EXPECT_OUTPUT(invoked, name);
    Reply described = client().describe(name);
    EXPECT_STATUS(described, manager::STATUS_OK);
    manager::DescribeReply fields = described.described();
    EXPECT_EQ(fields.executable_size, echo->size);
    if (index == 0) memcpy(first_digest, fields.digest, sizeof first_digest);
    else EXPECT(memcmp(first_digest, fields.digest, sizeof first_digest) != 0);
  }
  EXPECT_EQ(ask_tenant_b(SYNC_DEPLOY_ECHO).status, manager::STATUS_OK);
  EXPECT_TENANT_B_ANSWERS();
  EXPECT_EQ(ask_tenant_b(SYNC_REMOVE_ECHO).status, manager::STATUS_OK);
  begun = read_tsc();
  for (u64 index = 0; index < made; ++index) {
    klib::format_to_buffer(name, sizeof name, "d%lu", index);
    Reply removed = client().remove(name);
    if (removed.status != manager::STATUS_OK) {
      test.fail(__FILE__, __LINE__, "remove %s gave %s", name, status_name(removed.status));
      break;
    }
  }
  u64 remove_ms = nanoseconds_since(begun) / 1'000'000;
  manager::ManagerStats end = stats_now(test);
  EXPECT_EQ(end.tenant_functions, start.tenant_functions);
  EXPECT_EQ(end.functions, start.functions);
  EXPECT_EQ(end.tenant_storage_in_use, start.tenant_storage_in_use);
  EXPECT_EQ(end.reserved_bytes, start.reserved_bytes);
  printf(console(), "# 2,000 distinct executables: deploys %lu ms, removes %lu ms\n", deploy_ms, remove_ms);
}

// ---- Tenants -------------------------------------------------------------------------------------

void other_tenant_cannot_see_or_touch(Case& test) {
  DEPLOY("secret", "echo", manager::DEFAULT_CONFIG);
  manager::NameRequest secret;
  manager::pack_name("secret", secret.name);
  Message answer;
  constexpr u64 TENANT_TIMEOUT = 30'000'000'000;  // Only the send phase: tenant B must be waiting.
  auto called = Endpoint(SYNC_ENDPOINT).call(message_of(SYNC_SECRET_DEPLOYED, secret), answer, TENANT_TIMEOUT);
  REQUIRE(called.ok());
  SyncAnswer seen;
  get(answer, seen);
  EXPECT_EQ(seen.status, manager::STATUS_NOT_FOUND);         // INVOKE
  EXPECT_EQ(seen.output_right, manager::STATUS_NOT_FOUND);   // DESCRIBE
  EXPECT_EQ(seen.round_trip_ns, manager::STATUS_NOT_FOUND);  // REMOVE
  EXPECT_EQ((seen.listed >> 32) & 0xff, 0);                  // Not listed...
  EXPECT_EQ(seen.listed >> 40, manager::STATUS_OK);          // ...by a LIST that worked,
  EXPECT_EQ(seen.listed & 0xffffffff, 0);                    // and tenant B has no functions.
  // Still ours, and untouched.
  Reply mine = client().invoke("secret", "mine");
  EXPECT_STATUS(mine, manager::STATUS_OK);
  EXPECT_OUTPUT(mine, "mine");
  EXPECT_STATUS(client().remove("secret"), manager::STATUS_OK);
}

const test::TestEntry TESTS[] = {
    {"deploy_and_describe", deploy_and_describe},
    {"list_shows_every_deployed_function", list_shows_every_deployed_function},
    {"echo_inline", echo_inline},
    {"repeated_invocations_release_their_memory", repeated_invocations_release_their_memory},
    {"echo_one_mebibyte_through_memory", echo_one_mebibyte_through_memory},
    {"sha256_of_known_input", sha256_of_known_input},
    {"output_only_invocation", output_only_invocation},
    {"caller_nests_echo", caller_nests_echo},
    {"empty_function_and_phase_ticks", empty_function_and_phase_ticks},
    {"remove_then_not_found_then_redeploy", remove_then_not_found_then_redeploy},
    {"describe_counts_invocations_and_failures", describe_counts_invocations_and_failures},
    {"rejects_bad_executables", rejects_bad_executables},
    {"rejects_deploy_without_memory", rejects_deploy_without_memory},
    {"rejects_bad_configurations", rejects_bad_configurations},
    {"rejects_bad_names", rejects_bad_names},
    {"rejects_duplicate_and_unknown_names", rejects_duplicate_and_unknown_names},
    {"attack_unowned_selectors", attack_unowned_selectors},
    {"attack_forged_badge", attack_forged_badge},
    {"attack_malloc_past_limit", attack_malloc_past_limit},
    {"attack_memory_past_limit", attack_memory_past_limit},
    {"attack_objects_past_limit", attack_objects_past_limit},
    {"attack_spin_forever", attack_spin_forever},
    {"attack_null_dereference", attack_null_dereference},
    {"attack_write_own_code", attack_write_own_code},
    {"attack_unbounded_recursion", attack_unbounded_recursion},
    {"attack_output_over_limit", attack_output_over_limit},
    {"attack_log_flood", attack_log_flood},
    {"attack_cpu_set_escape", attack_cpu_set_escape},
    {"other_tenant_cannot_see_or_touch", other_tenant_cannot_see_or_touch},
    {"nested_reply_padding_is_zero", nested_reply_padding_is_zero},
    {"nested_fan_out_stops_at_the_budget", nested_fan_out_stops_at_the_budget},
    {"nested_fan_out_ends_at_its_deadline", nested_fan_out_ends_at_its_deadline},
    {"tenant_share_starves_only_its_owner", tenant_share_starves_only_its_owner},
    {"big_bss_counts_against_its_own_limit", big_bss_counts_against_its_own_limit},
    {"function_quota_is_per_tenant", function_quota_is_per_tenant},
    {"configure_strings_in_memory", configure_strings_in_memory},
    {"update_in_place", update_in_place},
};

// The scale case runs in a boot of its own (scenario_containers_scale: a data module saying
// "scale"), as it takes minutes under TCG on a loaded host.
const test::TestEntry SCALE_TESTS[] = {
    {"ten_thousand_functions", ten_thousand_functions},
    {"two_thousand_distinct_executables", two_thousand_distinct_executables},
};

// True when the boot file (a data module, docs/BOOT.md) starts with "scale".
bool scale_run() {
  char text[8] = {};
  if (!Memory(BOOT_FILE).read(0, text, 5).ok()) return false;
  return text[0] == 's' && text[1] == 'c' && text[2] == 'a' && text[3] == 'l' && text[4] == 'e';
}

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  if (endpoint_count < 2) {
    printf(console(), "# container_tests: needs endpoints manager and sync, got %lu\n0 passed, 1 failed\n",
           endpoint_count);
    (void)console().exit(0x11);
    exit_thread();
  }
  if (scale_run()) {
    printf(console(), "# container_tests: the scale case\n");
    test::run_all(console(), SCALE_TESTS, sizeof SCALE_TESTS / sizeof SCALE_TESTS[0]);
    exit_thread();
  }
  printf(console(), "# container_tests: %zu cases, %lu function images\n", sizeof TESTS / sizeof TESTS[0],
         function_image_count);
  test::run_all(console(), TESTS, sizeof TESTS / sizeof TESTS[0]);
  exit_thread();
}
