// linux_tests: unmodified static Linux executables as functions, checked from a tenant started by
// the root task. A musl C program (stdin to upper case, exit codes), a glibc + libstdc++ C++
// program (iostreams, std::string, std::map, exceptions), a hostile program (unknown
// system-call numbers, kernel-half pointers, an mmap flood past the memory limit), threaded
// programs (std::thread with glibc, pthreads with musl) and the adversarial thread and fork bombs
// are deployed with FUNCTION_FLAG_LINUX and invoked through the container manager.
// Invariant: every case removes what it deployed.
#include "../framework.hpp"
#include "checks.hpp"

extern "C" int memcmp(const void* left, const void* right, sys::usize length);
extern "C" sys::usize strlen(const char* text);
extern "C" void* memcpy(void* destination, const void* source, sys::usize length);

extern "C" const sys::u8 linux_upper[], linux_upper_end[];
extern "C" const sys::u8 linux_words[], linux_words_end[];
extern "C" const sys::u8 linux_hostile[], linux_hostile_end[];
extern "C" const sys::u8 linux_busybox[], linux_busybox_end[];
extern "C" const sys::u8 linux_threads[], linux_threads_end[];
extern "C" const sys::u8 linux_spawner[], linux_spawner_end[];

namespace {

using namespace containers;
using test::Case;

SlotAllocator& slots() {
  static SlotAllocator allocator(FIRST_FREE, 256);
  return allocator;
}

ManagerClient& client() {
  static ManagerClient instance(Endpoint(MANAGER_ENDPOINT), Factory(OWN_FACTORY), Task(SELF_TASK), slots());
  return instance;
}

Console console() { return Console(CONSOLE); }

FunctionConfig linux_config(u64 memory_limit = manager::DEFAULT_CONFIG.memory_limit_bytes) {
  FunctionConfig config = manager::DEFAULT_CONFIG;
  config.memory_limit_bytes = memory_limit;
  config.grants = manager::GRANT_CONSOLE;  // stderr and the personality's notes reach the console.
  config.flags = manager::FUNCTION_FLAG_LINUX;
  return config;
}

// Deploys the embedded program between begin and end as name.
#define DEPLOY(name, begin, end, config) DEPLOY_BYTES(name, begin, static_cast<u64>((end) - (begin)), config)

void c_program_reads_stdin_writes_stdout(Case& test) {
  DEPLOY("upper", linux_upper, linux_upper_end, linux_config());
  Reply reply = client().invoke("upper", "hello, linux");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "HELLO, LINUX\n12 bytes, argv[0]=upper, argc=1, HOME=/\n");
  Reply empty = client().invoke("upper", "");
  EXPECT_STATUS(empty, manager::STATUS_OK);
  EXPECT_OUTPUT(empty, "\n0 bytes, argv[0]=upper, argc=1, HOME=/\n");
}

void c_program_exit_code_is_the_status(Case& test) {
  Reply failed = client().invoke("upper", "exit=3");
  EXPECT_STATUS(failed, manager::STATUS_FAILED);
  EXPECT_EQ(failed.result().exit_code, 3);
  EXPECT_EQ(failed.result().output_size, 0);
}

// Each invocation builds and destroys a task with the personality; 30 in a row must not leak.
void c_program_repeated_invocations(Case& test) {
  for (u64 round = 0; round < 30; ++round) {
    Reply reply = client().invoke("upper", "again");
    if (reply.status != manager::STATUS_OK || !output_is(reply, "AGAIN\n5 bytes, argv[0]=upper, argc=1, HOME=/\n")) {
      test.fail(__FILE__, __LINE__, "round %lu gave %s: \"%s\"", round, status_name(reply.status),
                OutputText(reply).text);
      break;
    }
  }
  EXPECT_STATUS(client().remove("upper"), manager::STATUS_OK);
}

void cpp_program_with_iostreams_and_exceptions(Case& test) {
  DEPLOY("words", linux_words, linux_words_end, linux_config());
  Reply reply = client().invoke("words", "pear apple pear fig\napple pear");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "apple=2\nfig=1\npear=3\ncaught negative\ntotal 6\n");
  // An uncaught exception: std::terminate, abort(), tgkill(SIGABRT): status 128 + 6.
  Reply aborted = client().invoke("words", "throw now");
  EXPECT_STATUS(aborted, manager::STATUS_FAILED);
  EXPECT_EQ(aborted.result().exit_code, 134);
  EXPECT_STATUS(client().remove("words"), manager::STATUS_OK);
}

