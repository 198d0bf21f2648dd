#!/usr/bin/env python3
"""End-to-end check of mettctl against a running gateway: deploy, invoke, ls, describe, logs,
metrics and rm, with the exit codes and outputs of docs/METTCTL.md.

Needs a gateway URL (--gateway); without one it stops with a usage error (exit 2), so a run that
checked nothing is never counted as a pass. Deploys sample functions from the build
(build/user/functions: echo.elf, null_deref.elf, spin.elf) under names unique to this run, and
removes them again at the end, also when a case fails. Prints "ok N - name" or
"not ok N - name: reason" per case and a final "P passed, F failed" line; exits 0 only when
every case passed. The QEMU harness can run it as a host check:
  --host-check "python3 tests/mettctl/e2e.py --gateway http://127.0.0.1:{port} ..."
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

REPOSITORY = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OK, FUNCTION_FAILED, USAGE, PLATFORM = 0, 1, 2, 125
PHASE_HEADERS = ["X-Call-Id", "X-Duration-Seconds", "X-Phase-Create-Ticks", "X-Phase-Load-Ticks",
                 "X-Phase-Run-Ticks", "X-Phase-Teardown-Ticks"]


class CaseFailed(Exception):
    pass


class Run:
    """Runs mettctl with the gateway and key of this check, and records the cases' verdicts."""

    def __init__(self, args):
        self.mettctl = args.mettctl
        self.gateway = args.gateway
        self.key = args.key
        self.timeout = args.command_timeout
        self.passed = 0
        self.failed = 0

    def mettctl_run(self, *arguments, stdin=b"", key=None):
        command = [self.mettctl, "--gateway", self.gateway, "--key", key or self.key, *arguments]
        # No environment variable of the caller may change what is checked.
        environment = {name: value for name, value in os.environ.items() if not name.startswith("METTCTL_")}
        try:
            completed = subprocess.run(command, input=stdin, capture_output=True, timeout=self.timeout,
                                       env=environment)
        except subprocess.TimeoutExpired:
            raise CaseFailed(f"{' '.join(arguments)}: no answer within {self.timeout} s")
        return completed.returncode, completed.stdout, completed.stderr.decode(errors="replace")

    def expect(self, *arguments, code, stdin=b"", key=None):
        """Runs mettctl and checks its exit code; returns (stdout bytes, stderr text)."""
        status, out, err = self.mettctl_run(*arguments, stdin=stdin, key=key)
        if status != code:
            raise CaseFailed(f"`mettctl {' '.join(arguments)}` exited {status}, expected {code}; "
                             f"stderr: {err.strip()[:300]!r}")
        return out, err

    def case(self, name, body):
        try:
            body()
        except CaseFailed as failure:
            self.failed += 1
            print(f"not ok {self.passed + self.failed} - {name}: {failure}", flush=True)
            return
        self.passed += 1
        print(f"ok {self.passed + self.failed} - {name}", flush=True)


def check(condition, reason):
    if not condition:
        raise CaseFailed(reason)


def json_of(out, what):
    try:
        return json.loads(out)
    except ValueError:
        raise CaseFailed(f"{what} printed no JSON: {out[:200]!r}")


