#!/usr/bin/env python3
"""profile_http.py: where the guest's time goes while it answers HTTP invocations. Boots the
`make run` system as http_run.py does (config/system.boot, the bench's keys, TCG, wall mode) with
a QEMU monitor socket, deploys the empty function, drives it with wrk at --connections for
--seconds, and meanwhile samples every vCPU through the monitor (bench/guest_profile.py). Prints
the profile (Markdown tables: halted / kernel / user per task, then the hottest functions) and
writes it to --out. Not part of `make bench`: a tool for finding what to make faster.

    bench/metteagle/profile_http.py --build-dir build --connections 4 --seconds 10 --out /tmp/p.md
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
import guest_profile  # noqa: E402
import http_run  # noqa: E402
import httpload  # noqa: E402
import qemu  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--boot-config", default=os.path.join(here, "..", "..", "config", "system.boot"))
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--interval-ms", type=float, default=5.0, help="pause between samples")
    ap.add_argument("--pcap", help="also capture the guest's frames (QEMU's filter-dump) to this pcap file")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    kernel = os.path.join(args.build_dir, "kernel", "metteagle.elf")
    modules = http_run.with_keys(http_run.boot_modules(args.boot_config, args.build_dir), http_run.BENCH_KEYS)
    programs = guest_profile.boot_programs(modules)
    for path in [kernel] + list(programs.values()):
        if not os.path.isfile(path):
            print(f"error: {path} is missing; build first", file=sys.stderr)
            return 1
    port = httpload.free_port()
    with tempfile.TemporaryDirectory() as work:
        disk = os.path.join(work, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(http_run.DISK_SIZE)
        monitor = os.path.join(work, "monitor.sock")
        argv = qemu.command_line(kernel, "", modules, "tcg", False, http_run.MEMORY, network_forwards=[(port, 8080)],
                                 machine_options=("ioapic2=off",), disk=disk, disk_cache="unsafe",
                                 extra=("-monitor", f"unix:{monitor},server,nowait") +
                                 (("-object", f"filter-dump,id=dump0,netdev=net0,file={args.pcap}") if args.pcap else ()))
        log = os.path.splitext(args.out)[0] + ".serial.log"
        with open(log, "w") as serial:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=serial, stderr=subprocess.STDOUT)
            try:
                base = f"http://127.0.0.1:{port}"
                httpload.wait_http(f"{base}/healthz", 120)
                http_run.deploy(base, "empty", os.path.join(args.build_dir, "user", "functions", "empty.elf"))
                sampler = guest_profile.Sampler(monitor, kernel, programs, args.interval_ms / 1000)
                sampler.start()
                started = time.monotonic()
                result = httpload.wrk(f"{base}/function/empty", args.seconds, args.connections, http_run.KEY,
                                      strict=False)
                elapsed = time.monotonic() - started
                sampler.stop()
            except httpload.LoadError as e:
                print(f"error: {e} (serial log: {log})", file=sys.stderr)
                return 1
            finally:
                proc.kill()
                proc.wait()
    head = (f"# HTTP profile: empty function, {args.connections} connections, {args.seconds} s of wrk "
            f"({elapsed:.1f} s with the sampling)\n\n{result['requests']} requests answered "
            f"({result['requests'] / elapsed:.1f}/s while sampled; "
            f"{httpload.failed_requests(result)} failed)\n\n")
    return guest_profile.write_report(sampler, head, args.out)


if __name__ == "__main__":
    sys.exit(main())
