# One script for bash, zsh and busybox sh (user/tests/linux/make-image-tree runs it natively in the
# image tree; the linux scenario runs it in the guest): pipelines of three external commands,
# command substitution, a subshell, a here-document and a here-string, a background job and wait,
# #! scripts (nested, and a loop), execve failures and exit statuses, /proc/self/exe, kill -INT of
# a spinning background job with a trap on INT (bash), deep recursion (bash, busybox), a trap on EXIT.
trap 'echo "exit trap, status $?"' EXIT
printf 'alpha\nbeta\ngamma\ndelta\n' | /usr/bin/cat | /usr/bin/head -n 3 | /usr/bin/sha256sum
x=$(/usr/bin/head -n 2 /data/hello.txt | /usr/bin/cat -n)
echo "substituted: $x"
y=$(/usr/bin/cat /data/missing 2>/dev/null); echo "substitution status $? [$y]"
(cd /data && /usr/bin/head -n 1 hello.txt; exit 4); echo "subshell status $?"
/usr/bin/cat <<END
here-document: $x
END
# Here-strings are bash's and zsh's (busybox's ash has none): eval keeps them from its parser.
if [ -n "$BASH_VERSION$ZSH_VERSION" ]; then eval '/usr/bin/sha256sum <<< "here-string"'; fi
/usr/bin/sha256sum /data/numbers.txt & wait $!; echo "background status $?"
/usr/bin/cat /data/missing 2>/dev/null; echo "missing file status $?"
/scripts/hello.sh one "two words"; echo "script status $?"
/scripts/nested.sh three; echo "nested script status $?"
/scripts/loop.sh 2>/dev/null; echo "looping script status $?"
/scripts/plain four; echo "script without #! status $?"
/data/hello.txt 2>/dev/null; echo "not executable status $?"
/data 2>/dev/null; echo "directory status $?"
/usr/bin/nothing 2>/dev/null; echo "missing program status $?"
/proc/self/exe -c 'echo "self: $#"' 2>/dev/null; echo "/proc/self/exe status $?"
/usr/bin/busybox echo applet
# kill -INT of a background job that spins without system calls and traps INT (bash: busybox's
# and zsh's background jobs ignore INT, as POSIX lets a shell without job control do); the job
# says it is ready with USR1, which interrupts the parent's own spinning loop.
if [ -n "$BASH_VERSION" ]; then
  ready=
  trap 'ready=1' USR1
  ( trap 'echo "background job: INT trapped"; exit 5' INT; kill -USR1 $$; while :; do :; done ) &
  job=$!
  while [ -z "$ready" ]; do :; done
  trap - USR1
  kill -INT $job; wait $job; echo "kill -INT of a background job: status $?"
fi
# Deep recursion on the 8 MiB stack, paid as touched: busybox 3,000 levels; bash 1,000 (its
# function calls cost time quadratic in the depth: 3,000 took 13 s natively and 49 s in the guest,
# and matched); zsh crashes natively at 1,000 (a stack overflow), so it skips this.
deep() { if [ "$1" -gt 0 ]; then deep $(($1 - 1)); else echo "recursion bottom"; fi; }
if [ -n "$BASH_VERSION" ]; then deep 1000; echo "recursion status $?"
elif [ -z "$ZSH_VERSION" ]; then deep 3000; echo "recursion status $?"; fi
exit 3
