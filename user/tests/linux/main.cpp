// linux_tests: unmodified static Linux executables as functions, checked from a tenant started by
// the root task. A musl C program (stdin to upper case, exit codes), a glibc + libstdc++ C++
// program (iostreams, std::string, std::map, exceptions), a hostile program (unknown
// system-call numbers, kernel-half pointers, an mmap flood past the memory limit), threaded
// programs (std::thread with glibc, pthreads with musl), the adversarial thread and fork bombs,
// Debian's busybox and a Lua interpreter built from Debian's lua5.4 source are deployed with
// FUNCTION_FLAG_LINUX and invoked through the container manager.
// Invariant: every case removes what it deployed.
#include "../framework.hpp"
#include "checks.hpp"
#include "tenant.hpp"
#include "lib/elf.hpp"
#include "linux_native_expected.h"

#include "sys/string.hpp"

extern "C" const sys::u8 linux_upper[], linux_upper_end[];
extern "C" const sys::u8 linux_words[], linux_words_end[];
extern "C" const sys::u8 linux_hostile[], linux_hostile_end[];
extern "C" const sys::u8 linux_files[], linux_files_end[];
extern "C" const sys::u8 linux_busybox[], linux_busybox_end[];
extern "C" const sys::u8 linux_threads[], linux_threads_end[];
extern "C" const sys::u8 linux_spawner[], linux_spawner_end[];
extern "C" const sys::u8 linux_lua[], linux_lua_end[];
extern "C" const sys::u8 linux_protect[], linux_protect_end[];
extern "C" const sys::u8 linux_procs[], linux_procs_end[];
extern "C" const sys::u8 linux_posix[], linux_posix_end[];
extern "C" const sys::u8 linux_runtime[], linux_runtime_end[];
extern "C" const sys::u8 linux_signals[], linux_signals_end[];
extern "C" const sys::u8 linux_ending[], linux_ending_end[];
extern "C" const sys::u8 linux_signals_glibc[], linux_signals_glibc_end[];
extern "C" const sys::u8 linux_sqlite[], linux_sqlite_end[];
extern "C" const sys::u8 linux_rust[], linux_rust_end[];
extern "C" const sys::u8 linux_resident[], linux_resident_end[];
extern "C" const sys::u8 linux_go_hello[], linux_go_hello_end[];
extern "C" const sys::u8 linux_go_suite[], linux_go_suite_end[];
// What the same binaries printed and returned natively on the host (run-native, at build time).
#define NATIVE_CASE(name) \
  extern "C" const sys::u8 linux_native_##name[], linux_native_##name##_end[], linux_native_##name##_status[], \
      linux_native_##name##_status_end[];
NATIVE_CASE(posix)
NATIVE_CASE(runtime)
NATIVE_CASE(signals)
NATIVE_CASE(signals_glibc)
NATIVE_CASE(ending)
NATIVE_CASE(ending_pid1)
NATIVE_CASE(ending_pid1_thread)
NATIVE_CASE(ending_pid1_exec)
NATIVE_CASE(sqlite)
NATIVE_CASE(rust)
NATIVE_CASE(rust_panic)
NATIVE_CASE(rust_exit)
NATIVE_CASE(go_hello)
NATIVE_CASE(go_json)
NATIVE_CASE(go_goroutines)
NATIVE_CASE(go_sha256)
NATIVE_CASE(go_exec)
NATIVE_CASE(go_files)
NATIVE_CASE(go_procs)
NATIVE_CASE(go_panic)
NATIVE_CASE(go_preempt)
NATIVE_CASE(image_ls)
NATIVE_CASE(image_ls_sub)
NATIVE_CASE(image_cat)
NATIVE_CASE(image_sha256sum)
NATIVE_CASE(image_head)
NATIVE_CASE(image_cat_missing)
NATIVE_CASE(shell_bash)
NATIVE_CASE(shell_zsh)
NATIVE_CASE(shell_busybox)
NATIVE_CASE(spawn)
NATIVE_CASE(vfs)
NATIVE_CASE(shell_files)
#undef NATIVE_CASE
// The image tree of the host's Debian ls, cat, sha256sum and head (make-image-tree), page-aligned.
extern "C" const sys::u8 linux_image_tree[], linux_image_tree_end[];

