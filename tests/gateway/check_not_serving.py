#!/usr/bin/env python3
"""Host-side check that nothing answers HTTP on the forwarded port (scenario_gateway_bad_keys: a
gateway with an invalid key file must refuse to start). Exits 0 when no HTTP answer comes."""
import argparse
import socket
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", args.port), timeout=5) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = connection.recv(100)
    except OSError:
        pass
    if answer.startswith(b"HTTP/"):
        print(f"FAILED the gateway answered although its key file is invalid: {answer!r}")
        return 1
    print("ok     nothing answers HTTP: the gateway did not start")
    return 0


if __name__ == "__main__":
    sys.exit(main())
