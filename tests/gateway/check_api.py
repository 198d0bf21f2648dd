#!/usr/bin/env python3
"""Host-side check of the gateway's HTTP API (docs/API.md) against a booted guest.

Deploys functions built by the project (build/user/functions/*.elf), invokes them inline and
through Memory (large input and output), lists, describes, deletes, checks that two API keys are
two tenants, produces every error status of docs/API.md with a real bad request, reads /metrics
and /system/logs, serves several connections at once (two slow invocations in flight together and
a third connection answered meanwhile), refuses exactly the invocation over a tenant's concurrency
limit with 429 while another tenant is unaffected, accepts a key that exists only in the boot key
file (tests/gateway/test.keys), runs the asynchronous invocations' checks (check_async.py: callbacks
to a server on the host), then sends a few hundred random byte strings and checks that /healthz
still answers. Python 3 standard library only. Exits 0 when every check passed.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import re
import select
import socket
import sys
import threading
import time

from check_async import check_async

KEY_A = "dev-key-alpha"  # tests/gateway/test.keys: tenant 1, limit 4.
KEY_B = "dev-key-beta"   # Tenant 2, limit 1.
KEY_BOOT = "boot-key-gamma.7"  # Tenant 7: only in the boot key file, never compiled in anywhere.
KEY_OPERATOR = "operator-key-delta.9"  # Tenant 9, console: an operator key, which sees all of /metrics.
FAILURES = []
STARTED = time.monotonic()


def check(condition, what):
    print(f"{'ok    ' if condition else 'FAILED'} {time.monotonic() - STARTED:6.2f}s {what}", flush=True)
    if not condition:
        FAILURES.append(what)
    return condition


class Client:
    """One keep-alive connection; reconnects when the gateway closed it."""

    def __init__(self, port, key=None):
        self.port, self.key, self.connection = port, key, None

    def request(self, method, path, body=None, headers=None, key="default"):
        key = self.key if key == "default" else key
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.connection.request(method, path, body=body, headers=all_headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, dict(response.getheaders()), data
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def read_to_end(connection):
    """Everything the peer sends until it closes (or the connection fails)."""
    chunks = []
    try:
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks)


def raw_exchange(port, payload, half_close=True, timeout=15):
    """Sends raw bytes, optionally closes the sending side, returns everything the gateway sends."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(payload)
            if half_close:
                connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_to_end(connection)


def status_of(raw):
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def split_responses(raw):
    """The (status, body) of each HTTP/1.1 response in `raw`, which holds several back to back."""
    answers = []
    while raw.startswith(b"HTTP/1.1 "):
        head, separator, rest = raw.partition(b"\r\n\r\n")
        if not separator:
            break
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            if name.strip().lower() == b"transfer-encoding" and value.strip().lower() == b"chunked":
                chunked = True
        if not chunked:
            answers.append((status_of(head), rest[:length]))
            raw = rest[length:]
            continue
        # A chunked body (a /metrics page): size lines, chunks, the last chunk of size 0.
        body = b""
        while True:
            size_line, separator, rest = rest.partition(b"\r\n")
            if not separator:
                return answers
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                rest = rest[2:]  # The last chunk's CRLF (no trailers).
                break
            body, rest = body + rest[:size], rest[size + 2:]
        answers.append((status_of(head), body))
        raw = rest
    return answers


