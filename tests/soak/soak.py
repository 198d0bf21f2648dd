#!/usr/bin/env python3
"""Soak: mixed load from two tenants against a booted system (the one `make run` boots), for a
given time, then an exact account of what came back.

Four connections in all, the number the gateway serves at once (docs/API.md): two of tenant A's
with mixed invocations, one of tenant A's with churn, one of tenant B's.
Tenant A (dev-key-alpha) runs everything a hostile or careless tenant does: echo with random
inputs, crashes, timeouts, its memory limit hit, nested calls, log floods, and deploy/delete churn
of fresh functions. Tenant B (dev-key-beta) runs echo all along; the soak asserts that every one of
its answers is right and reports its slowest. At the end:

- every request has its exact expected answer (status and body), none is lost;
- /metrics counts exactly what was sent: invocations, errors, timeouts;
- the manager's free memory and the kernel's free memory are back to their starting values.

Writes a JSON report (--report) with the figures. Python 3 standard library only; exits 0 when
every check passed.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time

KEY_A = "dev-key-alpha"
KEY_B = "dev-key-beta"

# Gauges that must return to their starting values once the load has stopped: the manager's pool,
# the bytes in live kernel objects, and the kernel's free memory plus the pages its heap holds (the
# same objects spread over slab pages differently change only how that sum splits; a leak changes it).
MEMORY_GAUGES = ("metteagle_manager_free_bytes", "metteagle_kernel_heap_used_bytes", "kernel_free_plus_heap_bytes")
WARM_UP_SECONDS = 10
REPORTED_GAUGES = MEMORY_GAUGES + ("metteagle_kernel_free_bytes", "metteagle_kernel_heap_bytes")


class Client:
    """One keep-alive connection; a failed exchange is a lost answer (never retried)."""

    def __init__(self, port, key):
        self.port, self.key, self.connection = port, key, None

    def request(self, method, path, body=None, headers=None):
        all_headers = dict(headers or {})
        if self.key is not None:
            all_headers["Authorization"] = f"Bearer {self.key}"
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            self.connection.request(method, path, body=body, headers=all_headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, data

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Tally:
    """What was sent and what came back, shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}           # kind -> requests sent
        self.wrong = 0
        self.lost = 0
        self.examples = []       # The first few wrong or lost answers: (kind, expected, got).
        self.invocations = 0     # Invocations answered (by the manager: no 404 or 429 expected).
        self.errors = 0          # Of those, answered with anything but 200 (as /metrics counts them).
        self.timeouts = 0        # Of those, answered 504.
        self.slowest_b = 0.0

    def record(self, kind, ok, expected, got, invoked=False):
        """One answer; `got` is (status, body). Invocations are counted by the status that came,
        so the /metrics comparison holds even where an answer was wrong."""
        with self.lock:
            self.sent[kind] = self.sent.get(kind, 0) + 1
            if invoked:
                self.invocations += 1
                self.errors += 1 if got[0] != 200 else 0
                self.timeouts += 1 if got[0] == 504 else 0
            if not ok:
                self.wrong += 1
                if len(self.examples) < 10:
                    self.examples.append((kind, expected, got))

    def lose(self, kind, exception):
        with self.lock:
            self.sent[kind] = self.sent.get(kind, 0) + 1
            self.lost += 1
            if len(self.examples) < 10:
                self.examples.append((kind, "an answer", repr(exception)))


def read_image(functions, name):
    with open(os.path.join(functions, f"{name}.elf"), "rb") as image:
        return image.read()


def deploy(client, name, image, **config):
    config = dict({"name": name}, **config)
    return client.request("POST", "/system/functions", body=image,
                          headers={"Content-Type": "application/octet-stream",
                                   "X-Function-Config": json.dumps(config)})


def metrics(port):
    """Every unlabelled or labelled series of /metrics as {series: value}."""
    client = Client(port, None)
    try:
        status, body = client.request("GET", "/metrics")
    finally:
        client.close()
    values = {}
    if status != 200:
        return values
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, _, value = line.rpartition(" ")
        try:
            values[name] = int(value) if value.isdigit() else float(value)
        except ValueError:
            pass
    if "metteagle_kernel_free_bytes" in values and "metteagle_kernel_heap_bytes" in values:
        values["kernel_free_plus_heap_bytes"] = values["metteagle_kernel_free_bytes"] + values["metteagle_kernel_heap_bytes"]
    return values


# Each case: (kind, function, input maker, expected (status, body-check), counts as error, timeout).
def echo_input(rng):
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 2048)))


