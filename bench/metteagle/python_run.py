#!/usr/bin/env python3
"""python_run.py: the Python image's functions over HTTP on MettEagle (issue 11, item 7). Boots the
`make run` system (config/system.boot, with a fresh image-store disk and manager shares that hold
the Python image), pushes build/images/python/python-oci.tar with POST /system/images, deploys each
function by image (`/usr/bin/python3 /function/<workload>.py`, the image's entrypoint and the
function's file) and times sequential requests of each size from the host (bench/httpload.py,
python_run); writes records python_<workload>_<size> (system "metteagle", mode "wall", unit ns).
Then the memory figures of docs/BENCHMARKS.md ("Memory of image invocations"): what one invocation
keeps private, and what a second concurrent invocation of the same image adds to the machine."""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
import httpload  # noqa: E402
import qemu  # noqa: E402

# bench/metteagle/http_run.py by its path (httpload puts bench/linux, with its own http_run, first).
_spec = importlib.util.spec_from_file_location("metteagle_http_run", os.path.join(here, "http_run.py"))
metteagle_http_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(metteagle_http_run)

KEY = {"Authorization": "Bearer dev-key-alpha"}
OPERATOR = {"Authorization": "Bearer dev-key-operator"}  # config/gateway.keys: sees the machine's figures.
IMAGE = "python:bench"
# The guest: make run's default memory; the manager's factory and its tenant shares grown so that a
# tenant holds the 110 MB tree (charged to its storage per deployed function) and an invocation may
# use the largest memory limit (256 MiB, what the standard graphs need) twice at once.
MEMORY = "2G"
MANAGER_FACTORY = "720M"
MANAGER_CONFIG = os.path.join(here, "python-manager.conf")
FUNCTION_MEMORY = 256 << 20
DISK_SIZE = 1 << 30
# The memory figure's function: the interpreter started and asleep, so that two invocations overlap.
SLEEP_SECONDS = 40


# Management calls wait long: a deploy by image opens and checks the 110 MB tree, and under TCG on a
# loaded host that alone can take minutes.
MANAGEMENT_TIMEOUT_S = 900


