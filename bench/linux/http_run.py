#!/usr/bin/env python3
"""http_run.py: boots the Linux baseline guest in HTTP mode (bench.http=1: virtio-net up, busybox httpd
whose CGI starts one crun container per request on guest port 8080, and the warm process
`warm_server` on guest port 8081) in wall mode with a host port forwarded to each, waits for
BENCH-HTTP-READY on serial and drives both with wrk from the host (bench/httpload.py) as
bench/metteagle/http_run.py drives MettEagle; writes JSON records (mode "wall"): system "linux" for
httpd + crun, "linux-warm" for the warm process (the empty function's connection sweep only)."""
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="3 s runs (smoke test)")
    ap.add_argument("--boot-timeout", type=float, default=120)
    args = ap.parse_args()

    guest = os.path.join(args.build_dir, "linux-guest")
    for f in ("vmlinux", "initramfs.cpio"):
        if not os.path.isfile(os.path.join(guest, f)):
            print(f"error: {guest}/{f} missing; run bench/linux/build-guest.sh {args.build_dir}", file=sys.stderr)
            return 1
    port = httpload.free_port()
    warm_port = httpload.free_port()
    while warm_port == port:
        warm_port = httpload.free_port()
    # The wall-mode command line of run.py (same machine, memory, 2 vCPUs, TCG) plus the network
    # device MettEagle's HTTP boot gets.
    cmd = run.qemu_command(guest, "wall", "full", [])
    i = cmd.index("-append")
    cmd[i + 1] += " bench.http=1"
    cmd += ["-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:8080,"
            f"hostfwd=tcp:127.0.0.1:{warm_port}-:8081", "-device", "virtio-net-device,netdev=net0"]
    label = "linux http (wall)"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    log = os.path.splitext(args.out)[0] + ".serial.log"
    started = time.monotonic()
    print(f"{label}: booting, httpd on 127.0.0.1:{port}, the warm process on 127.0.0.1:{warm_port}…", flush=True)
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
    try:
        if not ready.wait(args.boot_timeout):
            raise httpload.LoadError(f"no BENCH-HTTP-READY within {args.boot_timeout:.0f} s")
        if errors:
            raise httpload.LoadError("; ".join(errors))
        print(f"{label}: ready after {time.monotonic() - started:.1f} s", flush=True)
        base = f"http://127.0.0.1:{port}/cgi-bin"
        status, body = httpload.request(f"{base}/empty")
        if status != 200 or body:
            raise httpload.LoadError(f"first request answered {status} with {len(body)} bytes")
        # The warm process first: the crun sweep's last run leaves many containers starting.
        warm_url = f"http://127.0.0.1:{warm_port}/function/empty"
        status, body = httpload.request(warm_url)
        if status != 200 or body:
            raise httpload.LoadError(f"the warm process's first request answered {status} with {len(body)} bytes")
        cpu = lambda: httpload.process_cpu_seconds(proc.pid)  # noqa: E731
        warm_figures = httpload.invoke_sweep("linux-warm http (wall)", warm_url, None, args.quick, None, cpu)
        figures = httpload.run_workload(label, f"{base}/empty", f"{base}/echo", None, args.quick, cpu)
    except httpload.LoadError as e:
        print(f"{label}: error: {e} (serial log: {log})", file=sys.stderr)
        return 1
    finally:
        proc.kill()
        proc.wait()
    records = httpload.records(figures, "linux", {"smp": 2, "quick": args.quick})
    records += httpload.records(warm_figures, "linux-warm", {"smp": 2, "quick": args.quick})
    with open(args.out, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    print(f"{label}: {len(records)} figures in {time.monotonic() - started:.1f} s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
