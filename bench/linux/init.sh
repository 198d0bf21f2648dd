#!/bin/busybox sh
# init.sh: /init of the Linux baseline guest; mounts the basics, runs the workload suite and powers off.
#
# Kernel command-line knobs (read from /proc/cmdline):
#   bench.scale=full|quick   iteration counts (see suite.sh)
#   bench.only=a,b,...       run only these metrics
#   bench.http=1             HTTP mode instead: network up, busybox httpd with the per-request
#                            crun CGI on port 8080, the warm process (warm_server: the empty
#                            function served by processes already running, one per vCPU, with
#                            no isolation per request)
#                            on port 8081, "BENCH-HTTP-READY" on the console, then wait for the
#                            host (bench/linux/http_run.py) to power the machine off
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
http=
for arg in $(cat /proc/cmdline); do
    case $arg in
    bench.http=*) http=${arg#bench.http=} ;;
    bench.scale=*) scale=${arg#bench.scale=} ;;
    bench.only=*) only=$(echo "${arg#bench.only=}" | tr ',' ' ') ;;
    esac
done

if [ "$http" = 1 ]; then
    # Debian's virtio drivers are modules without a modules.dep: load them in dependency order.
    for m in virtio_ring virtio virtio_mmio failover net_failover virtio_net; do
        insmod /lib/modules/$m.ko || echo "BENCH-HTTP-ERROR insmod $m failed"
    done
    ip link set lo up
    ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 ||
        echo "BENCH-HTTP-ERROR network setup failed"
    httpd -p 8080 -h /bench/www || echo "BENCH-HTTP-ERROR httpd failed"
    # It prints its own line once it listens; wait for that before saying ready.
    /bench/bin/warm_server 8081 >/tmp/warm_server.log 2>&1 &
    for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q listening /tmp/warm_server.log && break; sleep 1; done
    grep -q listening /tmp/warm_server.log || echo "BENCH-HTTP-ERROR warm_server failed: $(cat /tmp/warm_server.log)"
    echo "BENCH-HTTP-READY"
    while :; do sleep 3600; done
fi

echo "BENCH-BEGIN linux-baseline scale=$scale"
# The suite reports each failed workload as BENCH-ERROR; BENCH-DONE still
# follows so that the parser can name the failure rather than a truncation.
CRUN=/usr/bin/crun sh /bench/suite.sh /bench/bin /bench/bundles "$scale" $only
echo "BENCH-DONE"
poweroff -f
