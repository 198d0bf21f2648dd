#!/usr/bin/env python3
"""Host-side adversarial check of the gateway (issue 10): one tenant against another over HTTP.

Tenant A (dev-key-alpha) tries to invoke, describe, delete and read the logs of tenant B's
function by name and with path tricks ('..', percent-encoded dots and slashes, double slashes,
overlong names, NUL bytes, absolute-form targets): every attempt gets its exact status and error
body, and B's function still answers and counts only B's own invocations. A key without the
operator grant asking for "console": true gets 403; the operator key (test.keys: console) may, and
then its function's forged kernel and manager lines and escape sequences reach the serial console
only under the function's prefix, shown as text, and at most 4 KiB per invocation; the log flood of
a tenant without the grant reaches the console not at all, while tenant B's echo keeps answering.
A function deleted while an invocation of it runs leaves no series in /metrics once that
invocation finishes (finding 8's "zombie" series). Python 3 standard library only; exits 0 when
every check passed.
"""
import argparse
import http.client
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_api import (Client, check, deploy, finish_request, metric_value, raw_exchange,  # noqa: E402
                       start_request, status_of, wait_for_health, wait_for_metric, FAILURES)

KEY_A = "dev-key-alpha"            # tests/gateway/test.keys: tenant 1, limit 4.
KEY_B = "dev-key-beta"             # Tenant 2, limit 1.
KEY_OPERATOR = "operator-key-delta.9"  # Tenant 9, limit 2, console: the operator grant.
NO_FUNCTION = {"error": "no such function"}
NO_ROUTE = {"error": "no such route"}
CONSOLE_REFUSED = {"error": "\"console\": true needs an operator key (the key file's console flag); "
                            "this API key has none"}
# A generous liveness bound (TESTING.md): a healthy host answers an echo in well under 1 s, but with
# the whole suite running on two cores an echo was seen to wait 10.35 s once (one of the gateway's
# 10 s receive slices, docs/CAVEATS.md), so the bound is 30 s: it still catches a flood that
# holds the others for its whole length.
ECHO_BOUND_SECONDS = 30.0


