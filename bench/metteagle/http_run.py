#!/usr/bin/env python3
"""http_run.py: boots the `make run` system (config/system.boot, with the bench's own API keys,
gateway.keys here) in wall mode with a host port forwarded to the gateway, deploys the empty and
echo functions over HTTP and drives them with wrk from the host (bench/httpload.py): the 1 MiB echo
throughput, the noisy-neighbour figure (tenant B's echo p99 while tenant A keeps its limit of slow
invocations in flight, over B's p99 idle), `GET /healthz` (the front door alone: the gateway's loop
and the net server, no invocation) and last the empty function, each at 1, 4, 16 and 64 connections
with the QEMU process's host CPU per answer; writes JSON records (system "metteagle", mode "wall")."""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
import httpload  # noqa: E402
import qemu  # noqa: E402

KEY = {"Authorization": "Bearer dev-key-alpha"}
KEY_B = {"Authorization": "Bearer dev-key-beta"}  # the second tenant.
OPERATOR = {"Authorization": "Bearer dev-key-operator"}  # sees every tenant's series in /metrics.
# `make run`'s guest memory and a store disk big enough for the store's own records.
MEMORY = "2G"
DISK_SIZE = 256 << 20
ATTACKERS = 4  # dev-key-alpha's limit=4: all 4 run at once on the gateway's invocation threads.
# The bench's own API keys (alpha may queue 64 invocations: wrk's 64 connections wait, never 429);
# the key names are config/gateway.keys'.
BENCH_KEYS = os.path.join(here, "gateway.keys")


def boot_modules(config: str, build: str) -> list:
    modules = []
    with open(config) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                modules.append(line.replace("{build}", build))
    return modules


def with_keys(modules: list, keys: str) -> list:
    """The boot modules with the gateway's keys data module (`... data name=keys`) read from `keys`."""
    out = [m for m in modules if not m.endswith(" data name=keys")]
    if len(out) != len(modules) - 1:
        raise ValueError("the boot configuration has no single `data name=keys` module")
    return out + [f"{keys} data name=keys"]


def deploy(base: str, name: str, elf: str, key=None, config=None) -> None:
    with open(elf, "rb") as f:
        data = f.read()
    status, body = httpload.request(f"{base}/system/functions", data,
                                    dict(key or KEY, **{"X-Function-Config": json.dumps(dict({"name": name}, **(config or {}))),
                                                        "Content-Type": "application/octet-stream"}))
    if status != 201:
        raise httpload.LoadError(f"deploying {name} answered {status}: {body[:200]!r}")


# /metrics lines worth seeing after the connection sweep: where requests went (answers by status,
# 429s, queued and dropped invocations, connections) and the invocations' own time.
GATEWAY_COUNTERS = ("metteagle_http_responses_total", "metteagle_rejected_total", "metteagle_admission_queued_total",
                    "metteagle_admission_dropped_total", "metteagle_connections_", "metteagle_duration_seconds_sum",
                    "metteagle_duration_seconds_count", "metteagle_cold_start_seconds_sum",
                    "metteagle_cold_start_seconds_count", "metteagle_timeouts_total", "metteagle_errors_total")


def log_gateway_counters(label: str, base: str) -> None:
    """Prints the gateway's counters (GATEWAY_COUNTERS) to the runner's output; a diagnostic, no record."""
    req = urllib.request.Request(f"{base}/metrics", headers=OPERATOR)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as e:
        print(f"{label}: /metrics not read: {e}", flush=True)
        return
    for line in text.splitlines():
        if line.startswith(GATEWAY_COUNTERS):
            print(f"{label}:   {line}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--boot-config", default=os.path.join(here, "..", "..", "config", "system.boot"))
    ap.add_argument("--keys", default=BENCH_KEYS, help="the gateway's API keys (default: %(default)s)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="3 s runs (smoke test)")
    ap.add_argument("--boot-timeout", type=float, default=120)
    args = ap.parse_args()

    kernel = os.path.join(args.build_dir, "kernel", "metteagle.elf")
    modules = with_keys(boot_modules(args.boot_config, args.build_dir), args.keys)
    for path in [kernel] + [m.split(" ", 1)[0] for m in modules]:
        if not os.path.isfile(path):
            print(f"error: {path} is missing; build first", file=sys.stderr)
            return 1
    port = httpload.free_port()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # The make-run system as `make run` boots it: its memory (the Linux guest's HTTP mode has the
    # same) and a fresh, sparse image-store disk (the gateway waits for the store at boot).
    disk = os.path.splitext(args.out)[0] + ".disk.img"
    with open(disk, "wb") as f:
        f.truncate(DISK_SIZE)
    # Wall mode: plain TCG with the CPU count of every other benchmark boot.
    argv = qemu.command_line(kernel, "", modules, "tcg", False, MEMORY, network_forwards=[(port, 8080)],
                             machine_options=("ioapic2=off",), disk=disk, disk_cache="unsafe")
    label = "metteagle http (wall)"
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
            # The echo and the noisy-neighbour figure first, the connection sweep last: the requests
            # its 64-connection run leaves queued would still be running under them.
            figures = httpload.echo_throughput(label, f"{base}/function/echo", KEY, args.quick)
            deploy(base, "pause", os.path.join(fdir, "pause.elf"), KEY, {"timeout_ms": 60000})
            deploy(base, "echo", os.path.join(fdir, "echo.elf"), KEY_B)
            figures.update(httpload.noisy_neighbour(label, f"{base}/function/echo", KEY_B, f"{base}/function/pause",
                                                    KEY, ATTACKERS, b"2000", args.quick))
            # The front door alone: `GET /healthz`, answered by the gateway's event loop through the
            # net server with no thread and no invocation; what the empty function costs beyond it
            # is the invocation's (docs/BENCHMARKS.md, "What an invocation costs the host").
            cpu = lambda: httpload.process_cpu_seconds(proc.pid)  # noqa: E731
            figures.update(httpload.invoke_sweep(label, f"{base}/healthz", None, args.quick, None, cpu,
                                                 "http_healthz", "GET"))
            empty = f"{base}/function/empty"
            figures.update(httpload.invoke_sweep(label, empty, KEY, args.quick,
                                                 httpload.drain_by_request(label, empty, KEY), cpu))
            log_gateway_counters(label, base)
        except httpload.LoadError as e:
            print(f"{label}: error: {e} (serial log: {log})", file=sys.stderr)
            return 1
        finally:
            proc.kill()
            proc.wait()
            os.unlink(disk)
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
