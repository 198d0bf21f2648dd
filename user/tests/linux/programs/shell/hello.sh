#!/usr/bin/busybox sh
echo "hello.sh: $# arguments: $1, $2"
/usr/bin/head -n 1 /data/numbers.txt
exit 5
