#!/usr/bin/env python3
"""Checks scripts/launch (`make run`) on a busy host port: a clear message and status 1, no QEMU."""
import os
import socket
import subprocess
import sys
import tempfile
import unittest

LAUNCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "launch")


class BusyPort(unittest.TestCase):
    def test_a_busy_port_is_refused_before_qemu_starts(self):
        with tempfile.NamedTemporaryFile(suffix=".elf") as kernel, socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            port = server.getsockname()[1]
            result = subprocess.run([sys.executable, LAUNCH, "--kernel", kernel.name, "--forward", f"{port}:8080"],
                                    capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr.strip(),
                         f"error: port {port} on this host is already in use (another `make run`, or another "
                         f"server); choose another with `make run PORT=...`")


if __name__ == "__main__":
    unittest.main()