void hostile_program_gets_errors_not_crashes(Case& test) {
  DEPLOY("hostile", linux_hostile, linux_hostile_end, linux_config(8ull << 20));
  Reply reply = client().invoke("hostile", "");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply,
                "enosys-999 -1 38\n"
                "enosys-100000 -1 38\n"
                "efault-write-kernel -1 14\n"
                "efault-read-kernel -1 14\n"
                "efault-write-null -1 14\n"
                "efault-write-end -1 14\n"
                "efault-write-wrap -1 14\n"
                "efault-personality -1 14\n"
                "efault-uname -1 14\n"
                "efault-clock -1 14\n"
                "ebadf-write-7 -1 9\n"
                "einval-arch-gs -1 22\n"
                "eperm-fs-kernel -1 1\n"
                "flood ENOMEM after-some\n"
                "reuse zeroed\n"
                "nanosleep 0\n");
  EXPECT_EQ(reply.result().detail, 2);  // Calls 999 and 100000 were answered ENOSYS, and only they.
  EXPECT_STATUS(client().remove("hostile"), manager::STATUS_OK);
}

// Debian's busybox-static binary as it ships: the function's name is argv[0], which picks the applet.
void busybox_from_debian_runs_as_shipped(Case& test) {
  DEPLOY("cat", linux_busybox, linux_busybox_end, linux_config());
  Reply reply = client().invoke("cat", "one\ntwo\n");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "one\ntwo\n");
  EXPECT_STATUS(client().remove("cat"), manager::STATUS_OK);
}

// More applets of the same binary, each picked by the function's name, on the same input.
void busybox_applets_transform_their_input(Case& test) {
  const char* input = "pear\napple\nfig\napple\n";
  struct Applet {
    const char* name;
    const char* output;
  } const applets[] = {
      {"sort", "apple\napple\nfig\npear\n"},
      {"wc", "        4         4        21\n"},
      {"sha256sum", "08ac0db682cf1c0387d7a34a1f18a8c2f8b1a734c4ac83d412d903a6fc21161e  -\n"},
  };
  for (const Applet& applet : applets) {
    DEPLOY(applet.name, linux_busybox, linux_busybox_end, linux_config());
    Reply reply = client().invoke(applet.name, input);
    EXPECT_STATUS(reply, manager::STATUS_OK);
    EXPECT_OUTPUT(reply, applet.output);
    EXPECT_STATUS(client().remove(applet.name), manager::STATUS_OK);
  }
}

// Arguments given at deploy become argv[1..]: busybox's sh running a script of builtins (no fork),
// and sed with an expression.
void busybox_with_arguments_sh_and_sed(Case& test) {
  const auto size = static_cast<u64>(linux_busybox_end - linux_busybox);
  static const char sh_arguments[] = "-c\0read first; read second; echo \"$second $first\"";
  Reply deployed = client().deploy(RawName::of("sh"), linux_busybox, size, linux_config(), nullptr, true, sh_arguments,
                                   sizeof sh_arguments);
  EXPECT_STATUS(deployed, manager::STATUS_OK);
  Reply reply = client().invoke("sh", "world\nhello\n");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "hello world\n");
  EXPECT_STATUS(client().remove("sh"), manager::STATUS_OK);

  static const char sed_arguments[] = "s/apple/APPLE/g";
  deployed = client().deploy(RawName::of("sed"), linux_busybox, size, linux_config(), nullptr, true, sed_arguments,
                             sizeof sed_arguments);
  EXPECT_STATUS(deployed, manager::STATUS_OK);
  reply = client().invoke("sed", "pear\napple\nfig\napple\n");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "pear\nAPPLE\nfig\nAPPLE\n");
  EXPECT_STATUS(client().remove("sed"), manager::STATUS_OK);

  // Arguments are for Linux functions, and must be terminated.
  FunctionConfig native = linux_config();
  native.flags = 0;
  EXPECT_STATUS(client().deploy(RawName::of("argsnative"), linux_busybox, size, native, nullptr, true, sed_arguments,
                                sizeof sed_arguments),
                manager::STATUS_BAD_REQUEST);
  static char unterminated[manager::MAX_ARGUMENT_BYTES];
  for (char& c : unterminated) c = 'x';
  EXPECT_STATUS(client().deploy(RawName::of("argsbad"), linux_busybox, size, linux_config(), nullptr, true,
                                unterminated, sizeof unterminated),
                manager::STATUS_BAD_REQUEST);
}