def run_a(port, tally, stop, seed, nested_output):
    """Tenant A's mixed load on one connection."""
    rng = random.Random(seed)
    client = Client(port, KEY_A)
    kinds = ["echo", "echo", "crash", "timeout", "memory_limit", "nested", "log_flood"]
    while not stop.is_set():
        kind = rng.choice(kinds)
        try:
            if kind == "echo":
                data = echo_input(rng)
                status, body = client.request("POST", "/function/echo", body=data)
                tally.record(kind, status == 200 and body == data, "200 <input>", (status, body[:60]), invoked=True)
            elif kind == "crash":
                status, body = client.request("POST", "/function/null_deref", body=b"x")
                answer = json.loads(body) if body.startswith(b"{") else {}
                ok = status == 500 and answer.get("error") == "function crashed" and answer.get("fault_address") == 0
                tally.record(kind, ok, "500 crashed at 0", (status, body[:100]), invoked=True)
            elif kind == "timeout":
                status, body = client.request("POST", "/function/spin", body=b"")
                ok = status == 504 and json.loads(body).get("error") == "function timed out"
                tally.record(kind, ok, "504 timed out", (status, body[:100]), invoked=True)
            elif kind == "memory_limit":
                status, body = client.request("POST", "/function/memory_limit", body=b"")
                ok = status == 200 and body == nested_output["memory_limit"]
                tally.record(kind, ok, nested_output["memory_limit"], (status, body[:100]), invoked=True)
            elif kind == "nested":
                data = b"n%d" % rng.randint(0, 10**9)
                status, body = client.request("POST", "/function/caller", body=data)
                ok = status == 200 and body == b"caller:" + data
                tally.record(kind, ok, "200 caller:<input>", (status, body[:100]), invoked=True)
            elif kind == "log_flood":
                status, body = client.request("POST", "/function/log_flood", body=b"")
                ok = status == 200 and body == b"logs=1000"
                tally.record(kind, ok, "200 logs=1000", (status, body[:100]), invoked=True)
        except Exception as exception:  # A lost answer, whatever the cause.
            tally.lose(kind, exception)
    client.close()


def run_churn(port, tally, stop, echo, seed):
    """Tenant A deploys a fresh function, invokes it once and deletes it, again and again."""
    rng = random.Random(seed)
    client = Client(port, KEY_A)
    number = 0
    while not stop.is_set():
        name = f"churn{number % 1000}"
        number += 1
        try:
            status, body = deploy(client, name, echo, memory=8 << 20, timeout_ms=5000)
            tally.record("deploy", status == 201, "201", (status, body[:100]))
            data = b"churn %d" % rng.randint(0, 10**9)
            status, body = client.request("POST", f"/function/{name}", body=data)
            tally.record("churn_invoke", status == 200 and body == data, "200 <input>", (status, body[:60]),
                         invoked=True)
            status, body = client.request("DELETE", f"/system/functions/{name}")
            tally.record("delete", status == 200, "200", (status, body[:100]))
        except Exception as exception:
            tally.lose("churn", exception)
    client.close()


def run_b(port, tally, stop, seed):
    """Tenant B: echo all along; every answer must be right, its slowest is reported."""
    rng = random.Random(seed)
    client = Client(port, KEY_B)
    while not stop.is_set():
        data = echo_input(rng)
        started = time.monotonic()
        try:
            status, body = client.request("POST", "/function/echo", body=data)
        except Exception as exception:
            tally.lose("b_echo", exception)
            continue
        elapsed = time.monotonic() - started
        with tally.lock:
            tally.slowest_b = max(tally.slowest_b, elapsed)
        tally.record("b_echo", status == 200 and body == data, "200 <input>", (status, body[:60]), invoked=True)
    client.close()