def wait_for_health(port, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            body = response.read()
            connection.close()
            if response.status == 200 and body == b"ok":
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def start_request(port, key, path, body):
    """Sends one POST on a fresh connection (closed by the gateway after its answer); returns the socket."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=60)
    connection.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    return connection


def finish_request(connection):
    """Reads the answer of start_request to its end: (status, body)."""
    raw = read_to_end(connection)
    connection.close()
    return status_of(raw), raw.partition(b"\r\n\r\n")[2]


def answer_pending(connection):
    """True when nothing of the answer has arrived yet (the request is still being served)."""
    readable, _, _ = select.select([connection], [], [], 0)
    return not readable


def metric_value(port, series):
    """The value of one /metrics series (e.g. 'metteagle_rejected_total{tenant="2"}'), or None."""
    client = Client(port)
    try:
        status, _, body = client.request("GET", "/metrics", key=KEY_OPERATOR)
    finally:
        client.close()
    for line in body.decode(errors="replace").splitlines():
        name, _, value = line.rpartition(" ")
        if status == 200 and name == series:
            return int(value)
    return None


def wait_for_metric(port, series, expected, seconds=30):
    """Polls /metrics until `series` has the value `expected`; False when it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if metric_value(port, series) == expected:
            return True
        time.sleep(0.05)
    return False


def check_concurrency(port, functions):
    """Several connections at once, and the per-tenant concurrency limit (429)."""
    with open(os.path.join(functions, "pause.elf"), "rb") as image:
        pause = image.read()
    alpha, beta = Client(port, KEY_A), Client(port, KEY_B)
    for client, tenant in ((alpha, "A"), (beta, "B")):
        status, _, body = deploy(client, "pause", pause, timeout_ms=60000)
        check(status == 201, f"tenant {tenant} deploys pause: 201 (got {status} {body[:100]!r})")
    alpha.close()
    beta.close()

    # Two slow invocations on two connections are in flight together (one gateway thread could
    # only ever have one), and a third connection is answered while they run. The pauses are long
    # (8 s, then 6 s) so that a loaded host still finishes the checks inside them.
    in_flight_a = 'metteagle_invocations_in_flight{tenant="1"}'
    first = start_request(port, KEY_A, "/function/pause", b"8000")
    second = start_request(port, KEY_A, "/function/pause", b"8000")
    check(wait_for_metric(port, in_flight_a, 2), "two invocations of one tenant in flight at once "
                                                  "(two connections served in parallel)")
    health = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    health.request("GET", "/healthz")
    response = health.getresponse()
    health_body = response.read()
    health.close()
    check(response.status == 200 and health_body == b"ok" and answer_pending(first) and answer_pending(second),
          f"GET /healthz on a third connection answers while both run (got {response.status} {health_body!r})")
    for index, connection in enumerate((first, second)):
        status, body = finish_request(connection)
        check(status == 200 and body == b"paused 8000 ms",
              f"slow invocation {index + 1} of 2 succeeds: 200 'paused 8000 ms' (got {status} {body[:80]!r})")
    check(wait_for_metric(port, in_flight_a, 0), "no invocation of tenant 1 in flight afterwards")

    # Tenant B may run one invocation at a time (limit=1 in test.keys): exactly the one over the
    # limit gets 429, while tenant A is not affected.
    in_flight_b = 'metteagle_invocations_in_flight{tenant="2"}'
    slow = start_request(port, KEY_B, "/function/pause", b"6000")
    check(wait_for_metric(port, in_flight_b, 1), "tenant B's slow invocation is in flight")
    beta = Client(port, KEY_B)
    status, headers, body = beta.request("POST", "/function/pause", body=b"1")
    refused = json.loads(body) if body.startswith(b"{") else {}
    check(status == 429 and refused.get("limit") == 1 and "in flight" in refused.get("error", "") and
          headers.get("Retry-After") == "1",
          f"tenant B's second invocation: 429 with a JSON error and its limit (got {status} {body[:120]!r})")
    alpha = Client(port, KEY_A)
    status, _, body = alpha.request("POST", "/function/pause", body=b"1")
    check(status == 200 and body == b"paused 1 ms", f"tenant A meanwhile: 200 (got {status} {body[:80]!r})")
    status, body = finish_request(slow)
    check(status == 200 and body == b"paused 6000 ms", f"tenant B's slow invocation succeeds (got {status} {body[:80]!r})")
    check(wait_for_metric(port, in_flight_b, 0), "tenant B has nothing in flight afterwards")
    status, _, body = beta.request("POST", "/function/pause", body=b"1")
    check(status == 200 and body == b"paused 1 ms", f"tenant B below its limit again: 200 (got {status} {body[:80]!r})")
    check(metric_value(port, 'metteagle_rejected_total{tenant="2"}') == 1 and
          metric_value(port, 'metteagle_rejected_total{tenant="1"}') == 0 and
          metric_value(port, 'metteagle_concurrency_limit{tenant="2"}') == 1,
          "/metrics: exactly one rejection, tenant B's, and its limit 1")
    alpha.close()
    beta.close()

    # Keys come from the boot key file: a key only that file names works, a wrong one is 401.
    boot = Client(port, KEY_BOOT)
    status, _, body = boot.request("GET", "/system/functions")
    check(status == 200 and json.loads(body) == [], f"the key from the boot key file works: 200 [] (got {status} {body[:80]!r})")
    status, _, body = boot.request("GET", "/system/functions", key="boot-key-gamma.8")
    check(status == 401 and "error" in json.loads(body), f"a wrong key: 401 (got {status} {body[:80]!r})")
    boot.close()

    # Four idle keep-alive connections occupy the four workers; a fifth client is still served (an
    # idle connection gives way to a client waiting in the listen queue, or times out).
    idle = []
    for _ in range(4):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        idle.append((connection, response.status))
    fifth = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    fifth.request("GET", "/healthz")
    response = fifth.getresponse()
    fifth_body = response.read()
    fifth.close()
    check(all(status == 200 for _, status in idle) and response.status == 200 and fifth_body == b"ok",
          f"a fifth client is served while four keep-alive connections idle (got {response.status} {fifth_body!r})")
    for connection, _ in idle:
        connection.close()


BUSYBOX = "/bin/busybox"  # From Debian's busybox-static (scripts/packages/linux.list).


def check_openfaas(port):
    """OpenFaaS's shapes (docs/API.md, OpenFaaS routes) end to end, with exact JSON: deploy from an
    executable uploaded the native way, FunctionStatus, info, scale, the watchdog's Http_* variables
    and envVars in a Linux function's environment, a failing function's stdout with 500, update in
    place with an invocation in flight, delete with a JSON body, and the 400s."""
    # Tenant 7 (the boot key): its own storage quota holds busybox and the copies made of it.
    alpha = Client(port, KEY_BOOT)
    json_headers = {"Content-Type": "application/json"}

    def faas(method, path, document):
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        status, headers, data = alpha.request(method, path, body=body, headers=json_headers)
        try:
            return status, headers, json.loads(data)
        except ValueError:
            return status, headers, data

    with open(BUSYBOX, "rb") as image:
        # Deployments made from it take its configuration (here a 20 s timeout) where theirs says nothing.
        status, _, body = deploy(alpha, "busybox", image.read(), linux=True, memory=32 << 20, timeout_ms=20000)
    check(status == 201, f"openfaas: upload busybox the native way: 201 (got {status} {body[:100]!r})")

    printenv = {"service": "printenv", "image": "busybox",
                "envProcess": "sh -c 'echo \"$GREETING|$Http_Method|$Http_Path|$Http_Query|$Http_X_Custom_Header|'"
                              "'$Http_Content_Type|$Http_Authorization|${fprocess%% *}\"'",
                "envVars": {"GREETING": "hello env"}, "labels": {"team": "a"}, "annotations": {"note": "n"},
                "limits": {"memory": "32Mi"}, "requests": {"memory": "16Mi"}, "secrets": []}
    status, _, reply = faas("POST", "/system/functions", printenv)
    digest = reply.get("digest", "") if isinstance(reply, dict) else ""
    check(status == 202 and isinstance(reply, dict) and set(reply) == {"name", "digest"} and
          reply["name"] == "printenv" and re.fullmatch(r"sha256:[0-9a-f]{64}", digest) is not None,
          f"openfaas: POST /system/functions with a FunctionDeployment: 202 {{name, digest}} (got {status} {reply!r})")
    status, _, body = alpha.request("PATCH", "/function/printenv/sub/path?a=1&b=two", body=b"",
                                    headers={"X-Custom-Header": "yes", "Content-Type": "text/plain"})
    check(status == 200 and body == b"hello env|PATCH|/sub/path|a=1&b=two|yes|text/plain||sh\n",
          f"openfaas: envVars, fprocess and the watchdog's Http_* variables in the function's environment, "
          f"no Authorization (got {status} {body!r})")
    status, _, body = alpha.request("GET", "/function/printenv")
    check(status == 200 and body == b"hello env|GET|/|||||sh\n",
          f"openfaas: GET /function/printenv: Http_Path /, no Http_Query (got {status} {body!r})")

    status, _, described = faas("GET", "/system/function/printenv", b"")
    created = described.get("createdAt", "") if isinstance(described, dict) else ""
    expected = {"name": "printenv", "image": "busybox", "invocationCount": 2, "replicas": 1, "availableReplicas": 1,
                "envProcess": printenv["envProcess"], "labels": {"team": "a"}, "annotations": {"note": "n"},
                "limits": {"memory": str(32 << 20)}, "createdAt": created, "digest": digest}
    check(status == 200 and described == expected and
          re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created) is not None,
          f"openfaas: GET /system/function/printenv: the FunctionStatus (got {status} {described!r})")
    status, _, listed = faas("GET", "/system/functions", b"")
    entry = next((item for item in listed if item.get("name") == "printenv"), {}) if isinstance(listed, list) else {}
    check(status == 200 and all(entry.get(key) == value for key, value in expected.items()),
          f"openfaas: GET /system/functions lists printenv's FunctionStatus members (got {status} {entry!r})")
    status, _, info = faas("GET", "/system/info", b"")
    check(status == 200 and info == {"provider": {"provider": "metteagle", "orchestration": "metteagle-manager",
                                                  "version": {"release": "dev", "sha": ""}},
                                     "version": {"release": "dev", "sha": ""}, "arch": "x86_64"},
          f"openfaas: GET /system/info (got {status} {info!r})")
    status, _, reply = faas("POST", "/system/scale-function/printenv", {"serviceName": "printenv", "replicas": 3})
    check(status == 202 and reply == {"name": "printenv", "replicas": 3}, f"openfaas: scale: 202 (got {status} {reply!r})")
    status, _, described = faas("GET", "/system/function/printenv", b"")
    check(status == 200 and described.get("replicas") == 3 and described.get("availableReplicas") == 1,
          f"openfaas: replicas as asked, one available (got {status} {described!r})")

    # A non-zero exit: the function's stdout is the body, 500, the error in headers.
    status, _, reply = faas("POST", "/system/functions", {"service": "fails", "image": "busybox",
                                                          "envProcess": "sh -c 'echo partial; echo why >&2; exit 3'"})
    check(status == 202, f"openfaas: deploy fails: 202 (got {status} {reply!r})")
    status, headers, body = alpha.request("POST", "/function/fails", body=b"")
    check(status == 500 and body == b"partial\n" and headers.get("X-Exit-Code") == "3" and
          headers.get("X-Function-Error") == "exited with code 3",
          f"openfaas: a non-zero exit: 500, stdout as the body, X-Exit-Code and X-Function-Error "
          f"(got {status} {body!r} {headers.get('X-Function-Error')!r})")

    # Its logs: stderr (with the personality's own lines, "linux: ..."), the failure's stdout and
    # the result line, as OpenFaaS's JSON lines.
    call = headers.get("X-Call-Id", "?")
    status, headers, body = alpha.request("GET", "/system/logs?name=fails")
    lines = [json.loads(line) for line in body.decode().splitlines()] if status == 200 else []
    stamps = [line.pop("timestamp", "") for line in lines]
    texts = [line.get("text", "") for line in lines]
    result_text = texts[-1] if texts else ""
    check(status == 200 and headers.get("Content-Type") == "application/x-ndjson" and len(lines) >= 3 and
          all({key: value for key, value in line.items() if key != "text"} ==
              {"name": "fails", "namespace": "", "instance": call} for line in lines) and
          texts[0] == "why" and all(text.startswith("linux: ") for text in texts[1:-2]) and texts[-2] == "partial" and
          re.fullmatch(rf"call={call} status=FAILED exit_code=3 output_bytes=8 duration_seconds=\d+\.\d{{6}}",
                       result_text) is not None and
          all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp) for stamp in stamps),
          f"openfaas: GET /system/logs?name=fails: stderr, stdout of the failure, the result line (got {status} {body!r})")
    status, _, body = alpha.request("GET", "/system/logs?name=fails&tail=1")
    check(status == 200 and len(body.splitlines()) == 1 and json.loads(body)["text"] == result_text,
          f"openfaas: logs with tail=1: the last line only (got {status} {body!r})")
    status, _, body = alpha.request("GET", "/system/logs?name=fails&since=2300-01-01T00%3A00%3A00Z")
    check(status == 200 and body == b"", f"openfaas: logs since a later time: none (got {status} {body!r})")
    status, _, body = alpha.request("GET", f"/system/logs?name=fails&since={stamps[0] if stamps else 'x'}")
    check(status == 200 and len(body.splitlines()) == len(lines), f"openfaas: logs since the first line's time: all "
                                                                   f"of them (got {status} {body!r})")
    status, _, body = alpha.request("GET", "/system/logs?name=fails&since=yesterday")
    check(status == 400 and json.loads(body) == {"error": "since must be a time as createdAt and timestamps show it "
                                                          "(RFC 3339, UTC)"}, f"openfaas: logs with a bad since: 400 "
                                                                              f"(got {status} {body!r})")
    status, _, body = Client(port, KEY_A).request("GET", "/system/logs?name=fails")
    check(status == 404, f"openfaas: another tenant cannot read fails's logs: 404 (got {status} {body!r})")

    # Update in place: an invocation in flight finishes on the old version, new ones get the new
    # (both at once within the tenant's 44 MiB memory share: 20 MiB each).
    status, _, reply = faas("POST", "/system/functions", {"service": "slow", "image": "busybox",
                                                          "envProcess": "sh -c 'sleep 3; echo version one'",
                                                          "limits": {"memory": "20Mi"}})
    old_digest = reply.get("digest") if isinstance(reply, dict) else None
    check(status == 202, f"openfaas: deploy slow: 202 (got {status} {reply!r})")
    _, old_status = faas("GET", "/system/function/slow", b"")[0:3:2]
    in_flight = start_request(port, KEY_BOOT, "/function/slow", b"")
    wait_for_metric(port, "metteagle_manager_running_invocations", 1)
    status, _, reply = faas("PUT", "/system/functions", {"service": "slow", "image": "busybox",
                                                         "envProcess": "sh -c 'echo version two'",
                                                         "envVars": {"V": "2"}, "limits": {"memory": "20Mi"}})
    check(status == 202 and isinstance(reply, dict) and reply.get("name") == "slow" and
          reply.get("digest") not in (None, old_digest),
          f"openfaas: PUT /system/functions while slow runs: 202 with a new digest (got {status} {reply!r})")
    status, _, body = alpha.request("POST", "/function/slow", body=b"")
    check(status == 200 and body == b"version two\n", f"openfaas: after PUT, a new invocation runs the new version "
                                                        f"(got {status} {body!r})")
    status, body = finish_request(in_flight)
    check(status == 200 and body == b"version one\n", f"openfaas: the invocation in flight during PUT finished on the "
                                                        f"old version (got {status} {body!r})")
    status, _, new_status = faas("GET", "/system/function/slow", b"")
    check(status == 200 and new_status.get("digest") == reply.get("digest") and
          new_status.get("envProcess") == "sh -c 'echo version two'" and new_status.get("invocationCount") == 2 and
          new_status.get("createdAt", "") > old_status.get("createdAt", "~"),
          f"openfaas: GET after PUT: the new digest, envProcess, a later createdAt, the count kept "
          f"(got {status} {new_status!r})")

    # A name of 63 characters (a DNS label's most; 32 and more were refused before issue 14): deployed,
    # invoked, described, listed and deleted like any other. One more character is a 400 (below).
    long_name = "l" + "o" * 61 + "n"
    status, _, reply = faas("POST", "/system/functions", {"service": long_name, "image": "busybox",
                                                          "envProcess": "sh -c 'echo long name'"})
    long_digest = reply.get("digest", "") if isinstance(reply, dict) else ""
    check(status == 202 and isinstance(reply, dict) and set(reply) == {"name", "digest"} and
          reply["name"] == long_name and re.fullmatch(r"sha256:[0-9a-f]{64}", long_digest) is not None,
          f"openfaas: deploy a 63-character name: 202 {{name, digest}} (got {status} {reply!r})")
    status, _, body = alpha.request("POST", f"/function/{long_name}", body=b"")
    check(status == 200 and body == b"long name\n", f"openfaas: invoke the 63-character name (got {status} {body!r})")
    status, _, described = faas("GET", f"/system/function/{long_name}", b"")
    long_expected = {"name": long_name, "image": "busybox", "invocationCount": 1, "replicas": 1,
                     "availableReplicas": 1, "envProcess": "sh -c 'echo long name'", "labels": {}, "annotations": {},
                     "limits": {"memory": str(32 << 20)}, "digest": long_digest}
    check(status == 200 and isinstance(described, dict) and
          {key: described.get(key) for key in long_expected} == long_expected,
          f"openfaas: describe the 63-character name (got {status} {described!r})")
    status, _, listed = faas("GET", "/system/functions", b"")
    names = [item.get("name") for item in listed] if isinstance(listed, list) else []
    check(status == 200 and names.count(long_name) == 1,
          f"openfaas: GET /system/functions lists the 63-character name once (got {status} {names!r})")
    status, _, reply = faas("DELETE", "/system/functions", {"functionName": long_name})
    check(status == 200 and reply == {"deleted": long_name},
          f"openfaas: delete the 63-character name: 200 (got {status} {reply!r})")
    status, _, reply = faas("GET", f"/system/function/{long_name}", b"")
    check(status == 404 and reply == {"error": "no such function"},
          f"openfaas: the deleted 63-character name is gone: 404 (got {status} {reply!r})")

    # Errors: each with its exact message.
    for method, path, document, want_status, message in (
            ("POST", "/system/functions", b'{"service": "x",', 400,
             "the body is not valid JSON (a FunctionDeployment object expected)"),
            ("POST", "/system/functions", {"service": "Bad_Name", "image": "busybox"}, 400,
             "a function name may hold only a-z, 0-9 and '-' (a DNS label)"),
            ("POST", "/system/functions", {"service": "-edge", "image": "busybox"}, 400,
             "a function name must start and end with a letter or a digit (a DNS label)"),
            ("POST", "/system/functions", {"service": "a" * 64, "image": "busybox"}, 400,
             "a function name must be 1 to 63 characters (a DNS label)"),
            ("POST", "/system/functions", {"service": "noimage"}, 400,
             "image is required (a function uploaded before, or an image reference)"),
            ("POST", "/system/functions", {"service": "envs", "image": "busybox", "envVars": {"A": 1}}, 400,
             "envVars must be an object of strings"),
            ("POST", "/system/functions", {"service": "mem", "image": "busybox", "limits": {"memory": "lots"}}, 400,
             'limits must be an object like {"memory": "128Mi"}'),
            ("POST", "/system/functions", {"service": "printenv", "image": "busybox"}, 409,
             "a function of that name exists (PUT /system/functions updates it)"),
            ("PUT", "/system/functions", {"service": "absent", "image": "busybox"}, 404,
             "no such function (PUT updates a deployed function)"),
            ("DELETE", "/system/functions", {"name": "printenv"}, 400, "functionName is required (a string)"),
            ("DELETE", "/system/functions", b"[", 400, "the body is not valid JSON"),
            ("DELETE", "/system/functions", {"functionName": "UPPER"}, 400,
             "a function name may hold only a-z, 0-9 and '-' (a DNS label)"),
            ("POST", "/system/scale-function/printenv", {"replicas": -1}, 400,
             "replicas is required (an integer 0 to 1000)")):
        status, _, reply = faas(method, path, document)
        check(status == want_status and reply == {"error": message},
              f"openfaas: {method} {path} {str(document)[:50]}: {want_status} {message!r} (got {status} {reply!r})")
    status, _, reply = faas("POST", "/system/functions", {"service": "fromstore", "image": "ghcr.io/acme/hello:1.2"})
    check(status == 422 and reply == {"error": "no such image: neither a function of this tenant nor an image in the "
                                               "image store", "image": "ghcr.io/acme/hello:1.2"},
          f"openfaas: an image neither uploaded nor in the store: 422 (got {status} {reply!r})")

    status, _, reply = faas("DELETE", "/system/functions", {"functionName": "printenv"})
    check(status == 200 and reply == {"deleted": "printenv"}, f"openfaas: DELETE with a JSON body: 200 (got {status} {reply!r})")
    status, _, reply = faas("DELETE", "/system/functions", {"functionName": "printenv"})
    check(status == 404, f"openfaas: DELETE again: 404 (got {status} {reply!r})")
    status, _, reply = faas("GET", "/system/function/printenv", b"")
    check(status == 404, f"openfaas: GET /system/function of a deleted function: 404 (got {status} {reply!r})")
    check_many_functions(alpha, faas)
    for name in ("fails", "slow", "busybox"):
        alpha.request("DELETE", f"/system/functions/{name}")
    alpha.close()


