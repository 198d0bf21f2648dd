#!/usr/bin/env python3
"""Host side of the net scenario: asks the guest's HTTP health check through QEMU's port forward.

Checks that `GET /healthz` answers 200 with the body `ok`, and that another path answers 404, so
the whole path host -> hostfwd -> virtio-net -> lwIP -> reply works in both directions. Retries
the first request for a while: the guest prints "listening" a moment before its first ARP/TCP
exchange with QEMU's user network completes. Exits 0 when every check passes.
"""
import argparse
import http.client
import sys
import time


def get(port, path, timeout):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deadline", type=float, default=20.0, help="seconds to keep retrying the first request")
    parser.add_argument("--requests", type=int, default=5, help="further /healthz requests after the first")
    args = parser.parse_args()

    started = time.monotonic()
    last_error = None
    while time.monotonic() - started < args.deadline:
        try:
            status, body = get(args.port, "/healthz", 5)
            break
        except (OSError, http.client.HTTPException) as error:
            last_error = error
            time.sleep(0.2)
    else:
        print(f"not ok 1 - GET /healthz: no answer within {args.deadline} s ({last_error})")
        return 1
    first = time.monotonic() - started
    failures = 0
    if status == 200 and body == b"ok":
        print(f"ok 1 - GET /healthz: 200 'ok' after {first:.2f} s")
    else:
        print(f"not ok 1 - GET /healthz: {status} {body!r}")
        failures += 1
    for number in range(args.requests):
        status, body = get(args.port, "/healthz", 5)
        if status != 200 or body != b"ok":
            print(f"not ok 2 - repeated GET /healthz #{number}: {status} {body!r}")
            failures += 1
            break
    else:
        print(f"ok 2 - {args.requests} more GET /healthz answered 200 'ok'")
    status, body = get(args.port, "/no-such-page", 5)
    if status == 404:
        print("ok 3 - GET /no-such-page: 404")
    else:
        print(f"not ok 3 - GET /no-such-page: {status} {body!r}")
        failures += 1
    print(f"{3 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
