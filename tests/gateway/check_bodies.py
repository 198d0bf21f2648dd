#!/usr/bin/env python3
"""Host-side check of the gateway's request and response bodies (issue 14): chunked request bodies
(extensions, trailers, pipelining after them, `curl -T -`), malformed chunking answered 400 with its
exact reason, an unknown transfer coding 501, bodies over the key file's limit (max_body_mib=40 in
bodies.keys) answered 413 naming the limit without being read, `Expect: 100-continue` (100 Continue
before the body; 401/404/413 at once, without reading the body, then close), HEAD on the GET routes
(the GET's Content-Length, no body: the next pipelined answer follows the head directly), and a
32 MiB echo in both directions, byte for byte, and one tenant's held uploads not taking the memory
another tenant's echo needs. Each answer is checked for its exact status, headers
and bytes. Python 3 standard library (and the host's curl); exits 0 when every check passed.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_api import (Client, check, deploy, raw_exchange, read_to_end, split_responses,  # noqa: E402
                       wait_for_health, FAILURES)

KEY = "dev-key-alpha"  # tests/gateway/bodies.keys: tenant 1.
LIMIT_MIB = 40         # bodies.keys: max_body_mib=40.
LIMIT_BODY = {"error": f"body larger than {LIMIT_MIB} MiB (the gateway's limit)"}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def head_and_body(raw):
    """(status, headers with lower-case names, body after the head) of the first response."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        status = int(lines[0].split(" ")[1])
    except (IndexError, ValueError):
        status = None
    return status, headers, rest


def chunked(*pieces, extension=b"", trailer=b""):
    """A chunked body of `pieces` (each a chunk), the extension on every size line, and a trailer."""
    out = b""
    for piece in pieces:
        out += b"%x%s\r\n%s\r\n" % (len(piece), extension, piece)
    return out + b"0\r\n" + trailer + b"\r\n"


def post_head(path, key=KEY, extra=b""):
    auth = b"Authorization: Bearer " + key.encode() + b"\r\n" if key else b""
    return b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + auth + extra


def receive_exactly(sock, count, timeout=30):
    sock.settimeout(timeout)
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def check_chunked(port):
    # Chunks of several sizes, extensions with token and quoted values, a trailer section; then a
    # pipelined GET /healthz on the same connection is answered next, with its own head.
    pieces = [b"first chunk;", os.urandom(3000), b"x" * 17000, b"last"]
    body = chunked(*pieces, extension=b' ; name=value;q="a \\"b\\" c"', trailer=b"X-Checksum: 1234\r\nX-Empty:\r\n")
    raw = raw_exchange(port, post_head("/function/echo", extra=b"Transfer-Encoding: chunked\r\n\r\n") + body +
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", half_close=False)
    answers = split_responses(raw)
    expected = b"".join(pieces)
    check(len(answers) == 2 and answers[0] == (200, expected) and answers[1] == (200, b"ok"),
          f"chunked echo of {len(expected)} bytes with extensions and trailers, then a pipelined /healthz: "
          f"200 + the decoded bytes, then 200 ok (got {[(s, len(b)) for s, b in answers]})")
    raw = raw_exchange(port, post_head("/function/echo", extra=b"Transfer-Encoding: chunked\r\n"
                                       b"Connection: close\r\n\r\n") + b"0\r\n\r\n")
    check(split_responses(raw) == [(200, b"")], f"an empty chunked body: 200, empty (got {raw[:60]!r})")

    # A chunked body larger than the connection's buffer goes to its window: 2 MiB in 64 KiB chunks.
    big = os.urandom(2 << 20)
    body = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 65536]), big[i:i + 65536]) for i in range(0, len(big), 65536))
    raw = raw_exchange(port, post_head("/function/echo", extra=b"Transfer-Encoding: chunked\r\n"
                                       b"Connection: close\r\n\r\n") + body + b"0\r\n\r\n")
    answers = split_responses(raw)
    check(answers == [(200, big)], f"chunked echo of 2 MiB in 32 chunks: 200 + the same bytes "
                                   f"(got {[(s, len(b)) for s, b in answers]})")

    # `curl -T -` (stdin, so chunked, with Expect: 100-continue) as a user would run it.
    curl = shutil.which("curl")
    if check(curl is not None, "the host has curl (scripts/packages)"):
        data = os.urandom(100_000)
        done = subprocess.run([curl, "-sS", "-T", "-", "-X", "POST", "-H", f"Authorization: Bearer {KEY}",
                               "-w", "\n%{http_code}", f"http://127.0.0.1:{port}/function/echo"],
                              input=data, capture_output=True, timeout=60)
        output, _, code = done.stdout.rpartition(b"\n")
        check(done.returncode == 0 and code == b"200" and output == data,
              f"curl -T - with 100,000 bytes: 200 + the same bytes (exit {done.returncode}, status {code!r}, "
              f"{len(output)} bytes, {done.stderr[:100]!r})")


