#!/bin/busybox sh
# init.sh: /init of the Linux baseline guest; mounts the basics, runs the workload suite and powers off.
#
# Kernel command-line knobs (read from /proc/cmdline):
#   bench.scale=full|quick   iteration counts (see suite.sh)
#   bench.only=a,b,...       run only these metrics
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# crun refuses to start without a cgroup file system at /sys/fs/cgroup, even
# with --cgroup-manager=disabled; cgroup v2 is what a current host would have.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# crun keeps its state in /run/crun; a tmpfs keeps that off the initramfs.
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# Re-open the console explicitly so output reaches the serial port even if the
# kernel started us without /dev/console.
exec </dev/console >/dev/console 2>&1

scale=full
only=
for arg in $(cat /proc/cmdline); do
    case $arg in
    bench.scale=*) scale=${arg#bench.scale=} ;;
    bench.only=*) only=$(echo "${arg#bench.only=}" | tr ',' ' ') ;;
    esac
done

echo "BENCH-BEGIN linux-baseline scale=$scale"
# The suite reports each failed workload as BENCH-ERROR; BENCH-DONE still
# follows so that the parser can name the failure rather than a truncation.
CRUN=/usr/bin/crun sh /bench/suite.sh /bench/bin /bench/bundles "$scale" $only
echo "BENCH-DONE"
poweroff -f
