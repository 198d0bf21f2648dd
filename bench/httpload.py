#!/usr/bin/env python3
"""httpload.py: the HTTP load side shared by bench/metteagle/http_run.py and bench/linux/http_run.py: wrk runs
from the host against a guest port, their results as JSON records in serialfmt.make_records' format."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "linux"))
import serialfmt  # noqa: E402

# The fixed load parameters both systems get (figures of one run are only comparable with equal ones).
DURATION_S = 10
CONNECTIONS = (1, 4, 16, 64)
THROUGHPUT_DURATION_S = 10
THROUGHPUT_BODY = 1 << 20  # 1 MiB, the gateway's largest request body and echo's largest output
# From this many connections on, wrk opens them one at a time, STAGGER_MS apart: QEMU's user network
# listens on the host with a backlog of 1, so the SYNs of a burst are dropped and their retries back
# off by seconds (docs/NETWORK.md), which would show as a slow start, not as the system's speed.
# Every connection then waits for one common start before its first request (delay()), so the
# stagger is outside wrk's measured duration and every connection runs the whole of it.
STAGGER_FROM = 16
STAGGER_MS = 50

# wrk prints one JSON line from done(): counts, errors and the latency distribution in µs. Each
# thread counts the requests it sends (`sent`, read through the thread objects setup() keeps), so
# that done() can say how many were still unanswered when the run ended: sent, minus answered,
# minus read and write errors (a connect error comes before any request).
LUA = r"""
wrk.method = "%(method)s"
%(headers)s
%(body)s
local threads = {}
%(stagger)s
setup = function(thread)
  table.insert(threads, thread)
  if stagger then stagger(thread) end
end
sent = 0
local formatted = nil
request = function()
  sent = sent + 1
  formatted = formatted or wrk.format()
  return formatted
end
done = function(summary, latency, requests)
  local e = summary.errors
  -- wrk calls the first thread's request() once more before it starts, to count pipelined requests.
  local total = -1
  for _, thread in ipairs(threads) do total = total + thread:get("sent") end
  io.write(string.format(
    'WRK-RESULT {"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "min_us": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, ' ..
    '"sent": %%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency:percentile(50), latency:percentile(99), latency.max, total))
end
"""

# The stagger (STAGGER_FROM): wrk calls setup() for each thread (one connection each) in its main
# thread before starting that thread, so sleeping there spaces the connects; delay() holds each
# connection's first request until the moment the last thread has started (wrk's clock starts then).
STAGGER_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } stagger_timespec;
int clock_gettime(int clock, stagger_timespec *now);
int usleep(unsigned int microseconds);
]]
local function now_ms()
  local t = ffi.new("stagger_timespec")
  ffi.C.clock_gettime(1, t)  -- CLOCK_MONOTONIC: one clock for every thread's Lua state
  return tonumber(t.tv_sec) * 1000 + tonumber(t.tv_nsec) / 1e6
end
local first = nil
stagger = function(thread)
  first = first or now_ms()
  ffi.C.usleep(%(stagger_ms)d * 1000)
  thread:set("go", first + %(connections)d * %(stagger_ms)d)
end
local go = nil
delay = function()
  go = go or wrk.thread:get("go")
  local wait = go - now_ms()
  if wait <= 0 then return 0 end
  return math.ceil(wait)
end
"""

# The failure counts of a WRK-RESULT: connect/read/write errors and timeouts never completed; a
# non-2xx answer (status) completed but failed.
FAILURE_KINDS = ("connect", "read", "write", "status", "timeout")


class LoadError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, data: bytes = b"", headers=None, timeout: float = 60.0, answer_headers=None):
    """One POST; returns (status, body). HTTP errors are returned, not raised. `answer_headers`, a
    dict, receives the answer's headers."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if answer_headers is not None:
                answer_headers.update(resp.headers.items())
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                resp.read()
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise LoadError(f"{url} did not answer within {timeout:.0f} s")


def wrk_script(connections: int, headers=None, body_file=None, method="POST") -> str:
    """The Lua script of one wrk run: method, headers, body, the stagger (from STAGGER_FROM
    connections on) and the WRK-RESULT line."""
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items()]
    body = ""
    if body_file:
        lines.append('wrk.headers["Content-Type"] = "application/octet-stream"')
        body = f'local f = assert(io.open("{body_file}", "rb")); wrk.body = f:read("*a"); f:close()'
    stagger = "local stagger = nil"
    if connections >= STAGGER_FROM:
        stagger = STAGGER_LUA % {"stagger_ms": STAGGER_MS, "connections": connections}
    return LUA % {"method": method, "headers": "\n".join(lines), "body": body, "stagger": stagger}


def process_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system, every thread) process `pid` has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def failed_requests(result: dict) -> int:
    """Requests of a WRK-RESULT that failed: errors of every kind, non-2xx answers included."""
    return sum(result[k] for k in FAILURE_KINDS)


def wrk(url: str, seconds: int, connections: int, headers=None, body_file=None, strict=True,
        method="POST") -> dict:
    """Runs wrk (one thread per connection) and returns its WRK-RESULT line as a dict; raises
    LoadError when wrk fails, and, when `strict`, when nothing completed or any request failed (a
    fast failure would look like a good figure). Not strict, the caller records the failures."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(connections, headers, body_file, method))
    try:
        # --timeout above any expected latency: a slow answer is a figure, not an error.
        argv = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
                "-s", script.name, url]
        stagger_s = connections * STAGGER_MS / 1000 if connections >= STAGGER_FROM else 0
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + stagger_s + 60)
        except FileNotFoundError:
            raise LoadError("wrk not found; install the packages in scripts/packages/bench.list")
        except subprocess.TimeoutExpired:
            raise LoadError("wrk overran its duration by a minute")
    finally:
        os.unlink(script.name)
    result = parse_wrk_output(out.stdout)
    if out.returncode != 0 or result is None:
        raise LoadError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    if strict:
        errors = {k: result[k] for k in FAILURE_KINDS if result[k]}
        if errors:
            raise LoadError(f"wrk saw failed requests ({result['requests']} completed): {errors}")
        if result["requests"] < 1:
            raise LoadError("no request completed")
    return result


