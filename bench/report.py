#!/usr/bin/env python3
"""report.py: turns build/bench/results.json into report.md (MettEagle vs Linux ratio tables) and report.png (gnuplot bar chart)."""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys

# (MettEagle metric, Linux metric) pairs; the ratio is MettEagle / Linux, so
# below 1 means MettEagle is faster.
PAIRS = [
    ("ipc_roundtrip_same_cpu", "pipe_roundtrip"),
    ("null_syscall", "null_syscall"),
    ("cold_invoke_empty", "spawn_wait"),
    ("cold_invoke_empty", "fork_exec_wait"),
    ("cold_invoke_empty", "crun_run"),
    # The kernel-level part of a cold start (load an ELF into a new task, run it, tear it down),
    # without the container manager's bookkeeping.
    ("task_spawn_wait", "spawn_wait"),
    # The very same static glibc binary (bench/linux/workloads/empty.c) on both sides: as a
    # function through the Linux personality, and spawned or run by crun in the Linux guest.
    ("cold_invoke_linux_static", "spawn_wait"),
    ("cold_invoke_linux_static", "crun_run"),
    # The same static Go "hello, world" on both sides (issue 13's target: at most spawn_wait's).
    ("cold_invoke_go_hello", "go_spawn_wait"),
    ("cold_invoke_go_hello", "go_crun_run"),
    ("python_cold_start", "python_cold_start"),
    # File operations on an image file (MettEagle: the packed tree; Linux: the initramfs).
    ("fs_stat", "fs_stat"),
    ("fs_open_read_close", "fs_open_read_close"),
    ("fs_getdents_1000", "fs_getdents_1000"),
    # The same fork_exec_wait program (bench/linux/workloads/fork_exec_wait.c) on both sides: inside one
    # image function through the personality's fork, execve and wait4, and in the Linux guest.
    ("fork_exec_wait", "fork_exec_wait"),
    # The same pipe_roundtrip program (bench/linux/workloads/pipe_roundtrip.c) on both sides: two
    # processes of one image function over the personality's pipes, and two Linux processes; both
    # on CPU 0.
    ("pipe_roundtrip", "pipe_roundtrip"),
    # One demand-zero page fault: a lazy Memory's page touched first vs. a fresh anonymous mapping's.
    ("demand_zero_page", "demand_zero_page"),
]
# HTTP invocation figures (wall mode only; bench/metteagle/http_run.py, bench/linux/http_run.py), at
# each of wrk's connection counts (bench/httpload.py, CONNECTIONS).
HTTP_CONNECTIONS = (1, 4, 16, 64)


def http_suffix(connections: int) -> str:
    """The metric suffix of a connection count (bench/httpload.py, invoke_figures)."""
    return "" if connections == 1 else f"_{connections}conn"


# (metric, which way is better). Same metric name on both sides; the ratio is MettEagle / Linux + crun.
HTTP_PAIRS = [(m + http_suffix(c), better) for c in HTTP_CONNECTIONS for m, better in (
    ("http_invoke_rps", "higher"), ("http_invoke_latency_p50", "lower"), ("http_invoke_latency_p99", "lower"),
    ("http_invoke_failed", "lower"), ("http_invoke_unanswered", "lower"))] + [("tcp_throughput_mbps", "higher")]
# Issue 14's targets, reported and never asserted: MettEagle's cold invocations per second at least
# HTTP_CRUN_GOAL times Linux's httpd + crun per request and at least HTTP_WARM_GOAL times the warm
# Linux process's (system "linux-warm") at every connection count, and no failed request at the
# most connections.
HTTP_CRUN_GOAL = 100
HTTP_WARM_GOAL = 0.5
# The Python image's functions over HTTP (wall; bench/metteagle/python_run.py, bench/linux/python_run.py):
# python_<workload>_<size>, the same metric on both sides, lower is better (issue 11's target:
# MettEagle's latency at most Linux+crun's on every row).
PYTHON_WORKLOADS = ("empty", "dynamic_html", "compression", "graph_pagerank", "graph_bfs", "graph_mst")
PYTHON_METRICS = [f"python_{w}_{s}" for w in PYTHON_WORKLOADS for s in ("small", "standard")]
MODES = ["icount", "wall"]
MODE_TEXT = {
    "icount": "QEMU TCG with `-icount shift=0,sleep=off`: 1 ns of guest clock = 1 guest instruction "
              "(unit `ns_icount`), identical from run to run",
    "wall": "plain QEMU TCG, wall-clock ns inside the guest (unit `ns`)",
}
NOT_YET = "— (not yet measured)"


