#!/usr/bin/env python3
"""test_linux_boot.py: builds the Linux baseline guest if needed, boots it in quick mode and checks the records it yields."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(BENCH, "linux"))
import serialfmt  # noqa: E402

REQUIRED = ("metric", "system", "value", "unit", "mode", "cpu", "accel", "commit", "min", "p99", "n")


def fail(msg: str) -> int:
    print(f"FAIL: {msg}", file=sys.stderr)
    return 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--mode", default="wall", choices=["wall", "icount"])
    args = ap.parse_args()
    if subprocess.run([os.path.join(BENCH, "linux", "build-guest.sh"), args.build_dir]).returncode != 0:
        return fail("building the guest failed")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "linux-quick.json")
        rc = subprocess.run([sys.executable, os.path.join(BENCH, "linux", "run.py"), "--mode", args.mode,
                             "--build-dir", args.build_dir, "--out", out, "--quick", "--only", "null_syscall",
                             "--timeout", "120"]).returncode
        if rc != 0:
            return fail(f"run.py exited with {rc}")
        with open(out) as f:
            records = json.load(f)
        if len(records) != 1:
            return fail(f"expected one record, got {len(records)}")
        r = records[0]
        missing = [k for k in REQUIRED if k not in r]
        if missing:
            return fail(f"record lacks {missing}: {r}")
        want = {"metric": "null_syscall", "system": "linux", "mode": args.mode, "accel": "tcg",
                "unit": "ns" if args.mode == "wall" else "ns_icount"}
        for k, v in want.items():
            if r[k] != v:
                return fail(f"record field {k} is {r[k]!r}, expected {v!r}")
        if not (0 < r["min"] <= r["value"] <= r["p99"]) or r["n"] < 1:
            return fail(f"implausible statistics: {r}")
        # The real transcript with its end cut off must be refused, so the
        # strictness seen in the unit tests also holds for real guest output.
        with open(os.path.join(tmp, "linux-quick.serial.log")) as f:
            transcript = f.read()
        try:
            serialfmt.parse_transcript(transcript.replace("BENCH-DONE", ""), ["null_syscall"])
            return fail("parser accepted the transcript without BENCH-DONE")
        except serialfmt.SerialFormatError:
            pass
    print(f"PASS: linux baseline booted; null_syscall median {r['value']} {r['unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
