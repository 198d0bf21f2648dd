#!/usr/bin/env python3
"""http_run.py: boots the `make run` system (config/system.boot) in wall mode with a host port forwarded to
the gateway, deploys the empty and echo functions over HTTP and drives them with wrk from the host
(bench/httpload.py), then measures the noisy-neighbour figure (tenant B's echo p99 while tenant A
keeps its limit of slow invocations in flight, over B's p99 idle); writes JSON records (system
"metteagle", mode "wall")."""
import argparse
import json
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
import httpload  # noqa: E402
import qemu  # noqa: E402

KEY = {"Authorization": "Bearer dev-key-alpha"}
KEY_B = {"Authorization": "Bearer dev-key-beta"}  # config/gateway.keys: the second tenant.
ATTACKERS = 4  # dev-key-alpha's limit=4: all 4 run at once on the gateway's invocation threads.


def boot_modules(config: str, build: str) -> list:
    modules = []
    with open(config) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                modules.append(line.replace("{build}", build))
    return modules


def deploy(base: str, name: str, elf: str, key=None, config=None) -> None:
    with open(elf, "rb") as f:
        data = f.read()
    status, body = httpload.request(f"{base}/system/functions", data,
                                    dict(key or KEY, **{"X-Function-Config": json.dumps(dict({"name": name}, **(config or {}))),
                                                        "Content-Type": "application/octet-stream"}))
    if status != 201:
        raise httpload.LoadError(f"deploying {name} answered {status}: {body[:200]!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--boot-config", default=os.path.join(here, "..", "..", "config", "system.boot"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="3 s runs (smoke test)")
    ap.add_argument("--boot-timeout", type=float, default=120)
    args = ap.parse_args()

    kernel = os.path.join(args.build_dir, "kernel", "metteagle.elf")
    modules = boot_modules(args.boot_config, args.build_dir)
    for path in [kernel] + [m.split(" ", 1)[0] for m in modules]:
        if not os.path.isfile(path):
            print(f"error: {path} is missing; build first", file=sys.stderr)
            return 1
    port = httpload.free_port()
    # Wall mode: plain TCG, the machine, memory and CPU count of every other benchmark boot.
    argv = qemu.command_line(kernel, "", modules, "tcg", False, network_forwards=[(port, 8080)])
    label = "metteagle http (wall)"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    log = os.path.splitext(args.out)[0] + ".serial.log"
    started = time.monotonic()
    print(f"{label}: booting the make-run system, gateway on 127.0.0.1:{port}…", flush=True)
    with open(log, "w") as serial:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=serial, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            httpload.wait_http(f"{base}/healthz", args.boot_timeout)
            print(f"{label}: gateway answers after {time.monotonic() - started:.1f} s", flush=True)
            fdir = os.path.join(args.build_dir, "user", "functions")
            deploy(base, "empty", os.path.join(fdir, "empty.elf"))
            deploy(base, "echo", os.path.join(fdir, "echo.elf"))
            figures = httpload.run_workload(label, f"{base}/function/empty", f"{base}/function/echo", KEY,
                                            args.quick)
            deploy(base, "pause", os.path.join(fdir, "pause.elf"), KEY, {"timeout_ms": 60000})
            deploy(base, "echo", os.path.join(fdir, "echo.elf"), KEY_B)
            figures.update(httpload.noisy_neighbour(label, f"{base}/function/echo", KEY_B, f"{base}/function/pause",
                                                    KEY, ATTACKERS, b"2000", args.quick))
        except httpload.LoadError as e:
            print(f"{label}: error: {e} (serial log: {log})", file=sys.stderr)
            return 1
        finally:
            proc.kill()
            proc.wait()
    extra = {"build_type": os.environ.get("BUILD_TYPE", "RelWithDebInfo"), "cpus": qemu.DEFAULT_CPUS,
             "quick": args.quick}
    records = httpload.records(figures, "metteagle", extra)
    with open(args.out, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    print(f"{label}: {len(records)} figures in {time.monotonic() - started:.1f} s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
