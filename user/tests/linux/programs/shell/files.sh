#!/usr/bin/bash
# Files that a shell's children write and the shell reads back (and the other way round), in /tmp
# and in a directory of the image (/scratch: the writable layer in the guest, a directory of the
# user natively): mktemp, > and >> redirections, a subshell appending, mkdir -p, mv (within a file
# system, and across two, where mv copies), rm -r. The busybox applets are separate processes.
bb=/usr/bin/busybox
made=$($bb mktemp /tmp/files.XXXXXX)
echo "made: ${made%.*}"
if [ -f "$made" ]; then echo "the shell sees its child's file"; else echo "the child's file is missing"; fi
echo first > "$made"
echo second >> "$made"
$bb cat "$made"
(echo third >> "$made")
echo "lines: $($bb wc -l < "$made")"
directory=$($bb mktemp -d /tmp/directory.XXXXXX)
cd "$directory" || exit 1
$bb mkdir -p a/b/c
echo deep > a/b/c/file
$bb mv a/b/c/file a/moved
$bb ls a a/b/c
read -r line < a/moved
echo "moved: $line"
$bb rm -r a
if [ -e a ]; then echo "a is still there"; else echo "a is gone"; fi
cd / && $bb rmdir "$directory" && echo "rmdir of the emptied directory"
$bb rm "$made"
$bb ls /tmp
cd /scratch || exit 1
$bb mkdir -p x/y
echo layer > x/y/z
$bb mv x/y/z x/z
$bb ls . x
$bb cat x/z
$bb rm -r x
$bb mv seed /tmp/seed
$bb ls
$bb cat /tmp/seed
for i in 1 2 3; do echo "line $i" >> log; done
$bb cat log
$bb ls -l log | $bb cut -c1-10