def fmt(v, unit="ns"):
    """Scales a nanosecond figure to ns / µs / ms for reading; rates are printed as rates."""
    if v is None:
        return "—"
    if unit == "per_second":
        return f"{v:.1f} /s"
    if unit == "mbps":
        return f"{v:.1f} Mbit/s"
    if unit == "count":
        return f"{v:,.0f}"
    if unit == "bytes":
        return f"{v:,.0f} B"
    if v >= 1e6:
        return f"{v / 1e6:.2f} ms"
    if v >= 1e3:
        return f"{v / 1e3:.2f} µs"
    return f"{v:.1f} ns"


def index(records):
    idx = {}
    for r in records:
        idx[(r["system"], r["mode"], r["metric"])] = r
    return idx


def ratio(me, lx):
    if me is None or lx is None:
        return None
    if me["unit"] != lx["unit"]:
        return "unit mismatch"
    if not lx["value"]:
        return "—"
    return f"{me['value'] / lx['value']:.3g}×"


def table(idx, mode):
    rows = ["| MettEagle metric | Linux metric | MettEagle | Linux | ratio MettEagle/Linux | host (native, wall) |",
            "|---|---|---|---|---|---|"]
    for me_m, lx_m in PAIRS:
        me = idx.get(("metteagle", mode, me_m))
        lx = idx.get(("linux", mode, lx_m))
        host = idx.get(("host", "wall", lx_m))
        r = ratio(me, lx)
        rows.append("| {} | {} | {} | {} | {} | {} |".format(
            me_m, lx_m,
            fmt(me["value"]) if me else NOT_YET,
            fmt(lx["value"]) if lx else "— (not measured)",
            r if r else ("— (MettEagle not yet measured)" if not me else "— (Linux not measured)"),
            fmt(host["value"]) if host else "—"))
    return rows


def http_table(idx):
    rows = ["| metric | MettEagle | Linux (httpd + crun per request) | ratio MettEagle/Linux | better |",
            "|---|---|---|---|---|"]
    for m, better in HTTP_PAIRS:
        me = idx.get(("metteagle", "wall", m))
        lx = idx.get(("linux", "wall", m))
        if not me and not lx:
            continue
        r = ratio(me, lx)
        rows.append("| {} | {} | {} | {} | {} is better |".format(
            m, fmt(me["value"], me["unit"]) if me else NOT_YET, fmt(lx["value"], lx["unit"]) if lx else "— (not measured)",
            r or "—", better))
    return rows


def rate_goal(me, other, goal) -> str:
    """MettEagle's rate over another system's against a goal: `12.3× (goal ≥ 100×: NOT met)`; `—`
    when either was not measured; when the other system answered nothing in its run, no factor."""
    if me is None or other is None:
        return "—"
    if other == 0:
        return "— (the other answered none in its run)" if me == 0 else "∞ (the other answered none in its run)"
    factor = me / other
    return f"{factor:.3g}× (goal ≥ {goal:g}×: {'met' if factor >= goal else 'NOT met'})"