# More functions than the gateway's old 6 MiB /metrics buffer held (about 1,100 with the longest
# names): the page is now sent in pieces, whatever the count (issue 14).
MANY_FUNCTIONS = 1300
OLD_PAGE_BUFFER = 6 << 20


def many_name(index):
    """A 63-character name (a DNS label's most), as long as a page's lines get."""
    name = f"many-{index}-"
    return name + "x" * (63 - len(name))


def parse_metrics_page(text):
    """Families in order and each one's sample lines; None and the reason when the text breaks
    Prometheus's format: HELP or TYPE twice or after samples, a sample outside its family's group."""
    families, samples, helped, current = [], {}, set(), None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            if name in helped or name in samples:
                return None, f"HELP of {name} twice or after its samples"
            helped.add(name)
        elif line.startswith("# TYPE "):
            name = line.split(" ")[2]
            if name in samples:
                return None, f"TYPE of {name} twice"
            families.append(name)
            samples[name], current = [], name
        else:
            metric = re.split(r"[{ ]", line, maxsplit=1)[0]
            stem = re.sub(r"_(bucket|sum|count)$", "", metric)
            if current is None or (metric != current and stem != current):
                return None, f"a sample outside its family: {line[:100]}"
            samples[current].append(line)
    return (families, samples), ""