// std::thread, std::mutex and std::condition_variable (glibc: clone3 ENOSYS, then clone; futex
// waits and wakes; CLONE_CHILD_CLEARTID for join). The same run on Linux prints the same bytes.
void cpp_program_with_std_threads(Case& test) {
  DEPLOY("threads", linux_threads, linux_threads_end, linux_config());
  Reply reply = client().invoke("threads", "hello world, threads!");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply,
                "part 0 sum 532 fnv a430d84680aabd0b\n"
                "part 1 sum 484 fnv 287be7ab3a8fad0b\n"
                "part 2 sum 396 fnv b26737d780122663\n"
                "part 3 sum 560 fnv 19ad1bf31c9e32f9\n"
                "total 1972 bytes 21 threads 5\n"
                "wait_for timed out\n");
  // Again, so that thread creation and teardown repeat in fresh tasks.
  for (u64 round = 0; round < 5; ++round) {
    Reply again = client().invoke("threads", "hello world, threads!");
    if (again.status != manager::STATUS_OK || again.result().output_size != reply.result().output_size) {
      test.fail(__FILE__, __LINE__, "round %lu gave %s", round, status_name(again.status));
      break;
    }
  }
  EXPECT_STATUS(client().remove("threads"), manager::STATUS_OK);
}

void c_program_with_pthreads_join(Case& test) {
  DEPLOY("spawner", linux_spawner, linux_spawner_end, linux_config());
  Reply reply = client().invoke("spawner", "join");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "counter 3000 results 33 distinct 1 main 1\n");
  // A timed condition wait (musl: a relative futex timeout) ends with ETIMEDOUT.
  Reply timed = client().invoke("spawner", "timed");
  EXPECT_STATUS(timed, manager::STATUS_OK);
  EXPECT_OUTPUT(timed, "timedwait 110\n");
  // main's pthread_exit ends only main; the worker it left prints, and its end ends the program.
  Reply main_exit = client().invoke("spawner", "mainexit");
  EXPECT_STATUS(main_exit, manager::STATUS_OK);
  EXPECT_OUTPUT(main_exit, "worker after main\n");
  // Every thread blocked on a futex without a timeout: nothing can wake them; status 134 at once
  // (not the invocation's timeout). stdout is still in the program's buffer, so there is no output.
  Reply deadlock = client().invoke("spawner", "deadlock");
  EXPECT_STATUS(deadlock, manager::STATUS_FAILED);
  EXPECT_EQ(deadlock.result().exit_code, 134);
  EXPECT_EQ(deadlock.result().output_size, 0);
  EXPECT_STATUS(client().remove("spawner"), manager::STATUS_OK);
}