def http_concurrency_table(idx):
    """Issue 14's view: per connection count, each system's rate, p50/p99 and failed requests, and
    MettEagle's rate over Linux + crun's and over the warm process's against the goals."""
    systems = (("metteagle", "MettEagle"), ("linux", "Linux httpd + crun"), ("linux-warm", "Linux warm process"))
    rows = ["| connections | " + " | ".join(f"{name} /s (p50, p99; failed; unanswered)" for _, name in systems) +
            " | MettEagle / crun | MettEagle / warm |", "|---|" + "---|" * (len(systems) + 2)]
    measured = False
    for c in HTTP_CONNECTIONS:
        sfx = http_suffix(c)
        cells, rates = [], {}
        for system, _ in systems:
            rps = idx.get((system, "wall", "http_invoke_rps" + sfx))
            if not rps:
                cells.append("—")
                continue
            measured = True
            rates[system] = rps["value"]
            p50 = idx.get((system, "wall", "http_invoke_latency_p50" + sfx))
            p99 = idx.get((system, "wall", "http_invoke_latency_p99" + sfx))
            failed = idx.get((system, "wall", "http_invoke_failed" + sfx))
            unanswered = idx.get((system, "wall", "http_invoke_unanswered" + sfx))
            cells.append(f"{fmt(rps['value'], 'per_second')} ({fmt(p50['value']) if p50 else '—'}, "
                         f"{fmt(p99['value']) if p99 else '—'}; "
                         f"{fmt(failed['value'], 'count') if failed else '—'}; "
                         f"{fmt(unanswered['value'], 'count') if unanswered else '—'})")
        me = rates.get("metteagle")
        rows.append(f"| {c} | " + " | ".join(cells) + f" | {rate_goal(me, rates.get('linux'), HTTP_CRUN_GOAL)} | "
                    f"{rate_goal(me, rates.get('linux-warm'), HTTP_WARM_GOAL)} |")
    if not measured:
        return []
    last = HTTP_CONNECTIONS[-1]
    failed = idx.get(("metteagle", "wall", "http_invoke_failed" + http_suffix(last)))
    unanswered = idx.get(("metteagle", "wall", "http_invoke_unanswered" + http_suffix(last)))
    if failed:
        verdict = "met" if failed["value"] == 0 else "NOT met"
        still = f", {unanswered['value']:,.0f} still unanswered at the end" if unanswered else ""
        rows += ["", f"Failed MettEagle requests at {last} connections: **{failed['value']:,.0f}** of "
                     f"{failed.get('n', 0):,} that ended{still} (goal 0: {verdict})."]
    return rows


def http_cost_table(idx):
    """Where the host's CPU goes per answer, by connection count: the QEMU process's CPU time over
    each wrk run divided by its 2xx answers (bench/httpload.py, `*_host_cpu`), for MettEagle's
    empty function and front door alone (`GET /healthz`: the gateway's loop and the net server, no
    invocation), the warm Linux process and httpd + crun; and the front door's rate over the warm
    process's, the ceiling of MettEagle's ratio with invocations that cost nothing."""
    rows = ["| connections | MettEagle `/healthz` /s (CPU per answer) | MettEagle empty function CPU per answer | "
            "warm process CPU per answer | httpd + crun CPU per answer | MettEagle empty / warm, CPU per answer | "
            "`/healthz` / warm, rate |", "|---|---|---|---|---|---|---|"]
    measured = False
    for c in HTTP_CONNECTIONS:
        sfx = http_suffix(c)

        def value(system, metric):
            record = idx.get((system, "wall", metric + sfx))
            return record["value"] if record else None
        health_rps, health_cpu = value("metteagle", "http_healthz_rps"), value("metteagle", "http_healthz_host_cpu")
        me_cpu, warm_cpu = value("metteagle", "http_invoke_host_cpu"), value("linux-warm", "http_invoke_host_cpu")
        crun_cpu, warm_rps = value("linux", "http_invoke_host_cpu"), value("linux-warm", "http_invoke_rps")
        if health_rps is None and me_cpu is None and warm_cpu is None:
            continue
        measured = True
        cpu_ratio = f"{me_cpu / warm_cpu:.2f}×" if me_cpu and warm_cpu else "—"
        ceiling = f"{health_rps / warm_rps:.2f}×" if health_rps and warm_rps else "—"
        rows.append(f"| {c} | {fmt(health_rps, 'per_second')} ({fmt(health_cpu)}) | {fmt(me_cpu)} | {fmt(warm_cpu)} | "
                    f"{fmt(crun_cpu)} | {cpu_ratio} | {ceiling} |")
    return rows if measured else []


