#!/usr/bin/env python3
"""Runs one QEMU scenario and decides pass or fail from the guest's serial output and exit status.

The guest prints "ok N - name" / "not ok N - name: reason" per case and a final
"P passed, F failed" line, then exits QEMU through isa-debug-exit. A scenario passes only when
the exit status says success, the summary says 0 failed with P > 0, and the case lines agree
with the summary. A hang fails after --timeout seconds. The serial log is kept; on failure its
tail is printed.
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import qemu  # noqa: E402

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def judge_pass(status, lines):
    """Returns None when the transcript shows a passing run, else the reason it failed."""
    summaries = [SUMMARY.match(line) for line in lines if SUMMARY.match(line)]
    passed_lines = [line for line in lines if re.match(r"^ok \d+ - ", line)]
    failed_lines = [line for line in lines if re.match(r"^not ok \d+ - ", line)]
    if any("KERNEL PANIC" in line for line in lines):
        return "the kernel panicked"
    if not summaries:
        return f"no 'N passed, N failed' summary line (QEMU exit status {status})"
    passed, failed = int(summaries[-1].group(1)), int(summaries[-1].group(2))
    if failed or failed_lines:
        return f"{max(failed, len(failed_lines))} case(s) failed"
    if passed == 0:
        return "no case ran"
    if passed != len(passed_lines):
        return f"summary says {passed} passed but {len(passed_lines)} 'ok' lines were printed"
    if status != qemu.EXIT_SUCCESS:
        return f"QEMU exit status {status}, expected {qemu.EXIT_SUCCESS} (guest success)"
    return None


def judge_panic(status, lines):
    if status != qemu.EXIT_PANIC:
        return f"QEMU exit status {status}, expected {qemu.EXIT_PANIC} (kernel panic)"
    if not any("KERNEL PANIC" in line for line in lines):
        return "exit status says panic but no 'KERNEL PANIC' line was printed"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--append", default="")
    parser.add_argument("--module", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--cpus", type=int, default=qemu.DEFAULT_CPUS)
    parser.add_argument("--memory", default=qemu.DEFAULT_MEMORY)
    parser.add_argument("--expect", choices=["pass", "panic"], default="pass")
    parser.add_argument("--log-dir", default=".")
    args = parser.parse_args()

    os.makedirs(args.log_dir, exist_ok=True)
    log_path = os.path.join(args.log_dir, f"{args.name}.log")
    # Scenarios always run under TCG: their outcome must not depend on the host's accelerator.
    argv = qemu.command_line(args.kernel, args.append, args.module, "tcg", False, args.memory, args.cpus)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            status = process.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            status = None
    elapsed = time.monotonic() - started
    with open(log_path, "rb") as log:
        lines = [line.rstrip("\r") for line in log.read().decode("utf-8", "replace").split("\n")]

    if status is None:
        reason = f"timed out after {args.timeout:.0f} s (hang)"
    elif args.expect == "pass":
        reason = judge_pass(status, lines)
    else:
        reason = judge_panic(status, lines)

    if reason is None:
        print(f"scenario {args.name}: passed in {elapsed:.2f} s (log {log_path})")
        return 0
    print(f"scenario {args.name}: FAILED: {reason} after {elapsed:.2f} s")
    print(f"--- last lines of {log_path} ---")
    for line in lines[-40:]:
        print(line)
    return 1


if __name__ == "__main__":
    sys.exit(main())
