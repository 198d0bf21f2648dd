#!/usr/bin/env python3
"""serialfmt.py: strict parser for the Linux baseline's serial result format and builder of JSON result records."""
import os
import re
import subprocess

# The format, one item per line (anything not starting with "BENCH" is console
# noise and ignored, but "BENCH" inside another line means interleaved output):
#   BENCH-BEGIN <free text>
#   BENCH-START <metric>                      progress marker
#   BENCH <metric> <unit> min=<v> median=<v> p99=<v> n=<count>
#   BENCH-ERROR <metric> <message>            the workload failed
#   BENCH-DONE
METRIC_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
NUM_RE = re.compile(r"[0-9]+(\.[0-9]+)?\Z")
STAT_KEYS = ("min", "median", "p99", "n")


class SerialFormatError(ValueError):
    """Raised for any transcript that is not a complete, well-formed run."""


def parse_result_line(line: str, lineno: int = 0) -> dict:
    """Parses one 'BENCH <metric> <unit> min= median= p99= n=' line."""
    where = f"line {lineno}: " if lineno else ""
    tokens = line.split(" ")
    if len(tokens) != 7 or tokens[0] != "BENCH":
        raise SerialFormatError(f"{where}garbled result line: {line!r}")
    metric, unit = tokens[1], tokens[2]
    if not METRIC_RE.match(metric):
        raise SerialFormatError(f"{where}garbled metric name {metric!r}")
    if not METRIC_RE.match(unit):
        raise SerialFormatError(f"{where}garbled unit {unit!r}")
    stats = {"metric": metric, "unit": unit}
    for key, tok in zip(STAT_KEYS, tokens[3:]):
        name, eq, value = tok.partition("=")
        if name != key or not eq:
            raise SerialFormatError(f"{where}expected '{key}=' but found {tok!r} in {line!r}")
        if not NUM_RE.match(value):
            raise SerialFormatError(f"{where}non-numeric value for {key} of {metric}: {value!r}")
        stats[key] = int(value) if key == "n" else float(value)
    if stats["n"] < 1:
        raise SerialFormatError(f"{where}{metric} has n=0")
    if not stats["min"] <= stats["median"] <= stats["p99"]:
        raise SerialFormatError(f"{where}{metric}: min <= median <= p99 does not hold in {line!r}")
    return stats


def parse_transcript(text: str, expected, framed: bool = True) -> dict:
    """Returns {metric: stats} for a serial transcript, or raises SerialFormatError.

    expected: metric names that must all appear and no others. framed: require
    exactly one BENCH-BEGIN first and one BENCH-DONE last (the guest); the host
    runner passes False for the output of single suite invocations.
    """
    expected = list(expected)
    results = {}
    begun = not framed
    done = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if "BENCH" not in line:
            continue
        if not line.startswith("BENCH"):
            raise SerialFormatError(f"line {lineno}: garbled line (BENCH marker mid-line, output interleaved?): {line!r}")
        if done:
            raise SerialFormatError(f"line {lineno}: output after BENCH-DONE: {line!r}")
        word = line.split(" ", 1)[0]
        if word == "BENCH-BEGIN":
            if begun:
                raise SerialFormatError(f"line {lineno}: unexpected BENCH-BEGIN")
            begun = True
            continue
        if not begun:
            raise SerialFormatError(f"line {lineno}: {word} before BENCH-BEGIN")
        if word == "BENCH-DONE":
            if line != "BENCH-DONE" or not framed:
                raise SerialFormatError(f"line {lineno}: garbled line: {line!r}")
            done = True
        elif word == "BENCH-START":
            parts = line.split(" ")
            if len(parts) != 2 or not METRIC_RE.match(parts[1]):
                raise SerialFormatError(f"line {lineno}: garbled line: {line!r}")
        elif word == "BENCH-ERROR":
            parts = line.split(" ", 2)
            what = parts[1] if len(parts) > 1 else "?"
            msg = parts[2] if len(parts) > 2 else "(no message)"
            raise SerialFormatError(f"line {lineno}: workload {what} failed: {msg}")
        elif word == "BENCH":
            stats = parse_result_line(line, lineno)
            m = stats["metric"]
            if m in results:
                raise SerialFormatError(f"line {lineno}: duplicate metric {m}")
            if m not in expected:
                raise SerialFormatError(f"line {lineno}: unexpected metric {m}")
            results[m] = stats
        else:
            raise SerialFormatError(f"line {lineno}: garbled line: {line!r}")
    if not begun:
        raise SerialFormatError("no BENCH-BEGIN: the guest never reached its benchmark init")
    if framed and not done:
        raise SerialFormatError("missing BENCH-DONE: output truncated (guest crashed, hung or timed out)")
    missing = [m for m in expected if m not in results]
    if missing:
        raise SerialFormatError("missing expected metric(s): " + ", ".join(missing))
    return results


def host_cpu() -> str:
    """The host CPU model from /proc/cpuinfo, the same for every system in a run."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def host_khz() -> int:
    """Host TSC rate in kHz, approximated by /proc/cpuinfo's 'cpu MHz'."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return int(float(line.split(":", 1)[1]) * 1000)
    raise RuntimeError("no 'cpu MHz' in /proc/cpuinfo")


def commit() -> str:
    """Short hash of HEAD, or 'uncommitted' when there is no commit yet."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "uncommitted"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "uncommitted"


def summarize(samples) -> dict:
    """min, median and p99 (nearest rank: the ceil(0.99 n)-th smallest) of a non-empty list, as the
    workloads' bench.h computes them."""
    if not samples:
        raise ValueError("no samples")
    s = sorted(samples)
    n = len(s)
    median = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    rank = max(1, (99 * n + 99) // 100)
    return {"min": s[0], "median": median, "p99": s[rank - 1], "n": n}


def make_records(results: dict, system: str, mode: str, accel: str, unit: str, extra=None) -> list:
    """One JSON record per metric; value is the median."""
    cpu, rev = host_cpu(), commit()
    records = []
    for m, s in results.items():
        rec = {"metric": m, "system": system, "value": s["median"], "unit": unit, "mode": mode,
               "cpu": cpu, "accel": accel, "commit": rev, "min": s["min"], "p99": s["p99"], "n": s["n"]}
        rec.update(extra or {})
        records.append(rec)
    return records