def parse_wrk_output(stdout: str):
    """The last WRK-RESULT line of wrk's output as a dict, or None."""
    result = None
    for line in stdout.splitlines():
        if line.startswith("WRK-RESULT "):
            result = json.loads(line.split(" ", 1)[1])
    return result


def invoke_figures(result: dict, connections: int, prefix: str = "http_invoke", cpu_seconds=None) -> dict:
    """The figures of one wrk run: `<prefix>_rps` (answers 2xx per second of wrk's duration),
    `<prefix>_latency_p50`/`_p99` (wrk's percentiles over every answer, failed ones included),
    `<prefix>_failed` (requests that failed, any kind) and `<prefix>_unanswered` (sent, but still in
    flight when wrk stopped), and with `cpu_seconds` (the QEMU process's CPU time over the run)
    `<prefix>_host_cpu`: host CPU ns per 2xx answer, each with the suffix `_<N>conn` beyond one
    connection. With no answer at all there is no latency or CPU figure."""
    suffix = "" if connections == 1 else f"_{connections}conn"
    failed = failed_requests(result)
    # wrk counts an answer slower than --timeout as completed and as a timeout error.
    succeeded = max(result["requests"] - result["status"] - result["timeout"], 0)
    attempted = result["requests"] + result["connect"] + result["read"] + result["write"]
    rps = succeeded / (result["duration_us"] / 1e6)
    # A request still in flight when the run ended neither succeeded nor failed (at most one per
    # connection); a run whose requests all outlast it shows here, not as a failure.
    unanswered = max(result["sent"] - result["requests"] - result["read"] - result["write"], 0)
    figures = {prefix + "_rps" + suffix: (rps, "per_second", {"n": succeeded, "connections": connections}),
               prefix + "_failed" + suffix: (failed, "count", {"n": attempted, "connections": connections}),
               prefix + "_unanswered" + suffix: (unanswered, "count", {"n": result["sent"],
                                                                      "connections": connections})}
    if result["requests"] > 0:
        lat = {"min": result["min_us"] * 1e3, "p99": result["p99_us"] * 1e3, "n": result["requests"],
               "connections": connections}
        figures[prefix + "_latency_p50" + suffix] = (result["p50_us"] * 1e3, "ns", lat)
        figures[prefix + "_latency_p99" + suffix] = (result["p99_us"] * 1e3, "ns", lat)
    if cpu_seconds is not None and succeeded > 0:
        figures[prefix + "_host_cpu" + suffix] = (cpu_seconds * 1e9 / succeeded, "ns",
                                                  {"n": succeeded, "connections": connections})
    return figures


