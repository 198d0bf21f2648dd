// The Linux system calls the personality answers: one table (LINUX_SYSCALLS, the source of the
// table in docs/LINUX.md) and one function per call; the descriptor and path calls forward to
// files.cpp, the memory calls to memory.cpp. Any number not in the table is ENOSYS and counted; the
// count is logged when the program exits.
// Invariant: a handler validates every program pointer (readable/writable) before use and
// returns a Linux result: a value >= 0 or a negated errno; it runs under state_lock() unless the
// call is one of runs_unlocked()'s, which block or end threads and take the lock themselves.
#include <cstdint>

#include "files.hpp"
#include "personality.hpp"
#include "process.hpp"

namespace personality {
namespace {

struct Arguments {
  u64 a0, a1, a2, a3, a4, a5;
};

// X(number, name, what the personality does).
#define LINUX_SYSCALLS(X)                                                                                       \
  X(0, read, "fd 0: the invocation's input; files: from the offset; directories EISDIR; /dev/null end of "      \
             "file; descriptors opened write-only EBADF")                                                       \
  X(1, write, "fd 1 (and its duplicates) appends to the output area (bytes past its capacity are counted: "     \
              "OUTPUT_TOO_LARGE); fd 2 goes to the manager as EVENT_LOG; /tmp files grow from the memory "      \
              "limit (ENOSPC past it, after a partial write if some fits); /dev/null discards")                 \
  X(2, open, "as openat(AT_FDCWD)")                                                                             \
  X(3, close, "any descriptor; the file stays while another descriptor or a duplicate holds it (an "            \
              "unlinked file goes with the last)")                                                              \
  X(4, stat, "as newfstatat(AT_FDCWD)")                                                                         \
  X(5, fstat, "fd 0-2 and their duplicates: a pipe (S_IFIFO); files: mode, size, inode, links, owner (root "    \
              "for the fixed tree, 1000 in /tmp), times of the wall clock")                                            \
  X(6, lstat, "as newfstatat(AT_FDCWD, AT_SYMLINK_NOFOLLOW)")                                                   \
  X(7, poll, "input always readable, output and log writable, files both, closed POLLNVAL; pipes: readable "  \
             "with data, POLLHUP without writers, writable with PIPE_BUF free, POLLERR without readers; waits "    \
             "for pipes up to the timeout")                                                                       \
  X(8, lseek, "files: SEEK_SET/CUR/END (past the end is allowed; a write there leaves zeros); directories: "    \
              "SEEK_SET only; fd 0-2 ESPIPE")                                                                   \
  X(9, mmap, "image files (docs/IMAGES.md): the tree's pages, read-only or read-execute, MAP_PRIVATE writable a "\
             "private copy, never writable and executable; anonymous memory, lazy: each page charged to the memory limit at its first touch (a touch past " \
             "it ends the invocation: memory limit exceeded); ENOMEM past the address space; PROT_NONE/"       \
             "PROT_READ enforced; other files ENODEV, closed descriptors EBADF; anonymous PROT_EXEC EACCES")           \
  X(10, mprotect, "mmap, brk and MAP_FIXED pages: PROT_NONE, PROT_READ, PROT_READ|PROT_WRITE remapped by the "  \
                  "kernel and checked by every pointer argument (EFAULT), PROT_EXEC EACCES; image, stack, "     \
                  "input and output: 0, unchanged; image file mappings remapped (PROT_WRITE on the tree's pages "   \
                  "makes a private copy, PROT_EXEC only on the tree's own pages); free or unknown pages ENOMEM")       \
  X(11, munmap, "returns anonymous pages to the mmap area and their frames to the memory limit")                \
  X(12, brk, "grows the break above the image with lazy memory (charged as touched)")                            \
  X(13, rt_sigaction, "records the action per process (the old one returned); SA_RESTART, SA_SIGINFO, " \
                      "SA_ONSTACK, SA_NODEFER, SA_RESETHAND (docs/LINUX.md, Processes)")                     \
  X(14, rt_sigprocmask, "the calling thread's blocked mask (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK); a new thread "   \
                        "starts with its creator's")                                                         \
  X(15, rt_sigreturn, "back from a handler's frame (Linux's: ucontext, siginfo, FXSAVE state) to the "      \
                      "registers, x87/SSE state and mask in it, as the handler left them")                    \
  X(16, ioctl, "open descriptors: ENOTTY (not a terminal); others EBADF")                                       \
  X(17, pread64, "files at an offset (the descriptor's offset unchanged); fd 0-2 ESPIPE")                       \
  X(18, pwrite64, "as pread64, writing (O_APPEND descriptors append, as on Linux)")                             \
  X(19, readv, "like read, per iovec (at most 1024)")                                                           \
  X(20, writev, "like write, per iovec (at most 1024)")                                                         \
  X(21, access, "as faccessat")                                                                                 \
  X(22, pipe, "as pipe2 with no flags")                                                                         \
  X(24, sched_yield, "ThreadYield")                                                                             \
  X(25, mremap, "shrinks in place, grows in place or moves (MREMAP_MAYMOVE); MREMAP_FIXED EINVAL")              \
  X(27, mincore, "1 for each page with a frame (touched, committed, or the manager's image, stack, input and "   \
                 "output), 0 for untouched and decommitted ones; unmapped pages ENOMEM")                       \
  X(28, madvise, "0; MADV_DONTNEED and MADV_FREE give the range's frames back (zero when touched again, "      \
                 "protections kept)")                                                                            \
  X(32, dup, "lowest free descriptor (1024 in all: EMFILE), sharing the description and its offset")         \
  X(33, dup2, "closes the target first; the same descriptor: returns it")                                       \
  X(34, pause, "waits until a signal that is neither blocked nor ignored is pending; EINTR")                   \
  X(35, nanosleep, "a wait on the thread's notification with the duration as timeout (no spinning); a signal " \
              "ends it: EINTR and the time left") \
  X(39, getpid, "1 for the first process, then 2, 3, ... (shared with thread ids, never reused)")              \
  X(40, sendfile, "from a regular file (else EINVAL) to any descriptor open for writing, at the offset given "  \
                  "or the source's; through the personality, at most 1 GiB per call")                           \
  X(41, socket, "EAFNOSUPPORT: no sockets (glibc's nscd lookup then reads /etc/passwd itself)")              \
  X(51, getsockname, "ENOTSOCK for an open descriptor (no sockets), EBADF else")                               \
  X(52, getpeername, "as getsockname (bash asks whether stdin is a network connection)")                      \
  X(56, clone, "threads only (CLONE_VM|FS|FILES|SIGHAND|THREAD, optional SYSVSEM SETTLS PARENT_SETTID "         \
               "CHILD_SETTID CHILD_CLEARTID DETACHED): a kernel Thread in the same task, charged to the "       \
               "memory limit; at most 31 more threads, past that or the limit EAGAIN; without CLONE_VM "        \
               "or with CLONE_VFORK: a new process, as fork (with the stack, TLS and tid words given); new "    \
               "namespaces, CLONE_PIDFD, CLONE_PARENT and CLONE_VM without CLONE_THREAD or CLONE_VFORK "        \
               "ENOSYS, counted; other flag sets EINVAL")                                                       \
  X(57, fork, "a new process: a task from the invocation's factory; the caller's lazy memory copied by its "  \
              "touched pages only (MemoryCopyCommitted), the rest of its writable memory eagerly; at most 16 "  \
              "processes per invocation (then, or past the memory limit, EAGAIN)")                              \
  X(58, vfork, "as fork (the parent does not wait: the child has its own copy)")                                \
  X(59, execve, "in place: an ELF file of the image tree (static or dynamic: its PT_INTERP loader too), of "    \
                "/tmp or the writable layer (image functions), the static function's own image "                \
                "(/proc/self/exe, /<name>), or a #! script (interpreter, one optional argument, 5 deep: "       \
                "ELOOP); argv, envp, FD_CLOEXEC; the old program's memory freed; ENOENT, EACCES (no x bit, "    \
                "a directory), ENOEXEC, E2BIG (a string past 128 KiB, all past 2 MiB), EFAULT as Linux")        \
  X(60, exit, "ends the calling thread: its clear-tid word gets 0 and one futex waiter on it wakes; the "       \
              "last thread's exit ends the invocation (EVENT_EXIT with status & 0xff, the stdout byte "         \
              "count and the ENOSYS count)")                                                                    \
  X(61, wait4, "a child's end (pid, -1, 0 or -group; WNOHANG): Linux's status, the zombie reaped and its task " \
               "deleted; ECHILD without children")                                                              \
  X(62, kill, "to processes of the invocation (pid, 0, -1, -group); to the own process: a thread that does not " \
              "block it is interrupted (a handler runs at once); another process: pending, its signal watcher " \
              "interrupts the thread that takes it (running, sleeping or blocked: at once); signal 0: ESRCH or 0")     \
  X(63, uname, "Linux / metteagle / 6.1.0 / x86_64")                                                            \
  X(72, fcntl, "F_DUPFD(_CLOEXEC), F_GETFD/F_SETFD (FD_CLOEXEC, honoured by execve), F_GETFL, "          \
               "F_SETFL (O_APPEND, O_NONBLOCK); record locks F_GETLK/F_SETLK/F_SETLKW (the process's) and "            \
               "F_OFD_GETLK/F_OFD_SETLK/F_OFD_SETLKW (the description's) with Linux's ranges, splitting, "      \
               "merging and conflicts, EAGAIN, EDEADLK, ENOLCK past 128 records, F_SETLKW blocking the "        \
               "thread; others EINVAL")                                                                         \
  X(73, flock, "LOCK_SH/LOCK_EX/LOCK_UN (+LOCK_NB: EWOULDBLOCK) per open file description, converted by "       \
               "release then lock as Linux does; blocks the thread; released with the description")             \
  X(74, fsync, "0 on open descriptors (memory only)")                                                           \
  X(75, fdatasync, "as fsync")                                                                                  \
  X(76, truncate, "as ftruncate by path: /tmp and the writable layer (an image file copied up); EROFS in "    \
                  "the fixed tree")                                                                             \
  X(77, ftruncate, "/tmp and writable-layer files opened for writing: shrinks (zeroing) or grows (zeros, "   \
                   "ENOSPC past the limit)")                                                                    \
  X(79, getcwd, "the working directory's path (ERANGE if the buffer is short)")                                 \
  X(80, chdir, "to an existing directory (ENOTDIR, ENOENT)")                                                    \
  X(81, fchdir, "to an open directory")                                                                         \
  X(82, rename, "as renameat2(AT_FDCWD, ..., 0)")                                                               \
  X(83, mkdir, "as mkdirat(AT_FDCWD)")                                                                          \
  X(84, rmdir, "as unlinkat(AT_REMOVEDIR)")                                                                     \
  X(85, creat, "as open(O_WRONLY|O_CREAT|O_TRUNC)")                                                             \
  X(87, unlink, "as unlinkat(AT_FDCWD, 0)")                                                                     \
  X(89, readlink, "as readlinkat(AT_FDCWD)")                                                                    \
  X(90, chmod, "as fchmodat(AT_FDCWD)")                                                                         \
  X(91, fchmod, "/tmp nodes: mode & 07777, ctime now; EPERM on /tmp itself (root's); EROFS on the read-only "   \
                "tree; standard streams 0, unchanged")                                                          \
  X(92, chown, "as fchownat(AT_FDCWD, 0)")                                                                      \
  X(93, fchown, "/tmp nodes, as uid 1000 without CAP_CHOWN: uid -1 or unchanged, gid -1, unchanged or 1000, "   \
                "else EPERM; non-directories lose S_ISUID (and S_ISGID if group-executable); EROFS elsewhere")  \
  X(94, lchown, "as fchownat(AT_FDCWD, AT_SYMLINK_NOFOLLOW)")                                                   \
  X(95, umask, "sets the mask for new /tmp files and directories (initially 022)")                              \
  X(96, gettimeofday, "the wall clock: the manager's RTC reading at boot plus the TSC since (FunctionContext)")        \
  X(97, getrlimit, "as prlimit64")                                                                              \
  X(98, getrusage, "RUSAGE_SELF (every thread, exited ones too), RUSAGE_THREAD: user and system time derived "  \
                   "from the TSC (life minus waits, the personality's share as system), ru_maxrss the memory "  \
                   "charged, ru_nvcsw the waits; RUSAGE_CHILDREN zero; others EINVAL")                          \
  X(99, sysinfo, "uptime since boot, totalram the memory limit, freeram what is left of it, procs the live "    \
                 "threads, mem_unit 1; loads, shared, buffers, swap and high memory 0")                         \
  X(100, times, "the process's user and system time as getrusage, in 100 Hz ticks; children 0; returns the "    \
                "ticks since boot")                                                                             \
  X(102, getuid, "the image's User (docs/IMAGES.md), else 1000")                                                       \
  X(104, getgid, "the image's User's group, else 1000")                                                                \
  X(105, setuid, "0 for 1000 (the process's own uid, as an unprivileged Linux process may); EPERM else, "      \
                 "EINVAL for -1")                                                                               \
  X(106, setgid, "as setuid, for gid 1000")                                                                     \
  X(107, geteuid, "as getuid")                                                                                       \
  X(108, getegid, "as getgid")                                                                                       \
  X(109, setpgid, "the caller or its child into a group of its session")                                       \
  X(110, getppid, "the parent's pid (0 for pid 1)")                                                             \
  X(111, getpgrp, "the process group")                                                                          \
  X(112, setsid, "a new session and group led by the caller; EPERM for a group leader")                        \
  X(121, getpgid, "the process group of a process of the invocation")                                           \
  X(124, getsid, "the session of a process of the invocation")                                                  \
  X(130, rt_sigsuspend, "waits with the given mask until a signal is pending; EINTR (the handler runs first)") \
  X(115, getgroups, "one supplementary group, getgid's (size 0: the count; a smaller size EINVAL)")                 \
  X(116, setgroups, "EPERM: uid 1000 lacks CAP_SETGID, as on Linux")                                            \
  X(131, sigaltstack, "the thread's alternate signal stack (SS_DISABLE, SS_AUTODISARM accepted; below 2048 "   \
                        "bytes ENOMEM; EPERM while running on it): SA_ONSTACK handlers' frames go there")      \
  X(132, utime, "as utimensat with whole seconds")                                                              \
  X(137, statfs, "/tmp: TMPFS_MAGIC, 4096-byte blocks of the memory limit and its free part, 65537 inodes; "    \
                 "/proc PROC_SUPER_MAGIC; the rest of the tree ROMFS_MAGIC with ST_RDONLY")                     \
  X(138, fstatfs, "as statfs; standard streams PIPEFS_MAGIC")                                                   \
  X(140, getpriority, "the calling process's nice value (as 20 - nice); other processes ESRCH")                   \
  X(141, setpriority, "records the calling process's nice value (inherited by fork, not acted on); a lower "    \
                      "value than the current one EACCES, others ESRCH")                                        \
  X(157, prctl, "PR_SET_NAME/PR_GET_NAME (a 16-byte name, per process), PR_SET/GET_PDEATHSIG, PR_SET/GET_DUMPABLE, " \
                "PR_SET/GET_NO_NEW_PRIVS, PR_SET/GET_KEEPCAPS, PR_CAPBSET_READ (no capabilities: 0) recorded; "  \
                "other options ENOSYS, counted")                                                                \
  X(158, arch_prctl, "ARCH_SET_FS (ThreadSetFsBase), ARCH_GET_FS; GS belongs to the UTCB: EINVAL")              \
  X(186, gettid, "the thread's tid: 1 for the first thread, then 2, 3, ... (never reused)")                     \
  X(191, getxattr, "ENODATA: no extended attributes (no ACLs, no security labels)")                            \
  X(192, lgetxattr, "as getxattr")                                                                              \
  X(193, fgetxattr, "as getxattr")                                                                              \
  X(194, listxattr, "0: an empty list")                                                                         \
  X(195, llistxattr, "as listxattr")                                                                            \
  X(196, flistxattr, "as listxattr")                                                                            \
  X(200, tkill, "to a live thread of the process: pending for that thread, which is interrupted (ThreadInterrupt): " \
              "a handler runs at once, a blocked call ends EINTR or restarts (SA_RESTART); others ESRCH") \
  X(37, alarm, "SIGALRM (si_code SI_KERNEL) after the seconds, sent by the process's timer thread (started by "  \
               "the first timer); the seconds left of the previous one")                                        \
  X(36, getitimer, "ITIMER_REAL: its interval and time left; ITIMER_VIRTUAL and ITIMER_PROF: zero")             \
  X(38, setitimer, "ITIMER_REAL (shared with alarm), one shot or periodic; ITIMER_VIRTUAL and ITIMER_PROF EINVAL") \
  X(128, rt_sigtimedwait, "takes a pending signal of the set (its siginfo), waiting up to the timeout (EAGAIN); " \
                          "the set counts as unblocked meanwhile; another signal's handler: EINTR")           \
  X(129, rt_sigqueueinfo, "to the own process with the caller's siginfo (si_code negative, else EPERM; the "    \
                          "value reaches the handler); other processes of the invocation: as kill")           \
  X(222, timer_create, "CLOCK_REALTIME, MONOTONIC, BOOTTIME (all the TSC); SIGEV_SIGNAL (si_code SI_TIMER, "    \
                       "the value), SIGEV_NONE, SIGEV_THREAD_ID; 16 timers per process (EAGAIN)")             \
  X(223, timer_settime, "relative or TIMER_ABSTIME, one shot or periodic (overruns counted)")                   \
  X(224, timer_gettime, "interval and time left")                                                               \
  X(225, timer_getoverrun, "expiries missed before the last signal was sent")                                   \
  X(226, timer_delete, "disarms and frees the id")                                                              \
  X(201, time, "seconds of the wall clock (as gettimeofday)")                                                          \
  X(202, futex, "WAIT, WAIT_BITSET (timeouts: relative, absolute) block on the thread's notification; "         \
                "WAKE, WAKE_BITSET; REQUEUE and CMP_REQUEUE wake every waiter instead of requeueing; "          \
                "PRIVATE and CLOCK_REALTIME flags accepted; others ENOSYS")                                     \
  X(204, sched_getaffinity, "pid 0, a thread's tid or the pid: the set sched_setaffinity gave, else the function's " \
                            "CPU set (FunctionContext::cpu_mask)")                                              \
  X(203, sched_setaffinity, "pid 0 or the caller's tid (others ESRCH): the set within the function's (none of it: " \
                            "EINVAL) for the process's new threads and children; the caller moves there, except " \
                            "pid 1's first thread, which stays on the manager's CPU")                          \
  X(217, getdents64, ". and .. first, then the entries in creation order (image directories: by name); EINVAL " \
                     "if one record does not fit")   \
  X(218, set_tid_address, "records the thread's clear-tid word (0 and a futex wake at its exit); the tid")      \
  X(221, fadvise64, "open descriptors: 0 (advice only); others EBADF")                                         \
  X(228, clock_gettime, "CLOCK_REALTIME (also _COARSE, _ALARM, CLOCK_TAI): the wall clock (as gettimeofday); " \
                        "every other clock: the TSC since boot")                                                      \
  X(229, clock_getres, "1 ns")                                                                                  \
  X(230, clock_nanosleep, "as nanosleep (TIMER_ABSTIME against the same clock; EINTR and, relative, the time left)") \
  X(231, exit_group, "ends the invocation (every thread): EVENT_EXIT with status & 0xff, the stdout "           \
                     "byte count and the ENOSYS count")                                                         \
  X(232, epoll_wait, "as epoll_pwait")                                                                           \
  X(233, epoll_ctl, "ADD, MOD, DEL of the personality's descriptors (32 per instance); regular files EPERM")   \
    X(234, tgkill, "to the caller's pid and a live thread: as tkill; to another process's main thread " \
                   "(tid = pid): as kill of that process; others ESRCH") \
  X(235, utimes, "as futimesat(AT_FDCWD)")                                                                      \
  X(247, waitid, "P_ALL, P_PID, P_PGID with WEXITED (WNOHANG, WNOWAIT): siginfo with CLD_EXITED or CLD_KILLED") \
  X(257, openat, "the fixed tree, /tmp and an image's tree with its writable layer (docs/LINUX.md, Files): "   \
                 "O_CREAT/O_EXCL/O_TRUNC/O_APPEND/O_DIRECTORY/O_NOFOLLOW/O_CLOEXEC; writing in the fixed tree "  \
                 "EROFS; unknown paths ENOENT; O_PATH/O_TMPFILE EOPNOTSUPP")                                    \
  X(258, mkdirat, "directories in /tmp and the writable layer; EEXIST, EROFS in the fixed tree")                \
  X(260, fchownat, "as fchown by path; AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH; other flags EINVAL")                 \
  X(261, futimesat, "as utimensat with microseconds (EINVAL outside 0-999999)")                                 \
  X(262, newfstatat, "as fstat by path; AT_EMPTY_PATH on a descriptor, AT_SYMLINK_NOFOLLOW")                    \
  X(263, unlinkat, "files (AT_REMOVEDIR: empty directories, else ENOTEMPTY) in /tmp and the writable layer "   \
                   "(a whiteout over an image file); EROFS in the fixed tree")                                  \
  X(264, renameat, "as renameat2 with no flags")                                                                \
  X(267, readlinkat, "/proc/self/exe: / followed by the function's name; other nodes EINVAL")                   \
  X(268, fchmodat, "as fchmod by path")                                                                         \
  X(269, faccessat, "existence (ENOENT); W_OK outside /tmp and /dev/null EROFS; X_OK needs an x bit")           \
  X(273, set_robust_list, "records the thread's list (length 24, else EINVAL); walked at the thread's exit: "   \
                          "futexes it owns get FUTEX_OWNER_DIED and one waiter wakes, as Linux does")           \
  X(274, get_robust_list, "the list of the caller (0) or of a live tid (else ESRCH)")                           \
  X(280, utimensat, "/tmp nodes: atime and mtime (UTIME_NOW, UTIME_OMIT), ctime now; explicit times need the "  \
                    "owner (EPERM), now both the owner or write permission (EACCES); a NULL path with a "       \
                    "descriptor is futimens; AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH; EROFS elsewhere")              \
  X(281, epoll_pwait, "the ready watches (input readable, output writable, pipes by their bytes); waits in 1 ms " \
                     "sleeps until one is ready or the timeout ends; the signal mask is ignored")              \
  X(284, eventfd, "as eventfd2 with no flags")                                                                  \
  X(290, eventfd2, "a 64-bit counter (16 at most; EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC): 8-byte reads "     \
                   "take it (or 1), writes add; poll and epoll see it; a read or write that must wait looks "   \
                   "again every millisecond")                                                                  \
  X(291, epoll_create1, "an epoll instance (4 at most; EPOLL_CLOEXEC)")                                        \
  X(292, dup3, "as dup2 with O_CLOEXEC; the same descriptor EINVAL")                                            \
  X(293, pipe2, "a pipe between threads and processes alike (16 KiB, PIPE_BUF writes atomic; at most 2048 "  \
                "per invocation: ENFILE), watched by poll and epoll: O_CLOEXEC, O_NONBLOCK (EAGAIN); EOF when "  \
                "every "                                                                                        \
                "writer closed, EPIPE and SIGPIPE when every reader did")                                       \
  X(302, prlimit64, "RLIMIT_STACK: the stack size; RLIMIT_AS/DATA: the memory limit; RLIMIT_NOFILE 1024; "        \
                    "RLIMIT_NPROC 16 (processes per invocation); others infinite; setting is accepted and "    \
                    "ignored")                                                \
  X(316, renameat2, "within /tmp or the writable layer, replacing files or empty directories; "                \
                    "RENAME_NOREPLACE; a directory into itself EINVAL; EXDEV across them or for an image "      \
                    "directory")                                                                                \
  X(318, getrandom, "rdrand when the CPU has it, else a TSC-seeded splitmix64")                                 \
  X(326, copy_file_range, "between /tmp files (offsets given or the descriptors'; overlapping ranges of one "   \
                          "file EINVAL; O_APPEND target EBADF; flags EINVAL); from the read-only tree EXDEV, "  \
                          "as across file systems")                                                             \
  X(322, execveat, "as execve from a directory descriptor; AT_EMPTY_PATH: the descriptor's file; "           \
                   "AT_SYMLINK_NOFOLLOW: ELOOP for a symlink")                                                  \
  X(332, statx, "as newfstatat, STATX_BASIC_STATS")                                                             \
  X(334, rseq, "ENOSYS (glibc then goes without)")                                                              \
  X(435, clone3, "as clone, from struct clone_args (its checks: EINVAL, E2BIG, EFAULT); a pidfd, set_tid, "     \
                 "a cgroup or CLONE_CLEAR_SIGHAND ENOSYS, counted (glibc then uses clone)")                            \
  X(439, faccessat2, "as faccessat with AT_EACCESS/AT_SYMLINK_NOFOLLOW/AT_EMPTY_PATH")

constexpr u64 ARCH_SET_GS = 0x1001, ARCH_SET_FS = 0x1002, ARCH_GET_FS = 0x1003, ARCH_GET_GS = 0x1004;
constexpr u64 MAX_IO = u64{1} << 30;
constexpr u64 AT_FDCWD = static_cast<u64>(-100);
constexpr u64 O_WRONLY_CREAT_TRUNC = 01 | 0100 | 01000, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200;

// Descriptors and files (files.cpp).
i64 sys_read(const Arguments& a) { return linux_read(a.a0, a.a1, a.a2); }
i64 sys_write(const Arguments& a) { return linux_write(a.a0, a.a1, a.a2); }
i64 sys_readv(const Arguments& a) { return linux_readv(a.a0, a.a1, a.a2); }
i64 sys_writev(const Arguments& a) { return linux_writev(a.a0, a.a1, a.a2); }
i64 sys_pread64(const Arguments& a) { return linux_pread(a.a0, a.a1, a.a2, a.a3); }
i64 sys_pwrite64(const Arguments& a) { return linux_pwrite(a.a0, a.a1, a.a2, a.a3); }
i64 sys_lseek(const Arguments& a) { return linux_lseek(a.a0, a.a1, a.a2); }
i64 sys_close(const Arguments& a) { return linux_close(a.a0); }
i64 sys_dup(const Arguments& a) { return linux_dup(a.a0); }
i64 sys_dup2(const Arguments& a) { return linux_dup3(a.a0, a.a1, 0, true); }
i64 sys_dup3(const Arguments& a) { return linux_dup3(a.a0, a.a1, a.a2, false); }
// Lock commands may block: they run without the dispatcher's lock and take it themselves.
i64 sys_fcntl(const Arguments& a) {
  if (is_lock_command(a.a1)) return linux_fcntl_lock(a.a0, a.a1, a.a2);
  LockGuard guard;
  return linux_fcntl(a.a0, a.a1, a.a2);
}
i64 sys_flock(const Arguments& a) { return linux_flock(a.a0, a.a1); }
i64 sys_chmod(const Arguments& a) { return linux_fchmodat(AT_FDCWD, a.a0, a.a1); }
i64 sys_fchmod(const Arguments& a) { return linux_fchmod(a.a0, a.a1); }
i64 sys_fchmodat(const Arguments& a) { return linux_fchmodat(a.a0, a.a1, a.a2); }
i64 sys_chown(const Arguments& a) { return linux_fchownat(AT_FDCWD, a.a0, a.a1, a.a2, 0); }
i64 sys_lchown(const Arguments& a) { return linux_fchownat(AT_FDCWD, a.a0, a.a1, a.a2, AT_SYMLINK_NOFOLLOW); }
i64 sys_fchown(const Arguments& a) { return linux_fchown(a.a0, a.a1, a.a2); }
i64 sys_fchownat(const Arguments& a) { return linux_fchownat(a.a0, a.a1, a.a2, a.a3, a.a4); }
i64 sys_utimensat(const Arguments& a) { return linux_utimensat(a.a0, a.a1, a.a2, a.a3); }
i64 sys_futimesat(const Arguments& a) { return linux_futimesat(a.a0, a.a1, a.a2); }
i64 sys_utimes(const Arguments& a) { return linux_futimesat(AT_FDCWD, a.a0, a.a1); }
i64 sys_utime(const Arguments& a) { return linux_utime(a.a0, a.a1); }
i64 sys_statfs(const Arguments& a) { return linux_statfs(a.a0, a.a1); }
i64 sys_sendfile(const Arguments& a) { return linux_sendfile(a.a0, a.a1, a.a2, a.a3); }
i64 sys_copy_file_range(const Arguments& a) { return linux_copy_file_range(a.a0, a.a1, a.a2, a.a3, a.a4, a.a5); }
i64 sys_fstatfs(const Arguments& a) { return linux_fstatfs(a.a0, a.a1); }
i64 sys_ioctl(const Arguments& a) { return linux_ioctl(a.a0); }
i64 sys_fsync(const Arguments& a) { return linux_fsync(a.a0); }
i64 sys_fadvise64(const Arguments& a) { return descriptor_open(a.a0) ? 0 : -EBADF; }
i64 sys_socket(const Arguments&) { return -97; }  // EAFNOSUPPORT
i64 sys_getsockname(const Arguments& a) { return descriptor_open(a.a0) ? -88 : -EBADF; }  // ENOTSOCK
i64 sys_getpeername(const Arguments& a) { return descriptor_open(a.a0) ? -88 : -EBADF; }
i64 sys_getxattr(const Arguments&) { return -61; }  // ENODATA
i64 sys_lgetxattr(const Arguments&) { return -61; }
i64 sys_fgetxattr(const Arguments& a) { return descriptor_open(a.a0) ? -61 : -EBADF; }
i64 sys_listxattr(const Arguments&) { return 0; }
i64 sys_llistxattr(const Arguments&) { return 0; }
i64 sys_flistxattr(const Arguments& a) { return descriptor_open(a.a0) ? 0 : -EBADF; }
i64 sys_fdatasync(const Arguments& a) { return linux_fsync(a.a0); }
i64 sys_poll(const Arguments& a) { return linux_poll(a.a0, a.a1, a.a2); }
i64 sys_fstat(const Arguments& a) { return linux_fstat(a.a0, a.a1); }
i64 sys_ftruncate(const Arguments& a) { return linux_ftruncate(a.a0, a.a1); }
i64 sys_truncate(const Arguments& a) { return linux_truncate(a.a0, a.a1); }
i64 sys_getdents64(const Arguments& a) { return linux_getdents64(a.a0, a.a1, a.a2); }
i64 sys_open(const Arguments& a) { return linux_openat(AT_FDCWD, a.a0, a.a1, a.a2); }
i64 sys_creat(const Arguments& a) { return linux_openat(AT_FDCWD, a.a0, O_WRONLY_CREAT_TRUNC, a.a1); }
i64 sys_openat(const Arguments& a) { return linux_openat(a.a0, a.a1, a.a2, a.a3); }
i64 sys_stat(const Arguments& a) { return linux_newfstatat(AT_FDCWD, a.a0, a.a1, 0); }
i64 sys_lstat(const Arguments& a) { return linux_newfstatat(AT_FDCWD, a.a0, a.a1, AT_SYMLINK_NOFOLLOW); }
i64 sys_newfstatat(const Arguments& a) { return linux_newfstatat(a.a0, a.a1, a.a2, a.a3); }
i64 sys_statx(const Arguments& a) { return linux_statx(a.a0, a.a1, a.a2, a.a3, a.a4); }
i64 sys_access(const Arguments& a) { return linux_faccessat(AT_FDCWD, a.a0, a.a1, 0); }
i64 sys_faccessat(const Arguments& a) { return linux_faccessat(a.a0, a.a1, a.a2, 0); }
i64 sys_faccessat2(const Arguments& a) { return linux_faccessat(a.a0, a.a1, a.a2, a.a3); }
i64 sys_mkdir(const Arguments& a) { return linux_mkdirat(AT_FDCWD, a.a0, a.a1); }
i64 sys_mkdirat(const Arguments& a) { return linux_mkdirat(a.a0, a.a1, a.a2); }
i64 sys_unlink(const Arguments& a) { return linux_unlinkat(AT_FDCWD, a.a0, 0); }
i64 sys_rmdir(const Arguments& a) { return linux_unlinkat(AT_FDCWD, a.a0, AT_REMOVEDIR); }
i64 sys_unlinkat(const Arguments& a) { return linux_unlinkat(a.a0, a.a1, a.a2); }
i64 sys_rename(const Arguments& a) { return linux_renameat2(AT_FDCWD, a.a0, AT_FDCWD, a.a1, 0); }
i64 sys_renameat(const Arguments& a) { return linux_renameat2(a.a0, a.a1, a.a2, a.a3, 0); }
i64 sys_renameat2(const Arguments& a) { return linux_renameat2(a.a0, a.a1, a.a2, a.a3, a.a4); }
i64 sys_readlink(const Arguments& a) { return linux_readlinkat(AT_FDCWD, a.a0, a.a1, a.a2); }
i64 sys_readlinkat(const Arguments& a) { return linux_readlinkat(a.a0, a.a1, a.a2, a.a3); }
i64 sys_getcwd(const Arguments& a) { return linux_getcwd(a.a0, a.a1); }
i64 sys_chdir(const Arguments& a) { return linux_chdir(a.a0); }
i64 sys_fchdir(const Arguments& a) { return linux_fchdir(a.a0); }
i64 sys_umask(const Arguments& a) { return linux_umask(a.a0); }

i64 sys_mmap(const Arguments& a) { return linux_mmap(a.a0, a.a1, a.a2, a.a3, a.a4, a.a5); }
i64 sys_mprotect(const Arguments& a) { return linux_mprotect(a.a0, a.a1, a.a2); }
i64 sys_munmap(const Arguments& a) { return linux_munmap(a.a0, a.a1); }
i64 sys_brk(const Arguments& a) { return linux_brk(a.a0); }
i64 sys_mremap(const Arguments& a) { return linux_mremap(a.a0, a.a1, a.a2, a.a3, a.a4); }
i64 sys_madvise(const Arguments& a) { return linux_madvise(a.a0, a.a1, a.a2); }
i64 sys_pipe(const Arguments& a) { return linux_pipe2(a.a0, 0); }
i64 sys_pipe2(const Arguments& a) { return linux_pipe2(a.a0, a.a1); }
i64 sys_epoll_create1(const Arguments& a) { return linux_epoll_create1(a.a0); }
i64 sys_eventfd(const Arguments& a) { return linux_eventfd2(a.a0, 0); }
i64 sys_eventfd2(const Arguments& a) { return linux_eventfd2(a.a0, a.a1); }
i64 sys_mincore(const Arguments& a) { return linux_mincore(a.a0, a.a1, a.a2); }
i64 sys_epoll_ctl(const Arguments& a) { return linux_epoll_ctl(a.a0, a.a1, a.a2, a.a3); }
i64 sys_epoll_wait(const Arguments& a) { return linux_epoll_pwait(a.a0, a.a1, a.a2, a.a3); }
i64 sys_epoll_pwait(const Arguments& a) { return linux_epoll_pwait(a.a0, a.a1, a.a2, a.a3); }

i64 sys_rt_sigaction(const Arguments& a) { return linux_rt_sigaction(a.a0, a.a1, a.a2, a.a3); }
i64 sys_rt_sigprocmask(const Arguments& a) { return linux_rt_sigprocmask(a.a0, a.a1, a.a2, a.a3); }
i64 sys_rt_sigreturn(const Arguments&) { return linux_rt_sigreturn(); }
i64 sys_rt_sigsuspend(const Arguments& a) { return linux_rt_sigsuspend(a.a0, a.a1); }
i64 sys_pause(const Arguments&) { return linux_pause(); }
i64 sys_sigaltstack(const Arguments& a) { return linux_sigaltstack(a.a0, a.a1); }
i64 sys_kill(const Arguments& a) { return linux_kill(a.a0, a.a1); }
i64 sys_tkill(const Arguments& a) { return linux_tgkill(own_pid, a.a0, a.a1); }
i64 sys_tgkill(const Arguments& a) { return linux_tgkill(a.a0, a.a1, a.a2); }
i64 sys_rt_sigtimedwait(const Arguments& a) { return linux_rt_sigtimedwait(a.a0, a.a1, a.a2, a.a3); }
i64 sys_rt_sigqueueinfo(const Arguments& a) { return linux_rt_sigqueueinfo(a.a0, a.a1, a.a2); }
i64 sys_alarm(const Arguments& a) { return linux_alarm(a.a0); }
i64 sys_getitimer(const Arguments& a) { return linux_getitimer(a.a0, a.a1); }
i64 sys_setitimer(const Arguments& a) { return linux_setitimer(a.a0, a.a1, a.a2); }
i64 sys_timer_create(const Arguments& a) { return linux_timer_create(a.a0, a.a1, a.a2); }
i64 sys_timer_settime(const Arguments& a) { return linux_timer_settime(a.a0, a.a1, a.a2, a.a3); }
i64 sys_timer_gettime(const Arguments& a) { return linux_timer_gettime(a.a0, a.a1); }
i64 sys_timer_getoverrun(const Arguments& a) { return linux_timer_getoverrun(a.a0); }
i64 sys_timer_delete(const Arguments& a) { return linux_timer_delete(a.a0); }

i64 sys_wait4(const Arguments& a) { return linux_wait4(a.a0, a.a1, a.a2, a.a3); }
i64 sys_waitid(const Arguments& a) { return linux_waitid(a.a0, a.a1, a.a2, a.a3); }
i64 sys_execve(const Arguments& a) { return linux_execve(a.a0, a.a1, a.a2); }
i64 sys_getpriority(const Arguments& a) { return linux_getpriority(a.a0, a.a1); }
i64 sys_setpriority(const Arguments& a) { return linux_setpriority(a.a0, a.a1, a.a2); }
i64 sys_execveat(const Arguments& a) { return linux_execveat(a.a0, a.a1, a.a2, a.a3, a.a4); }
i64 sys_setpgid(const Arguments& a) { return linux_setpgid(a.a0, a.a1); }
i64 sys_getpgrp(const Arguments&) { return linux_getpgid(0); }
i64 sys_getpgid(const Arguments& a) { return linux_getpgid(a.a0); }
i64 sys_setsid(const Arguments&) { return linux_setsid(); }
i64 sys_getsid(const Arguments& a) { return linux_getsid(a.a0); }

i64 sys_sched_yield(const Arguments&) {
  (void)native(abi::Syscall::ThreadYield, 0);
  return 0;
}

struct TimeSpec {
  i64 seconds, nanoseconds;
};

bool read_duration(u64 address, u64& nanoseconds) {
  if (!readable(address, sizeof(TimeSpec))) return false;
  TimeSpec spec;
  memcpy(&spec, reinterpret_cast<const void*>(address), sizeof spec);
  if (spec.seconds < 0 || spec.nanoseconds < 0 || spec.nanoseconds >= 1'000'000'000) return false;
  u64 seconds = timespec_seconds(spec.seconds);
  nanoseconds = seconds * 1'000'000'000 + static_cast<u64>(spec.nanoseconds);
  return true;
}

// Both sleeps run without the lock (runs_unlocked) and take it only to read their argument.
i64 sys_nanosleep(const Arguments& a) {
  u64 duration;
  {
    LockGuard guard;
    if (!read_duration(a.a0, duration)) return readable(a.a0, sizeof(TimeSpec)) ? -EINVAL : -EFAULT;
  }
  u64 left = sleep_nanoseconds(duration);
  if (left == 0) return 0;
  // A signal ended it: the time left, where the program asked for it.
  if (a.a1 != 0) {
    LockGuard guard;
    if (writable(a.a1, sizeof(TimeSpec))) {
      TimeSpec spec{static_cast<i64>(left / 1'000'000'000), static_cast<i64>(left % 1'000'000'000)};
      memcpy(reinterpret_cast<void*>(a.a1), &spec, sizeof spec);
    }
  }
  return -EINTR;
}
i64 sys_clock_nanosleep(const Arguments& a) {
  u64 duration;
  {
    LockGuard guard;
    if (!read_duration(a.a2, duration)) return readable(a.a2, sizeof(TimeSpec)) ? -EINVAL : -EFAULT;
  }
  bool absolute = (a.a1 & 1) != 0;  // TIMER_ABSTIME.
  if (absolute) {
    u64 now = is_realtime_clock(a.a0) ? realtime_nanoseconds() : monotonic_nanoseconds();
    duration = duration > now ? duration - now : 0;
  }
  u64 left = sleep_nanoseconds(duration);
  if (left == 0) return 0;
  if (!absolute && a.a3 != 0) {
    LockGuard guard;
    if (writable(a.a3, sizeof(TimeSpec))) {
      TimeSpec spec{static_cast<i64>(left / 1'000'000'000), static_cast<i64>(left % 1'000'000'000)};
      memcpy(reinterpret_cast<void*>(a.a3), &spec, sizeof spec);
    }
  }
  return -EINTR;
}

i64 sys_clock_gettime(const Arguments& a) {
  if (a.a0 > 11) return -EINVAL;
  if (!writable(a.a1, sizeof(TimeSpec))) return -EFAULT;
  u64 now = is_realtime_clock(a.a0) ? realtime_nanoseconds() : monotonic_nanoseconds();
  TimeSpec spec{static_cast<i64>(now / 1'000'000'000), static_cast<i64>(now % 1'000'000'000)};
  memcpy(reinterpret_cast<void*>(a.a1), &spec, sizeof spec);
  return 0;
}
i64 sys_clock_getres(const Arguments& a) {
  if (a.a1 == 0) return 0;
  if (!writable(a.a1, sizeof(TimeSpec))) return -EFAULT;
  TimeSpec spec{0, 1};
  memcpy(reinterpret_cast<void*>(a.a1), &spec, sizeof spec);
  return 0;
}
i64 sys_gettimeofday(const Arguments& a) {
  if (a.a0 == 0) return 0;
  if (!writable(a.a0, 16)) return -EFAULT;
  u64 now = realtime_nanoseconds();
  i64 value[2] = {static_cast<i64>(now / 1'000'000'000), static_cast<i64>(now % 1'000'000'000 / 1000)};
  memcpy(reinterpret_cast<void*>(a.a0), value, sizeof value);
  return 0;
}
i64 sys_time(const Arguments& a) {
  i64 seconds = static_cast<i64>(realtime_nanoseconds() / 1'000'000'000);
  if (a.a0 != 0) {
    if (!writable(a.a0, 8)) return -EFAULT;
    memcpy(reinterpret_cast<void*>(a.a0), &seconds, 8);
  }
  return seconds;
}

i64 sys_getrandom(const Arguments& a) {
  u64 length = a.a1 > MAX_IO ? MAX_IO : a.a1;
  if (!writable(a.a0, length)) return -EFAULT;
  random_bytes(reinterpret_cast<u8*>(a.a0), length);
  return static_cast<i64>(length);
}

i64 sys_uname(const Arguments& a) {
  constexpr usize FIELD = 65;
  if (!writable(a.a0, FIELD * 6)) return -EFAULT;
  auto* fields = reinterpret_cast<char*>(a.a0);
  memset(fields, 0, FIELD * 6);
  const char* values[6] = {"Linux", "metteagle", "6.1.0-metteagle", "#1 MettEagle Linux personality", "x86_64",
                           "(none)"};
  for (usize i = 0; i < 6; ++i)
    for (usize j = 0; values[i][j] != '\0' && j + 1 < FIELD; ++j) fields[i * FIELD + j] = values[i][j];
  return 0;
}

i64 sys_getpid(const Arguments&) { return static_cast<i64>(own_pid); }
i64 sys_gettid(const Arguments&) { return static_cast<i64>(current_thread().tid); }
i64 sys_getppid(const Arguments&) { return linux_getppid(); }
i64 sys_getuid(const Arguments&) { return static_cast<i64>(linux_uid()); }
i64 sys_geteuid(const Arguments&) { return static_cast<i64>(linux_uid()); }
i64 sys_getgid(const Arguments&) { return static_cast<i64>(linux_gid()); }
i64 sys_getegid(const Arguments&) { return static_cast<i64>(linux_gid()); }
i64 sys_setuid(const Arguments& a) {
  return a.a0 == linux_uid() ? 0 : static_cast<u32>(a.a0) == ~u32{0} ? -EINVAL : -EPERM;
}
i64 sys_setgid(const Arguments& a) {
  return a.a0 == linux_gid() ? 0 : static_cast<u32>(a.a0) == ~u32{0} ? -EINVAL : -EPERM;
}
i64 unsupported(u64 number);
i64 sys_prctl(const Arguments& a) {
  i64 result = linux_prctl(a.a0, a.a1, a.a2, a.a3, a.a4);
  return result == NOT_SUPPORTED ? unsupported(157) : result;
}

i64 sys_exit(const Arguments& a) { linux_exit_thread(a.a0); }
i64 sys_exit_group(const Arguments& a) { exit_program(a.a0); }

i64 sys_arch_prctl(const Arguments& a) {
  ThreadEntry& s = current_thread();
  switch (a.a0) {
    case ARCH_SET_FS: {
      if (a.a1 >= abi::USER_SPACE_END) return -EPERM;
      if (native(abi::Syscall::ThreadSetFsBase, abi::NULL_SELECTOR, a.a1) != sys::Error::None) return -EPERM;
      s.fs_base = a.a1;
      return 0;
    }
    case ARCH_GET_FS:
      if (!writable(a.a1, 8)) return -EFAULT;
      memcpy(reinterpret_cast<void*>(a.a1), &s.fs_base, 8);
      return 0;
    case ARCH_SET_GS:
    case ARCH_GET_GS:
    default:
      return -EINVAL;
  }
}

i64 sys_set_tid_address(const Arguments& a) {
  ThreadEntry& self = current_thread();
  self.clear_tid = a.a0;  // Checked with writable() when the thread exits.
  return static_cast<i64>(self.tid);
}
i64 sys_set_robust_list(const Arguments& a) { return linux_set_robust_list(a.a0, a.a1); }
i64 sys_get_robust_list(const Arguments& a) { return linux_get_robust_list(a.a0, a.a1, a.a2); }

// CPU times (threads.cpp derives them from the TSC; docs/LINUX.md, Resource usage).
i64 sys_getrusage(const Arguments& a) {
  constexpr i64 RUSAGE_SELF = 0, RUSAGE_CHILDREN = -1, RUSAGE_THREAD = 1;
  auto who = static_cast<i64>(a.a0);
  if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN && who != RUSAGE_THREAD) return -EINVAL;
  constexpr u64 SIZE = 144;  // struct rusage: two timevals and 14 longs.
  if (!writable(a.a1, SIZE)) return -EFAULT;
  i64 usage[18] = {};
  if (who != RUSAGE_CHILDREN) {
    u64 user, system, waits;
    cpu_times(who == RUSAGE_SELF, user, system, waits);
    usage[0] = static_cast<i64>(user / 1'000'000'000);
    usage[1] = static_cast<i64>(user % 1'000'000'000 / 1000);
    usage[2] = static_cast<i64>(system / 1'000'000'000);
    usage[3] = static_cast<i64>(system % 1'000'000'000 / 1000);
    sys::SyscallRegisters registers{};
    if (sys::invoke(abi::Syscall::FactoryInfo, manager::FUNCTION_FACTORY, registers) == sys::Error::None)
      usage[4] = static_cast<i64>(registers.argument2 / 1024);  // ru_maxrss in KiB: the memory charged.
    usage[14] = static_cast<i64>(waits);                        // ru_nvcsw.
  }
  memcpy(reinterpret_cast<void*>(a.a1), usage, SIZE);
  return 0;
}

i64 sys_times(const Arguments& a) {
  constexpr u64 NANOSECONDS_PER_TICK = 10'000'000;  // USER_HZ = 100.
  if (a.a0 != 0) {
    if (!writable(a.a0, 32)) return -EFAULT;
    u64 user, system, waits;
    cpu_times(true, user, system, waits);
    i64 ticks[4] = {static_cast<i64>(user / NANOSECONDS_PER_TICK), static_cast<i64>(system / NANOSECONDS_PER_TICK),
                    0, 0};
    memcpy(reinterpret_cast<void*>(a.a0), ticks, sizeof ticks);
  }
  return static_cast<i64>(monotonic_nanoseconds() / NANOSECONDS_PER_TICK);
}

i64 sys_sysinfo(const Arguments& a) {
  struct LinuxSysinfo {
    i64 uptime;
    u64 loads[3];
    u64 total_ram, free_ram, shared_ram, buffer_ram, total_swap, free_swap;
    std::uint16_t procs, pad;
    u64 total_high, free_high;
    u32 memory_unit;
  };
  static_assert(sizeof(LinuxSysinfo) == 112);
  if (!writable(a.a0, sizeof(LinuxSysinfo))) return -EFAULT;
  LinuxSysinfo info{};
  info.uptime = static_cast<i64>(monotonic_nanoseconds() / 1'000'000'000);
  sys::SyscallRegisters registers{};
  if (sys::invoke(abi::Syscall::FactoryInfo, manager::FUNCTION_FACTORY, registers) == sys::Error::None) {
    info.total_ram = registers.argument1;
    info.free_ram = registers.argument2 < registers.argument1 ? registers.argument1 - registers.argument2 : 0;
  }
  info.procs = static_cast<std::uint16_t>(live_thread_count());
  info.memory_unit = 1;
  memcpy(reinterpret_cast<void*>(a.a0), &info, sizeof info);
  return 0;
}

// The user's groups: its own group only. Linux lets only CAP_SETGID change them.
i64 sys_getgroups(const Arguments& a) {
  auto size = static_cast<std::int32_t>(a.a0);
  if (size < 0) return -EINVAL;
  if (size == 0) return 1;
  if (!writable(a.a1, 4)) return -EFAULT;
  auto group = static_cast<u32>(linux_gid());
  memcpy(reinterpret_cast<void*>(a.a1), &group, 4);
  return 1;
}
i64 sys_setgroups(const Arguments&) { return -EPERM; }
i64 sys_rseq(const Arguments&) { return -ENOSYS; }
// clone flags Linux accepts that the personality cannot honour: new namespaces (for uid 1000 Linux
// would allow some, refuse others), a pidfd, CLONE_PARENT, and memory shared with a new process
// that is neither a thread nor a vfork child. Refused ENOSYS and counted, never silently ignored.
bool clone_unsupported(u64 flags) {
  constexpr u64 CLONE_VM = 0x100, CLONE_PIDFD = 0x1000, CLONE_VFORK = 0x4000, CLONE_PARENT = 0x8000,
                CLONE_THREAD = 0x10000, CLONE_NEWNS = 0x20000, CLONE_NEWCGROUP = 0x2000000, CLONE_NEWUTS = 0x4000000,
                CLONE_NEWIPC = 0x8000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000,
                CLONE_NEWNET = 0x40000000;
  constexpr u64 NAMESPACES =
      CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
  if ((flags & (NAMESPACES | CLONE_PIDFD | CLONE_PARENT)) != 0) return true;
  return (flags & CLONE_VM) != 0 && (flags & (CLONE_THREAD | CLONE_VFORK)) == 0;
}
i64 refuse_clone(u64 number) {
  LockGuard guard;  // clone and clone3 run unlocked; the count is the process's state.
  return unsupported(number);
}
// clone3 as clone (kernel/fork.c's checks): the structure's flags with exit_signal in the low
// byte, the stack's top (stack + stack_size), the tid words and the TLS. What only clone3 can ask
// (a pidfd, chosen tids, a cgroup, clearing the handlers) is refused ENOSYS and counted; glibc
// then uses clone.
i64 sys_clone3(const Arguments& a) {
  struct CloneArguments {
    u64 flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
  };
  constexpr u64 VERSION0_BYTES = 64;
  constexpr u64 CLONE_PIDFD = 0x1000, CLONE_THREAD = 0x10000, CLONE_PARENT = 0x8000, CLONE_CLEAR_SIGHAND = u64{1} << 32,
                CLONE_INTO_CGROUP = u64{1} << 33;
  CloneArguments arguments{};
  {
    // Runs unlocked, as clone does (linux_clone takes the lock itself); the checks take it here.
    LockGuard guard;
    u64 size = a.a1;
    if (size < VERSION0_BYTES) return -EINVAL;
    if (size > PAGE) return -E2BIG;
    if (!readable(a.a0, size)) return -EFAULT;
    memcpy(&arguments, reinterpret_cast<const void*>(a.a0), size < sizeof arguments ? size : sizeof arguments);
    for (u64 at = sizeof arguments; at < size; ++at)
      if (*reinterpret_cast<const u8*>(a.a0 + at) != 0) return -E2BIG;  // Fields of a newer kernel, set.
    if ((arguments.exit_signal & ~u64{0xff}) != 0 || (arguments.flags & 0xff) != 0) return -EINVAL;
    if ((arguments.flags & ~(u64{0xffffffff} | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP)) != 0) return -EINVAL;
    if ((arguments.flags & (CLONE_THREAD | CLONE_PARENT)) != 0 && arguments.exit_signal != 0) return -EINVAL;
    if ((arguments.set_tid == 0) != (arguments.set_tid_size == 0)) return -EINVAL;
    if ((arguments.stack == 0) != (arguments.stack_size == 0)) return -EINVAL;
    if ((arguments.flags & (CLONE_PIDFD | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP)) != 0 || arguments.set_tid_size != 0)
      return unsupported(435);
  }
  if (clone_unsupported(arguments.flags)) return refuse_clone(435);
  u64 stack_top = arguments.stack == 0 ? 0 : arguments.stack + arguments.stack_size;
  if (stack_top < arguments.stack) return -EINVAL;
  return linux_clone(arguments.flags | arguments.exit_signal, stack_top, arguments.parent_tid, arguments.child_tid,
                     arguments.tls);
}
i64 sys_clone(const Arguments& a) {
  if (clone_unsupported(a.a0)) return refuse_clone(56);
  return linux_clone(a.a0, a.a1, a.a2, a.a3, a.a4);
}
constexpr u64 SIGCHLD = 17;
i64 sys_fork(const Arguments&) { return process_fork(SIGCHLD, 0, 0, 0, 0); }
i64 sys_vfork(const Arguments&) { return process_fork(SIGCHLD, 0, 0, 0, 0); }
i64 sys_futex(const Arguments& a) { return linux_futex(a.a0, a.a1, a.a2, a.a3, a.a4, a.a5); }

i64 sys_sched_getaffinity(const Arguments& a) { return linux_sched_getaffinity(a.a0, a.a1, a.a2); }
i64 sys_sched_setaffinity(const Arguments& a) { return linux_sched_setaffinity(a.a0, a.a1, a.a2); }

i64 resource_limit(u64 resource, u64 new_limit, u64 old_limit) {
  constexpr u64 INFINITE = ~u64{0};
  if (resource > 15) return -EINVAL;
  if (new_limit != 0 && !readable(new_limit, 16)) return -EFAULT;
  if (old_limit == 0) return 0;
  if (!writable(old_limit, 16)) return -EFAULT;
  u64 value[2] = {INFINITE, INFINITE};
  if (resource == 3) {  // RLIMIT_STACK
    value[0] = value[1] = manager::FUNCTION_STACK_TOP - state().stack_low;
  } else if (resource == 2 || resource == 9) {  // RLIMIT_DATA, RLIMIT_AS
    sys::SyscallRegisters registers{};
    if (sys::invoke(abi::Syscall::FactoryInfo, manager::FUNCTION_FACTORY, registers) == sys::Error::None)
      value[0] = value[1] = registers.argument1;
  } else if (resource == 7) {  // RLIMIT_NOFILE
    value[0] = value[1] = MAX_DESCRIPTORS;
  } else if (resource == 6) {  // RLIMIT_NPROC
    value[0] = value[1] = MAX_PROCESSES;
  }
  memcpy(reinterpret_cast<void*>(old_limit), value, sizeof value);
  return 0;
}
i64 sys_prlimit64(const Arguments& a) {
  if (a.a0 != 0 && a.a0 != own_pid) return -ESRCH;
  return resource_limit(a.a1, a.a2, a.a3);
}
i64 sys_getrlimit(const Arguments& a) { return resource_limit(a.a0, 0, a.a1); }

i64 unsupported(u64 number) {
  State& s = state();
  ++s.unsupported_calls;
  bool seen = false;
  for (usize i = 0; i < s.unsupported_distinct; ++i) seen = seen || s.unsupported_numbers[i] == number;
  if (!seen && s.unsupported_distinct < sizeof s.unsupported_numbers / sizeof s.unsupported_numbers[0])
    s.unsupported_numbers[s.unsupported_distinct++] = number;
  return -ENOSYS;
}

// Calls that block on their own (sleeps, futex waits), end threads or the invocation, or create
// threads and processes: they take state_lock() themselves, for as long as they need it and never
// while they wait. (Pipe reads and writes, wait4, poll and rt_sigsuspend run under the
// dispatcher's lock and give it up while they wait; execve gives it up as it enters the program.)
bool runs_unlocked(u64 number) {
  switch (number) {
    case 24: case 35: case 56: case 57: case 58: case 60: case 72: case 73: case 202: case 230: case 231: case 232:
    case 281: case 435:
      return true;
    default:
      return false;
  }
}

i64 dispatch(u64 number, const Arguments& arguments) {
  switch (number) {
#define LINUX_SYSCALL_CASE(value, name, summary) \
  case value:                                    \
    return sys_##name(arguments);
    LINUX_SYSCALLS(LINUX_SYSCALL_CASE)
#undef LINUX_SYSCALL_CASE
    default:
      return unsupported(number);
  }
}

}  // namespace
}  // namespace personality

using namespace personality;

// Called by personality_syscall_entry for each `syscall` of the program: the Linux number is in
// rax, the arguments in rdi, rsi, rdx, r10, r8, r9; the result goes back in rax.
// The time spent here, less the thread's waits, is its system time (getrusage).
extern "C" void personality_handle_syscall(u64, u64 reason) {
  // Another thread ended the process or exec'd (threads_end_others): this one goes, whatever it
  // came for, and never returns to the program (whose memory exec may have replaced meanwhile).
  if (thread_must_end()) end_calling_thread();
  if (reason == abi::PERSONALITY_ENTRY_INTERRUPT) {
    // ThreadInterrupt while the program ran: a signal was sent to this thread (or it is the one
    // chosen to take its process's); it is taken now, as Linux takes it at an interrupt's return.
    deliver_signals(NO_SYSCALL);
    if (thread_must_end()) end_calling_thread();
    return;
  }
  u64 entered = read_tsc();
  ThreadEntry& self = current_thread();
  u64 waited = self.waited_ticks;
  abi::PersonalityRegisters& registers = sys::utcb()->personality_registers;
  Arguments arguments{registers.rdi, registers.rsi, registers.rdx, registers.r10, registers.r8, registers.r9};
  u64 number = registers.rax;
  if (runs_unlocked(number)) {
    registers.rax = static_cast<u64>(dispatch(number, arguments));
  } else {
    LockGuard guard;
    registers.rax = static_cast<u64>(dispatch(number, arguments));
  }
  // Signals sent while the call ran take effect here, at its end (an interrupted call's
  // ERESTARTSYS becomes EINTR or a restart).
  deliver_signals(number);
  u64 spent = read_tsc() - entered, waits = self.waited_ticks - waited;
  self.system_ticks += spent > waits ? spent - waits : 0;
  profile_record(number, self.tid, entered, spent, waits);
  if (thread_must_end()) end_calling_thread();
}
