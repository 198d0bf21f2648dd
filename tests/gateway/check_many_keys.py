#!/usr/bin/env python3
"""Host-side check of a gateway booted with 4,096 keys, the most a key file may name
(scenario_gateway_many_keys; the key file is many_keys.py's): the boot line names 4,096 keys and
the window memory each tenant is guaranteed; the first and the last key each deploy and invoke a
function of their own and list only it (neither reaches the other's); unknown keys get 401; the
last key's /metrics holds only its own tenant's rows; the operator's /metrics is complete (200,
chunked and ended by its last chunk, Prometheus's format, every tenant's row in each per-tenant
family in the key file's order, the per-function series and the control requests of exactly the
tenants that used the gateway). Python 3 standard library; exits 0 when every check passed.
"""
import argparse
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_api import (check, parse_metrics_page, raw_exchange, read_to_end, split_responses,  # noqa: E402
                       wait_for_health, FAILURES)
from many_keys import FIRST_TENANT, KEYS, LAST_TENANT, OPERATOR_TENANT, key_of  # noqa: E402

# 160M factory: windows take three quarters (120 MiB), each of the 4,097 tenants (tenant 0 too) is
# guaranteed an equal part of a quarter of that: 7,680 pages / 4,097 = 1 page.
BOOT_LINE = "gateway: 4096 keys; windows of up to 120 MiB, 4 KiB guaranteed to each tenant"
UNKNOWN_KEY = b'{"error": "missing or unknown API key"}\n'
FUNCTIONS = {FIRST_TENANT: "first-echo", LAST_TENANT: "last-echo"}


def check_boot_line(serial_log):
    with open(serial_log, "rb") as log:
        lines = [line.rstrip(b"\r").decode(errors="replace") for line in log.read().split(b"\n")]
    found = [line for line in lines if " keys; windows of up to " in line]
    check(found == [BOOT_LINE], f"the boot log says {BOOT_LINE!r} (got {found!r})")


def request(port, method, path, key, body=b"", headers=""):
    """(status, body) of one request on its own connection, which the gateway closes after the
    answer (Connection: close): read to its end, so the connection's windows are given back
    before the gateway reads the next request."""
    payload = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n{headers}"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    answers = split_responses(raw_exchange(port, payload, half_close=False, timeout=60))
    return answers[0] if len(answers) == 1 else (None, answers)


def check_own_functions(port, echo):
    """The first and the last key: each deploys and invokes its own function and lists only it."""
    for tenant, name in FUNCTIONS.items():
        config = json.dumps({"name": name})
        status, body = request(port, "POST", "/system/functions", key_of(tenant), echo,
                               f"Content-Type: application/octet-stream\r\nX-Function-Config: {config}\r\n")
        check(status == 201, f"tenant {tenant} deploys {name}: 201 (got {status} {body[:100]!r})")
        message = f"hello from tenant {tenant}".encode()
        status, body = request(port, "POST", f"/function/{name}", key_of(tenant), message)
        check(status == 200 and body == message, f"tenant {tenant} invokes {name}: 200 echoing its body "
                                                 f"(got {status} {body[:100]!r})")
    for tenant, name in FUNCTIONS.items():
        status, body = request(port, "GET", "/system/functions", key_of(tenant))
        names = [entry.get("name") for entry in json.loads(body)] if status == 200 else None
        check(names == [name], f"tenant {tenant} lists only its own function {name} (got {status} {names!r})")
        other = FUNCTIONS[LAST_TENANT if tenant == FIRST_TENANT else FIRST_TENANT]
        status, body = request(port, "POST", f"/function/{other}", key_of(tenant), b"x")
        check(status == 404, f"tenant {tenant} cannot invoke the other's {other}: 404 (got {status} {body[:100]!r})")


def check_unknown_keys(port):
    first = key_of(FIRST_TENANT)
    for key in (key_of(KEYS + 1), first[:-1] + ("0" if first[-1] != "0" else "1"), first + "x"):
        status, body = request(port, "GET", "/system/functions", key)
        check(status == 401 and body == UNKNOWN_KEY, f"unknown key {key}: 401 (got {status} {body[:100]!r})")