def invoke_sweep(label: str, url: str, headers=None, quick=False, drain=None, cpu=None, prefix="http_invoke",
                 method="POST") -> dict:
    """wrk on `url` (the empty function, or the front door's /healthz) at each of CONNECTIONS, with
    `method`; failed requests are recorded (`<prefix>_failed*`), never hidden and never a reason to
    drop the other figures. `drain`,
    when given, is called after each run: it waits until the requests wrk left behind are done, so
    that they do not load the next run. `cpu`, when given, returns the QEMU process's CPU seconds
    (process_cpu_seconds): each run then also records the host CPU per answer."""
    seconds = 3 if quick else DURATION_S
    figures = {}
    for conns in CONNECTIONS:
        print(f"{label}: wrk {method} {url}, {conns} connection(s), {seconds} s…", flush=True)
        before = cpu() if cpu else None
        r = wrk(url, seconds, conns, headers, strict=False, method=method)
        used = cpu() - before if cpu else None
        found = invoke_figures(r, conns, prefix, used)
        suffix = "" if conns == 1 else f"_{conns}conn"
        kinds = ", ".join(f"{k} {r[k]}" for k in FAILURE_KINDS if r[k])
        host = found.get(prefix + "_host_cpu" + suffix)
        print(f"{label}:   {r['requests']} answers, {found[prefix + '_rps' + suffix][0]:.1f}/s succeeded, "
              f"latency p50 {r['p50_us'] / 1e3:.2f} ms, p99 {r['p99_us'] / 1e3:.2f} ms, max {r['max_us'] / 1e3:.2f} ms, "
              f"{found[prefix + '_failed' + suffix][0]} failed" + (f" ({kinds})" if kinds else "") +
              f", {found[prefix + '_unanswered' + suffix][0]} unanswered at the end" +
              (f", host CPU {host[0] / 1e3:.0f} µs per answer" if host else ""), flush=True)
        if drain:
            drain()
        figures.update(found)
    return figures


# How long the requests wrk leaves behind may take to finish (drain_by_request).
DRAIN_TIMEOUT_S = 600


def drain_by_request(label: str, url: str, headers=None):
    """A `drain` for invoke_sweep: one more request to `url`, answered once the requests ahead of it
    (queued behind the server's limit) are done; raises LoadError if it is not answered 200 within
    DRAIN_TIMEOUT_S."""
    def drain():
        started = time.monotonic()
        try:
            status, _ = request(url, b"", headers, timeout=DRAIN_TIMEOUT_S)
        except OSError as e:
            raise LoadError(f"{url} did not answer after the run ({e})")
        if status != 200:
            raise LoadError(f"{url} answered {status} after the run")
        print(f"{label}:   the requests left behind were done {time.monotonic() - started:.1f} s later", flush=True)
    return drain


def run_workload(label: str, url: str, echo_url: str, headers=None, quick=False, cpu=None) -> dict:
    """The whole HTTP workload against one booted system: the 1 MiB echo throughput (any failure
    there rejects it), then wrk on the empty function with each connection count (invoke_sweep,
    each run drained before the next). Returns {metric: (value, unit, stats)}."""
    figures = echo_throughput(label, echo_url, headers, quick)
    figures.update(invoke_sweep(label, url, headers, quick, drain_by_request(label, url, headers), cpu))
    return figures


