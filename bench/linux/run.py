#!/usr/bin/env python3
"""run.py: boots the Linux baseline guest under QEMU (icount or wall mode), parses its serial output and writes JSON records."""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serialfmt  # noqa: E402

ALL_METRICS = ["null_syscall", "pipe_roundtrip", "spawn_wait", "fork_exec_wait", "demand_zero_page", "go_spawn_wait",
               "crun_run", "crun_run_netns", "go_crun_run", "python_cold_start",
               "fs_stat", "fs_open_read_close", "fs_getdents_1000"]


def qemu_command(guest: str, mode: str, scale: str, only) -> list:
    # QEMU 7.2 with -icount hangs Linux while it brings up the second vCPU
    # (the virtual clock stops), so icount mode runs one vCPU; wall mode uses
    # the two the project's comparisons specify.
    smp = "1" if mode == "icount" else "2"
    # Under -icount the guest TSC advances 1 per instruction, i.e. at 1 GHz;
    # in wall mode it is the host's TSC. Telling Linux the rate skips the
    # calibration that sometimes hangs under TCG.
    khz = 1000000 if mode == "icount" else serialfmt.host_khz()
    append = (f"console=ttyS0 quiet loglevel=1 panic=-1 tsc_early_khz={khz} tsc=reliable no_timer_check "
              f"bench.scale={scale}")
    if only:
        append += " bench.only=" + ",".join(only)
    cmd = ["qemu-system-x86_64", "-M", "microvm,pit=on,pic=on,rtc=on", "-m", "512M", "-smp", smp,
           "-accel", "tcg"]
    if mode == "icount":
        cmd += ["-icount", "shift=0,sleep=off"]
    cmd += ["-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", os.path.join(guest, "vmlinux"), "-initrd", os.path.join(guest, "initramfs.cpio"),
            "-append", append]
    return cmd


def run_guest(cmd, label: str, expected, timeout: float) -> str:
    """Runs QEMU, echoes progress, returns the whole serial transcript."""
    print(f"{label}: booting…", flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # A watchdog kills QEMU when the whole run overstays, so a hung guest ends
    # as a parse error ("missing BENCH-DONE") instead of blocking make.
    timed_out = threading.Event()
    done_evt = threading.Event()

    def watchdog():
        if not done_evt.wait(timeout):
            timed_out.set()
            proc.kill()

    threading.Thread(target=watchdog, daemon=True).start()
    lines = []
    index = 0
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        now = time.monotonic() - start
        if line.startswith("BENCH-BEGIN"):
            print(f"{label}: init reached after {now:.1f} s", flush=True)
        elif line.startswith("BENCH-START "):
            index += 1
            print(f"{label}: {line.split(' ', 1)[1]} {index}/{len(expected)}…", flush=True)
        elif line.startswith("BENCH "):
            parts = line.split(" ")
            print(f"{label}:   {' '.join(parts[1:3])} {' '.join(parts[3:])}", flush=True)
        elif line.startswith("BENCH-ERROR"):
            print(f"{label}: {line}", flush=True)
        elif line == "BENCH-DONE":
            print(f"{label}: done after {now:.1f} s", flush=True)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        # poweroff -f normally ends QEMU at once; a guest that did not power
        # off has still produced complete output, so only warn.
        print(f"{label}: warning: QEMU did not exit after BENCH-DONE; killing it", file=sys.stderr)
        proc.kill()
        proc.wait()
    done_evt.set()
    if timed_out.is_set():
        print(f"{label}: error: killed after the {timeout:.0f} s timeout", file=sys.stderr)
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mode", choices=["icount", "wall"], required=True)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", required=True, help="JSON file to write the records to")
    ap.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    ap.add_argument("--only", default="", help="comma-separated metrics to run (default: all)")
    ap.add_argument("--timeout", type=float, default=400.0, help="seconds before QEMU is killed")
    args = ap.parse_args()

    guest = os.path.join(args.build_dir, "linux-guest")
    for f in ("vmlinux", "initramfs.cpio"):
        if not os.path.isfile(os.path.join(guest, f)):
            print(f"error: {guest}/{f} missing; run bench/linux/build-guest.sh {args.build_dir}", file=sys.stderr)
            return 1
    only = [m for m in args.only.split(",") if m]
    unknown = [m for m in only if m not in ALL_METRICS]
    if unknown:
        print(f"error: unknown metric(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    expected = only or ALL_METRICS
    label = f"linux guest ({args.mode})"
    cmd = qemu_command(guest, args.mode, "quick" if args.quick else "full", only)
    t0 = time.monotonic()
    transcript = run_guest(cmd, label, expected, args.timeout)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # The raw transcript is kept beside the records so a rejected run can be read.
    log = os.path.splitext(args.out)[0] + ".serial.log"
    with open(log, "w") as f:
        f.write(transcript)
    try:
        results = serialfmt.parse_transcript(transcript, expected)
    except serialfmt.SerialFormatError as e:
        print(f"{label}: error: rejected serial output: {e} (transcript: {log})", file=sys.stderr)
        return 1
    for m, s in results.items():
        if s["unit"] != "ns":
            print(f"{label}: error: {m} reported unit {s['unit']!r}, expected 'ns'", file=sys.stderr)
            return 1
    # In icount mode one guest-clock nanosecond is one executed instruction
    # (plus skipped idle time), so the unit says it is not wall time.
    unit = "ns_icount" if args.mode == "icount" else "ns"
    records = serialfmt.make_records(results, "linux", args.mode, "tcg", unit,
                                     {"smp": 1 if args.mode == "icount" else 2, "quick": args.quick})
    with open(args.out, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    print(f"{label}: wrote {len(records)} records to {args.out} ({time.monotonic() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