def check_malformed(port):
    cases = [
        (b"zz\r\nab\r\n0\r\n\r\n", "chunk size is not a hexadecimal number"),
        (b"5\r\nhelloX\r\n0\r\n\r\n", "chunk data not followed by CRLF (longer than its size)"),
        (b"5;\r\nhello\r\n0\r\n\r\n", "chunk extension without a name"),
        (b"5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n", "malformed trailer field (a name and ':' expected)"),
        (b"1;" + b"e" * 5000 + b"\r\n", "chunk-size line (with its extensions) longer than 4096 bytes"),
    ]
    for body, reason in cases:
        raw = raw_exchange(port, post_head("/function/echo", extra=b"Transfer-Encoding: chunked\r\n\r\n") + body)
        status, headers, rest = head_and_body(raw)
        check(status == 400 and headers.get("connection") == "close" and json.loads(rest or b"{}") == {"error": reason},
              f"malformed chunking ({reason}): 400 with that reason, then close (got {raw[:160]!r})")
    raw = raw_exchange(port, post_head("/function/echo", extra=b"Transfer-Encoding: gzip\r\n\r\n"))
    status, _, rest = head_and_body(raw)
    check(status == 501 and raw.startswith(b"HTTP/1.1 501 Not Implemented\r\n") and json.loads(rest or b"{}") == {"error": "unsupported Transfer-Encoding: only chunked is implemented"},
          f"Transfer-Encoding: gzip: 501 (got {raw[:120]!r})")
    raw = raw_exchange(port, post_head("/function/echo", extra=b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"))
    status, _, rest = head_and_body(raw)
    check(status == 400 and json.loads(rest or b"{}") == {"error": "both Content-Length and Transfer-Encoding"},
          f"Content-Length and Transfer-Encoding together: 400 (got {raw[:120]!r})")
    raw = raw_exchange(port, post_head("/function/echo", extra=b"Transfer-Encoding: chunked\r\n\r\n") + b"5\r\nhel")
    status, _, rest = head_and_body(raw)
    check(status == 400 and json.loads(rest or b"{}") == {"error": "chunked body cut short (no last chunk)"},
          f"a chunked body cut short by the client's FIN: 400 (got {raw[:120]!r})")


def check_limits(port):
    # Over the limit: 413 naming it, from the head (Content-Length) or the first chunk size that
    # crosses it, without the body being read (the client sends none and still gets the answer).
    over = (LIMIT_MIB << 20) + 1
    raw = raw_exchange(port, post_head("/function/echo", extra=b"Content-Length: %d\r\n\r\n" % over), half_close=False)
    status, headers, rest = head_and_body(raw)
    check(status == 413 and headers.get("connection") == "close" and json.loads(rest or b"{}") == LIMIT_BODY,
          f"Content-Length {over}: 413 naming the {LIMIT_MIB} MiB limit (got {raw[:160]!r})")
    raw = raw_exchange(port, post_head("/function/echo", extra=b"Transfer-Encoding: chunked\r\n\r\n") +
                       b"%x\r\n" % over, half_close=False)
    status, _, rest = head_and_body(raw)
    check(status == 413 and json.loads(rest or b"{}") == LIMIT_BODY,
          f"a chunk of {over} bytes announced: 413 before its data (got {raw[:160]!r})")
    raw = raw_exchange(port, b"POST /system/functions HTTP/1.1\r\nAuthorization: Bearer " + KEY.encode() +
                       b"\r\nContent-Length: %d\r\n\r\n" % ((16 << 20) + 1), half_close=False)
    status, _, rest = head_and_body(raw)
    check(status == 413 and json.loads(rest or b"{}") == {"error": "executable larger than 16 MiB"},
          f"an executable over 16 MiB: 413 (got {raw[:160]!r})")


def check_expect(port):
    # Accepted: exactly "100 Continue" before any body byte is sent, then the answer.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(post_head("/function/echo", extra=b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
        interim = receive_exactly(sock, len(CONTINUE))
        sock.sendall(b"hello")
        sock.shutdown(socket.SHUT_WR)
        rest = read_to_end(sock)
    check(interim == CONTINUE and split_responses(rest) == [(200, b"hello")],
          f"Expect: 100-continue: 100 Continue, then 200 hello (got {interim!r} then {rest[:60]!r})")
    # Refused from the head alone: the final answer at once, no 100, nothing read, then close.
    refusals = [
        (post_head("/function/echo", key=None), 401, {"error": "missing or unknown API key"}, "no key"),
        (post_head("/function/echo", key="not-a-key-1234"), 401, {"error": "missing or unknown API key"}, "a wrong key"),
        (post_head("/nowhere"), 404, {"error": "no such route"}, "no such route"),
        (post_head("/function/No.Such.Name"), 404, {"error": "no such function"}, "a name no function can have"),
        (post_head("/function/echo", extra=b"Content-Length: %d\r\n" % ((LIMIT_MIB << 20) + 1)), 413, LIMIT_BODY,
         "a body over the limit"),
    ]
    for head, status_wanted, body_wanted, what in refusals:
        if b"Content-Length" not in head:
            head += b"Content-Length: 1000000\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head + b"Expect: 100-continue\r\n\r\n")
            raw = read_to_end(sock)  # The gateway answers and closes without the body.
        status, headers, rest = head_and_body(raw)
        right = status == status_wanted and headers.get("connection") == "close" and not raw.startswith(CONTINUE)
        right = right and json.loads(rest or b"{}") == body_wanted
        if status_wanted == 401:
            right = right and headers.get("www-authenticate") == 'Bearer realm="metteagle"'
        check(right, f"Expect: 100-continue with {what}: {status_wanted} at once without the body, then close "
                     f"(got {raw[:200]!r})")


def check_head(port):
    alpha = Client(port, KEY)
    status, _, described = alpha.request("GET", "/system/functions/echo")
    # Each HEAD is followed, on the same connection, by a GET /healthz: its answer must come right
    # after the HEAD's head, so the HEAD sent no body bytes.
    for path, key, length in (("/healthz", None, 2), ("/system/functions/echo", KEY, len(described)),
                              ("/system/functions", KEY, None), ("/metrics", KEY, None)):
        auth = b"Authorization: Bearer " + key.encode() + b"\r\n" if key else b""
        raw = raw_exchange(port, b"HEAD " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n" +
                           b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", half_close=False)
        head_status, headers, rest = head_and_body(raw)
        get = Client(port, key)
        get_status, _, get_body = get.request("GET", path)
        get.close()
        wanted = length if length is not None else len(get_body)
        if path == "/metrics":
            # The page is sent in chunks as it is rendered (its length is known only at its end):
            # HEAD says so, with no Content-Length.
            size_right = headers.get("transfer-encoding") == "chunked" and "content-length" not in headers
        else:
            size_right = int(headers.get("content-length", "-1")) == wanted
        check(head_status == 200 and get_status == 200 and size_right and split_responses(rest) == [(200, b"ok")],
              f"HEAD {path}: 200 with the GET's Content-Length ({wanted}), or chunked for /metrics, and no body; "
              f"the next answer follows (got {head_status}, {headers.get('content-length')}, "
              f"{headers.get('transfer-encoding')}, then {rest[:40]!r})")
    raw = raw_exchange(port, b"HEAD /function/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
                       b"\r\nConnection: close\r\n\r\n")
    status, headers, rest = head_and_body(raw)
    # A function takes any method (OpenFaaS passes it on as Http_Method): HEAD invokes it, and the
    # answer carries the output's Content-Length (echo of nothing: 0) but no body.
    check(status == 200 and headers.get("content-length") == "0" and rest == b"",
          f"HEAD /function/echo: 200, Content-Length 0 and no body (got {raw[:200]!r})")
    raw = raw_exchange(port, b"DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, _ = head_and_body(raw)
    check(status == 405 and headers.get("allow") == "GET, HEAD",
          f"DELETE /healthz: 405 with Allow: GET, HEAD (got {raw[:200]!r})")
    alpha.close()


def held_upload(port, declared, sent, results, index):
    """Tenant alpha's upload that never completes: its head declares `declared` bytes, `sent` of
    them go out, and the connection stays open; results[index] is the gateway's early answer
    (status, body) if it answered and closed while the bytes went out, else None."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(post_head("/function/echo", extra=b"Content-Length: %d\r\n\r\n" % declared))
    piece = b"a" * (1 << 20)
    try:
        for _ in range(sent >> 20):
            sock.sendall(piece)
    except OSError:
        pass  # The gateway answered and closed: its answer is read below.
    sock.settimeout(2)
    try:
        raw = read_to_end(sock)
    except OSError:
        raw = b""
    if raw:
        status, _, body = head_and_body(raw)
        results[index] = (status, body)
        sock.close()
    else:
        results[index] = None
    return sock


def check_window_budget(port, echo):
    """One tenant's large uploads cannot take the memory another tenant's bodies need (docs/NETWORK.md,
    "Window memory"): alpha opens five uploads of 38 MiB and sends 36 MiB on each without ever
    finishing (180 MiB: more than the gateway's whole 160M factory, which without the budget left
    beta nothing); alpha is refused (503) beyond its guarantee and the shared part (97.5 MiB of the
    120 MiB budget), and beta's 3 MiB echo (with a 4 MiB output window, within its 7.5 MiB
    guarantee) still answers 200 byte for byte while alpha's uploads are open."""
    beta = Client(port, "dev-key-beta")
    status, _, body = deploy(beta, "echo", echo, max_output=4 << 20, timeout_ms=120000)
    check(status == 201, f"beta deploys echo with max_output 4 MiB: 201 (got {status} {body[:100]!r})")
    results, sockets = [None] * 5, [None] * 5

    def run(index):
        sockets[index] = held_upload(port, 38 << 20, 36 << 20, results, index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [r for r in results if r is not None]
    refusal = {"error": "no memory for the request body now; retry later"}
    check(len(refused) >= 3 and all(r[0] == 503 and json.loads(r[1]) == refusal for r in refused),
          f"alpha's uploads beyond its share are answered 503 {refusal} (got {refused})")
    data = os.urandom(3 << 20)
    status, _, body = beta.request("POST", "/function/echo", body=data)
    check(status == 200 and body == data,
          f"beta's 3 MiB echo while alpha holds its uploads: 200 + the same bytes (got {status}, {len(body)} bytes)")
    # /metrics counts the refusals (each upload at most once: it is answered and closed; an
    # answer lost to the reset of a refused upload's unsent bytes is counted but not seen here),
    # and a tenant sees only its own window series and not the shared part's use.
    alpha = Client(port, KEY)
    alpha_page = alpha.request("GET", "/metrics")[2].decode()
    beta_page = beta.request("GET", "/metrics")[2].decode()
    alpha.close()
    alpha_refused = metric_value(alpha_page, 'metteagle_window_refused_total{tenant="1"}')
    check(alpha_refused is not None and len(refused) <= alpha_refused <= 5,
          f"alpha's /metrics counts its {len(refused)} refused uploads (up to 5) in metteagle_window_refused_total "
          f"(got {alpha_refused})")
    check(metric_value(beta_page, 'metteagle_window_refused_total{tenant="2"}') == 0 and
          'tenant="1"' not in beta_page and "metteagle_window_borrowed_bytes" not in beta_page and
          metric_value(beta_page, "metteagle_window_guarantee_bytes") == 7680 << 10,
          "beta's /metrics: 0 window refusals, none of alpha's series, no shared-part figures, its 7.5 MiB guarantee")
    for sock in sockets:
        if sock is not None:
            sock.close()
    beta.close()


def metric_value(page, series):
    """The value of the sample line `series value` on a Prometheus text page, or None."""
    for line in page.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return int(value)
    return None


def check_32_mib(port):
    alpha = Client(port, KEY)
    data = os.urandom(32 << 20)
    # Run after check_window_budget: its closed uploads give their memory back once the gateway has
    # seen each close; until then a 503 "retry later" is the right answer, and it is retried.
    for attempt in range(10):
        status, headers, body = alpha.request("POST", "/function/echo", body=data)
        if status != 503:
            break
        time.sleep(1)
    check(status == 200 and body == data and headers.get("Content-Length") == str(32 << 20),
          f"echo of 32 MiB (Content-Length): 200 + the same 33,554,432 bytes (got {status}, {len(body)} bytes)")
    alpha.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--functions", required=True)
    arguments = parser.parse_args()
    if not check(wait_for_health(arguments.port, 60), "the gateway answers /healthz"):
        return 1
    with open(os.path.join(arguments.functions, "echo.elf"), "rb") as image:
        echo = image.read()
    alpha = Client(arguments.port, KEY)
    status, _, body = deploy(alpha, "echo", echo, max_output=LIMIT_MIB << 20, timeout_ms=120000)
    check(status == 201, f"deploy echo with max_output {LIMIT_MIB} MiB: 201 (got {status} {body[:100]!r})")
    alpha.close()
    check_head(arguments.port)
    check_chunked(arguments.port)
    check_malformed(arguments.port)
    check_limits(arguments.port)
    check_expect(arguments.port)
    check_window_budget(arguments.port, echo)
    # After the budget check: alpha's closed uploads gave their memory back (72 MiB needed).
    check_32_mib(arguments.port)
    print(f"{len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