def echo_throughput(label: str, echo_url: str, headers=None, quick=False) -> dict:
    """`tcp_throughput_mbps`: echo of a 1 MiB body, checked once byte for byte, then driven by wrk
    on one connection (any failed request rejects it)."""
    payload = os.urandom(THROUGHPUT_BODY)
    try:
        status, body = request(echo_url, payload, dict(headers or {}, **{"Content-Type": "application/octet-stream"}))
    except OSError as e:
        raise LoadError(f"echo of {THROUGHPUT_BODY} bytes was not answered ({e})")
    if status != 200 or body != payload:
        raise LoadError(f"echo of {THROUGHPUT_BODY} bytes came back wrong (status {status}, {len(body)} bytes)")
    seconds = 3 if quick else THROUGHPUT_DURATION_S
    with tempfile.NamedTemporaryFile("wb", suffix=".bin", delete=False) as f:
        f.write(payload)
    try:
        print(f"{label}: wrk POST {echo_url} with {THROUGHPUT_BODY} bytes, 1 connection, {seconds} s…", flush=True)
        r = wrk(echo_url, seconds, 1, headers, f.name)
    finally:
        os.unlink(f.name)
    secs = r["duration_us"] / 1e6
    # Payload through the guest's TCP stack in both directions (request body in, response body out).
    mbps = r["requests"] * 2 * THROUGHPUT_BODY * 8 / 1e6 / secs
    print(f"{label}:   {r['requests']} echoes of 1 MiB in {secs:.1f} s: {mbps:.1f} Mbit/s of payload", flush=True)
    return {"tcp_throughput_mbps": (mbps, "mbps", {"n": r["requests"], "body_bytes": THROUGHPUT_BODY})}