def call(base: str, method: str, path: str, headers=None, timeout: float = MANAGEMENT_TIMEOUT_S):
    req = urllib.request.Request(base + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def boot_list(config: str, build: str) -> list:
    """config/system.boot's modules with the manager's factory grown and its share configuration."""
    modules = []
    for module in metteagle_http_run.boot_modules(config, build):
        words = module.split(" ")
        if os.path.basename(words[0]) == "manager.elf":
            words = [w if not w.startswith("factory=") else "factory=" + MANAGER_FACTORY for w in words]
            words.append("file=pybenchmanager")
        modules.append(" ".join(words))
    modules.append(MANAGER_CONFIG + " data name=pybenchmanager")
    return modules


def deploy(base: str, name: str, args: list) -> None:
    config = {"name": name, "image": IMAGE, "args": args, "memory": FUNCTION_MEMORY,
              "timeout_ms": httpload.PYTHON_REQUEST_TIMEOUT_S * 1000}
    status, body = httpload.request(f"{base}/system/functions", b"",
                                    dict(KEY, **{"X-Function-Config": json.dumps(config)}),
                                    timeout=MANAGEMENT_TIMEOUT_S)
    if status != 201:
        raise httpload.LoadError(f"deploying {name} by image answered {status}: {body[:300]!r}")


def remove(base: str, name: str) -> None:
    status, body = call(base, "DELETE", f"/system/functions/{name}", KEY)
    if status != 200:
        raise httpload.LoadError(f"removing {name} answered {status}: {body[:200]!r}")


def describe(base: str, name: str) -> dict:
    status, body = call(base, "GET", f"/system/functions/{name}", KEY)
    if status != 200:
        raise httpload.LoadError(f"describing {name} answered {status}: {body[:200]!r}")
    return json.loads(body)


def kernel_free_bytes(base: str) -> int:
    status, body = call(base, "GET", "/metrics", OPERATOR)
    if status != 200:
        raise httpload.LoadError(f"/metrics answered {status}")
    for line in body.decode().splitlines():
        if line.startswith("metteagle_kernel_free_bytes "):
            return int(float(line.split()[1]))
    raise httpload.LoadError("/metrics has no metteagle_kernel_free_bytes")


def memory_figures(base: str, label: str) -> dict:
    """One invocation of the image alone, then a second one beside it: the machine's free memory
    (the kernel's count) before, with one, and with both asleep in the interpreter; each
    invocation's private bytes as describe reports them after it ended."""
    name = "py-sleep"
    deploy(base, name, ["-c", f"import time; time.sleep({SLEEP_SECONDS})"])
    results, threads = [], []

    def invoke():
        results.append(httpload.request(f"{base}/function/{name}", b"", KEY,
                                        timeout=httpload.PYTHON_REQUEST_TIMEOUT_S)[0])

    def settled(previous: int) -> int:
        # The interpreter's start under TCG takes a few seconds: wait until free memory stops falling.
        time.sleep(3)
        value = kernel_free_bytes(base)
        for _ in range(20):
            time.sleep(2)
            now = kernel_free_bytes(base)
            if now == value and now < previous:
                return now
            value = now
        return value

    free_before = kernel_free_bytes(base)
    threads.append(threading.Thread(target=invoke))
    threads[-1].start()
    free_one = settled(free_before)
    threads.append(threading.Thread(target=invoke))
    threads[-1].start()
    free_two = settled(free_one)
    for t in threads:
        t.join()
    if results != [200, 200]:
        raise httpload.LoadError(f"the sleeping invocations answered {results}")
    described = describe(base, name)
    remove(base, name)
    figures = {"tree_bytes": described.get("tree_bytes"), "private_bytes_last": described.get("private_bytes_last"),
               "private_bytes_max": described.get("private_bytes_max"), "free_before": free_before,
               "first_adds": free_before - free_one, "second_adds": free_one - free_two}
    print(f"{label}: memory: tree {figures['tree_bytes']} bytes shared; an invocation's private bytes "
          f"{figures['private_bytes_last']} (max {figures['private_bytes_max']}); the machine's free memory fell "
          f"by {figures['first_adds']} with one invocation and by {figures['second_adds']} more with a second",
          flush=True)
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--boot-config", default=os.path.join(here, "..", "..", "config", "system.boot"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--python-requests", type=int, default=None,
                    help=f"requests per workload and size (default BENCH_PYTHON_REQUESTS or {httpload.PYTHON_REQUESTS})")
    ap.add_argument("--workloads", default="", help="comma-separated subset of " + ",".join(httpload.PYTHON_WORKLOADS))
    ap.add_argument("--sizes", default="", help="comma-separated subset of small,standard")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory figures")
    ap.add_argument("--boot-timeout", type=float, default=180)
    ap.add_argument("--cpus", type=int, default=qemu.DEFAULT_CPUS,
                    help="vCPUs (a diagnostic: the comparison with Linux uses the default two)")
    args = ap.parse_args()

    count = httpload.python_request_count(args.python_requests)
    try:
        pairs = httpload.python_selection(args.workloads, args.sizes)
    except httpload.LoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    kernel = os.path.join(args.build_dir, "kernel", "metteagle.elf")
    archive = os.path.join(args.build_dir, "images", "python", "python-oci.tar")
    modules = boot_list(args.boot_config, args.build_dir)
    for path in [kernel, archive] + [m.split(" ", 1)[0] for m in modules]:
        if not os.path.isfile(path):
            print(f"error: {path} is missing; build first (make build)", file=sys.stderr)
            return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # A fresh, sparse store disk for every run: the push below is part of the run.
    disk = os.path.splitext(args.out)[0] + ".disk.img"
    with open(disk, "wb") as f:
        f.truncate(DISK_SIZE)
    port = httpload.free_port()
    argv = qemu.command_line(kernel, "", modules, "tcg", False, MEMORY, cpus=args.cpus, network_forwards=[(port, 8080)],
                             machine_options=("ioapic2=off",), disk=disk, disk_cache="unsafe")
    label = "metteagle python (wall)"
    log = os.path.splitext(args.out)[0] + ".serial.log"
    started = time.monotonic()
    print(f"{label}: booting the make-run system ({MEMORY}), gateway on 127.0.0.1:{port}…", flush=True)
    results, memory = {}, None
    with open(log, "w") as serial:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=serial, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            httpload.wait_http(f"{base}/healthz", args.boot_timeout)
            print(f"{label}: gateway answers after {time.monotonic() - started:.1f} s; pushing {archive}…", flush=True)
            pushed = time.monotonic()
            with open(archive, "rb") as f:
                data = f.read()
            status, body = httpload.request(f"{base}/system/images?name={IMAGE}", data,
                                            dict(KEY, **{"Content-Type": "application/x-tar"}), timeout=1800)
            if status != 201:
                raise httpload.LoadError(f"pushing the image answered {status}: {body[:300]!r}")
            print(f"{label}: pushed in {time.monotonic() - pushed:.1f} s: {body.decode().strip()}", flush=True)
            for workload in dict.fromkeys(w for w, _ in pairs):
                name = "py-" + workload.replace("_", "-")
                began = time.monotonic()
                deploy(base, name, [f"/function/{workload}.py"])
                print(f"{label}: deployed {name} from the image in {time.monotonic() - began:.1f} s", flush=True)
                for w, size in pairs:
                    if w != workload:
                        continue
                    print(f"{label}: {workload} {size}…", flush=True)
                    results[f"python_{workload}_{size}"] = httpload.python_run(
                        label, f"{base}/function/{name}", size, count, KEY)
                remove(base, name)
            if not args.no_memory:
                memory = memory_figures(base, label)
        except (httpload.LoadError, OSError, ValueError) as e:
            print(f"{label}: error: {e} (serial log: {log})", file=sys.stderr)
            return 1
        finally:
            proc.kill()
            proc.wait()
            os.unlink(disk)
    extra = {"build_type": os.environ.get("BUILD_TYPE", "RelWithDebInfo"), "cpus": args.cpus, "memory": MEMORY}
    records = httpload.python_records(results, "metteagle", extra)
    if memory is not None:
        # Bytes, not a time: report.py lists them (docs/BENCHMARKS.md, Memory of image invocations).
        for metric, key in (("image_invocation_private_bytes", "private_bytes_last"),
                            ("image_second_invocation_adds_bytes", "second_adds"),
                            ("image_tree_shared_bytes", "tree_bytes")):
            if isinstance(memory.get(key), int):
                rec = httpload.serialfmt.make_records({metric: {"median": memory[key], "min": memory[key],
                                                                "p99": memory[key], "n": 1}},
                                                      "metteagle", "wall", "tcg", "bytes", dict(extra))[0]
                del rec["min"], rec["p99"]
                rec["memory_figures"] = memory
                records.append(rec)
    with open(args.out, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    print(f"{label}: {len(records)} figures in {time.monotonic() - started:.1f} s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
