#!/bin/sh
# suite.sh: runs the Linux baseline workloads and prints one serial-format line per metric (guest and host share it).
#
# Usage: suite.sh <bindir> <bundledir> <full|quick> [metric ...]
# With no metric names every workload runs. CRUN names the crun binary (default:
# the one on PATH). It is POSIX sh so that busybox in the guest and dash on the
# host run the same iteration counts.
set -u

bindir=$(cd "$1" && pwd)  # Absolute: the fs_* workloads run from another directory.
bundles=$2
scale=$3
shift 3
all="null_syscall pipe_roundtrip spawn_wait fork_exec_wait demand_zero_page go_spawn_wait crun_run crun_run_netns go_crun_run python_cold_start fs_stat fs_open_read_close fs_getdents_1000"
want=${*:-$all}
crun=${CRUN:-$(command -v crun || echo crun)}

# Iteration counts: "full" keeps each guest mode near one minute under TCG
# (crun run costs about 190 ms of wall time there) so that the whole Linux
# side stays well under eight minutes; "quick" only proves the pipeline works.
case $scale in
full)
    sys_n=200 sys_batch=1000
    pipe_n=400 pipe_batch=10
    spawn_n=300 spawn_warm=5
    fault_n=100 fault_warm=5
    go_n=30 go_warm=2
    crun_n=100 crun_warm=3
    python_n=10 python_warm=1
    fs_n=20 fs_batch=100 fs_list_batch=5
    ;;
quick)
    sys_n=20 sys_batch=100
    pipe_n=20 pipe_batch=10
    spawn_n=10 spawn_warm=2
    fault_n=10 fault_warm=2
    go_n=3 go_warm=1
    crun_n=3 crun_warm=1
    python_n=2 python_warm=1
    fs_n=3 fs_batch=10 fs_list_batch=1
    ;;
*)
    echo "BENCH-ERROR suite unknown scale '$scale'"
    exit 2
    ;;
esac

# A unique container id per run keeps crun from colliding with a leftover state
# directory of an earlier, killed run.
id="bench-$$"

for m in $want; do
    echo "BENCH-START $m"
    case $m in
    null_syscall) "$bindir/null_syscall" $sys_n $sys_batch ;;
    pipe_roundtrip) "$bindir/pipe_roundtrip" $pipe_n $pipe_batch ;;
    spawn_wait) "$bindir/spawn_wait" spawn_wait $spawn_n $spawn_warm "$bindir/empty" ;;
    fork_exec_wait) "$bindir/fork_exec_wait" fork_exec_wait $spawn_n $spawn_warm "$bindir/empty" ;;
    # 40 pages per sample, as MettEagle's demand_zero_page touches 40 per sample.
    demand_zero_page) "$bindir/demand_zero" $fault_n $fault_warm 40 ;;
    # The same static Go "hello, world" (Debian's golang-go, CGO_ENABLED=0) MettEagle runs as
    # cold_invoke_go_hello; its output goes to /dev/null (BENCH_QUIET), not into the results.
    go_spawn_wait) BENCH_QUIET=1 "$bindir/spawn_wait" go_spawn_wait $go_n $go_warm "$bindir/go_hello" ;;
    # --no-pivot because pivot_root fails on an initramfs root; cgroups are
    # disabled on both guest and host (the host's mixed v1/v2 layout defeats
    # crun), which makes the Linux figure a lower bound on a real container
    # start.
    crun_run) "$bindir/spawn_wait" crun_run $crun_n $crun_warm "$crun" --cgroup-manager=disabled run --no-pivot --bundle "$bundles/plain" "$id" ;;
    crun_run_netns) "$bindir/spawn_wait" crun_run_netns $crun_n $crun_warm "$crun" --cgroup-manager=disabled run --no-pivot --bundle "$bundles/netns" "$id" ;;
    go_crun_run) BENCH_QUIET=1 "$bindir/spawn_wait" go_crun_run $go_n $go_warm "$crun" --cgroup-manager=disabled run --no-pivot --bundle "$bundles/go" "$id" ;;
    # `python3 -c pass` from the Python image's tree as the bundle's rootfs (images/python), what
    # MettEagle's python_cold_start runs as an image function.
    python_cold_start) "$bindir/spawn_wait" python_cold_start $python_n $python_warm "$crun" --cgroup-manager=disabled run --no-pivot --bundle "$bundles/python" "$id" ;;
    # A 4 KiB file and a 1,000-entry directory (build-guest.sh makes them beside bin/), named by
    # two-component relative paths as MettEagle's run names data/page.txt and bench/many.
    fs_stat | fs_open_read_close) (cd "$bindir/.." && "$bindir/fs_ops" $m $fs_n $fs_batch fsdata/page.txt fsdata/many) ;;
    fs_getdents_1000) (cd "$bindir/.." && "$bindir/fs_ops" $m $fs_n $fs_list_batch fsdata/page.txt fsdata/many) ;;
    *) echo "BENCH-ERROR $m unknown metric" ;;
    esac
done