def json_body(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def cross_tenant(port, images):
    """Tenant A against tenant B's function `secret`, by name and with path tricks."""
    alpha, beta = Client(port, KEY_A), Client(port, KEY_B)
    status, _, body = deploy(beta, "secret", images["echo"])
    check(status == 201, f"tenant B deploys secret: 201 (got {status} {body[:100]!r})")
    status, _, body = deploy(alpha, "mine", images["echo"])
    check(status == 201, f"tenant A deploys mine: 201 (got {status} {body[:100]!r})")
    status, _, body = beta.request("POST", "/function/secret", body=b"b's own call")
    check(status == 200 and body == b"b's own call", f"tenant B invokes secret: 200 (got {status} {body[:60]!r})")

    # (method, path, expected status, expected JSON body): every one by tenant A's key.
    attempts = [
        ("POST", "/function/secret", 404, NO_FUNCTION),
        ("GET", "/system/functions/secret", 404, NO_FUNCTION),
        ("DELETE", "/system/functions/secret", 404, NO_FUNCTION),
        ("GET", "/system/logs?name=secret", 404, NO_FUNCTION),
        ("POST", "/function/../function/secret", 404, NO_FUNCTION),
        ("POST", "/function/mine/../secret", 404, NO_FUNCTION),
        ("POST", "/function/mine/%2E%2e/secret", 404, NO_FUNCTION),
        ("GET", "/function/mine/sub/./x", 404, NO_FUNCTION),
        ("POST", "/function/%2e%2e/secret", 404, NO_FUNCTION),
        ("POST", "/function/%2E%2E%2Fsecret", 404, NO_FUNCTION),
        ("POST", "/function/secret%2F..", 404, NO_FUNCTION),
        ("POST", "/function/%73ecret", 404, NO_FUNCTION),
        ("POST", "/function//secret", 404, NO_FUNCTION),
        ("POST", "/function/secret/", 404, NO_FUNCTION),
        ("POST", "/function/SECRET", 404, NO_FUNCTION),
        ("POST", "/function/secret%00", 404, NO_FUNCTION),
        ("POST", "/function/" + "s" * 32, 404, NO_FUNCTION),
        ("POST", "/function/" + "s" * 4000, 404, NO_FUNCTION),
        ("POST", "//function/secret", 404, NO_ROUTE),
        ("POST", "/./function/secret", 404, NO_ROUTE),
        ("POST", "/function%2Fsecret", 404, NO_ROUTE),
        ("GET", "/system/functions/../functions/secret", 404, NO_FUNCTION),
        ("GET", "/system/functions/%2e%2e%2fsecret", 404, NO_FUNCTION),
        ("GET", "/system/functions//secret", 404, NO_FUNCTION),
        ("GET", "/system//functions/secret", 404, NO_ROUTE),
        ("DELETE", "/system/functions/secret%00", 404, NO_FUNCTION),
        ("DELETE", "/system/functions/..%2Fsecret", 404, NO_FUNCTION),
        ("DELETE", "/system/functions/" + "s" * 40, 404, NO_FUNCTION),
        ("GET", "/system/logs?name=../secret", 404, NO_FUNCTION),
        ("GET", "/system/logs?name=%73ecret", 404, NO_FUNCTION),
        ("GET", "/system/logs?name=secret%00", 404, NO_FUNCTION),
        ("GET", "/system/logs?name=" + "s" * 64, 404, NO_FUNCTION),
    ]
    for method, path, expected_status, expected_body in attempts:
        status, _, body = alpha.request(method, path, body=b"a's call" if method == "POST" else None)
        check(status == expected_status and json_body(body) == expected_body,
              f"tenant A {method} {path[:60]}: {expected_status} {expected_body} (got {status} {body[:80]!r})")
    # Bytes the HTTP parser refuses before any routing: a raw NUL in the target, an absolute-form
    # target naming B's function. 400 and the connection closed.
    for what, target in (("a NUL byte in the path", b"/function/secret\x00"),
                         ("an absolute-form target", b"http://127.0.0.1/function/secret"),
                         ("a space in the path", b"/function/sec ret")):
        raw = raw_exchange(port, b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           KEY_A.encode() + b"\r\nContent-Length: 1\r\n\r\nx")
        check(status_of(raw) == 400 and b"Connection: close" in raw,
              f"tenant A with {what}: 400 and the connection closed (got {raw[:60]!r})")

    # B's function is untouched: it answers, and counts exactly B's two invocations.
    status, _, body = beta.request("POST", "/function/secret", body=b"still mine")
    check(status == 200 and body == b"still mine", f"tenant B's secret still answers (got {status} {body[:60]!r})")
    status, _, body = beta.request("GET", "/system/functions/secret")
    described = json_body(body) or {}
    check(status == 200 and described.get("invocations") == 2 and described.get("failures") == 0,
          f"tenant B's secret counts only B's 2 invocations, no failures (got {status} {body[:200]!r})")
    status, _, body = beta.request("GET", "/system/logs?name=secret")
    check(status == 200 and body.count(b"status=OK") == 2 and body.count(b"\n") == 2,
          f"tenant B's log of secret: exactly its 2 invocations (got {status} {body[:200]!r})")
    status, _, body = alpha.request("GET", "/system/functions")
    check(status == 200 and [entry.get("name") for entry in json_body(body) or []] == ["mine"],
          f"tenant A lists only its own function (got {status} {body[:100]!r})")
    alpha.close()
    beta.close()


def serial_lines(serial_log):
    with open(serial_log, "rb") as log:
        return [line.rstrip(b"\r") for line in log.read().split(b"\n")]


def wait_for_serial(serial_log, needle, seconds=20):
    """Waits until the serial log holds `needle` (QEMU writes it as the guest prints)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(serial_log, "rb") as log:
            if needle in log.read():
                return True
        time.sleep(0.1)
    return False


def console(port, images, serial_log):
    """The console is an operator grant; a flood without it reaches the console not at all."""
    alpha, beta, operator = Client(port, KEY_A), Client(port, KEY_B), Client(port, KEY_OPERATOR)
    # Tenant A asks for the console: 403, and nothing is deployed.
    status, _, body = deploy(alpha, "flood", images["log_flood"], console=True, timeout_ms=60000)
    check(status == 403 and json_body(body) == CONSOLE_REFUSED,
          f"tenant A deploys with \"console\": true: 403 {CONSOLE_REFUSED['error']!r} (got {status} {body[:160]!r})")
    if status != 201:
        status, _, body = alpha.request("GET", "/system/functions/flood")
        check(status == 404, f"the refused deploy deployed nothing: 404 (got {status})")
        status, _, body = deploy(alpha, "flood", images["log_flood"], timeout_ms=60000)
        check(status == 201, f"tenant A deploys the flood without the console: 201 (got {status} {body[:100]!r})")
    status, _, body = deploy(operator, "oplog", images["log_flood"], console=True, timeout_ms=60000)
    check(status == 201, f"the operator key deploys with \"console\": true: 201 (got {status} {body[:100]!r})")
    status, _, body = operator.request("GET", "/system/functions/oplog")
    check(status == 200 and (json_body(body) or {}).get("console") is True,
          f"describe shows the operator's function with the console (got {status} {body[:200]!r})")

    # Tenant A floods (three invocations of 1000 log messages each, one after another) while
    # tenant B's echo is invoked again and again on its own connection.
    forged = b"*** kernel panic ***\nmanager: forged by tenant a\n\x1b[2J\x1b[31mred\n"
    flood_results = []

    def flood():
        client = Client(port, KEY_A)
        for _ in range(3):
            flood_results.append(client.request("POST", "/function/flood", body=forged)[:3:2])
        client.close()

    status, _, body = deploy(beta, "echo", images["echo"])
    check(status == 201, f"tenant B deploys echo: 201 (got {status} {body[:100]!r})")
    # Idle keep-alive connections would hold gateway workers (four in all) through the flood.
    alpha.close()
    operator.close()
    flooder = threading.Thread(target=flood)
    flooder.start()
    slowest, answered, wrong = 0.0, 0, []
    while flooder.is_alive() or answered < 3:
        started = time.monotonic()
        status, _, body = beta.request("POST", "/function/echo", body=b"b keeps answering %d" % answered)
        slowest = max(slowest, time.monotonic() - started)
        if status != 200 or body != b"b keeps answering %d" % answered:
            wrong.append((status, body[:60]))
        answered += 1
    flooder.join()
    check(flood_results == [(200, b"logs=1000")] * 3,
          f"tenant A's three floods end normally: 200 logs=1000 (got {flood_results})")
    check(not wrong and answered >= 3 and slowest < ECHO_BOUND_SECONDS,
          f"tenant B's echo answered {answered} times during the flood, each right and within "
          f"{ECHO_BOUND_SECONDS:.0f} s (slowest {slowest:.2f} s; wrong {wrong[:3]})")

    # The operator's function: the same forged text and flood reach the console, but only as
    # prefixed lines, escapes as text, 4 KiB and one note per invocation.
    status, _, body = operator.request("POST", "/function/oplog", body=forged)
    check(status == 200 and body == b"logs=1000", f"the operator's flood ends normally (got {status} {body[:60]!r})")
    prefix = b"[fn 3.9/oplog] "
    note = prefix + b"log limit of 4096 bytes for this invocation reached; the rest is dropped"
    check(wait_for_serial(serial_log, note), "the operator's flood reached the console up to its limit note")
    lines = serial_lines(serial_log)
    # Each console write is atomic (the kernel lock), but another task's line may be printed in
    # pieces, so one of ours may follow such a piece on the same serial line.
    ours = [line[line.index(prefix):] for line in lines if prefix in line]
    check(prefix + b"*** kernel panic ***" in ours and prefix + b"manager: forged by tenant a" in ours and
          prefix + b"\\x1b[2J\\x1b[31mred" in ours,
          "the forged kernel and manager lines and the escape sequences appear prefixed, escapes as text")
    check(sum(len(line) + 1 for line in ours if line != note) <= 4096 and ours.count(note) == 1,
          f"the operator's invocation printed at most 4096 bytes and one note "
          f"({sum(len(line) + 1 for line in ours if line != note)} bytes, {ours.count(note)} notes)")
    check(not any(line.startswith(b"*** kernel panic") or line.startswith(b"manager: forged") for line in lines),
          "no serial line starts with the forged text")
    check(not any(b"\x1b" in line for line in lines), "no raw escape byte reached the serial console")
    flooded = [line for line in lines if b"L" * 32 in line and prefix not in line]
    check(not flooded, f"tenant A's flood reached the console not at all ({len(flooded)} lines of it, "
                       f"first {flooded[0][:60] if flooded else b''!r})")
    for client in (alpha, beta, operator):
        client.close()


def zombie(port, images):
    """A function deleted while an invocation of it runs leaves no series once it finishes."""
    alpha = Client(port, KEY_A)
    status, _, body = deploy(alpha, "zombie", images["pause"], timeout_ms=60000)
    check(status == 201, f"tenant A deploys zombie (pause): 201 (got {status} {body[:100]!r})")
    series = 'metteagle_invocations_total{function="zombie",tenant="1"}'
    check(metric_value(port, series) == 0, "the fresh function has its series, at 0")
    in_flight = 'metteagle_invocations_in_flight{tenant="1"}'
    running = start_request(port, KEY_A, "/function/zombie", b"5000")
    check(wait_for_metric(port, in_flight, 1), "the invocation of zombie is in flight")
    time.sleep(1.5)  # DESCRIBE and INVOKE take milliseconds; the pause runs 5 s.
    status, _, body = alpha.request("DELETE", "/system/functions/zombie")
    check(status == 200, f"tenant A deletes zombie while it runs: 200 (got {status} {body[:80]!r})")
    status, body = finish_request(running)
    check(status == 200 and body == b"paused 5000 ms",
          f"the invocation that outlived the delete ends: 200 (got {status} {body[:60]!r})")
    client = Client(port)
    status, _, page = client.request("GET", "/metrics", key=KEY_OPERATOR)
    client.close()
    check(status == 200 and b'function="zombie"' not in page,
          "no series of the deleted function in /metrics after its last invocation finished")
    check(metric_value(port, 'metteagle_series_refused_total{tenant="1"}') == 0,
          "tenant 1 was refused no series")
    # The same name deployed again starts from zero.
    status, _, body = deploy(alpha, "zombie", images["pause"])
    check(status == 201, f"zombie deployed again: 201 (got {status})")
    check(metric_value(port, series) == 0, "the new zombie's series starts at 0")
    status, _, body = alpha.request("GET", "/system/logs?name=zombie")
    check(status == 200 and body == b"", f"and its log is empty (got {status} {body[:100]!r})")
    alpha.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--functions", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "user",
                                                            "functions"))
    parser.add_argument("--serial-log", required=True, help="the guest's serial console as the harness records it")
    args = parser.parse_args()
    images = {}
    for name in ("echo", "log_flood", "pause"):
        with open(os.path.join(args.functions, f"{name}.elf"), "rb") as image:
            images[name] = image.read()
    started = time.monotonic()
    if not check(wait_for_health(args.port), "GET /healthz answers 200 ok"):
        return 1
    cross_tenant(args.port, images)
    console(args.port, images, args.serial_log)
    zombie(args.port, images)
    check(wait_for_health(args.port, 10), "GET /healthz still answers at the end")
    print(f"{len(FAILURES)} failed checks, {time.monotonic() - started:.1f} s", flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
