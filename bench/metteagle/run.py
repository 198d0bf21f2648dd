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

METRICS = ["null_syscall", "ipc_roundtrip_same_cpu", "ipc_roundtrip_cross_cpu", "map_unmap_page",
           "task_create_destroy", "task_spawn_wait"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["icount", "wall"], required=True)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    programs = os.path.join(args.build_dir, "user")
    kernel = os.path.join(args.build_dir, "kernel", "metteagle.elf")
    modules = [os.path.join(programs, name) for name in ("metteagle_bench.elf", "bench_server.elf", "bench_empty.elf")]
    for path in [kernel] + modules:
        if not os.path.isfile(path):
            print(f"metteagle bench: {path} is missing; build first", file=sys.stderr)
            return 1
    # Same machine model, memory and CPU count as the Linux guest's wall mode; always TCG.
    argv = qemu.command_line(kernel, "bench", modules, "tcg", args.mode == "icount")
    label = f"metteagle ({args.mode})"
    print(f"{label}: booting…", flush=True)
    started = time.monotonic()
    try:
        completed = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=args.timeout)
        transcript = completed.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as expired:
        transcript = (expired.stdout or b"").decode("utf-8", "replace")
    for line in transcript.splitlines():
        if line.startswith("BENCH-START"):
            print(f"{label}: {line.split(' ', 1)[1]}", flush=True)
    try:
        results = serialfmt.parse_transcript(transcript, METRICS)
    except serialfmt.SerialFormatError as error:
        print(f"{label}: error: {error}", file=sys.stderr)
        print("\n".join(transcript.splitlines()[-20:]), file=sys.stderr)
        return 1
    unit = "ns_icount" if args.mode == "icount" else "ns"
    records = serialfmt.make_records(results, "metteagle", args.mode, "tcg", unit,
                                     {"build_type": os.environ.get("BUILD_TYPE", "RelWithDebInfo"), "cpus": qemu.DEFAULT_CPUS})
    with open(args.out, "w") as out:
        json.dump(records, out, indent=1)
    print(f"{label}: {len(records)} figures in {time.monotonic() - started:.1f} s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