def noisy_neighbour(label: str, victim_url: str, victim_headers: dict, attack_url: str, attack_headers: dict,
                    attackers: int, attack_body: bytes, quick=False) -> dict:
    """Tenant B's p99 (wrk on victim_url, 1 connection) idle and while tenant A keeps `attackers`
    slow invocations in flight (threads re-sending attack_body to attack_url as each ends); the
    figure is their ratio. A's requests beyond its admission are 429 and retried: only B's
    requests must all succeed."""
    import threading
    seconds = 3 if quick else DURATION_S
    print(f"{label}: noisy neighbour: B idle, wrk POST {victim_url}, 1 connection, {seconds} s…", flush=True)
    idle = wrk(victim_url, seconds, 1, victim_headers)
    stop = threading.Event()
    answered = []

    def attack():
        while not stop.is_set():
            try:
                status, _ = request(attack_url, attack_body, attack_headers, timeout=120)
                answered.append(status)
                if status == 429:
                    time.sleep(0.2)
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)

    threads = [threading.Thread(target=attack, daemon=True) for _ in range(attackers)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # A's invocations are in flight.
    try:
        print(f"{label}: noisy neighbour: B under A's {attackers} slow invocations, {seconds} s…", flush=True)
        busy = wrk(victim_url, seconds, 1, victim_headers)
    finally:
        stop.set()
        for thread in threads:
            thread.join(150)
    ratio = busy["p99_us"] / idle["p99_us"]
    print(f"{label}:   B's p99 idle {idle['p99_us'] / 1e3:.2f} ms, under attack {busy['p99_us'] / 1e3:.2f} ms: "
          f"ratio {ratio:.2f} (A's answers: {sorted(set(answered))})", flush=True)
    return {
        "noisy_neighbour_p99_ratio": (ratio, "ratio", {"n": busy["requests"], "connections": 1}),
        "noisy_neighbour_victim_p99_idle": (idle["p99_us"] * 1e3, "ns", {"n": idle["requests"], "connections": 1}),
        "noisy_neighbour_victim_p99_attacked": (busy["p99_us"] * 1e3, "ns", {"n": busy["requests"], "connections": 1}),
    }


def records(figures: dict, system: str, extra: dict) -> list:
    """serialfmt.make_records-style records (value = the figure; min/p99/n where meaningful)."""
    out = []
    for metric, (value, unit, stats) in figures.items():
        res = {metric: {"median": value, "min": stats.get("min", value), "p99": stats.get("p99", value),
                        "n": stats["n"]}}
        rec = serialfmt.make_records(res, system, "wall", "tcg", unit, dict(extra))[0]
        if "min" not in stats:
            # A rate or throughput is one figure over the whole run: no distribution to report.
            del rec["min"], rec["p99"]
        for k in ("connections", "body_bytes"):
            if k in stats:
                rec[k] = stats[k]
        out.append(rec)
    return out


# ---- The Python image's functions (issue 11, item 7) --------------------------------------------

# images/python/functions, each with a small and a standard request; the metric of one pair is
# python_<workload>_<size> on both systems.
PYTHON_WORKLOADS = ("empty", "dynamic_html", "compression", "graph_pagerank", "graph_bfs", "graph_mst")
PYTHON_SIZES = ("small", "standard")
# Requests per workload and size (issue 11: at least 30). BENCH_PYTHON_REQUESTS (or a runner's
# --python-requests) changes it for a shorter run; the records say how many were made (n).
PYTHON_REQUESTS = 30
# One request of a standard graph workload runs for minutes under TCG on a loaded host.
PYTHON_REQUEST_TIMEOUT_S = 1800


def python_request_count(arg=None) -> int:
    if arg is not None:
        return arg
    text = os.environ.get("BENCH_PYTHON_REQUESTS", "")
    return int(text) if text else PYTHON_REQUESTS


def python_selection(workloads: str, sizes: str):
    """The (workload, size) pairs a runner measures, from comma-separated lists (empty: all)."""
    chosen_w = [w for w in workloads.split(",") if w] if workloads else list(PYTHON_WORKLOADS)
    chosen_s = [s for s in sizes.split(",") if s] if sizes else list(PYTHON_SIZES)
    for w in chosen_w:
        if w not in PYTHON_WORKLOADS:
            raise LoadError(f"unknown Python workload {w!r} (one of {', '.join(PYTHON_WORKLOADS)})")
    for s in chosen_s:
        if s not in PYTHON_SIZES:
            raise LoadError(f"unknown size {s!r} (one of {', '.join(PYTHON_SIZES)})")
    return [(w, s) for w in chosen_w for s in chosen_s]


def python_run(label: str, url: str, size: str, count: int, headers=None) -> tuple:
    """One warm-up request, then `count` sequential POSTs of {"size": size} to `url`, each timed on
    the host from sending the request to the end of the answer (a fresh TCP connection each: busybox
    httpd closes every one, and urllib opens one per request on both systems alike). Every answer
    must be 200 with exactly the warm-up's body (the functions' outputs are fixed by their seeds).
    Returns (summary in ns, the body)."""
    body = json.dumps({"size": size}).encode()
    hdrs = dict(headers or {}, **{"Content-Type": "application/json"})
    status, first = request(url, body, hdrs, timeout=PYTHON_REQUEST_TIMEOUT_S)
    if status != 200 or not first.strip():
        raise LoadError(f"{url} ({size}) answered {status}: {first[:300]!r}")
    samples = []
    phases = {}
    for i in range(count):
        started = time.monotonic_ns()
        status, out = request(url, body, hdrs, timeout=PYTHON_REQUEST_TIMEOUT_S, answer_headers=phases)
        elapsed = time.monotonic_ns() - started
        if status != 200 or out != first:
            raise LoadError(f"{url} ({size}) request {i + 1} answered {status} with other output: {out[:300]!r} "
                            f"(the first: {first[:300]!r})")
        samples.append(elapsed)
    summary = serialfmt.summarize(samples)
    print(f"{label}:   {size}: {count} requests, median {summary['median'] / 1e6:.1f} ms, "
          f"p99 {summary['p99'] / 1e6:.1f} ms, min {summary['min'] / 1e6:.1f} ms", flush=True)
    # MettEagle's gateway says where the last invocation's time went (docs/API.md): log it.
    told = {k: v for k, v in phases.items() if k.lower().startswith(("x-phase-", "x-duration"))}
    if told:
        print(f"{label}:   the last request's phases: " + ", ".join(f"{k}={v}" for k, v in sorted(told.items())),
              flush=True)
    return summary, first


def python_records(results: dict, system: str, extra: dict) -> list:
    """Records of python_run summaries ({metric: (summary, body)}), unit ns, mode wall; each carries
    the SHA-256 of its output so that report.py can tell both systems computed the same answer."""
    out = []
    for metric, (summary, body) in results.items():
        rec = serialfmt.make_records({metric: summary}, system, "wall", "tcg", "ns", dict(extra))[0]
        rec["output_sha256"] = hashlib.sha256(body).hexdigest()
        out.append(rec)
    return out