def settle(port, baseline, seconds=60):
    """Polls /metrics until the memory gauges equal their baseline; returns the last values."""
    deadline = time.monotonic() + seconds
    values = {}
    while time.monotonic() < deadline:
        values = metrics(port)
        if all(values.get(gauge) == baseline.get(gauge) for gauge in MEMORY_GAUGES):
            break
        time.sleep(0.5)
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--functions", required=True, help="directory with the built functions (*.elf)")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "1800")))
    parser.add_argument("--report", help="where to write the JSON report")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    port = arguments.port
    failures = []

    def check(condition, what):
        print(f"{'ok    ' if condition else 'FAILED'} {what}", flush=True)
        if not condition:
            failures.append(what)
        return condition

    # Deploy both tenants' functions; tenant A's spin has a short timeout so timeouts are frequent.
    alpha, beta = Client(port, KEY_A), Client(port, KEY_B)
    images = {name: read_image(arguments.functions, name)
              for name in ("echo", "null_deref", "spin", "memory_limit", "caller", "log_flood")}
    # Tenant A's functions take 8 MiB each: its three connections plus one nested call stay inside
    # its memory share (44 MiB by default, docs/CONTAINERS.md), so every answer is determined.
    small = 8 << 20
    setups = [
        (alpha, "echo", {"memory": small}), (alpha, "null_deref", {"memory": small}),
        (alpha, "spin", {"timeout_ms": 300, "memory": small}), (alpha, "memory_limit", {"memory": small}),
        (alpha, "caller", {"max_depth": 2, "memory": small}),
        (alpha, "log_flood", {"timeout_ms": 60000, "memory": small}), (beta, "echo", {}),
    ]
    for client, name, config in setups:
        status, body = deploy(client, name, images[name], **config)
        check(status == 201, f"deploy {name} for {'A' if client is alpha else 'B'}: 201 (got {status} {body[:100]!r})")
    # memory_limit's output depends only on its limit: learn it once, then every answer must match.
    status, body = alpha.request("POST", "/function/memory_limit", body=b"")
    check(status == 200 and body.startswith(b"objects="), f"memory_limit answers objects=<n> (got {status} {body!r})")
    expected = {"memory_limit": body}
    alpha.close()
    beta.close()

    def load(seconds, tally, seed):
        """The four connections' load for `seconds`; returns how long it really ran."""
        stop = threading.Event()
        threads = [threading.Thread(target=run_a, args=(port, tally, stop, seed * 10 + i, expected)) for i in range(2)]
        threads.append(threading.Thread(target=run_churn, args=(port, tally, stop, images["echo"], seed)))
        threads.append(threading.Thread(target=run_b, args=(port, tally, stop, seed * 100)))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        next_report = started + 60
        while time.monotonic() - started < seconds:
            time.sleep(1)
            if time.monotonic() >= next_report:
                next_report += 60
                with tally.lock:
                    print(f"... {time.monotonic() - started:6.0f}s sent {sum(tally.sent.values())} "
                          f"wrong {tally.wrong} lost {tally.lost}", flush=True)
        stop.set()
        for thread in threads:
            thread.join()
        return time.monotonic() - started

    # A warm-up of every kind of request first: what the servers allocate once and keep (page tables
    # for buffers first touched, the network stack's pools) is part of the baseline, not a leak.
    warm_up = Tally()
    load(WARM_UP_SECONDS, warm_up, arguments.seed + 1)
    check(warm_up.lost == 0 and warm_up.wrong == 0,
          f"warm-up: {sum(warm_up.sent.values())} requests, no lost or wrong answer (first: {warm_up.examples[:3]})")
    time.sleep(2)
    before = metrics(port)
    for gauge in MEMORY_GAUGES:
        check(gauge in before, f"/metrics has {gauge}")
    counters = ("metteagle_invocations_all_total", "metteagle_errors_total", "metteagle_timeouts_total")
    start_counts = {name: before.get(name, 0) for name in counters}

    tally = Tally()
    duration = load(arguments.seconds, tally, arguments.seed)

    after = settle(port, before)
    total = sum(tally.sent.values())
    check(total > 0, f"{total} requests sent in {duration:.0f} s: {json.dumps(tally.sent, sort_keys=True)}")
    check(tally.lost == 0 and tally.wrong == 0,
          f"no lost and no wrong answers (lost {tally.lost}, wrong {tally.wrong}; first: {tally.examples[:3]})")
    for name, sent in (("metteagle_invocations_all_total", tally.invocations),
                       ("metteagle_errors_total", tally.errors), ("metteagle_timeouts_total", tally.timeouts)):
        counted = after.get(name, 0) - start_counts[name]
        check(counted == sent, f"/metrics {name} grew by exactly what was sent: {counted:.0f} == {sent}")
    for gauge in MEMORY_GAUGES:
        check(before.get(gauge) is not None and after.get(gauge) == before.get(gauge),
              f"{gauge} back to its start: {after.get(gauge)} == {before.get(gauge)}")
    print("kernel free bytes before/after: {} / {}; kernel heap pages before/after: {} / {}".format(
        before.get("metteagle_kernel_free_bytes"), after.get("metteagle_kernel_free_bytes"),
        before.get("metteagle_kernel_heap_bytes"), after.get("metteagle_kernel_heap_bytes")), flush=True)
    print(f"tenant B's slowest answer: {tally.slowest_b:.3f} s", flush=True)

    if arguments.report:
        with open(arguments.report, "w") as report:
            json.dump({"seconds": round(duration, 1), "sent": tally.sent, "requests": total,
                       "invocations": tally.invocations, "errors": tally.errors, "timeouts": tally.timeouts,
                       "lost": tally.lost, "wrong": tally.wrong, "examples": [repr(e) for e in tally.examples],
                       "slowest_tenant_b_seconds": round(tally.slowest_b, 3),
                       "memory_before": {gauge: before.get(gauge) for gauge in REPORTED_GAUGES},
                       "memory_after": {gauge: after.get(gauge) for gauge in REPORTED_GAUGES},
                       "failures": failures}, report, indent=2)
    print("SOAK PASSED" if not failures else f"SOAK FAILED: {len(failures)} checks", flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
