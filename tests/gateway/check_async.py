"""Asynchronous invocations (POST /async-function/{name}, docs/API.md) against a booted guest: part
of check_api.py (scenario_gateway_api), run after its other checks with echo, null_deref and pause
deployed.

A small HTTP server on the host's loopback is the callback receiver; the guest reaches it as
10.0.2.2 (QEMU's user network). Checks: 202 with an X-Call-Id at once; the callback arrives with
the exact body, the same X-Call-Id, X-Function-Status 200 and X-Duration-Seconds; the sub-path and
query reach the function; a crashing function's callback carries its 500 and its JSON error; an
unknown function's callback carries 404; without a callback URL the call still runs (its log line
says so); bad callback URLs are 400 with their reason; a callback port nobody listens on is a
failed callback (logged and counted); a tenant's full queue is 429 with Retry-After while another
tenant's is not; /metrics counts all of it.
"""
import http.server
import json
import queue
import re
import socket
import threading
import time

CALL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class CallbackServer:
    """Records every POST it receives (path, headers, body) and answers 204."""

    def __init__(self):
        received = self.received = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                received.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, seconds=30):
        try:
            return self.received.get(timeout=seconds)
        except queue.Empty:
            return None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    """A loopback port nobody listens on (bound, then released)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def check_async(port, check, client_class, key_a, key_b, metric_value):
    server = CallbackServer()
    try:
        run_checks(port, check, client_class, key_a, key_b, metric_value, server)
    finally:
        server.close()


def run_checks(port, check, client_class, key_a, key_b, metric_value, server):
    alpha, beta = client_class(port, key_a), client_class(port, key_b)
    callback = f"http://10.0.2.2:{server.port}/cb"

    def invoke_async(client, path, body, url=None, **headers):
        if url is not None:
            headers["X-Callback-Url"] = url
        return client.request("POST", path, body=body, headers=headers)

    def wait_for_log(name, call_id, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status, _, body = alpha.request("GET", f"/system/logs?name={name}")
            for line in body.decode(errors="replace").splitlines():
                if status == 200 and f"async call={call_id} " in line:
                    return json.loads(line)["text"]
            time.sleep(0.2)
        return None

    # The callback carries the exact output, the call's id and the status the sync call would have.
    started = time.monotonic()
    status, headers, body = invoke_async(alpha, "/async-function/echo", b"async hello", callback)
    call_id = headers.get("X-Call-Id", "")
    check(status == 202 and body == b"" and CALL_ID.match(call_id) is not None,
          f"POST /async-function/echo with X-Callback-Url: 202, empty body, a UUID X-Call-Id at once "
          f"(got {status} {call_id!r} {body[:60]!r})")
    got = server.wait()
    took = time.monotonic() - started
    check(got is not None, f"the callback arrives at the host's server within 30 s (took {took:.2f} s)")
    if got is not None:
        path, callback_headers, callback_body = got
        check(path == "/cb" and callback_body == b"async hello" and callback_headers.get("x-call-id") == call_id and
              callback_headers.get("x-function-status") == "200" and callback_headers.get("x-function-name") == "echo" and
              re.match(r"^\d+\.\d{6}$", callback_headers.get("x-duration-seconds", "")) is not None,
              f"the callback: POST /cb, body 'async hello', the same X-Call-Id, X-Function-Status 200, "
              f"X-Duration-Seconds (got {path} {callback_body[:60]!r} {callback_headers})")
    text = wait_for_log("echo", call_id)
    check(text == f"async call={call_id} status=200 callback=delivered (answered 204)",
          f"/system/logs of echo: the async call's line with the delivered callback (got {text!r})")

    # The sub-path and query reach the function as they do for /function/{name} (the echo's input
    # is its body; the path is in its environment, so here only the route and a larger body).
    big = bytes(range(256)) * 40  # 10 KiB: kept in a Memory object, not in the job.
    started = time.monotonic()
    status, headers, _ = invoke_async(alpha, "/async-function/echo/sub/path?x=1", big, callback + "2?job=7")
    got = server.wait()
    print(f"       10 KiB echo: 202 to the callback's arrival {time.monotonic() - started:.3f} s (wall)", flush=True)
    check(status == 202 and got is not None and got[0] == "/cb2?job=7" and got[2] == big and
          got[1].get("x-call-id") == headers.get("X-Call-Id"),
          f"a 10 KiB body with a sub-path and query: 202, the callback to /cb2?job=7 with the same 10 KiB "
          f"(got {status} {got[0] if got else None} {len(got[2]) if got else None} bytes)")

    # A crashing function: its callback carries the 500 and the JSON error the sync call answers.
    status, headers, _ = invoke_async(alpha, "/async-function/null_deref", b"", callback)
    got = server.wait()
    check(status == 202 and got is not None and got[1].get("x-function-status") == "500" and
          got[1].get("x-call-id") == headers.get("X-Call-Id") and
          json.loads(got[2] or b"{}").get("error") == "function crashed",
          f"a crashing function: 202, then its callback with X-Function-Status 500 and "
          f"{{\"error\": \"function crashed\"}} (got {status} {got[1].get('x-function-status') if got else None} "
          f"{got[2][:80] if got else None!r})")
    # An unknown function: accepted (as OpenFaaS does), and its callback says 404.
    status, headers, _ = invoke_async(alpha, "/async-function/nosuch", b"x", callback)
    got = server.wait()
    check(status == 202 and got is not None and got[1].get("x-function-status") == "404" and
          got[2] == b'{"error": "no such function"}\n',
          f"an unknown function: 202, then a callback with X-Function-Status 404 (got {status} "
          f"{got[1].get('x-function-status') if got else None})")

    # Without a callback URL the call still runs: its log line says so.
    status, headers, _ = invoke_async(alpha, "/async-function/echo", b"nobody waits")
    call_id = headers.get("X-Call-Id", "")
    text = wait_for_log("echo", call_id)
    check(status == 202 and text == f"async call={call_id} status=200 callback=none",
          f"no X-Callback-Url: 202 and the call runs, logged with callback=none (got {status} {text!r})")

    # Bad callback URLs: 400 with the reason, nothing queued.
    for url, why in (("https://10.0.2.2/cb", "X-Callback-Url: only http:// callbacks (the gateway speaks no TLS)"),
                     ("http://callback.example/cb", "X-Callback-Url: the host must be an IPv4 address such as "
                                                    "10.0.2.2 (the gateway resolves no names)"),
                     ("http://127.0.0.1:8080/", "X-Callback-Url: the address may not be 0.x, 127.x (the guest "
                                                "itself), multicast or broadcast"),
                     ("http://10.0.2.2:99999/", "X-Callback-Url: the port must be a number from 1 to 65535"),
                     ("ftp://10.0.2.2/", "X-Callback-Url must be http://host:port/path")):
        status, _, body = invoke_async(alpha, "/async-function/echo", b"x", url)
        check(status == 400 and json.loads(body) == {"error": why},
              f"X-Callback-Url {url}: 400 {why!r} (got {status} {body[:120]!r})")
    status, _, _ = alpha.request("POST", "/async-function/echo", body=b"x", key=None)
    check(status == 401, f"/async-function without a key: 401 (got {status})")

    # Nobody listens at the callback's port: the callback fails, is logged and counted.
    failures = metric_value(port, 'metteagle_async_callback_failures_total{tenant="1"}') or 0
    status, headers, _ = invoke_async(alpha, "/async-function/echo", b"x", f"http://10.0.2.2:{closed_port()}/cb")
    text = wait_for_log("echo", headers.get("X-Call-Id", "?"))
    check(status == 202 and text is not None and
          text.endswith("status=200 callback=failed (connection refused)"),
          f"a callback port nobody listens on: the call runs, its callback fails as 'connection refused' "
          f"(got {status} {text!r})")
    check(metric_value(port, 'metteagle_async_callback_failures_total{tenant="1"}') == failures + 1,
          "metteagle_async_callback_failures_total counts the failed callback")

    # A full queue: tenant B runs one 6 s pause, 8 more wait, the next is 429; A is unaffected.
    status, _, _ = invoke_async(beta, "/async-function/pause", b"6000")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and metric_value(port, 'metteagle_async_queued{tenant="2"}') != 0:
        time.sleep(0.1)
    statuses = [invoke_async(beta, "/async-function/pause", b"1")[0] for _ in range(8)]
    status, headers, body = invoke_async(beta, "/async-function/pause", b"1")
    check(statuses == [202] * 8 and status == 429 and headers.get("Retry-After") == "1" and
          json.loads(body) == {"error": "this API key's tenant has 8 asynchronous invocations waiting already; "
                                        "retry later", "queue": 8},
          f"tenant B: one running, 8 queued, the next async call 429 with Retry-After (got {statuses} {status} "
          f"{body[:120]!r})")
    status, headers, _ = invoke_async(alpha, "/async-function/echo", b"A meanwhile", callback)
    got = server.wait()
    check(status == 202 and got is not None and got[2] == b"A meanwhile",
          f"tenant A's async call meanwhile: 202 and its callback (got {status})")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and metric_value(port, 'metteagle_async_completed_total{tenant="2"}') != 9:
        time.sleep(0.5)
    check(metric_value(port, 'metteagle_async_completed_total{tenant="2"}') == 9 and
          metric_value(port, 'metteagle_async_rejected_total{tenant="2"}') == 1 and
          metric_value(port, 'metteagle_async_queued{tenant="2"}') == 0 and
          metric_value(port, 'metteagle_async_queued_total{tenant="2"}') == 9,
          "tenant B's /metrics: 9 accepted and completed, 1 rejected, none waiting")
    delivered = metric_value(port, 'metteagle_async_callbacks_total{tenant="1"}')
    check(delivered == 5, f"tenant A's callbacks delivered: 5 (got {delivered})")
    alpha.close()
    beta.close()