def chunked_page(port, key):
    """(status, headers, body, ended) of GET /metrics: ended when the body's last chunk (size 0)
    and its CRLF close the response with nothing after them."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                           f"Connection: close\r\n\r\n".encode())
        raw = read_to_end(connection)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/1.1 ") else None
    body = b""
    while True:
        size_line, separator, rest = rest.partition(b"\r\n")
        if not separator or not re.fullmatch(rb"[0-9a-f]+", size_line):
            return status, headers, body, False
        size = int(size_line, 16)
        if size == 0:
            return status, headers, body, rest == b"\r\n"
        if rest[size:size + 2] != b"\r\n":
            return status, headers, body, False
        body, rest = body + rest[:size], rest[size + 2:]


def tenant_rows(samples, family):
    """(tenant, value) of each `family{tenant="T"} V` line, in page order."""
    rows = []
    for line in samples.get(family, []):
        found = re.fullmatch(re.escape(family) + r'\{tenant="(\d+)"\} (\d+)', line)
        rows.append((int(found.group(1)), int(found.group(2))) if found else (None, line))
    return rows


def check_tenant_page(port):
    status, _, body, ended = chunked_page(port, key_of(LAST_TENANT))
    tenants = set(re.findall(r'tenant="(\d+)"', body.decode(errors="replace")))
    check(status == 200 and ended and tenants == {str(LAST_TENANT)},
          f"the last key's /metrics: 200, ended, only tenant {LAST_TENANT}'s rows (got {status}, ended {ended}, "
          f"tenants {sorted(tenants)[:5]!r})")


def check_operator_page(port):
    started = time.monotonic()
    status, headers, body, ended = chunked_page(port, key_of(OPERATOR_TENANT))
    took = time.monotonic() - started
    text = body.decode(errors="replace")
    parsed, why = parse_metrics_page(text)
    check(status == 200 and headers.get("Transfer-Encoding") == "chunked" and ended and text.endswith("\n") and
          parsed is not None,
          f"the operator's /metrics: 200, chunked, ended by its last chunk, well formed: {len(body)} bytes in "
          f"{took:.1f} s (got {status}, ended {ended}, {why})")
    if parsed is None:
        return
    families, samples = parsed
    check(families[-1].startswith("metteagle_connections_"),
          f"the operator's page ends with the connections' figures (last family {families[-1]})")
    keys = list(range(1, KEYS + 1))
    # Every key's tenant has a row in each admission family, in the key file's order.
    for family in ("metteagle_concurrency_limit", "metteagle_control_admitted_total"):
        rows = tenant_rows(samples, family)
        check([tenant for tenant, _ in rows] == keys,
              f"{family}: one row for each of the {KEYS} tenants, in order (got {len(rows)} rows: {rows[:2]!r})")
    check(all(value == 4 for _, value in tenant_rows(samples, "metteagle_concurrency_limit")),
          "metteagle_concurrency_limit: 4 (the default limit=) for every tenant")
    # The window budget and the log rings also have tenant 0's (requests without a key).
    for family in ("metteagle_window_bytes", "metteagle_log_lines_dropped_total"):
        rows = tenant_rows(samples, family)
        check([tenant for tenant, _ in rows] == [0] + keys,
              f"{family}: one row for tenant 0 and each of the {KEYS}, in order (got {len(rows)} rows)")
    dropped = [row for row in tenant_rows(samples, "metteagle_log_lines_dropped_total") if row[1] != 0]
    check(dropped == [], f"no tenant's log lines were dropped (got {dropped[:3]!r})")
    # The tenants that used the gateway: the first and last key (deploys, listings) and the
    # operator (this page) made control requests; the two deployed and invoked a function each.
    used = [tenant for tenant, value in tenant_rows(samples, "metteagle_control_admitted_total") if value != 0]
    check(used == [FIRST_TENANT, OPERATOR_TENANT, LAST_TENANT],
          f"control requests counted for exactly the tenants that made them (got {used!r})")
    invocations = samples.get("metteagle_invocations_total", [])
    expected = [f'metteagle_invocations_total{{function="{name}",tenant="{tenant}"}} 1'
                for tenant, name in FUNCTIONS.items()]
    check(invocations == expected, f"one invocation series for each function deployed (got {invocations!r})")
    # Window memory held while the page is sent: the first and last key's log rings (10 pages:
    # FunctionLogs::SLICE_BYTES, backed by their invocations' lines; their bodies' and outputs'
    # windows went with their closed connections) and the operator's page window (13 pages:
    # PAGE_WINDOW_BYTES, a piece of 32 KiB, a unit of 16 KiB and the chunk framing).
    holding = [(tenant, value) for tenant, value in tenant_rows(samples, "metteagle_window_bytes") if value != 0]
    check(holding == [(FIRST_TENANT, 40960), (OPERATOR_TENANT, 53248), (LAST_TENANT, 40960)],
          f"metteagle_window_bytes: only the log rings of the tenants that invoked and the operator's page "
          f"window are held (got {holding!r})")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--functions", required=True)
    parser.add_argument("--serial-log", required=True)
    arguments = parser.parse_args()
    if not check(wait_for_health(arguments.port, 60), "the gateway answers /healthz"):
        return 1
    check_boot_line(arguments.serial_log)
    with open(os.path.join(arguments.functions, "echo.elf"), "rb") as image:
        echo = image.read()
    check_own_functions(arguments.port, echo)
    check_unknown_keys(arguments.port)
    check_tenant_page(arguments.port)
    check_operator_page(arguments.port)
    print(f"{len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