def series_per_function(lines):
    """function label -> lines of it (only functions named many-*)."""
    count = {}
    for line in lines:
        found = re.search(r'\{function="(many-[^"]*)",tenant="7"', line)
        if found:
            count[found.group(1)] = count.get(found.group(1), 0) + 1
    return count


def check_many_functions(client, faas):
    """Issue 14, item 3: a tenant's functions beyond the gateway's old tables and its old /metrics
    buffer each have their series and their OpenFaaS metadata: MANY_FUNCTIONS deployed from
    busybox with 63-character names, the last one's FunctionStatus exact, the operator's page
    (over 6 MiB, sent in pieces) well formed with exactly one series set for each; a reader taking
    one byte a second of another page holds up neither /healthz, an invocation, a deploy nor
    another page; then all deleted (their room given back)."""
    names = [many_name(index) for index in range(MANY_FUNCTIONS)]
    started = time.monotonic()
    deploys = [("POST", "/system/functions", json.dumps({"service": name, "image": "busybox",
                                                         "envProcess": f"echo many {index}",
                                                         "labels": {"index": str(index)}}).encode())
               for index, name in enumerate(names)]
    refused = [(name, status, reply) for name, (status, reply) in zip(names, in_parallel(client, deploys))
               if status != 202]
    check(not refused, f"many functions: {MANY_FUNCTIONS} OpenFaaS deploys of one tenant: all 202 in "
                       f"{time.monotonic() - started:.1f} s (refused: {refused[:3]!r})")
    last = names[-1]
    status, _, body = client.request("POST", f"/function/{last}", body=b"")
    check(status == 200 and body == f"many {MANY_FUNCTIONS - 1}\n".encode(),
          f"many functions: invoke {last}: 200 (got {status} {body[:80]!r})")
    status, _, described = faas("GET", f"/system/function/{last}", b"")
    check(status == 200 and isinstance(described, dict) and described.get("name") == last and
          described.get("image") == "busybox" and described.get("envProcess") == f"echo many {MANY_FUNCTIONS - 1}" and
          described.get("labels") == {"index": str(MANY_FUNCTIONS - 1)} and described.get("invocationCount") == 1,
          f"many functions: FunctionStatus of {last} has its metadata and its count (got {status} {described!r})")
    status, _, page = client.request("GET", "/metrics")
    text = page.decode(errors="replace")
    series = [f'metteagle_invocations_total{{function="{name}",tenant="7"}} ' for name in names]
    missing = [line for line in series if line not in text]
    check(status == 200 and not missing and f'{series[-1]}1\n' in text and
          'metteagle_series_refused_total{tenant="7"} 0\n' in text,
          f"many functions: /metrics has a series for each of the {MANY_FUNCTIONS} (missing {missing[:3]!r})")
    check_operator_page(client.port, names)
    check_slow_scraper(client, faas, names)
    started = time.monotonic()
    deletes = [("DELETE", f"/system/functions/{name}", None) for name in names]
    deleted = sum(status == 200 for status, _ in in_parallel(client, deletes))
    check(deleted == MANY_FUNCTIONS, f"many functions: all {MANY_FUNCTIONS} deleted: {deleted} "
                                     f"in {time.monotonic() - started:.1f} s")
    status, _, page = client.request("GET", "/metrics")
    check(status == 200 and "many-" not in page.decode(errors="replace"),
          "many functions: their series left /metrics with them")


