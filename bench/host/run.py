#!/usr/bin/env python3
"""host/run.py: runs the Linux baseline workloads natively on the host and writes them as system "host", mode "wall" records."""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "linux"))
import serialfmt  # noqa: E402

PLAIN = ["null_syscall", "pipe_roundtrip", "spawn_wait", "fork_exec_wait", "demand_zero_page", "go_spawn_wait",
         "fs_stat", "fs_open_read_close", "fs_getdents_1000"]
CRUN = ["crun_run", "crun_run_netns", "go_crun_run", "python_cold_start"]


def run_suite(argv, metrics, timeout=600):
    """Runs suite.sh for the given metrics; returns (stats or None, transcript)."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    try:
        return serialfmt.parse_transcript(proc.stdout, metrics, framed=False), out
    except serialfmt.SerialFormatError as e:
        return None, f"{e}\n{out}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()

    # The host runs the very binaries and bundles built into the guest.
    bench = os.path.abspath(os.path.join(args.build_dir, "linux-guest", "root", "bench"))
    if not os.path.isfile(os.path.join(bench, "bin", "empty")):
        print(f"error: {bench} missing; run bench/linux/build-guest.sh {args.build_dir}", file=sys.stderr)
        return 1
    suite = [os.path.join(HERE, "..", "linux", "suite.sh"), os.path.join(bench, "bin"),
             os.path.join(bench, "bundles"), "quick" if args.quick else "full"]
    results = {}
    print("host: running null_syscall pipe_roundtrip spawn_wait fork_exec_wait…", flush=True)
    stats, out = run_suite(["sh"] + suite + PLAIN, PLAIN)
    if stats is None:
        print(f"host: error: workloads failed: {out}", file=sys.stderr)
        return 1
    results.update(stats)

    # crun 1.8.1 refuses this host's mixed cgroup v1/v2 layout. In a private
    # mount namespace (unshare -m makes mounts private) the cgroup2 mount is
    # dropped and crun runs without a cgroup manager, so nothing is created in
    # the host's cgroup tree and the host's mounts stay untouched.
    warnings = []
    crun = shutil.which("crun")
    if crun is None:
        warnings.append("crun not installed on the host (package 'crun'); crun_run and crun_run_netns not measured")
    elif os.geteuid() != 0:
        warnings.append("host crun needs root; crun_run and crun_run_netns not measured")
    else:
        for m in CRUN:
            print(f"host: running {m} (crun in unshare -m)…", flush=True)
            script = ("umount /sys/fs/cgroup/unified 2>/dev/null || true; exec env CRUN=\"$0\" sh \"$@\"")
            stats, out = run_suite(["unshare", "-m", "--propagation", "private", "sh", "-c", script, crun]
                                   + suite + [m], [m])
            if stats is None:
                warnings.append(f"{m} failed on the host and is NOT recorded: {out.strip()}")
            else:
                results.update(stats)
    for m, s in results.items():
        print(f"host:   {m} ns min={s['min']} median={s['median']} p99={s['p99']} n={s['n']}", flush=True)
    for w in warnings:
        print(f"host: WARNING: {w}", file=sys.stderr, flush=True)
    records = serialfmt.make_records(results, "host", "wall", "none", "ns", {"quick": args.quick})
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    print(f"host: wrote {len(records)} records to {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