def python_table(idx):
    rows = ["| metric | MettEagle median | MettEagle p99 | Linux (httpd + crun) median | Linux p99 | ratio of medians MettEagle/Linux | requests (MettEagle, Linux) | same output |",
            "|---|---|---|---|---|---|---|---|"]
    for m in PYTHON_METRICS:
        me = idx.get(("metteagle", "wall", m))
        lx = idx.get(("linux", "wall", m))
        if not me and not lx:
            continue
        same = "—"
        if me and lx and me.get("output_sha256") and lx.get("output_sha256"):
            same = "yes" if me["output_sha256"] == lx["output_sha256"] else "**NO**"
        rows.append("| {} | {} | {} | {} | {} | {} | {}, {} | {} |".format(
            m, fmt(me["value"]) if me else NOT_YET, fmt(me.get("p99")) if me else "—",
            fmt(lx["value"]) if lx else "— (not measured)", fmt(lx.get("p99")) if lx else "—",
            ratio(me, lx) or "—", me.get("n", "—") if me else "—", lx.get("n", "—") if lx else "—", same))
    memory = [idx.get(("metteagle", "wall", m)) for m in
              ("image_tree_shared_bytes", "image_invocation_private_bytes", "image_second_invocation_adds_bytes")]
    if all(memory):
        tree, private, second = (r["value"] for r in memory)
        rows += ["", f"Memory (a sleeping `python3` of the image, docs/BENCHMARKS.md): the tree, shared, {tree:,} bytes; "
                     f"one invocation's private bytes (its factory at exit) {private:,}; a second concurrent invocation "
                     f"took {second:,} bytes more of the machine's free memory."]
    return rows