namespace {

using namespace containers;
using test::Case;


FunctionConfig linux_config(u64 memory_limit = manager::DEFAULT_CONFIG.memory_limit_bytes) {
  FunctionConfig config = manager::DEFAULT_CONFIG;
  config.memory_limit_bytes = memory_limit;
  config.grants = manager::GRANT_CONSOLE;  // stderr and the personality's notes reach the console.
  config.flags = manager::FUNCTION_FLAG_LINUX;
  // The cases are about outcomes, not speed: on a loaded host QEMU's vCPUs may wait seconds for a
  // host core (threads on two CPUs wake each other through IPIs), and 5 s ran out once that way.
  config.timeout_nanoseconds = 30'000'000'000;
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

// fork (musl: clone with SIGCHLD and no CLONE_VM) in a loop whose children exit at once and are
// never reaped: their zombies fill the process table (16 with pid 1), so the 16th fork is EAGAIN;
// the program's own status 7 is the invocation's.
void fork_bomb_of_zombies_ends_with_eagain(Case& test) {
  DEPLOY("spawner", linux_spawner, linux_spawner_end, linux_config());
  Reply reply = client().invoke("spawner", "fork");
  EXPECT_STATUS(reply, manager::STATUS_FAILED);
  EXPECT_EQ(reply.result().exit_code, 7);
  EXPECT_OUTPUT(reply, "fork 15 failed: errno 11\n");
  // A fault in a second thread ends the whole invocation as CRASHED (a page fault at address 0).
  Reply crashed = client().invoke("spawner", "crash");
  EXPECT_STATUS(crashed, manager::STATUS_CRASHED);
  EXPECT_EQ(crashed.result().exit_code, static_cast<u64>(abi::ExceptionKind::PageFault));
  EXPECT_EQ(crashed.result().detail, 0);
  EXPECT_STATUS(client().remove("spawner"), manager::STATUS_OK);
}

bool same_text(const char* left, const char* right) {
  return strlen(left) == strlen(right) && memcmp(left, right, strlen(left)) == 0;
}


// A musl C program working with files: /tmp written, read back, listed, stat'ed, renamed and
// removed; descriptors duplicated; the read-only tree read; every error a program must get.
void c_program_works_with_files(Case& test) {
  DEPLOY("files", linux_files, linux_files_end, linux_config());
  Reply reply;
  static char text[TRANSCRIPT_PAGES * 4096 + 1];
  REQUIRE(invoke_transcript(test, "files", reply, text));
  EXPECT_STATUS(reply, manager::STATUS_OK);
  const char* expected =
                "umask 18\n" "cwd /\n" "mkdir 0\n" "open-create ok\n" "write 12\n" "write 12\n" "close 0\n"
                "read: hello files\n" "read: second line\n" "lseek-end 24\n" "pwrite-past-end 2\n" "pread 8\n"
                "gap 0 0 0 0 0 0 XY\n" "ftruncate 0\n" "fstat 0\n" "size 12\n" "lseek-set 6\n" "dup2 10\n"
                "read-dup 5\n" "dup read files, offset 11\n" "fcntl-dupfd 20\n" "fcntl-getfl-rdwr 2\n"
                "fcntl-getfd 0\n" "fcntl-setfd 0\n" "fcntl-getfd 1\n" "close-10 0\n" "close-20 0\n" "close 0\n"
                "read-closed -1 EBADF\n" "append 5\n" "stat 0\n" "regular 1 mode 644 size 17 links 1 uid 1\n"
                "cat /tmp/work/notes.txt:\nhello files\ntail\n" "mkdir-sub 0\n"
                "ls /tmp/work: . .. b.txt notes.txt sub\n" "rename 0\n" "open-old -1 ENOENT\n" "stat-new 0\n"
                "size 17\n" "rmdir-full -1 ENOTEMPTY\n" "unlink 0\n" "rmdir 0\n" "unlink-dir -1 EISDIR\n"
                "unlinkat 0\n" "ls /tmp/work: . ..\n" "rmdir-work 0\n" "ls /tmp: . ..\n" "chdir 0\n" "cwd /tmp\n"
                "write-rel 9\n" "open-excl -1 EEXIST\n" "cat /tmp/rel.txt:\nrelative\n" "chdir-file -1 ENOTDIR\n"
                "chdir-up 0\n" "cwd /\n" "unlink-rel 0\n" "ls /: . .. dev etc files proc tmp\n"
                "cat /etc/passwd:\nroot:x:0:0:root:/root:/bin/sh\nfunction:x:1000:1000:function:/:/bin/sh\n"
                "cat /etc/hostname:\nmetteagle\n" "user function home / group function\n" "null-write 4\n"
                "null-read 0\n" "exe /files\n" "exe-read 4\n" "exe-magic 1 ELF\n" "exe-fstat 0\n" "exe-stat 0\n"
                "exe-same 1 executable 1\n" "exe-write -1 EROFS\n" "access-read 0\n" "access-write -1 EROFS\n" "access-tmp 0\n"
                "write-etc -1 EROFS\n" "create-root -1 EROFS\n" "mkdir-etc -1 EROFS\n" "missing -1 ENOENT\n"
                "mkdir-tmp -1 EEXIST\n" "rmdir-tmp -1 EROFS\n" "not-dir -1 ENOTDIR\n" "write-dir -1 EISDIR\n"
                "dir-flag -1 ENOTDIR\n" "rmdir-missing -1 ENOENT\n" "long-name -1 ENAMETOOLONG\n"
                "long-path -1 ENAMETOOLONG\n" "bad-pointer -1 EFAULT\n" "bad-buffer -1 EFAULT\n"
                "read-into-text -1 EFAULT\n" "write-readonly -1 EBADF\n" "pwrite-huge -1 EFBIG\n"
                "ftruncate-huge -1 EFBIG\n" "ftruncate-past-limit -1 ENOSPC\n" "ftruncate-negative -1 EINVAL\n"
                "write-from-kernel -1 EFAULT\n" "lseek-negative -1 EINVAL\n" "fstat-size 0\n"
                "getdents-tiny -1 EINVAL\n" "getdents-bad -1 EFAULT\n" "read-dir -1 EISDIR\n" "close-bad -1 EBADF\n"
                "dup2-high 1023\n" "close-high 0\n" "dup2-bad -1 EBADF\n" "descriptors 1021 then EMFILE\n"
                "duplicates 1021 then EMFILE\n" "stdout-still 0\n";
  if (!same_text(text, expected)) {
    // Print the first difference (the console's lines are short).
    usize at = 0;
    while (text[at] != '\0' && text[at] == expected[at]) ++at;
    usize from = at > 40 ? at - 40 : 0;
    char got[81] = {}, wanted[81] = {};  // The console's printf has no precision: copy 80 bytes.
    for (usize i = 0; i < 80 && text[from + i] != '\0'; ++i) got[i] = text[from + i];
    for (usize i = 0; i < 80 && expected[from + i] != '\0'; ++i) wanted[i] = expected[from + i];
    test.fail(__FILE__, __LINE__, "transcript differs at byte %zu: got \"%s\", expected \"%s\"", at, got, wanted);
  }
  // Nothing survives an invocation: /tmp starts empty again, so the transcript is the same.
  static char again[TRANSCRIPT_PAGES * 4096 + 1];
  Reply second;
  REQUIRE(invoke_transcript(test, "files", second, again));
  EXPECT_STATUS(second, manager::STATUS_OK);
  EXPECT(same_text(again, expected));
  EXPECT_STATUS(client().remove("files"), manager::STATUS_OK);
}

// Filling /tmp past the memory limit: the program gets ENOSPC and reports it, its invocation ends
// OK, and the manager goes on serving (the same function again, then another).
void filling_tmp_past_the_memory_limit_is_enospc(Case& test) {
  const auto size = static_cast<u64>(linux_files_end - linux_files);
  static const char arguments[] = "fill";
  EXPECT_STATUS(client().deploy(RawName::of("fill"), linux_files, size, linux_config(8ull << 20), nullptr, true,
                                arguments, sizeof arguments),
                manager::STATUS_OK);
  const char* expected =
      "fill ENOSPC after-some\n" "size-matches 1\n" "unlink 0\n" "close 0\n" "again 1048576\n"
      "files 1000\n";
  for (int round = 0; round < 2; ++round) {
    Reply reply = client().invoke("fill", "");
    EXPECT_STATUS(reply, manager::STATUS_OK);
    EXPECT_EQ(reply.result().exit_code, 0);
    EXPECT_OUTPUT(reply, expected);
  }
  EXPECT_STATUS(client().remove("fill"), manager::STATUS_OK);
  DEPLOY("upper", linux_upper, linux_upper_end, linux_config());
  Reply reply = client().invoke("upper", "still serving");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, "STILL SERVING\n13 bytes, argv[0]=upper, argc=1, HOME=/\n");
  EXPECT_STATUS(client().remove("upper"), manager::STATUS_OK);
}

// Debian's busybox with files: sh builtins redirect into /tmp (dup2, fcntl F_DUPFD), and the last
// command of `sh -c` runs in place when busybox marks its applet NOEXEC (head, ls; cat would need
// fork and exec), so head and ls work there; ls -ln of the fixed tree (dated 1970: with the wall
// clock (the manager boots with `rtc`) ls shows the year, as for any file older than six months);
// cat of /etc/passwd.
void busybox_works_with_files(Case& test) {
  const auto size = static_cast<u64>(linux_busybox_end - linux_busybox);
  struct Script {
    const char* name;
    const char* arguments;
    u64 argument_bytes;
    const char* output;
  };
  static const char cat_script[] =
      "-c\0echo hi > /tmp/a; echo there >> /tmp/a; read first < /tmp/a; echo \"first: $first\"; head /tmp/a";
  static const char ls_script[] = "-c\0echo one > /tmp/b; echo two > /tmp/a; ls /tmp";
  static const char ls_long[] = "-ln\0/etc";
  static const char cat_passwd[] = "/etc/passwd";
  const Script scripts[] = {
      {"sh", cat_script, sizeof cat_script, "first: hi\nhi\nthere\n"},
      {"sh", ls_script, sizeof ls_script, "a\nb\n"},
      {"ls", ls_long, sizeof ls_long,
       "total 0\n"
       "-rw-r--r--    1 0        0               27 Jan  1  1970 group\n"
       "-rw-r--r--    1 0        0               10 Jan  1  1970 hostname\n"
       "-rw-r--r--    1 0        0               70 Jan  1  1970 passwd\n"},
      {"cat", cat_passwd, sizeof cat_passwd,
       "root:x:0:0:root:/root:/bin/sh\nfunction:x:1000:1000:function:/:/bin/sh\n"},
  };
  for (const Script& script : scripts) {
    EXPECT_STATUS(client().deploy(RawName::of(script.name), linux_busybox, size, linux_config(), nullptr, true,
                                  script.arguments, script.argument_bytes),
                  manager::STATUS_OK);
    Reply reply = client().invoke(script.name, "");
    EXPECT_STATUS(reply, manager::STATUS_OK);
    EXPECT_OUTPUT(reply, script.output);
    EXPECT_STATUS(client().remove(script.name), manager::STATUS_OK);
  }
}

// Lua 5.4 (lua.c from Debian's lua5.4 source package, built with musl) running a script given with
// -e: it reads all of stdin, counts words in a table, sorts them by count then name with a
// comparison closure, formats with string.format, keeps state in a closure, mixes integer and
// float arithmetic, and catches an error with pcall. The script is at most MAX_ARGUMENT_BYTES (384
// since names are 63 bytes: it uses globals where a longer version had locals).
void lua_interpreter_runs_a_script(Case& test) {
  const auto size = static_cast<u64>(linux_lua_end - linux_lua);
  static const char count_words[] =
      "-e\0"
      "t,n,k={},0,{}for w in io.read'a':gmatch'%a+'do t[w]=(t[w]or 0)+1 n=n+1 end\n"
      "for w in pairs(t)do k[#k+1]=w end\n"
      "table.sort(k,function(a,b)return t[a]>t[b]or t[a]==t[b]and a<b end)\n"
      "for _,w in ipairs(k)do print(('%-4s%d'):format(w,t[w]))end\n"
      "function f(i)return function()i=i+1 return i*i end end s=f(1)\n"
      "print(n,s(),s(),7//2,2^10,math.pi)\n"
      "print(pcall(function()local x return x.y end))";
  static_assert(sizeof count_words <= manager::MAX_ARGUMENT_BYTES);
  EXPECT_STATUS(client().deploy(RawName::of("lua"), linux_lua, size, linux_config(), nullptr, true, count_words,
                                sizeof count_words),
                manager::STATUS_OK);
  const char* expected =
      "the 3\n" "cat 2\n" "dog 2\n" "a   1\n" "ran 1\n" "sat 1\n" "saw 1\n"
      "11\t4\t9\t3\t1024.0\t3.1415926535898\n"
      "false\t(command line):7: attempt to index a nil value (local 'x')\n";
  Reply reply = client().invoke("lua", "the cat saw the dog\nthe dog ran, a cat sat.\n");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply, expected);
  // A fresh interpreter each time: the same input, the same output.
  Reply again = client().invoke("lua", "the cat saw the dog\nthe dog ran, a cat sat.\n");
  EXPECT_STATUS(again, manager::STATUS_OK);
  EXPECT_OUTPUT(again, expected);
  Reply empty = client().invoke("lua", "");
  EXPECT_STATUS(empty, manager::STATUS_OK);
  EXPECT_OUTPUT(empty, "0\t4\t9\t3\t1024.0\t3.1415926535898\n"
                       "false\t(command line):7: attempt to index a nil value (local 'x')\n");
  EXPECT_STATUS(client().remove("lua"), manager::STATUS_OK);