def in_parallel(client, requests, connections=4):
    """(status, body) of each (method, path, body) request, sent with client's key over
    `connections` connections at once (a tenant's share of the gateway's workers)."""
    results = [None] * len(requests)

    def send(first):
        own = Client(client.port, client.key)
        for index in range(first, len(requests), connections):
            method, path, body = requests[index]
            status, _, data = own.request(method, path, body=body, headers={"Content-Type": "application/json"})
            results[index] = (status, data[:200])
        own.close()

    threads = [threading.Thread(target=send, args=(first,)) for first in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def check_operator_page(port, names):
    """The operator's page of every tenant: 200, chunked, over the old buffer, Prometheus's format,
    one series set (a line in each counter family, Metrics::BUCKETS + 3 lines in each histogram
    family) for each of `names`."""
    operator = Client(port, KEY_OPERATOR)
    started = time.monotonic()
    status, headers, page = operator.request("GET", "/metrics")
    took = time.monotonic() - started
    operator.close()
    text = page.decode(errors="replace")
    parsed, why = parse_metrics_page(text)
    check(status == 200 and headers.get("Transfer-Encoding") == "chunked" and parsed is not None and
          len(page) > OLD_PAGE_BUFFER,
          f"many functions: the operator's /metrics: 200, chunked, {len(page)} bytes (the old buffer held "
          f"{OLD_PAGE_BUFFER}), well formed in {took:.1f} s (got {status}, {why})")
    if parsed is None:
        return
    families, samples = parsed
    expected = {name: 1 for name in names}
    for family in ("metteagle_invocations_total", "metteagle_function_errors_total",
                   "metteagle_function_timeouts_total", "metteagle_function_unsupported_syscalls_total"):
        got = series_per_function(samples.get(family, []))
        check(got == expected, f"many functions: {family} has one line for each of the {len(names)} "
                               f"(got {len(got)} functions, {sum(got.values())} lines)")
    for family in ("metteagle_function_cold_start_seconds", "metteagle_function_duration_seconds"):
        got = series_per_function(samples.get(family, []))
        check(got == {name: 17 for name in names},
              f"many functions: {family} has one histogram (14 buckets, +Inf, sum, count) for each of the "
              f"{len(names)} (got {len(got)} functions, {sum(got.values())} lines)")
    check(families.count("metteagle_manager_free_bytes") == 1 and families.count("metteagle_connections_open") == 1,
          "many functions: the page ends with the manager's and the connections' figures")
    # HTTP/1.0 knows no chunks: the same page without a length, ended by the close.
    started = time.monotonic()
    raw = raw_exchange(port, b"GET /metrics HTTP/1.0\r\nAuthorization: Bearer " + KEY_BOOT.encode() + b"\r\n\r\n",
                       half_close=False, timeout=60)
    took = time.monotonic() - started
    head, _, body = raw.partition(b"\r\n\r\n")
    got = series_per_function(body.decode(errors="replace").splitlines())
    check(status_of(head) == 200 and b"Transfer-Encoding" not in head and b"Content-Length" not in head and
          b"Connection: close" in head and len(got) == len(names) and body.endswith(b"\n"),
          f"many functions: tenant 7's page to an HTTP/1.0 client: 200, no chunks, ended by the close, every "
          f"function ({len(got)} of {len(names)}, {len(body)} bytes in {took:.1f} s; head {head[:120]!r})")


def check_slow_scraper(client, faas, names):
    """A scraper that reads one byte a second slows only itself: meanwhile /healthz, an invocation,
    a deploy and a delete, and another client's whole page are all answered."""
    slow = socket.create_connection(("127.0.0.1", client.port), timeout=10)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY_OPERATOR}\r\n\r\n".encode())
    first = slow.recv(1)
    stop = False

    def trickle():
        while not stop:
            try:
                if slow.recv(1) == b"":
                    return
            except OSError:
                return
            time.sleep(1)

    reader = threading.Thread(target=trickle, daemon=True)
    reader.start()
    time.sleep(2)  # The slow reader's window is full: the gateway waits for it.
    status, _, body = Client(client.port).request("GET", "/healthz", key=None)
    check(status == 200 and body == b"ok", f"slow scraper: /healthz meanwhile: 200 ok (got {status} {body[:40]!r})")
    status, _, body = client.request("POST", f"/function/{names[7]}", body=b"")
    check(status == 200 and body == b"many 7\n", f"slow scraper: an invocation meanwhile: 200 (got {status} {body[:40]!r})")
    status, _, reply = faas("POST", "/system/functions", {"service": "during-scrape", "image": "busybox",
                                                          "envProcess": "echo during"})
    check(status == 202, f"slow scraper: a deploy meanwhile: 202 (got {status} {reply!r})")
    status, _, _ = client.request("DELETE", "/system/functions/during-scrape")
    check(status == 200, f"slow scraper: a delete meanwhile: 200 (got {status})")
    other = Client(client.port, client.key)
    status, _, page = other.request("GET", "/metrics")
    other.close()
    got = series_per_function(page.decode(errors="replace").splitlines())
    check(status == 200 and first == b"H" and len(got) == len(names),
          f"slow scraper: tenant 7's own page meanwhile: 200 with every function ({len(got)} of {len(names)}, "
          f"got {status}; the slow scraper still connected: {reader.is_alive()})")
    stop = True
    slow.close()
    reader.join(5)


