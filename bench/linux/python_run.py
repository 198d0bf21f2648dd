#!/usr/bin/env python3
"""python_run.py: the Python image's functions over HTTP on the Linux baseline guest (issue 11, item 7).
Boots the guest in HTTP mode (bench.http=1: busybox httpd on port 8080) with the memory MettEagle's
Python boot gets, and times sequential requests of each workload and size from the host exactly as
bench/metteagle/python_run.py does (bench/httpload.py, python_run): POST /cgi-bin/python_<workload>
runs `crun run` of the bundle py-<workload> (the Python image's tree as its rootfs, `/usr/bin/python3
/function/<workload>.py`, the request body on stdin) per request. Writes records
python_<workload>_<size> (system "linux", mode "wall", unit ns)."""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, ".."))
import httpload  # noqa: E402
import run  # noqa: E402  (bench/linux/run.py: the guest's QEMU command line)

# The same guest memory as MettEagle's Python boot (bench/metteagle/python_run.py): the initramfs
# holds the 106 MiB tree, and the standard graphs need over 100 MiB each.
MEMORY = "2G"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--python-requests", type=int, default=None,
                    help=f"requests per workload and size (default BENCH_PYTHON_REQUESTS or {httpload.PYTHON_REQUESTS})")
    ap.add_argument("--workloads", default="", help="comma-separated subset of " + ",".join(httpload.PYTHON_WORKLOADS))
    ap.add_argument("--sizes", default="", help="comma-separated subset of small,standard")
    ap.add_argument("--boot-timeout", type=float, default=240)
    args = ap.parse_args()

    count = httpload.python_request_count(args.python_requests)
    try:
        pairs = httpload.python_selection(args.workloads, args.sizes)
    except httpload.LoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    guest = os.path.join(args.build_dir, "linux-guest")
    for f in ("vmlinux", "initramfs.cpio"):
        if not os.path.isfile(os.path.join(guest, f)):
            print(f"error: {guest}/{f} missing; run bench/linux/build-guest.sh {args.build_dir}", file=sys.stderr)
            return 1
    port = httpload.free_port()
    cmd = run.qemu_command(guest, "wall", "full", [])
    cmd[cmd.index("-m") + 1] = MEMORY
    i = cmd.index("-append")
    cmd[i + 1] += " bench.http=1"
    cmd += ["-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:8080", "-device", "virtio-net-device,netdev=net0"]
    label = "linux python (wall)"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    log = os.path.splitext(args.out)[0] + ".serial.log"
    started = time.monotonic()
    print(f"{label}: booting ({MEMORY}), httpd on 127.0.0.1:{port}…", flush=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready = threading.Event()
    errors = []

    def reader():
        with open(log, "w") as serial:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                serial.write(line + "\n")
                serial.flush()
                if line.startswith("BENCH-HTTP-ERROR"):
                    errors.append(line)
                elif line == "BENCH-HTTP-READY":
                    ready.set()

    threading.Thread(target=reader, daemon=True).start()
    results = {}
    try:
        if not ready.wait(args.boot_timeout):
            raise httpload.LoadError(f"no BENCH-HTTP-READY within {args.boot_timeout:.0f} s")
        if errors:
            raise httpload.LoadError("; ".join(errors))
        print(f"{label}: ready after {time.monotonic() - started:.1f} s", flush=True)
        for workload, size in pairs:
            print(f"{label}: {workload} {size}…", flush=True)
            results[f"python_{workload}_{size}"] = httpload.python_run(
                label, f"http://127.0.0.1:{port}/cgi-bin/python_{workload}", size, count)
    except httpload.LoadError as e:
        print(f"{label}: error: {e} (serial log: {log})", file=sys.stderr)
        return 1
    finally:
        proc.kill()
        proc.wait()
    records = httpload.python_records(results, "linux", {"smp": 2, "memory": MEMORY})
    with open(args.out, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    print(f"{label}: {len(records)} figures in {time.monotonic() - started:.1f} s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