  // An error nobody catches: lua reports it on stderr (the console) and exits with status 1.
  static const char uncaught[] = "-e\0error('boom')";
  EXPECT_STATUS(client().deploy(RawName::of("luaerror"), linux_lua, size, linux_config(), nullptr, true, uncaught,
                                sizeof uncaught),
                manager::STATUS_OK);
  Reply failed = client().invoke("luaerror", "");
  EXPECT_STATUS(failed, manager::STATUS_FAILED);
  EXPECT_EQ(failed.result().exit_code, 1);
  EXPECT_EQ(failed.result().output_size, 0);
  EXPECT_STATUS(client().remove("luaerror"), manager::STATUS_OK);

  // A script file: -e writes it to /tmp first, then lua runs it with the arguments after its name.
  static const char from_file[] =
      "-e\0io.open('/tmp/m.lua','w'):write('print(#arg,arg[0],...)'):close()\0/tmp/m.lua\0x\0y";
  EXPECT_STATUS(client().deploy(RawName::of("luafile"), linux_lua, size, linux_config(), nullptr, true, from_file,
                                sizeof from_file),
                manager::STATUS_OK);
  Reply script = client().invoke("luafile", "");
  EXPECT_STATUS(script, manager::STATUS_OK);
  EXPECT_OUTPUT(script, "2\t/tmp/m.lua\tx\ty\n");
  EXPECT_STATUS(client().remove("luafile"), manager::STATUS_OK);
}

// mprotect on anonymous memory (protect.c): the transcript of read-only, read-write again and
// PROT_NONE pages as system calls see them, then a write into a read-only page and a read of a
// PROT_NONE page at fixed addresses, each a crash at exactly that address.
void mprotect_is_enforced(Case& test) {
  DEPLOY("protect", linux_protect, linux_protect_end, linux_config());
  Reply reply;
  static char text[TRANSCRIPT_PAGES * 4096 + 1];
  REQUIRE(invoke_transcript(test, "protect", reply, text, "hello"));
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT(same_text(text,
                "mprotect-read 0 0\n" "read-back aa\n" "read-into-read-only -1 14\n" "clock-into-read-only -1 14\n"
                "write-from-read-only 16 0\n" "read-into-neighbour 4 0\n" "neighbour-got ello\n"
                "neighbour-still-writable 0 0\n" "mprotect-read-write 0 0\n" "clock-into-writable-again 0 0\n"
                "wrote-again b\n" "mprotect-none 0 0\n" "write-from-none -1 14\n" "mprotect-exec -1 13\n"
                "mprotect-unaligned -1 22\n" "mprotect-unmapped -1 12\n" "munmap-with-guard 0 0\n"
                "write-from-none-mapping -1 14\n" "mprotect-stack 0 0\n" "write-from-stack 1 0\n"
                "write-from-guard -1 14\n" "mprotect-before-mremap 0 0\n" "mremap 0 0\n" "moved-keeps s\n"
                "clock-into-moved -1 14\n" "write-from-moved 16384 0\n" "madvise-dontneed 0 0\n"
                "dontneed-zeroes 0\n" "clock-into-dontneed -1 14\n" "munmap-moved 0 0\n" "munmap-guard 0 0\n"
                "reused zero=1\n" "clock-into-reused 0 0\n"));
  EXPECT_EQ(reply.result().detail, 0);
  const struct {
    const char* input;
    u64 address;
  } faults[] = {{"write-read-only", 0x200000001008}, {"read-none", 0x200000002010}};
  for (const auto& fault : faults) {
    Reply crashed = client().invoke("protect", fault.input);
    EXPECT_STATUS(crashed, manager::STATUS_CRASHED);
    EXPECT_EQ(crashed.result().exit_code, static_cast<u64>(abi::ExceptionKind::PageFault));
    EXPECT_EQ(crashed.result().detail, fault.address);
  }
  EXPECT_STATUS(client().remove("protect"), manager::STATUS_OK);
}

