#!/bin/bash
# run-linux-side.sh: the Linux side of `make bench`: builds the baseline guest if needed, runs it in icount and wall mode, then the host reference.
#
# Usage: bench/run-linux-side.sh <build-dir>
# Leaves <build-dir>/bench/linux-icount.json, linux-wall.json and host-wall.json.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 <build-dir>" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$1
out=$build/bench
mkdir -p "$out"

stamp() { date +%s; }
t0=$(stamp)
"$here/linux/build-guest.sh" "$build"
t1=$(stamp)
# Each run writes its file only when the whole transcript parsed, so a stale
# file from an earlier run must not survive a failed one.
rm -f "$out/linux-icount.json" "$out/linux-wall.json" "$out/host-wall.json"
python3 "$here/linux/run.py" --mode icount --build-dir "$build" --out "$out/linux-icount.json"
t2=$(stamp)
python3 "$here/linux/run.py" --mode wall --build-dir "$build" --out "$out/linux-wall.json"
t3=$(stamp)
python3 "$here/host/run.py" --build-dir "$build" --out "$out/host-wall.json"
t4=$(stamp)
echo "linux side: build $((t1 - t0)) s, icount $((t2 - t1)) s, wall $((t3 - t2)) s, host $((t4 - t3)) s"
