#!/usr/bin/env python3
"""run.py: boots MettEagle with its benchmark root task (icount or wall mode), parses the serial
output with the Linux side's strict parser and writes JSON result records."""
import argparse
import json
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "linux"))
sys.path.insert(0, os.path.join(here, "..", "..", "scripts"))
import qemu  # noqa: E402
import serialfmt  # noqa: E402

# Two boots: the kernel benchmarks run as the root task; the container benchmarks run as a client
# of the container manager, both started by the root task.
KERNEL_METRICS = ["null_syscall", "thread_interrupt", "ipc_roundtrip_same_cpu", "ipc_roundtrip_cross_cpu", "map_unmap_page", "demand_zero_page",
                  "task_create_destroy", "task_spawn_wait"]
CONTAINER_METRICS = ["cold_invoke_empty", "cold_invoke_create", "cold_invoke_load", "cold_invoke_run",
                     "cold_invoke_teardown", "cold_invoke_linux_static", "cold_invoke_go_hello", "fork_exec_wait",
                     "pipe_roundtrip",
                     "invocations_per_second_1cpu",
                     "invocations_per_second_2cpu"]
IMAGE_METRICS = ["python_cold_start", "fs_stat", "fs_open_read_close", "fs_getdents_1000"]
# The Python image's tree (106 MiB) travels inside image_bench.elf and is copied at deploy: the
# guest needs more than the default memory, and the manager's tenant shares must hold it.
PYTHON_MEMORY = "1536M"
PYTHON_MANAGER_CONFIG = os.path.join(here, "..", "..", "tests", "scenarios", "data", "python-manager.conf")


def boots(programs: str):
    """(label, boot modules, expected metrics[, guest memory]) of each benchmark boot."""
    user = lambda name: os.path.join(programs, name)  # noqa: E731
    return [
        ("kernel", [user("metteagle_bench.elf"), user("bench_server.elf"), user("bench_empty.elf")], KERNEL_METRICS),
        ("containers", [user("root.elf"),
                        user("manager.elf") + " task thread factory=200M slots=65536 console=write endpoint=manager:receive",
                        user("invoke_bench.elf") + " task factory=16M console=write+exit endpoint=manager:send+grant"],
         CONTAINER_METRICS),
        ("images", [user("root.elf"), PYTHON_MANAGER_CONFIG + " data name=pymanager",
                    user("manager.elf") + " task thread factory=480M slots=65536 console=write endpoint=manager:receive"
                    " file=pymanager",
                    user("image_bench.elf") + " task factory=160M console=write+exit endpoint=manager:send+grant"],
         IMAGE_METRICS, PYTHON_MEMORY),
    ]


def run_boot(kernel: str, label: str, modules, metrics, icount: bool, timeout: float,
             memory: str = qemu.DEFAULT_MEMORY) -> dict:
    """Boots once and returns the parsed results; raises SerialFormatError."""
    for module in modules:
        path = module.split(" ", 1)[0]
        if not os.path.isfile(path):
            raise serialfmt.SerialFormatError(f"{path} is missing; build first")
    # Same machine model, memory and CPU count as the Linux guest's wall mode; always TCG.
    argv = qemu.command_line(kernel, "bench", modules, "tcg", icount, memory)
    print(f"{label}: booting…", flush=True)
    try:
        completed = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=timeout)
        transcript = completed.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as expired:
        transcript = (expired.stdout or b"").decode("utf-8", "replace")
    for line in transcript.splitlines():
        if line.startswith("BENCH-START"):
            print(f"{label}: {line.split(' ', 1)[1]}", flush=True)
    try:
        return serialfmt.parse_transcript(transcript, metrics)
    except serialfmt.SerialFormatError:
        print("\n".join(transcript.splitlines()[-20:]), file=sys.stderr)
        raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["icount", "wall"], required=True)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    kernel = os.path.join(args.build_dir, "kernel", "metteagle.elf")
    started = time.monotonic()
    records = []
    unit = "ns_icount" if args.mode == "icount" else "ns"
    for name, modules, metrics, *memory in boots(os.path.join(args.build_dir, "user")):
        label = f"metteagle {name} ({args.mode})"
        try:
            results = run_boot(kernel, label, modules, metrics, args.mode == "icount", args.timeout, *memory)
        except serialfmt.SerialFormatError as error:
            print(f"{label}: error: {error}", file=sys.stderr)
            return 1
        extra = {"build_type": os.environ.get("BUILD_TYPE", "RelWithDebInfo"), "cpus": qemu.DEFAULT_CPUS}
        rates = {m: s for m, s in results.items() if m.endswith("_per_second_1cpu") or m.endswith("_per_second_2cpu")}
        times = {m: s for m, s in results.items() if m not in rates}
        records += serialfmt.make_records(times, "metteagle", args.mode, "tcg", unit, extra)
        records += serialfmt.make_records(rates, "metteagle", args.mode, "tcg", "per_second", extra)
    with open(args.out, "w") as out:
        json.dump(records, out, indent=1)
    print(f"metteagle ({args.mode}): {len(records)} figures in {time.monotonic() - started:.1f} s -> {args.out}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