// The memory limit counts resident pages (resident.c): a 1 GiB PROT_NONE reservation costs almost
// nothing, touching 10 MiB of it costs 2,560 pages (and a few of page tables and frame addresses)
// as sysinfo's freeram shows, MADV_DONTNEED and munmap give them back; touching past the limit
// ends the invocation as memory limit exceeded, and the next one runs as before.
void memory_limit_counts_resident_pages(Case& test) {
  DEPLOY("resident", linux_resident, linux_resident_end, linux_config(32ull << 20));
  const char* expected =
      "reserve-1GiB-costs-under-4-pages ok\n" "mprotect 0\n" "mprotect-costs-under-2-pages ok\n"
      "touch-10MiB-is-2560-pages-and-tables ok\n" "contents kept\n" "madvise 0\n"
      "dontneed-gives-back-2560-pages ok\n" "after-dontneed zero\n" "reading-again-is-2560-pages ok\n"
      "munmap 0\n" "munmap-gives-everything-back ok\n";
  static char text[TRANSCRIPT_PAGES * 4096 + 1];
  for (const char* round : {"first", "after-overflow"}) {
    Reply reply;
    REQUIRE(invoke_transcript(test, "resident", reply, text, "measure"));
    EXPECT_STATUS(reply, manager::STATUS_OK);
    if (!same_text(text, expected)) test.fail(__FILE__, __LINE__, "%s run printed:\n%s", round, text);
    if (round[0] != 'f') break;
    Reply over = client().invoke("resident", "overflow");
    EXPECT_STATUS(over, manager::STATUS_QUOTA_EXCEEDED);
  }
  EXPECT_STATUS(client().remove("resident"), manager::STATUS_OK);
}

// fork with lazy memory (resident.c "fork"): a child of a program that reserved 1 GiB and touched
// 1 MiB of it gets exactly those bytes and costs about the touched pages, not the reservation (an
// eager copy could not even fit the 32 MiB limit); its writes leave the parent's bytes alone. Then
// the cost of fork + wait with a reservation of Go's size (657 MiB) and of 1 MiB, for the log
// (docs/LINUX.md quotes them): only the shape of that line is checked.
void fork_copies_only_touched_pages(Case& test) {
  DEPLOY("resident", linux_resident, linux_resident_end, linux_config(32ull << 20));
  Reply reply;
  static char text[TRANSCRIPT_PAGES * 4096 + 1];
  REQUIRE(invoke_transcript(test, "resident", reply, text, "fork"));
  EXPECT_STATUS(reply, manager::STATUS_OK);
  const char* expected = "fork-child-sees-the-touched-bytes ok\n" "fork-child-costs-the-touched-pages-only ok\n"
                         "parent-bytes-unchanged ok status 0\n";
  if (!same_text(text, expected)) test.fail(__FILE__, __LINE__, "fork printed:\n%s", text);
  for (const char* input : {"forkcost 657", "forkcost 1"}) {
    REQUIRE(invoke_transcript(test, "resident", reply, text, input));
    EXPECT_STATUS(reply, manager::STATUS_OK);
    if (memcmp(text, "fork+wait ", 10) != 0) test.fail(__FILE__, __LINE__, "%s printed:\n%s", input, text);
    printf(console(), "# resident %s", text);
  }
  EXPECT_STATUS(client().remove("resident"), manager::STATUS_OK);
}

// Shell scripts with pipelines, command substitution, subshells, && / ||, & + wait, three commands
// and applets re-executed through /proc/self/exe, deployed as Debian's busybox `sh -c`: stdout and
// the exit status must be exactly what the same busybox printed natively at build time
// (native_expected.py).
void busybox_shell_scripts_match_native(Case& test) {
  const auto size = static_cast<u64>(linux_busybox_end - linux_busybox);
  for (const NativeScript& script : NATIVE_SCRIPTS) {
    EXPECT_STATUS(client().deploy(RawName::of("sh"), linux_busybox, size, linux_config(), nullptr, true,
                                  script.arguments, script.argument_bytes),
                  manager::STATUS_OK);
    Reply reply = client().invoke("sh", "");
    u64 expected_status = script.exit_status == 0 ? manager::STATUS_OK : manager::STATUS_FAILED;
    OutputText text(reply);
    bool same = reply.status == expected_status && reply.result().exit_code == script.exit_status &&
                reply.result().output_size == script.output_bytes &&
                memcmp(text.text, script.output, script.output_bytes) == 0;
    if (!same)
      test.fail(__FILE__, __LINE__, "script %s: %s exit %lu output \"%s\" (native: exit %lu \"%s\")", script.name,
                status_name(reply.status), reply.result().exit_code, text.text, script.exit_status, script.output);
    EXPECT_STATUS(client().remove("sh"), manager::STATUS_OK);
  }
}

// procs.c's transcript: fork and wait statuses, pipes with EOF, EPIPE and SIGPIPE, pipe2 flags,
// dup2 plumbing into an execve of itself with argv and envp, a missing program, a killed child;
// byte for byte what the same binary printed natively, and the same exit status.
void c_program_processes_and_pipes_match_native(Case& test) {
  DEPLOY("procs", linux_procs, linux_procs_end, linux_config());
  Reply reply;
  static char text[TRANSCRIPT_PAGES * 4096 + 1];
  REQUIRE(invoke_transcript(test, "procs", reply, text, "transcript\n"));
  EXPECT_STATUS(reply, manager::STATUS_FAILED);
  EXPECT_EQ(reply.result().exit_code, NATIVE_PROCS_EXIT);
  if (!same_text(text, NATIVE_PROCS_OUTPUT))
    test.fail(__FILE__, __LINE__, "transcript \"%s\" differs from the native \"%s\"", text, NATIVE_PROCS_OUTPUT);
  EXPECT_EQ(reply.result().detail, 0);
  EXPECT_STATUS(client().remove("procs"), manager::STATUS_OK);
}