def detail(records):
    rows = ["| system | mode | metric | median | min | p99 | n | unit |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r["system"], r["mode"], r["metric"])):
        u = r["unit"]
        rows.append(f"| {r['system']} | {r['mode']} | {r['metric']} | {fmt(r['value'], u)} | {fmt(r.get('min'), u)} | "
                    f"{fmt(r.get('p99'), u)} | {r.get('n', '—')} | {u} |")
    return rows


def plot(idx, out_dir, png):
    """Draws one log-scale clustered bar panel per mode with gnuplot."""
    gp = shutil.which("gnuplot")
    if gp is None:
        raise RuntimeError("gnuplot not found (install gnuplot-nox)")
    scripts = []
    for mode in MODES:
        dat = os.path.join(out_dir, f"report-{mode}.dat")
        with open(dat, "w") as f:
            f.write("pair MettEagle Linux host\n")
            # The wall panel also carries the Python functions' HTTP latencies (same metric both sides).
            extra = [(m, m) for m in PYTHON_METRICS if mode == "wall" and
                     (idx.get(("metteagle", mode, m)) or idx.get(("linux", mode, m)))]
            bars = 0
            for me_m, lx_m in PAIRS + extra:
                vals = [idx.get(("metteagle", mode, me_m)), idx.get(("linux", mode, lx_m)),
                        idx.get(("host", "wall", lx_m))]
                # Figures are plotted in µs; "?" marks a missing bar.
                cells = [f"{v['value'] / 1e3:.6g}" if v else "?" for v in vals]
                bars += sum(1 for v in vals if v)
                f.write(f"\"{me_m}\\nvs {lx_m}\" " + " ".join(cells) + "\n")
        if bars == 0:
            continue  # A partial results file (one runner's records): no panel without a figure.
        scripts.append(
            f"set title '{mode} mode (guest figures; host is native wall time)'\n"
            f"plot '{dat}' using 2:xtic(1) title col, '' using 3 title col, '' using 4 title col\n")
    script = (
        f"set terminal pngcairo noenhanced size 1400,1000 font ',10'\nset output '{png}'\n"
        "set datafile missing '?'\nset style data histograms\nset style histogram clustered gap 1\n"
        "set style fill solid 0.8 border -1\nset logscale y\nset yrange [0.01:*]\n"
        "set ylabel 'µs (log scale; icount: 1 µs = 1000 guest instructions)'\nset grid ytics\n"
        f"set key top left\nset xtics font ',8'\nset bmargin 4\nset multiplot layout {max(len(scripts), 1)},1\n"
        + "".join(scripts) + "unset multiplot\n")
    res = subprocess.run([gp], input=script, text=True, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"gnuplot failed: {res.stderr.strip()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default="build/bench/results.json")
    ap.add_argument("--out-dir", default=None, help="default: the directory of --results")
    args = ap.parse_args()
    out_dir = args.out_dir or os.path.dirname(os.path.abspath(args.results))
    try:
        with open(args.results) as f:
            records = json.load(f)
        if not isinstance(records, list):
            raise ValueError("expected a JSON list of records")
        for i, r in enumerate(records):
            for k in ("metric", "system", "value", "unit", "mode", "cpu", "accel", "commit"):
                if k not in r:
                    raise ValueError(f"record {i} lacks '{k}'")
    except (OSError, ValueError) as e:
        print(f"report: error: {args.results}: {e}", file=sys.stderr)
        return 1
    idx = index(records)
    cpus = sorted({r["cpu"] for r in records})
    accels = sorted({f"{r['system']}={r['accel']}" for r in records})
    commits = sorted({r["commit"] for r in records})
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = ["# MettEagle benchmark report", "",
          f"- CPU: {', '.join(cpus) or 'unknown'}",
          f"- accel: {', '.join(accels)}",
          f"- commit: {', '.join(commits)}",
          f"- date: {date}",
          f"- records: {len(records)} ({', '.join(sorted({r['system'] for r in records}))})", "",
          "Figures are medians. Ratios are MettEagle / Linux from the same run on the same emulated "
          "machine; below 1 means MettEagle is faster. The host column is the same Linux workload run "
          "natively on the host, for orientation only (not part of any ratio).", ""]
    for mode in MODES:
        md += [f"## {mode}", "", MODE_TEXT[mode] + ".", ""] + table(idx, mode) + [""]
    md += ["## HTTP invocations (wall)", "",
           "wrk from the host through QEMU's user network to guest port 8080: `POST /function/empty` on "
           "MettEagle's gateway (each request a fresh task), `POST /cgi-bin/empty` on the Linux guest's busybox "
           "httpd (each request a CGI that runs `crun run`); 10 s per figure; `tcp_throughput_mbps` is 1 MiB "
           "echoes, payload counted in both directions (docs/BENCHMARKS.md).", ""] + http_table(idx) + [""]
    concurrency = http_concurrency_table(idx)
    if concurrency:
        md += ["### Cold invocations by connection count (wall)", "",
               "`POST /function/empty` at 1, 4, 16 and 64 wrk connections (one thread each, keep-alive "
               "where the server keeps it; from 16 on opened 50 ms apart): MettEagle's gateway (a fresh task "
               "per request), the Linux guest's httpd + `crun run` per request, and a warm Linux process "
               "serving the same empty answer with no isolation per request (`warm_server`, guest port 8081). "
               "Rates count 2xx answers only; failed requests (errors, non-2xx, timeouts) are counted apart, "
               "and so are the requests still unanswered when wrk stopped (at most one per connection).",
               ""] + concurrency + [""]
    cost = http_cost_table(idx)
    if cost:
        md += ["### Host CPU per answer (wall)", "",
               "The QEMU process's CPU time (user and system, all its threads: vCPUs, the user network, "
               "the devices) over each wrk run above, per 2xx answer; wrk's own CPU is not in it. Under "
               "TCG every address-space switch empties QEMU's software TLB and jump cache "
               "(docs/BENCHMARKS.md, \"What an invocation costs the host\"). `GET /healthz` is MettEagle's "
               "front door alone (the net server and the gateway's event loop, no thread, no invocation).",
               ""] + cost + [""]
    md += ["## Python functions over HTTP (wall)", "",
           "Sequential `POST`s of `{\"size\": ...}` from the host, each a cold start of `/usr/bin/python3 "
           "/function/<workload>.py` in the Python image: on MettEagle an image function deployed from the "
           "pushed image, on Linux `crun run` of the same tree per request behind busybox httpd; latency from "
           "request sent to answer read; one warm-up request first; every answer checked equal "
           "(docs/BENCHMARKS.md).", ""] + python_table(idx) + [""]
    md += ["## All figures", ""] + detail(records) + [""]
    md += ["![bar chart](report.png)", ""]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(md))
    print(f"report: wrote {os.path.join(out_dir, 'report.md')}")
    try:
        plot(idx, out_dir, os.path.join(out_dir, "report.png"))
    except RuntimeError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 1
    print(f"report: wrote {os.path.join(out_dir, 'report.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