// Threads in a loop until pthread_create fails, every one blocked: creation ends with EAGAIN (the
// thread table, capability slots or the memory limit), the program reports it and exits with the
// others still blocked; the invocation ends OK and the manager serves the next call.
void thread_bomb_ends_with_eagain(Case& test) {
  DEPLOY("spawner", linux_spawner, linux_spawner_end, linux_config());
  DEPLOY("cat", linux_busybox, linux_busybox_end, linux_config());
  for (u64 round = 0; round < 2; ++round) {
    Reply reply = client().invoke("spawner", "bomb");
    EXPECT_STATUS(reply, manager::STATUS_OK);
    EXPECT_EQ(reply.result().exit_code, 0);
    OutputText text(reply);
    const char prefix[] = "created ";
    const char suffix[] = " threads, then error 11\n";  // EAGAIN.
    usize length = strlen(text.text);
    bool shaped = length > sizeof prefix - 1 + sizeof suffix - 1 && memcmp(text.text, prefix, sizeof prefix - 1) == 0 &&
                  memcmp(text.text + length - (sizeof suffix - 1), suffix, sizeof suffix - 1) == 0;
    if (!shaped) test.fail(__FILE__, __LINE__, "bomb output \"%s\"", text.text);
    u64 created = 0;
    for (const char* digit = text.text + sizeof prefix - 1; *digit >= '0' && *digit <= '9'; ++digit)
      created = created * 10 + static_cast<u64>(*digit - '0');
    // At least a handful fit in 16 MiB; never more than the personality's table (31 besides main).
    if (created < 8 || created > 31) test.fail(__FILE__, __LINE__, "%lu threads created", created);
    printf(console(), "# thread bomb: %lu threads, then EAGAIN\n", created);
    Reply echo = client().invoke("cat", "still serving\n");
    EXPECT_STATUS(echo, manager::STATUS_OK);
    EXPECT_OUTPUT(echo, "still serving\n");
  }
  EXPECT_STATUS(client().remove("spawner"), manager::STATUS_OK);
  EXPECT_STATUS(client().remove("cat"), manager::STATUS_OK);
}

// fork (musl: clone with SIGCHLD and no CLONE_VM) is ENOSYS at the first attempt; the program's
// own status 7 is the invocation's.
void fork_bomb_gets_enosys(Case& test) {
  DEPLOY("spawner", linux_spawner, linux_spawner_end, linux_config());
  Reply reply = client().invoke("spawner", "fork");
  EXPECT_STATUS(reply, manager::STATUS_FAILED);
  EXPECT_EQ(reply.result().exit_code, 7);
  EXPECT_OUTPUT(reply, "fork 0 failed: errno 38\n");
  // A fault in a second thread ends the whole invocation as CRASHED (a page fault at address 0).
  Reply crashed = client().invoke("spawner", "crash");
  EXPECT_STATUS(crashed, manager::STATUS_CRASHED);
  EXPECT_EQ(crashed.result().exit_code, static_cast<u64>(abi::ExceptionKind::PageFault));
  EXPECT_EQ(crashed.result().detail, 0);
  EXPECT_STATUS(client().remove("spawner"), manager::STATUS_OK);
}

void rejects_unknown_flags(Case& test) {
  FunctionConfig config = linux_config();
  config.flags = 2;
  Reply reply = client().deploy("flagged", linux_upper, static_cast<u64>(linux_upper_end - linux_upper), config);
  EXPECT_STATUS(reply, manager::STATUS_BAD_REQUEST);
}

const test::TestEntry TESTS[] = {
    {"c_program_reads_stdin_writes_stdout", c_program_reads_stdin_writes_stdout},
    {"c_program_exit_code_is_the_status", c_program_exit_code_is_the_status},
    {"c_program_repeated_invocations", c_program_repeated_invocations},
    {"cpp_program_with_iostreams_and_exceptions", cpp_program_with_iostreams_and_exceptions},
    {"hostile_program_gets_errors_not_crashes", hostile_program_gets_errors_not_crashes},
    {"busybox_from_debian_runs_as_shipped", busybox_from_debian_runs_as_shipped},
    {"busybox_applets_transform_their_input", busybox_applets_transform_their_input},
    {"busybox_with_arguments_sh_and_sed", busybox_with_arguments_sh_and_sed},
    {"cpp_program_with_std_threads", cpp_program_with_std_threads},
    {"c_program_with_pthreads_join", c_program_with_pthreads_join},
    {"thread_bomb_ends_with_eagain", thread_bomb_ends_with_eagain},
    {"fork_bomb_gets_enosys", fork_bomb_gets_enosys},
    {"rejects_unknown_flags", rejects_unknown_flags},
};

}  // namespace

extern "C" void metteagle_main(u64 endpoint_count) {
  if (endpoint_count < 1) {
    printf(console(), "# linux_tests: needs the manager endpoint\n0 passed, 1 failed\n");
    (void)console().exit(0x11);
    exit_thread();
  }
  printf(console(), "# linux_tests: %zu cases\n", sizeof TESTS / sizeof TESTS[0]);
  test::run_all(console(), TESTS, sizeof TESTS / sizeof TESTS[0]);
  exit_thread();
}