// A fork bomb whose children stay alive (each blocked reading a pipe): fork ends with EAGAIN at the
// process limit, 16 processes with pid 1 (docs/LINUX.md); pid 1's exit ends the invocation and
// every child with it, and the manager serves the next invocation.
void fork_bomb_of_live_processes_ends_with_eagain(Case& test) {
  DEPLOY("procs", linux_procs, linux_procs_end, linux_config());
  DEPLOY("cat", linux_busybox, linux_busybox_end, linux_config());
  for (u64 round = 0; round < 2; ++round) {
    Reply reply = client().invoke("procs", "bomb\n");
    EXPECT_STATUS(reply, manager::STATUS_OK);
    EXPECT_OUTPUT(reply, "forked 15 then errno 11\n");
    Reply echo = client().invoke("cat", "still serving\n");
    EXPECT_STATUS(echo, manager::STATUS_OK);
    EXPECT_OUTPUT(echo, "still serving\n");
  }
  EXPECT_STATUS(client().remove("procs"), manager::STATUS_OK);
  EXPECT_STATUS(client().remove("cat"), manager::STATUS_OK);
}

// A run of a program in the personality against the same binary's native run (user/tests/linux/
// run-native): the same stdout bytes and the same exit status. Returns the ENOSYS count (detail).
#define NATIVE(name) NATIVE_RUN(linux, name)

u64 matches_native(Case& test, const char* name, const NativeRun& native, const char* input = "") {
  static char text[TRANSCRIPT_PAGES * 4096 + 1];
  Reply reply;
  if (!invoke_transcript(test, name, reply, text, input)) return ~u64{0};
  u64 expected_status = 0;
  for (const u8* digit = native.status; digit < native.status_end && *digit >= '0' && *digit <= '9'; ++digit)
    expected_status = expected_status * 10 + static_cast<u64>(*digit - '0');
  if (expected_status == 0) {
    EXPECT_STATUS(reply, manager::STATUS_OK);
  } else {
    EXPECT_STATUS(reply, manager::STATUS_FAILED);
    EXPECT_EQ(reply.result().exit_code, expected_status);
  }
  auto native_size = static_cast<usize>(native.output_end - native.output);
  usize size = strlen(text);
  if (size != native_size || memcmp(text, native.output, size) != 0) {
    usize at = 0;
    while (at < size && at < native_size && static_cast<u8>(text[at]) == native.output[at]) ++at;
    usize from = at > 40 ? at - 40 : 0;
    char got[81] = {}, wanted[81] = {};
    for (usize i = 0; i < 80 && from + i < size; ++i) got[i] = text[from + i];
    for (usize i = 0; i < 80 && from + i < native_size; ++i) wanted[i] = static_cast<char>(native.output[from + i]);
    test.fail(__FILE__, __LINE__, "%s differs from its native run at byte %zu (%zu vs %zu bytes): got \"%s\", native \"%s\"",
              name, at, size, native_size, got, wanted);
    printf(console(), "# %s (%s, exit code %lu) printed:\n%s\n# (end)\n", name, status_name(reply.status),
           reply.result().exit_code, text);
  }
  printf(console(), "# %s: %zu bytes as natively, status %lu, %lu calls answered ENOSYS\n", name, size,
         expected_status, reply.result().detail);
  return reply.result().detail;
}

// Asynchronous signals (signals.c, with musl and with glibc): handlers interrupting blocked read,
// nanosleep, poll and waitpid (EINTR) or restarting read (SA_RESTART), alarm, setitimer and POSIX
// timers with pause, sigsuspend, sigtimedwait, sigqueue, SIGCHLD, a thread spinning in user code
// stopped by a handler, pthread_cancel of threads blocked in read and sleep, and another process
// spinning without system calls or sleeping 60 s in nanosleep ended by SIGTERM or running its
// SIGUSR1 handler at once (kill and tgkill; each exit status exact).
void c_program_signals_as_natively(Case& test) {
  // A generous bound, not a speed requirement: the program forks five children and waits for
  // each to go, and on a loaded build host the default 30 s was seen to run out.
  FunctionConfig config = linux_config();
  config.timeout_nanoseconds = 120'000'000'000;
  DEPLOY("signals", linux_signals, linux_signals_end, config);
  EXPECT_EQ(matches_native(test, "signals", NATIVE(signals)), 0);
  EXPECT_STATUS(client().remove("signals"), manager::STATUS_OK);
  DEPLOY("signals_glibc", linux_signals_glibc, linux_signals_glibc_end, config);
  EXPECT_EQ(matches_native(test, "signals_glibc", NATIVE(signals_glibc)), 0);
  EXPECT_STATUS(client().remove("signals_glibc"), manager::STATUS_OK);
}

// The other threads of a process that ends or execs go at once (ending.c): children exit from the
// main thread, call exit_group from another thread or execve from another thread while their other
// threads loop on getpid and pipe writes, wait in read, poll and a futex, or compute, and their
// parent sleeps 0.3 s before each wait; pid 1 does the same three. Statuses and output as natively.
// Those threads used to wait for the state lock the exit keeps, yielding in a loop until the parent
// reaped the zombie: 59,460 ThreadYield calls on the machine across the children's run (that code,
// QEMU TCG, host load about 3). The machine's count (ThreadSelf o5) is otherwise what threads
// yield when they meet at a lock: 0 to 6 in three runs with this code. The function runs on CPU 0
// only, so a waiter for the lock yields only until the holder, on the same vCPU, has run again,
// however long the host keeps that vCPU from running (on two vCPUs a preempted holder made a
// waiter on the other yield 210 times in one run): the count does not grow with the host's load.
constexpr u64 ENDING_YIELD_BOUND = 1000;

void other_threads_of_an_ending_process_stop(Case& test) {
  FunctionConfig config = linux_config();
  config.cpu_mask = 0b1;  // CPU 0 only.
  DEPLOY("ending", linux_ending, linux_ending_end, config);
  u64 yields_before = thread_self().yields;
  EXPECT_EQ(matches_native(test, "ending", NATIVE(ending)), 0);
  u64 yields = thread_self().yields - yields_before;
  printf(console(), "# ending: %lu ThreadYield calls on the machine during the run (bound %lu)\n", yields,
         ENDING_YIELD_BOUND);
  if (yields >= ENDING_YIELD_BOUND)
    test.fail(__FILE__, __LINE__, "%lu ThreadYield calls while the children ended: their threads spun", yields);
  EXPECT_EQ(matches_native(test, "ending", NATIVE(ending_pid1), "pid1"), 0);
  EXPECT_EQ(matches_native(test, "ending", NATIVE(ending_pid1_thread), "pid1-thread"), 0);
  EXPECT_EQ(matches_native(test, "ending", NATIVE(ending_pid1_exec), "pid1-exec"), 0);
  EXPECT_STATUS(client().remove("ending"), manager::STATUS_OK);
}