def deploy(client, name, image, **config):
    config = dict({"name": name}, **config)
    return client.request("POST", "/system/functions", body=image,
                          headers={"Content-Type": "application/octet-stream",
                                   "X-Function-Config": json.dumps(config)})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--functions", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "user",
                                                            "functions"))
    parser.add_argument("--linux-programs", default=os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                                 "user", "linux-programs"),
                        help="the static Linux test programs (user/tests/linux), for the ENOSYS metric")
    parser.add_argument("--random-requests", type=int, default=int(os.environ.get("FUZZ_REQUESTS", "300")),
                        help="random byte strings sent at the end (FUZZ_REQUESTS; `make fuzz` sends 20,000)")
    args = parser.parse_args()
    port = args.port
    images = {}
    for name in ("echo", "sha256", "spin", "null_deref", "big_output", "empty"):
        with open(os.path.join(args.functions, f"{name}.elf"), "rb") as image:
            images[name] = image.read()

    started = time.monotonic()
    if not check(wait_for_health(port), "GET /healthz answers 200 ok"):
        return 1
    alpha, beta = Client(port, KEY_A), Client(port, KEY_B)

    # Deploy.
    status, _, body = deploy(alpha, "echo", images["echo"])
    check(status == 201 and json.loads(body) == {"name": "echo"}, f"deploy echo: 201 (got {status} {body[:100]!r})")
    for name, config in (("sha256", {}), ("spin", {"timeout_ms": 300}), ("null_deref", {}),
                         ("big_output", {"max_output": 4096}), ("empty", {"memory": 1 << 20})):
        status, _, body = deploy(alpha, name, images[name], **config)
        check(status == 201, f"deploy {name}: 201 (got {status} {body[:100]!r})")
    status, _, body = deploy(alpha, "echo", images["echo"])
    check(status == 409 and "error" in json.loads(body), f"deploy echo again: 409 (got {status})")

    # Invoke: inline, then through Memory both ways, then a hash.
    status, headers, body = alpha.request("POST", "/function/echo", body=b"hello gateway")
    check(status == 200 and body == b"hello gateway", f"invoke echo inline: 200 + same bytes (got {status} {body[:60]!r})")
    check(all(name in headers for name in ("X-Call-Id", "X-Duration-Seconds", "X-Phase-Create-Ticks",
                                           "X-Phase-Load-Ticks", "X-Phase-Run-Ticks", "X-Phase-Teardown-Ticks")),
          "invoke echo: the X-Call-Id, X-Duration-Seconds and X-Phase-*-Ticks headers")
    big = os.urandom(300 * 1024)
    status, _, body = alpha.request("POST", "/function/echo", body=big)
    check(status == 200 and body == big, f"invoke echo with 300 KiB: 200 + same bytes (got {status}, {len(body)} bytes)")
    megabyte = bytes(random.getrandbits(8) for _ in range(1 << 20))
    status, _, body = alpha.request("POST", "/function/echo", body=megabyte)
    check(status == 200 and body == megabyte, f"invoke echo with 1 MiB: 200 + same bytes (got {status}, {len(body)} bytes)")
    status, _, body = alpha.request("POST", "/function/echo", body=b"")
    check(status == 200 and body == b"", f"invoke echo with no input: 200, empty (got {status} {body[:60]!r})")
    data = b"metteagle" * 1000
    status, _, body = alpha.request("POST", "/function/sha256", body=data)
    check(status == 200 and body.decode(errors="replace").strip() == hashlib.sha256(data).hexdigest(),
          f"invoke sha256: 200 + the right digest (got {status} {body[:70]!r})")
    status, _, body = alpha.request("POST", "/function/empty")
    check(status == 200, f"invoke empty: 200 (got {status})")

    # Debian's busybox-static, unmodified, as a Linux function (docs/LINUX.md): deployed under
    # the applet name `cat`, it echoes its stdin.
    with open(BUSYBOX, "rb") as image:
        status, _, body = deploy(alpha, "cat", image.read(), linux=True, memory=32 << 20)
    check(status == 201, f"deploy busybox as a Linux function: 201 (got {status} {body[:100]!r})")
    status, _, body = alpha.request("POST", "/function/cat", body=b"unmodified busybox\n")
    check(status == 200 and body == b"unmodified busybox\n",
          f"invoke busybox cat: 200 + the input (got {status} {body[:60]!r})")
    with open(BUSYBOX, "rb") as image:
        status, _, body = deploy(alpha, "sh", image.read(), linux=True, memory=32 << 20,
                                 args=["-c", "read word; echo \"shell got $word\""])
    check(status == 201, f"deploy busybox sh with args: 201 (got {status} {body[:100]!r})")
    status, _, body = alpha.request("POST", "/function/sh", body=b"hi\n")
    check(status == 200 and body == b"shell got hi\n", f"invoke sh -c: 200 + its output (got {status} {body[:60]!r})")
    # A Linux program making exactly two system calls no personality knows (999 and 100000): the
    # count reaches /metrics as that function's ENOSYS counter (checked with the metrics below).
    with open(os.path.join(args.linux_programs, "hostile"), "rb") as image:
        status, _, body = deploy(alpha, "hostile", image.read(), linux=True, memory=8 << 20)
    check(status == 201, f"deploy the hostile Linux program: 201 (got {status} {body[:100]!r})")
    status, _, body = alpha.request("POST", "/function/hostile")
    check(status == 200 and body.startswith(b"enosys-999 -1 38\n"),
          f"invoke the hostile Linux program: 200 + its transcript (got {status} {body[:60]!r})")
    status, _, body = deploy(alpha, "argsnative", images["echo"], args=["x"])
    check(status == 400, f"args for a native function: 400 (got {status})")
    status, _, body = deploy(alpha, "cat2", images["echo"], linux="yes")
    check(status == 400, f"deploy with a non-boolean linux key: 400 (got {status})")

    # List and describe.
    status, _, body = alpha.request("GET", "/system/functions")
    listed = json.loads(body) if status == 200 else []
    names = {entry.get("name") for entry in listed}
    check(status == 200 and {"echo", "sha256", "spin", "null_deref", "big_output", "empty"} <= names,
          f"list: 200 with every deployed function (got {status} {sorted(names)})")
    echo_entry = next((entry for entry in listed if entry.get("name") == "echo"), {})
    check(echo_entry.get("invocations", 0) >= 4 and "failures" in echo_entry, f"list: echo's invocations ({echo_entry})")
    status, _, body = alpha.request("GET", "/system/functions/spin")
    described = json.loads(body) if status == 200 else {}
    check(status == 200 and described.get("timeout_ms") == 300 and described.get("size") == len(images["spin"]) and
          all(key in described for key in ("memory", "max_output", "max_depth", "invocations", "failures")),
          f"describe spin: 200 with its configuration (got {status} {body[:200]!r})")

    # Tenants: the second key sees none of the first one's functions and has its own namespace.
    status, _, body = beta.request("GET", "/system/functions")
    check(status == 200 and json.loads(body) == [], f"tenant B lists nothing (got {status} {body[:100]!r})")
    status, _, _ = beta.request("POST", "/function/echo", body=b"x")
    check(status == 404, f"tenant B cannot invoke tenant A's echo: 404 (got {status})")
    status, _, _ = beta.request("DELETE", "/system/functions/echo")
    check(status == 404, f"tenant B cannot delete tenant A's echo: 404 (got {status})")
    status, _, _ = deploy(beta, "echo", images["echo"])
    check(status == 201, f"tenant B deploys its own echo: 201 (got {status})")
    status, _, body = beta.request("POST", "/function/echo", body=b"from b")
    check(status == 200 and body == b"from b", f"tenant B invokes its own echo (got {status} {body!r})")
    basic = base64.b64encode(f"anyone:{KEY_B}".encode()).decode()
    status, _, body = beta.request("GET", "/system/functions", headers={"Authorization": f"Basic {basic}"}, key=None)
    check(status == 200 and [entry["name"] for entry in json.loads(body)] == ["echo"],
          f"HTTP Basic with the key as password works (got {status} {body[:80]!r})")

    # Errors, each with a real bad request.
    status, _, body = alpha.request("GET", "/system/functions", key=None)
    check(status == 401 and "error" in json.loads(body), f"no key: 401 (got {status})")
    status, _, _ = alpha.request("POST", "/function/echo", body=b"x", key="not-a-key-at-all")
    check(status == 401, f"unknown key: 401 (got {status})")
    status, _, body = alpha.request("POST", "/function/nonexistent", body=b"x")
    check(status == 404 and "error" in json.loads(body), f"unknown function: 404 (got {status})")
    status, _, _ = alpha.request("GET", "/system/functions/nonexistent")
    check(status == 404, f"describe unknown function: 404 (got {status})")
    status, _, body = alpha.request("POST", "/function/null_deref", body=b"x")
    crashed = json.loads(body) if body.startswith(b"{") else {}
    check(status == 500 and crashed.get("error") == "function crashed" and "fault_address" in crashed and
          "exit_code" in crashed, f"crashed function: 500 with exit_code and fault_address (got {status} {body!r})")
    status, _, body = alpha.request("POST", "/function/spin", body=b"x")
    check(status == 504 and "error" in json.loads(body), f"timed-out function: 504 (got {status} {body!r})")
    status, _, body = alpha.request("POST", "/function/big_output")
    check(status == 500 and "error" in json.loads(body), f"output beyond max_output: 500 (got {status} {body!r})")
    status, _, body = deploy(alpha, "bad", os.urandom(4096))
    rejected = json.loads(body) if body.startswith(b"{") else {}
    check(status == 422 and "elf_status" in rejected, f"bad executable: 422 with elf_status (got {status} {body!r})")
    for config, what in (('{"name": "x",', "truncated JSON"), ('{"name": "Bad Name"}', "invalid name"),
                         ('{"name": "y", "memory": -1}', "negative number"), ('{"nam": "y"}', "unknown key"),
                         ('[1, 2]', "not an object"), ('{"name": "y", "name": "z"}', "duplicate key")):
        status, _, body = alpha.request("POST", "/system/functions", body=images["echo"],
                                        headers={"X-Function-Config": config})
        check(status == 400 and "error" in json.loads(body), f"invalid JSON config ({what}): 400 (got {status} {body!r})")
    status, _, _ = alpha.request("POST", "/system/functions", body=images["echo"])
    check(status == 400, f"deploy without X-Function-Config: 400 (got {status})")
    status, _, body = deploy(alpha, "limits", images["echo"], memory=1)
    check(status == 400, f"configuration the manager refuses (1-byte memory limit): 400 (got {status} {body!r})")

    raw = raw_exchange(port, b"GARBAGE\x01\x02 / HTTP/1.1\r\n\r\n")
    check(status_of(raw) == 400, f"malformed HTTP: 400 and the connection closed (got {raw[:40]!r})")
    raw = raw_exchange(port, b"GET /healthz HTTP/1.1\nHost: x\n\n")
    check(status_of(raw) == 400, f"bare LF line ends: 400 (got {raw[:40]!r})")
    raw = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
    check(status_of(raw) == 501, f"Transfer-Encoding other than chunked: 501 (got {raw[:40]!r})")
    raw = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nX-Filler: " + b"a" * 9000 + b"\r\n\r\n")
    check(status_of(raw) == 431, f"a head beyond 8 KiB: 431 (got {raw[:40]!r})")
    raw = raw_exchange(port, b"POST /function/echo HTTP/1.1\r\nAuthorization: Bearer " + KEY_A.encode() +
                       b"\r\nContent-Length: 40000000\r\n\r\n" + b"z" * 1000)
    check(status_of(raw) == 413, f"oversized body (Content-Length 40000000, over 32 MiB): 413 (got {raw[:40]!r})")
    raw = raw_exchange(port, b"POST /system/functions HTTP/1.1\r\nAuthorization: Bearer " + KEY_A.encode() +
                       b"\r\nX-Function-Config: {\"name\": \"trunc\"}\r\nContent-Length: 5000\r\n\r\n" +
                       images["echo"][:1000])
    check(status_of(raw) == 400, f"truncated upload: 400 (got {raw[:40]!r})")
    status, _, _ = alpha.request("GET", "/system/functions/trunc")
    check(status == 404, f"the truncated upload deployed nothing: 404 (got {status})")

    # Keep-alive: several requests on one connection (HTTP/1.1 default), pipelined too.
    raw = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3 +
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(raw.count(b"HTTP/1.1 200 OK") == 4, f"four pipelined requests on one connection: 4 answers "
                                                 f"(got {raw.count(b'HTTP/1.1 200 OK')})")

    # Pipelining of different requests: each is answered with its own head, in order (the head of
    # the next request must not replace this one's path, headers or key).
    def post(path, key, body):
        return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    raw = raw_exchange(port, post("/function/echo", KEY_A, b"first") + post("/function/sha256", KEY_B, b"second") +
                       b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY_OPERATOR.encode() +
                       b"\r\n\r\n" + post("/function/echo", KEY_A, b"third") +
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answers = split_responses(raw)
    got = [(status, body if status != 200 or not body.startswith(b"# HELP") else b"<metrics>") for status, body in answers]
    check(len(answers) == 5 and got[0] == (200, b"first") and got[1][0] == 404 and got[2] == (200, b"<metrics>") and
          got[3] == (200, b"third") and got[4] == (200, b"ok"),
          f"five different pipelined requests: A's echo, B's sha256 404 (only A has one), metrics, A's echo, healthz, "
          f"in order (got {[(status, body[:20]) for status, body in got]})")

    # Metrics and logs. /metrics needs a key (issue 14): none is 401, a tenant's key shows its
    # own series only, an operator key every series and the totals.
    status, _, body = alpha.request("GET", "/metrics", key=None)
    check(status == 401 and json.loads(body) == {"error": "missing or unknown API key"},
          f"/metrics without a key: 401 (got {status} {body[:80]!r})")
    status, _, body = beta.request("GET", "/metrics")
    text = body.decode(errors="replace")
    check(status == 200 and 'tenant="2"' in text and 'tenant="1"' not in text and
          "metteagle_invocations_all_total" not in text and "metteagle_manager_free_bytes" not in text,
          f"/metrics with tenant B's key: B's series only, no totals or machine figures (got {status})")
    status, headers, body = alpha.request("GET", "/metrics", key=KEY_OPERATOR)
    text = body.decode(errors="replace")
    check(status == 200 and 'metteagle_invocations_total{function="echo",tenant="1"}' in text and
          "metteagle_errors_total" in text and "metteagle_timeouts_total 1" in text and
          'metteagle_cold_start_seconds_bucket{le="+Inf"}' in text and "metteagle_duration_seconds_count" in text,
          f"/metrics: Prometheus text with the counters and histograms (got {status})")
    check(metric_value(port, 'metteagle_function_unsupported_syscalls_total{function="hostile",tenant="1"}') == 2 and
          metric_value(port, 'metteagle_function_unsupported_syscalls_total{function="echo",tenant="1"}') == 0 and
          metric_value(port, 'metteagle_function_timeouts_total{function="spin",tenant="1"}') == 1,
          "/metrics per function: 2 ENOSYS calls of hostile, none of echo, spin's timeout")
    status, _, body = alpha.request("GET", "/system/logs?name=spin")
    check(status == 200 and b"status=TIMEOUT" in body, f"/system/logs?name=spin: 200 with the timeout (got {status} {body!r})")
    status, _, _ = alpha.request("GET", "/system/logs?name=nonexistent")
    check(status == 404, f"/system/logs of an unknown function: 404 (got {status})")
    status, _, _ = beta.request("GET", "/system/logs?name=spin")
    check(status == 404, f"/system/logs of another tenant's function: 404 (got {status})")

    # Delete.
    status, _, _ = alpha.request("DELETE", "/system/functions/sha256")
    check(status == 200, f"delete sha256: 200 (got {status})")
    status, _, _ = alpha.request("POST", "/function/sha256", body=b"x")
    check(status == 404, f"invoke deleted sha256: 404 (got {status})")
    status, _, _ = alpha.request("DELETE", "/system/functions/sha256")
    check(status == 404, f"delete sha256 again: 404 (got {status})")
    alpha.close()
    beta.close()

    check_concurrency(port, args.functions)
    check_openfaas(port)
    check_async(port, check, Client, KEY_A, KEY_B, metric_value)

    # Random bytes: the gateway must keep serving.
    generator = random.Random(6)
    answered = 0
    for index in range(args.random_requests):
        length = generator.choice((1, 2, 7, 16, 64, 300, 1500, 9000))
        payload = bytes(generator.getrandbits(8) for _ in range(length))
        if index % 4 == 1:  # Half of a valid request line, then garbage.
            payload = b"POST /function/echo HTTP/1.1\r\n" + payload
        raw = raw_exchange(port, payload, timeout=20)
        answered += raw.startswith(b"HTTP/1.1 ")
    check(answered >= args.random_requests // 2, f"random byte strings: {answered} of {args.random_requests} answered")
    check(wait_for_health(port, 10), "GET /healthz still answers 200 after the random bytes")

    print(f"{len(FAILURES)} failed checks, {time.monotonic() - started:.1f} s", flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
