#!/usr/bin/env python3
"""profile_python.py: where the guest's time goes while it runs one of the Python image's functions.
Boots the system as python_run.py does (its memory, manager shares and a fresh store disk), pushes
the Python image, deploys --workload, sends one warm-up request and then --requests sequential ones
of --size while every vCPU is sampled through QEMU's monitor (bench/guest_profile.py). The function
tasks' user samples are split into the Linux personality (named by its symbols) and the program
(python3 and its libraries). Prints the profile and writes it to --out. Not part of `make bench`: a
tool for finding what to make faster (docs/BENCHMARKS.md, "Profiling a Python function").

    bench/metteagle/profile_python.py --build-dir build --workload graph_mst --out /tmp/mst.md
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
import guest_profile  # noqa: E402
import httpload  # noqa: E402
import qemu  # noqa: E402

_spec = importlib.util.spec_from_file_location("metteagle_python_run", os.path.join(here, "python_run.py"))
python_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(python_run)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--boot-config", default=os.path.join(here, "..", "..", "config", "system.boot"))
    ap.add_argument("--workload", default="graph_mst", choices=httpload.PYTHON_WORKLOADS)
    ap.add_argument("--size", default="small", choices=httpload.PYTHON_SIZES)
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--interval-ms", type=float, default=5.0, help="pause between samples")
    ap.add_argument("--icount", action="store_true",
                    help="-icount shift=0,sleep=off: the guest's durations count executed instructions")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    kernel = os.path.join(args.build_dir, "kernel", "metteagle.elf")
    personality = os.path.join(args.build_dir, "user", "linux_personality.elf")
    archive = os.path.join(args.build_dir, "images", "python", "python-oci.tar")
    modules = python_run.boot_list(args.boot_config, args.build_dir)
    programs = guest_profile.boot_programs(modules)
    for path in [kernel, personality, archive] + list(programs.values()):
        if not os.path.isfile(path):
            print(f"error: {path} is missing; build first", file=sys.stderr)
            return 1
    port = httpload.free_port()
    work = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(work, exist_ok=True)
    disk = os.path.splitext(args.out)[0] + ".disk.img"
    with open(disk, "wb") as f:
        f.truncate(python_run.DISK_SIZE)
    monitor = os.path.splitext(os.path.abspath(args.out))[0] + ".monitor.sock"
    argv = qemu.command_line(kernel, "", modules, "tcg", args.icount, python_run.MEMORY, network_forwards=[(port, 8080)],
                             machine_options=("ioapic2=off",), disk=disk, disk_cache="unsafe",
                             extra=("-monitor", f"unix:{monitor},server,nowait"))
    log = os.path.splitext(args.out)[0] + ".serial.log"
    with open(log, "w") as serial:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=serial, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            httpload.wait_http(f"{base}/healthz", 180)
            with open(archive, "rb") as f:
                status, body = httpload.request(f"{base}/system/images?name={python_run.IMAGE}", f.read(),
                                                dict(python_run.KEY, **{"Content-Type": "application/x-tar"}),
                                                timeout=1800)
            if status != 201:
                raise httpload.LoadError(f"pushing the image answered {status}: {body[:300]!r}")
            name = "py-" + args.workload.replace("_", "-")
            python_run.deploy(base, name, [f"/function/{args.workload}.py"])
            url = f"{base}/function/{name}"
            httpload.python_run("warm-up", url, args.size, 1, python_run.KEY)
            sampler = guest_profile.Sampler(monitor, kernel, programs, args.interval_ms / 1000, personality)
            sampler.start()
            started = time.monotonic()
            httpload.python_run("profiled", url, args.size, args.requests, python_run.KEY)
            elapsed = time.monotonic() - started
            sampler.stop()
            # The function's log (its stderr): with -DMETTEAGLE_LINUX_PROFILE=ON the personality's
            # per-system-call summary of each invocation is there.
            status, logs = python_run.call(base, "GET", f"/system/logs?name={name}&tail=100000", python_run.KEY)
            with open(os.path.splitext(args.out)[0] + ".function.log", "wb") as f:
                f.write(logs)
        except (httpload.LoadError, OSError) as e:
            print(f"error: {e} (serial log: {log})", file=sys.stderr)
            return 1
        finally:
            proc.kill()
            proc.wait()
            os.unlink(disk)
    head = (f"# Python profile: {args.workload} {args.size}, {args.requests} sequential requests "
            f"({elapsed:.1f} s with the sampling)\n\n")
    return guest_profile.write_report(sampler, head, args.out)


if __name__ == "__main__":
    sys.exit(main())