// The calls real libraries need (posix.c): groups, chmod/chown/utimensat, statfs, getrusage,
// sysinfo, record locks between threads (blocking, EDEADLK, close), flock, robust futex lists.
void c_program_posix_calls_as_natively(Case& test) {
  DEPLOY("posix", linux_posix, linux_posix_end, linux_config());
  EXPECT_EQ(matches_native(test, "posix", NATIVE(posix)), 0);
  EXPECT_STATUS(client().remove("posix"), manager::STATUS_OK);
  // What only the personality's read-only tree answers (a host's / is not read-only).
  static const char arguments[] = "readonly";
  EXPECT_STATUS(client().deploy(RawName::of("posixro"), linux_posix, static_cast<u64>(linux_posix_end - linux_posix),
                                linux_config(), nullptr, true, arguments, sizeof arguments),
                manager::STATUS_OK);
  Reply reply = client().invoke("posixro", "");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  EXPECT_OUTPUT(reply,
                "chmod-etc -1 EROFS\n" "chown-etc -1 EROFS\n" "utimensat-etc -1 EROFS\n" "lchown-proc-exe -1 EROFS\n"
                "fchmod-stdin 0\n" "root type 7275 rdonly 1\n" "proc type 9fa0 rdonly 1\n" "stdout type 50495045\n"
                "totalram-is-limit 1 procs 1\n");
  EXPECT_STATUS(client().remove("posixro"), manager::STATUS_OK);
}

// What managed runtimes probe (runtime.c): mincore, address hints as Go's arenas use them,
// /proc/self/auxv, eventfd2 with poll and epoll.
void c_program_runtime_calls_as_natively(Case& test) {
  DEPLOY("runtime", linux_runtime, linux_runtime_end, linux_config());
  EXPECT_EQ(matches_native(test, "runtime", NATIVE(runtime)), 0);
  EXPECT_STATUS(client().remove("runtime"), manager::STATUS_OK);
}

// SQLite from Debian's source (sqlite.c): an on-disk database in /tmp with default locking.
void sqlite_database_in_tmp_as_natively(Case& test) {
  DEPLOY("sqlite", linux_sqlite, linux_sqlite_end, linux_config(32ull << 20));
  EXPECT_EQ(matches_native(test, "sqlite", NATIVE(sqlite)), 0);
  EXPECT_STATUS(client().remove("sqlite"), manager::STATUS_OK);
}

// Rust std with Debian's rustc (rust.rs): threads, HashMap, std::fs with copy, exit codes, a panic
// (the mode is the input, as for the native runs).
void rust_std_program_as_natively(Case& test) {
  DEPLOY("rust", linux_rust, linux_rust_end, linux_config());
  EXPECT_EQ(matches_native(test, "rust", NATIVE(rust)), 0);
  EXPECT_EQ(matches_native(test, "rust", NATIVE(rust_exit), "exit"), 0);
  EXPECT_EQ(matches_native(test, "rust", NATIVE(rust_panic), "panic"), 0);
  EXPECT_STATUS(client().remove("rust"), manager::STATUS_OK);
}

// Go with Debian's golang-go (programs/go/hello): the runtime reserves hundreds of MiB at start-up
// (lazy memory makes that cost nothing), starts threads and installs signal handlers.
void go_hello_as_natively(Case& test) {
  DEPLOY("go_hello", linux_go_hello, linux_go_hello_end, linux_config(32ull << 20));
  EXPECT_EQ(matches_native(test, "go_hello", NATIVE(go_hello)), 0);
  // A figure for the log, not an assertion: one cold invocation (a new task) from call to reply.
  SyscallRegisters before{}, after{};
  (void)invoke(abi::Syscall::ThreadSelf, abi::NULL_SELECTOR, before);
  Reply timed = client().invoke("go_hello", "");
  (void)invoke(abi::Syscall::ThreadSelf, abi::NULL_SELECTOR, after);
  EXPECT_STATUS(timed, manager::STATUS_OK);
  printf(console(), "# go_hello: cold invocation %lu us\n",
         (after.argument2 - before.argument2) / (before.argument3 / 1'000'000 + 1));
  EXPECT_STATUS(client().remove("go_hello"), manager::STATUS_OK);
}

// Go's runtime and standard library (programs/go/suite, one mode per input): encoding/json, 1,000
// goroutines with channels, WaitGroup, Sleep, After and a 100,000-entry map, sha256 of 1 MiB, files
// in /tmp, GOMAXPROCS against sched_getaffinity, a panicking goroutine (exit 2); then a program
// allocating past its memory limit ends as memory limit exceeded, and the next run is unaffected.
void go_runtime_and_library_as_natively(Case& test) {
  DEPLOY("go_suite", linux_go_suite, linux_go_suite_end, linux_config(32ull << 20));
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_json),
                           "json [{\"id\":1,\"items\":[\"a\",\"b\"],\"price\":2.5},"
                           "{\"id\":2,\"items\":[],\"price\":1,\"tags\":{\"x\":\"y\"}}]"),
            0);
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_goroutines), "goroutines"), 0);
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_sha256), "sha256"), 0);
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_files), "files"), 0);
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_procs), "procs"), 0);
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_panic), "panic"), 0);
  // Asynchronous preemption: SIGURG (tgkill) interrupts the spinning goroutine's thread.
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_preempt), "preempt"), 0);
  // A Go program that runs itself through os/exec: a fork (clone with CLONE_VM|CLONE_VFORK) of a
  // Go-sized reservation, execve, the netpoller on pipes between processes, waitid and wait4, and
  // SIGCHLD entering Go's handler on its sigaltstack.
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_exec), "exec"), 0);
  Reply hog = client().invoke("go_suite", "hog");
  EXPECT_STATUS(hog, manager::STATUS_QUOTA_EXCEEDED);
  EXPECT_EQ(matches_native(test, "go_suite", NATIVE(go_sha256), "sha256"), 0);
  EXPECT_STATUS(client().remove("go_suite"), manager::STATUS_OK);
}

void rejects_unknown_flags(Case& test) {
  FunctionConfig config = linux_config();
  config.flags = 2;
  Reply reply = client().deploy("flagged", linux_upper, static_cast<u64>(linux_upper_end - linux_upper), config);
  EXPECT_STATUS(reply, manager::STATUS_BAD_REQUEST);
}

// ---- Image functions (docs/IMAGES.md) ----------------------------------------------------------

FunctionConfig image_config() {
  FunctionConfig config = linux_config(32ull << 20);
  config.flags = manager::FUNCTION_FLAG_LINUX | manager::FUNCTION_FLAG_IMAGE;
  return config;
}

// Deploys `name` as an image function: the tree, then "program\0arguments...\0\0environment".
Reply deploy_image(const char* name, const char* strings, u64 bytes, const FunctionConfig& config = image_config()) {
  return client().deploy(RawName::of(name), linux_image_tree, static_cast<u64>(linux_image_tree_end - linux_image_tree),
                         config, nullptr, true, strings, bytes);
}
constexpr u64 BASH_UNSUPPORTED = 0, ZSH_UNSUPPORTED = 0, BUSYBOX_UNSUPPORTED = 0, SPAWN_UNSUPPORTED = 0;
#define IMAGE_ENVIRONMENT "\0\0PATH=/usr/bin:/bin\0HOME=/\0LANG=C\0TZ=UTC"