def run_cases(run, functions, scratch):
    suffix = str(os.getpid() % 100000)
    echo, crash, spin = f"e2e-echo-{suffix}", f"e2e-crash-{suffix}", f"e2e-spin-{suffix}"
    elf = {name: os.path.join(functions, f"{name}.elf") for name in ("echo", "null_deref", "spin")}
    not_elf = os.path.join(scratch, "not-an-elf")
    with open(not_elf, "wb") as file:
        file.write(b"#!/bin/sh\necho this is not an ELF\n")
    input_file = os.path.join(scratch, "input")
    file_input = bytes(range(256)) * 4
    with open(input_file, "wb") as file:
        file.write(file_input)

    def metrics():
        out, _ = run.expect("metrics", code=OK)
        check(b"metteagle_invocations_total" in out or b"# TYPE" in out, f"no Prometheus text: {out[:200]!r}")

    def deploy_echo():
        out, _ = run.expect("deploy", echo, elf["echo"], "--memory", "16M", "--timeout", "5s", "--max-output", "64K",
                            code=OK)
        check(out == f"{echo}\n".encode(), f"deploy printed {out!r}, expected the name")

    def deploy_twice():
        _, err = run.expect("deploy", echo, elf["echo"], code=PLATFORM)
        check("409" in err, f"no 409 in {err!r}")

    def deploy_rejected_executable():
        _, err = run.expect("deploy", f"e2e-bad-{suffix}", not_elf, code=PLATFORM)
        check("422" in err and "elf_status" in err, f"no 422 with elf_status in {err!r}")

    def deploy_bad_size():
        _, err = run.expect("deploy", f"e2e-bad-{suffix}", elf["echo"], "--memory", "16Q", code=USAGE)
        check("--memory" in err, f"the error does not name --memory: {err!r}")

    def invoke_data():
        out, _ = run.expect("invoke", echo, "--data", "hello e2e", code=OK)
        check(out == b"hello e2e", f"output {out!r}")

    def invoke_stdin():
        data = b"binary\x00\xff\r\n input"
        out, _ = run.expect("invoke", echo, stdin=data, code=OK)
        check(out == data, f"output {out!r}")

    def invoke_file():
        out, _ = run.expect("invoke", echo, "--file", input_file, code=OK)
        check(out == file_input, f"{len(out)} bytes back, expected {len(file_input)} equal bytes")

    def invoke_verbose():
        out, err = run.expect("invoke", echo, "--data", "v", "--verbose", code=OK)
        check(out == b"v", f"output {out!r}")
        missing = [header for header in PHASE_HEADERS if f"{header}: " not in err]
        check(not missing, f"--verbose lacks {missing}: {err!r}")

    def invoke_unknown():
        _, err = run.expect("invoke", f"e2e-none-{suffix}", "--data", "", code=PLATFORM)
        check("404" in err, f"no 404 in {err!r}")

    def invoke_crash():
        run.expect("deploy", crash, elf["null_deref"], code=OK)
        out, err = run.expect("invoke", crash, "--data", "", code=FUNCTION_FAILED)
        check(out == b"", f"a failed call printed {out!r} on stdout")
        error = json_of(err.strip().splitlines()[-1] if err.strip() else "", "a crashed invoke")
        check(isinstance(error, dict) and isinstance(error.get("error"), str), f"stderr {err!r}")

    def linux_busybox():
        # Debian's busybox-static, unmodified, deployed as a Linux function under an applet's name
        # (busybox picks the applet from argv[0], which is the function's name).
        run.expect("deploy", "cat", "/bin/busybox", "--linux", "--memory", "32M", code=OK)
        out, _ = run.expect("invoke", "cat", "--data", "from busybox\n", code=OK)
        check(out == b"from busybox\n", f"busybox cat printed {out!r}")
        run.expect("rm", "cat", code=OK)
        # With arguments: sed and its expression.
        run.expect("deploy", "sed", "/bin/busybox", "--linux", "--arg", "s/o/0/g", "--memory", "32M", code=OK)
        out, _ = run.expect("invoke", "sed", "--data", "foo boo\n", code=OK)
        check(out == b"f00 b00\n", f"busybox sed printed {out!r}")
        run.expect("rm", "sed", code=OK)

    def invoke_timeout():
        run.expect("deploy", spin, elf["spin"], "--timeout", "500ms", code=OK)
        _, err = run.expect("invoke", spin, "--data", "", "-v", code=FUNCTION_FAILED)
        check("Status: 504" in err, f"no 504 in {err!r}")

    def list_table():
        out, _ = run.expect("ls", code=OK)
        lines = out.decode().splitlines()
        check(lines and lines[0].split() == ["NAME", "INVOCATIONS", "FAILURES"], f"heading {lines[:1]}")
        check(any(line.split()[:1] == [echo] for line in lines[1:]), f"{echo} not listed: {lines}")

    def list_json():
        out, _ = run.expect("ls", "--json", code=OK)
        entries = {entry["name"]: entry for entry in json_of(out, "ls --json")}
        check(echo in entries, f"{echo} not in {sorted(entries)}")
        check(entries[echo]["invocations"] >= 4, f"invocations {entries[echo]['invocations']}, expected >= 4")

    def describe_fields():
        out, _ = run.expect("describe", echo, code=OK)
        fields = dict(line.split(":", 1) for line in out.decode().splitlines())
        check(fields.get("name", "").strip() == echo, f"name field {fields.get('name')!r}")
        check(fields.get("memory", "").split()[:1] == ["16777216"], f"memory field {fields.get('memory')!r}")

    def describe_json():
        out, _ = run.expect("describe", echo, "--json", code=OK)
        description = json_of(out, "describe --json")
        expected = {"name": echo, "memory": 16 << 20, "timeout_ms": 5000, "max_output": 64 << 10}
        wrong = {field: description.get(field) for field, value in expected.items() if description.get(field) != value}
        check(not wrong, f"fields {wrong}, expected {expected}")
        check(description["size"] == os.path.getsize(elf["echo"]), f"size {description['size']}")

    def logs():
        out, _ = run.expect("logs", echo, code=OK)
        check(out.strip(), "the log of an invoked function is empty")

    def wrong_key():
        _, err = run.expect("ls", key="e2e-not-a-configured-key", code=PLATFORM)
        check("401" in err, f"no 401 in {err!r}")

    def remove():
        out, _ = run.expect("rm", echo, code=OK)
        check(out == f"{echo}\n".encode(), f"rm printed {out!r}")
        run.expect("rm", echo, code=PLATFORM)
        run.expect("describe", echo, code=PLATFORM)
        out, _ = run.expect("ls", "--json", code=OK)
        check(echo not in [entry["name"] for entry in json_of(out, "ls --json")], f"{echo} still listed")

    cases = [
        ("metrics", metrics),
        ("deploy echo", deploy_echo),
        ("deploy under a taken name is refused", deploy_twice),
        ("deploy of a non-ELF file is rejected", deploy_rejected_executable),
        ("deploy and invoke Debian's busybox as a Linux function", linux_busybox),
        ("deploy with a malformed size is a usage error", deploy_bad_size),
        ("invoke --data", invoke_data),
        ("invoke from stdin, binary", invoke_stdin),
        ("invoke --file", invoke_file),
        ("invoke --verbose prints the call headers", invoke_verbose),
        ("invoke of an unknown function", invoke_unknown),
        ("invoke of a crashing function exits 1", invoke_crash),
        ("invoke of a spinning function times out, exits 1", invoke_timeout),
        ("ls table", list_table),
        ("ls --json", list_json),
        ("describe", describe_fields),
        ("describe --json", describe_json),
        ("logs", logs),
        ("an unknown key is refused", wrong_key),
        ("rm", remove),
    ]
    try:
        for name, body in cases:
            run.case(name, body)
    finally:
        for name in (echo, crash, spin):  # Best effort: most are gone already.
            try:
                run.mettctl_run("rm", name)
            except CaseFailed:
                pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", required=True, help="URL of the running gateway, e.g. http://127.0.0.1:8080")
    parser.add_argument("--key", default="dev-key-alpha", help="API key the gateway accepts (default: %(default)s)")
    parser.add_argument("--mettctl", default=os.path.join(REPOSITORY, "build", "host", "mettctl", "mettctl"))
    parser.add_argument("--functions", default=os.path.join(REPOSITORY, "build", "user", "functions"),
                        help="directory with echo.elf, null_deref.elf and spin.elf")
    parser.add_argument("--command-timeout", type=float, default=60.0, help="seconds one mettctl run may take")
    args = parser.parse_args()

    missing = [path for path in [args.mettctl] + [os.path.join(args.functions, f"{name}.elf")
                                                  for name in ("echo", "null_deref", "spin")]
               if not os.path.isfile(path)]
    if missing:
        parser.error(f"missing (build first): {', '.join(missing)}")

    run = Run(args)
    with tempfile.TemporaryDirectory(prefix="mettctl-e2e-") as scratch:
        run_cases(run, args.functions, scratch)
    print(f"{run.passed} passed, {run.failed} failed", flush=True)
    return 0 if run.failed == 0 and run.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
