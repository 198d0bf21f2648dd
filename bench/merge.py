#!/usr/bin/env python3
"""merge.py: merges JSON record files from all systems into one results.json, rejecting malformed or duplicate records."""
import argparse
import json
import sys

REQUIRED = ("metric", "system", "value", "unit", "mode", "cpu", "accel", "commit")


def load(path: str) -> list:
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records")
    for i, r in enumerate(data):
        missing = [k for k in REQUIRED if k not in r] if isinstance(r, dict) else list(REQUIRED)
        if missing:
            raise ValueError(f"{path}: record {i} lacks {', '.join(missing)}")
        if not isinstance(r["value"], (int, float)) or isinstance(r["value"], bool):
            raise ValueError(f"{path}: record {i} ({r['metric']}) has a non-numeric value")
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args()
    merged, seen = [], {}
    try:
        for path in args.inputs:
            for r in load(path):
                key = (r["metric"], r["system"], r["mode"])
                if key in seen:
                    raise ValueError(f"{path}: {key} already came from {seen[key]}")
                seen[key] = path
                merged.append(r)
    except (OSError, ValueError) as e:
        print(f"merge: error: {e}", file=sys.stderr)
        return 1
    with open(args.out, "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")
    print(f"merge: {len(merged)} records from {len(args.inputs)} files into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