// Deploys an image function, compares one run with the native run in the same tree, removes it
// (one at a time: each deploy stores the tree and counts against the tenant's storage share).
template <usize N>
void image_as_natively(Case& test, const char* name, const char (&strings)[N], const NativeRun& native) {
  Reply deployed = deploy_image(name, strings, N);
  if (deployed.status != manager::STATUS_OK) {
    test.fail(__FILE__, __LINE__, "deploy %s gave %s (detail %#lx)", name, status_name(deployed.status), deployed.detail());
    return;
  }
  EXPECT_EQ(matches_native(test, name, native), 0);
  EXPECT_STATUS(client().remove(name), manager::STATUS_OK);
}

// Debian's own dynamically linked ls, cat, sha256sum and head, loaded from the image with their
// libraries by the image's ld-linux, print exactly what they print natively in the same tree.
void dynamic_debian_programs_as_natively(Case& test) {
  image_as_natively(test, "imgls", "/usr/bin/ls\0-l\0data" IMAGE_ENVIRONMENT, NATIVE(image_ls));
  image_as_natively(test, "imglssub", "/bin/ls\0-la\0data/sub" IMAGE_ENVIRONMENT, NATIVE(image_ls_sub));
  image_as_natively(test, "imgcat", "/bin/cat\0data/hello.txt\0data/link" IMAGE_ENVIRONMENT, NATIVE(image_cat));
  image_as_natively(test, "imgsha", "/usr/bin/sha256sum\0data/numbers.txt\0data/page.txt\0data/empty" IMAGE_ENVIRONMENT,
                    NATIVE(image_sha256sum));
  image_as_natively(test, "imghead", "/usr/bin/head\0-n\0003\0data/numbers.txt" IMAGE_ENVIRONMENT, NATIVE(image_head));
  image_as_natively(test, "imgcatmissing", "/bin/cat\0data/hello.txt\0data/missing" IMAGE_ENVIRONMENT,
                    NATIVE(image_cat_missing));
}

// "..", "../../.." and absolute symlinks resolve inside the image: nothing leaves its root.
void image_paths_never_leave_the_root(Case& test) {
  static const char climb[] =
      "/bin/cat\0../../../../data/hello.txt\0data/absolute\0data/climb\0/../../etc/../data/hello.txt" IMAGE_ENVIRONMENT;
  Reply deployed = deploy_image("climb", climb, sizeof climb);
  EXPECT_STATUS(deployed, manager::STATUS_OK);
  Reply reply = client().invoke("climb", "");
  EXPECT_STATUS(reply, manager::STATUS_OK);
  constexpr const char* HELLO = "first line\nsecond line\nthird line\nfourth line\nfifth line\n";
  static char expected[4 * 64 + 1];
  expected[0] = '\0';
  for (int i = 0; i < 4; ++i) memcpy(expected + strlen(expected), HELLO, strlen(HELLO) + 1);
  EXPECT_OUTPUT(reply, expected);
  EXPECT_STATUS(client().remove("climb"), manager::STATUS_OK);
  // A tree whose header is wrong and a program the tree does not hold are refused at deploy.
  static const char strings[] = "/usr/bin/nothing" IMAGE_ENVIRONMENT;
  Reply missing = deploy_image("missing", strings, sizeof strings);
  EXPECT_STATUS(missing, manager::STATUS_BAD_EXECUTABLE);
  EXPECT_EQ(missing.detail(), static_cast<u64>(klib::ElfStatus::NoProgramInImage));
  static const char cat[] = "/bin/cat" IMAGE_ENVIRONMENT;
  Reply corrupt = client().deploy(RawName::of("corrupt"), linux_image_tree,
                                  static_cast<u64>(linux_image_tree_end - linux_image_tree), image_config(),
                                  [](u8* bytes, u64) { bytes[0] ^= 1; }, true, cat, sizeof cat);
  EXPECT_STATUS(corrupt, manager::STATUS_BAD_EXECUTABLE);
  EXPECT_EQ(corrupt.detail(), static_cast<u64>(klib::ElfStatus::BadImageTree));
}

// Writes go to the invocation's private layer: the function sees its own change to an image file
// (and a file it creates), the next invocation sees the original again.
void image_writes_stay_in_the_invocation(Case& test) {
  static const char script[] =
      "/usr/bin/busybox\0sh\0-c\0"
      "if read -r x < data/created 2>/dev/null; then echo leaked; fi; "
      "read -r first < data/hello.txt; echo \"before: $first\"; "
      "echo changed > /data/hello.txt; read -r after < /data/link; echo \"after: $after\"; "
      "echo new > data/created; read -r created < data/created; echo \"created: $created\"" IMAGE_ENVIRONMENT;
  Reply deployed = deploy_image("layer", script, sizeof script);
  EXPECT_STATUS(deployed, manager::STATUS_OK);
  for (int round = 0; round < 2; ++round) {
    Reply reply = client().invoke("layer", "");
    EXPECT_STATUS(reply, manager::STATUS_OK);
    EXPECT_OUTPUT(reply, "before: first line\nafter: changed\ncreated: new\n");
  }
  EXPECT_STATUS(client().remove("layer"), manager::STATUS_OK);
}

// Processes of an image function (busybox's shell, loaded from the tree): command substitution,
// subshells, a pipeline of two subshells and a background job fork children that map the same
// tree (its text shared, its data segments copied) and share the parent's writable layer (the
// file store). The expected lines are what the same busybox prints natively in the same tree.
void image_processes_share_the_tree(Case& test) {
  static const char script[] =
      "/usr/bin/busybox\0sh\0-c\0"
      "read -r first <data/hello.txt;echo changed >data/hello.txt;"
      "x=$(read -r line <data/hello.txt;echo \"child: $line\");echo \"$x\";"
      "echo piped|(read -r p;echo \"got $p\");(exit 3);echo \"status $?\";"
      "(read -r y <data/link;echo \"subshell: $y\")|(read -r z;echo \"via pipe: $z\");"
      "(exit 7)&wait $!;echo \"waited $?\";echo \"parent: $first\"" IMAGE_ENVIRONMENT;
  // The script's spaces are the fewest the shell needs: it fits MAX_ARGUMENT_BYTES (384).
  static_assert(sizeof script <= manager::MAX_ARGUMENT_BYTES);
  Reply deployed = deploy_image("imgprocs", script, sizeof script);
  EXPECT_STATUS(deployed, manager::STATUS_OK);
  for (int round = 0; round < 2; ++round) {
    Reply reply = client().invoke("imgprocs", "");
    EXPECT_STATUS(reply, manager::STATUS_OK);
    EXPECT_OUTPUT(reply,
                  "child: changed\ngot piped\nstatus 3\nvia pipe: subshell: changed\nwaited 7\nparent: first line\n");
  }
  EXPECT_STATUS(client().remove("imgprocs"), manager::STATUS_OK);
}

// Real shells run other programs of the tree (execve of static and dynamically linked ELF files,
// #! scripts nested and looping, a program copied into /tmp, every failure as the shells report
// it): Debian's bash-static, zsh-static and busybox sh run programs/shell/script.sh, and spawn.c
// (musl) uses posix_spawn, popen, system, vfork, fexecve and the execve failure paths; each
// prints exactly what it prints natively, chrooted in the same tree, with the same exit status.
// The ENOSYS counts are exact: busybox's start-up prctl, setuid and setgid (3 per busybox process
// started); bash, zsh and spawn make none.
template <usize N>
void image_program_as_natively(Case& test, const char* name, const char (&strings)[N], const NativeRun& native,
                               u64 unsupported_calls) {
  // A generous bound, not a speed requirement: a script forks and execs dozens of processes, and
  // on a loaded build host the default 30 s was seen to pass before bash finished.
  FunctionConfig config = image_config();
  config.timeout_nanoseconds = 300'000'000'000;
  Reply deployed = deploy_image(name, strings, N, config);
  if (deployed.status != manager::STATUS_OK) {
    test.fail(__FILE__, __LINE__, "deploy %s gave %s (detail %#lx)", name, status_name(deployed.status), deployed.detail());
    return;
  }
  ThreadSelfInfo before = thread_self();
  EXPECT_EQ(matches_native(test, name, native), unsupported_calls);
  ThreadSelfInfo after = thread_self();
  printf(console(), "# %s took %lu ms (QEMU TCG, guest clock)\n", name,
         (after.timestamp - before.timestamp) / (after.tsc_hertz / 1000 + 1));
  EXPECT_STATUS(client().remove(name), manager::STATUS_OK);
}

void shells_run_programs_of_the_image_as_natively(Case& test) {
  image_program_as_natively(test, "bash", "/usr/bin/bash\0/scripts/script.sh" IMAGE_ENVIRONMENT, NATIVE(shell_bash),
                            BASH_UNSUPPORTED);
  image_program_as_natively(test, "zsh", "/usr/bin/zsh\0/scripts/script.sh" IMAGE_ENVIRONMENT, NATIVE(shell_zsh),
                            ZSH_UNSUPPORTED);
  image_program_as_natively(test, "ash", "/usr/bin/busybox\0sh\0/scripts/script.sh" IMAGE_ENVIRONMENT,
                            NATIVE(shell_busybox), BUSYBOX_UNSUPPORTED);
  image_program_as_natively(test, "spawn", "/usr/bin/spawn" IMAGE_ENVIRONMENT, NATIVE(spawn), SPAWN_UNSUPPORTED);
}

// One file system and one set of open file descriptions for all processes of an invocation (the
// file store): vfs.c's child writes, renames and deletes in /tmp and in the image's writable layer
// (2,000 files in a directory of each), its parent reads all of it after wait, removes
// directories (ENOTEMPTY first), gets EXDEV across /tmp and the image, copies an image file up by
// writing it; parent and child write in turn through one description (one offset), the child's
// O_APPEND holds in the parent, FD_CLOEXEC stays per descriptor; 200 pipes and 300 open files at
// once. bash's files.sh uses mktemp, redirections the shell and its children read back, mkdir -p,
// mv within and across file systems and rm -r, with busybox applets as separate processes. Both
// print exactly what they print natively, chrooted in the same tree.
void files_are_shared_by_the_processes_of_an_invocation(Case& test) {
  image_program_as_natively(test, "vfs", "/usr/bin/vfs" IMAGE_ENVIRONMENT, NATIVE(vfs), 0);
  image_program_as_natively(test, "files", "/usr/bin/bash\0/scripts/files.sh" IMAGE_ENVIRONMENT, NATIVE(shell_files),
                            BASH_UNSUPPORTED);
}

// File-operation costs on image files from a dynamically linked program (fsbench.c): printed as
// TSC ticks per call; the case checks that every operation succeeded and the listing saw 1,002
// names (1,000 entries, "." and "..").
void image_file_operation_costs(Case& test) {
  static const char strings[] = "/usr/bin/fsbench\0data/page.txt\0bench/many" IMAGE_ENVIRONMENT;
  Reply deployed = deploy_image("fsbench", strings, sizeof strings);
  EXPECT_STATUS(deployed, manager::STATUS_OK);
  static char text[TRANSCRIPT_PAGES * 4096 + 1];
  Reply reply;
  REQUIRE(invoke_transcript(test, "fsbench", reply, text));
  EXPECT_STATUS(reply, manager::STATUS_OK);
  const char* entries = "entries 1002\n";
  usize length = strlen(text);
  if (length <= strlen(entries) || memcmp(text + length - strlen(entries), entries, strlen(entries)) != 0)
    test.fail(__FILE__, __LINE__, "fsbench printed \"%s\"", text);
  printf(console(), "# image file operations (TSC ticks per call, QEMU TCG):\n%s", text);
  EXPECT_STATUS(client().remove("fsbench"), manager::STATUS_OK);
}

const test::TestEntry TESTS[] = {
    {"dynamic_debian_programs_as_natively", dynamic_debian_programs_as_natively},
    {"image_paths_never_leave_the_root", image_paths_never_leave_the_root},
    {"image_writes_stay_in_the_invocation", image_writes_stay_in_the_invocation},
    {"image_processes_share_the_tree", image_processes_share_the_tree},
    {"image_file_operation_costs", image_file_operation_costs},
    {"shells_run_programs_of_the_image_as_natively", shells_run_programs_of_the_image_as_natively},
    {"files_are_shared_by_the_processes_of_an_invocation", files_are_shared_by_the_processes_of_an_invocation},
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
    {"fork_bomb_of_zombies_ends_with_eagain", fork_bomb_of_zombies_ends_with_eagain},
    {"busybox_shell_scripts_match_native", busybox_shell_scripts_match_native},
    {"c_program_processes_and_pipes_match_native", c_program_processes_and_pipes_match_native},
    {"fork_bomb_of_live_processes_ends_with_eagain", fork_bomb_of_live_processes_ends_with_eagain},
    {"c_program_works_with_files", c_program_works_with_files},
    {"filling_tmp_past_the_memory_limit_is_enospc", filling_tmp_past_the_memory_limit_is_enospc},
    {"busybox_works_with_files", busybox_works_with_files},
    {"lua_interpreter_runs_a_script", lua_interpreter_runs_a_script},
    {"rejects_unknown_flags", rejects_unknown_flags},
    {"mprotect_is_enforced", mprotect_is_enforced},
    {"memory_limit_counts_resident_pages", memory_limit_counts_resident_pages},
    {"fork_copies_only_touched_pages", fork_copies_only_touched_pages},
    {"c_program_posix_calls_as_natively", c_program_posix_calls_as_natively},
    {"c_program_runtime_calls_as_natively", c_program_runtime_calls_as_natively},
    {"c_program_signals_as_natively", c_program_signals_as_natively},
    {"other_threads_of_an_ending_process_stop", other_threads_of_an_ending_process_stop},
    {"sqlite_database_in_tmp_as_natively", sqlite_database_in_tmp_as_natively},
    {"rust_std_program_as_natively", rust_std_program_as_natively},
    {"go_hello_as_natively", go_hello_as_natively},
    {"go_runtime_and_library_as_natively", go_runtime_and_library_as_natively},
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
