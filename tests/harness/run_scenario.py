#!/usr/bin/env python3
"""Runs one QEMU scenario and decides pass or fail from the guest's serial output and exit status.

The guest prints "ok N - name" / "not ok N - name: reason" per case and a final
"P passed, F failed" line, then exits QEMU through isa-debug-exit. A scenario passes only when
the exit status says success, the summary says 0 failed with P > 0, and the case lines agree
with the summary. A hang fails after --timeout seconds; before QEMU is killed, every vCPU's
registers are read through the QEMU monitor and appended to the log, with the kernel function each
one was in, so a hang seen once (in CI) can still be diagnosed. The serial log is kept; on failure
its tail is printed. --icount runs the guest under QEMU's instruction counting, as the benchmarks'
icount mode does (one boot, no host check).

Host-check mode (--host-check): for guests that serve something over the network. The harness
forwards a free host port to each --forward guest port, waits until the serial output matches
--ready, runs the host-side command (with {port} replaced by the first forwarded host port, {port1}
by the second, ...), then ends the guest. The scenario passes when the command exits 0 while the
guest still runs and no panic was printed.

Disk mode (--disk FILE --disk-size SIZE): the guest gets FILE as its virtio-blk disk (the image
store's, docs/STORE.md), created empty (sparse) before the first boot. With --boots N the harness
boots the guest N times on the same disk, one after the other; "{boot}" in a --module is replaced
by the boot's number (1, 2, ...), so each boot can be told its part (with --host-check, "{boot}" in
the check's command too, and every boot waits for --ready and runs the check). Each boot is judged like a
single run; the scenario passes only if all of them pass. The log holds every boot, one after the
other, each headed by a "--- boot N ---" line.
"""
import argparse
import os
import re
import shlex
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import qemu  # noqa: E402

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def judge_pass(status, lines):
    """Returns None when the transcript shows a passing run, else the reason it failed."""
    summaries = [SUMMARY.match(line) for line in lines if SUMMARY.match(line)]
    passed_lines = [line for line in lines if re.match(r"^ok \d+ - ", line)]
    failed_lines = [line for line in lines if re.match(r"^not ok \d+ - ", line)]
    if any("KERNEL PANIC" in line for line in lines):
        return "the kernel panicked"
    if not summaries:
        return f"no 'N passed, N failed' summary line (QEMU exit status {status})"
    passed, failed = int(summaries[-1].group(1)), int(summaries[-1].group(2))
    if failed or failed_lines:
        return f"{max(failed, len(failed_lines))} case(s) failed"
    if passed == 0:
        return "no case ran"
    if passed != len(passed_lines):
        return f"summary says {passed} passed but {len(passed_lines)} 'ok' lines were printed"
    if status != qemu.EXIT_SUCCESS:
        return f"QEMU exit status {status}, expected {qemu.EXIT_SUCCESS} (guest success)"
    return None


def judge_panic(status, lines):
    if status != qemu.EXIT_PANIC:
        return f"QEMU exit status {status}, expected {qemu.EXIT_PANIC} (kernel panic)"
    if not any("KERNEL PANIC" in line for line in lines):
        return "exit status says panic but no 'KERNEL PANIC' line was printed"
    return None


def free_tcp_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now (QEMU binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def monitor_command(socket_path, command, timeout=5.0):
    """Runs one HMP command on the QEMU monitor at socket_path; returns its output ("" if none)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as monitor:
            monitor.settimeout(timeout)
            monitor.connect(socket_path)
            received = b""
            while not received.endswith(b"(qemu) "):  # The banner, then the first prompt.
                chunk = monitor.recv(65536)
                if not chunk:
                    return ""
                received += chunk
            monitor.sendall(command.encode() + b"\n")
            received = b""
            while not received.endswith(b"(qemu) "):
                chunk = monitor.recv(65536)
                if not chunk:
                    break
                received += chunk
    except OSError as error:
        return f"(monitor unavailable: {error})"
    text = received.decode("utf-8", "replace").replace("\r", "")
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # HMP echoes the command with terminal codes.
    return text.rsplit("(qemu) ", 1)[0]


def symbolize(kernel, address):
    """The kernel function (with the functions it was inlined into) at address, or "?"."""
    try:
        result = subprocess.run(["addr2line", "-f", "-i", "-C", "-s", "-e", kernel, hex(address)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    frames = [f"{lines[i]} at {lines[i + 1]}" for i in range(0, len(lines) - 1, 2)]
    return " in ".join(frames) or "?"


KERNEL_SPACE = 0xffff800000000000
# The monitor's lines worth keeping: general registers, code segment, control registers.
REGISTER_LINE = re.compile(r"^(CPU#|RAX|RSI|R8 |R12|RIP|CS |CR0)")


def hang_report(socket_path, kernel):
    """What every vCPU was doing: its registers and, for kernel addresses, the function."""
    registers = monitor_command(socket_path, "info registers -a")
    kept = [line for line in registers.splitlines() if REGISTER_LINE.match(line)]
    rips = [int(value, 16) for value in re.findall(r"RIP=([0-9a-f]{16})", registers)]
    summary = [f"CPU {index}: RIP={rip:#x} " + (symbolize(kernel, rip) if rip >= KERNEL_SPACE else "(user mode)")
               for index, rip in enumerate(rips)]
    return "\n".join(["--- hang: vCPU state from the QEMU monitor ---"] + (kept or [registers.strip()]) + summary)


def read_lines(log_path, start=0):
    with open(log_path, "rb") as log:
        log.seek(start)
        return [line.rstrip("\r") for line in log.read().decode("utf-8", "replace").split("\n")]


def judge_hang(diagnosis, function):
    """None when the vCPU state the monitor gave after the timeout shows a CPU in function: QEMU
    ran, the guest got that far and stayed there. A missing QEMU or monitor gives no state."""
    cpus = [line for line in diagnosis.splitlines() if re.match(r"^CPU \d+: RIP=0x[0-9a-f]+ ", line)]
    if not cpus:
        return "timed out, but the QEMU monitor gave no vCPU state (did QEMU run?)"
    if not any(f"{function} at " in line for line in cpus):
        return f"timed out, but no vCPU was in {function}: " + "; ".join(cpus)
    return None


HANG_LOOKS = 5  # Snapshots of a hang awaited in a function (--hang-in), 0.2 s apart.


def run_qemu(argv, log, timeout, monitor_path, kernel, hang_in=None):
    """Runs QEMU with its output into `log` until it exits or `timeout` passes; a hang is killed
    after the vCPUs' state is appended to the log. Returns (exit status or None, hang diagnosis).
    With hang_in, up to HANG_LOOKS snapshots are taken until one shows a vCPU in that function: a
    single one may catch the CPU in the timer interrupt that briefly ends its halt."""
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        return process.wait(timeout=timeout), ""
    except subprocess.TimeoutExpired:
        for look in range(HANG_LOOKS if hang_in else 1):
            if look:
                time.sleep(0.2)
            diagnosis = hang_report(monitor_path, kernel)
            if hang_in is None or judge_hang(diagnosis, hang_in) is None:
                break
        process.kill()
        process.wait()
        log.write(("\n" + diagnosis + "\n").encode())
        return None, diagnosis


def run_host_check(args, argv, log_path, host_ports, monitor_path, boot=1, start=0):
    """Boots the guest, waits for --ready, runs --host-check; returns (reason or None, lines).
    With start > 0 (a later boot) the log is appended to and judged from that offset on."""
    values = {f"port{index}" if index else "port": port for index, port in enumerate(host_ports)}
    values["boot"] = boot
    command = [word.format(**values) for word in shlex.split(args.host_check)]
    deadline = time.monotonic() + args.timeout
    ready = re.compile(args.ready)
    with open(log_path, "ab" if start else "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while True:
                lines = read_lines(log_path, start)
                if any("KERNEL PANIC" in line for line in lines):
                    return "the kernel panicked", lines
                if any(ready.search(line) for line in lines):
                    break
                if process.poll() is not None:
                    return f"the guest ended (QEMU exit status {process.returncode}) before it was ready", lines
                if time.monotonic() > deadline:
                    with open(log_path, "ab") as log:
                        log.write(("\n" + hang_report(monitor_path, args.kernel) + "\n").encode())
                    return f"timed out after {args.timeout:.0f} s waiting for /{args.ready}/", read_lines(log_path, start)
                time.sleep(0.05)
            remaining = max(1.0, deadline - time.monotonic())
            try:
                check = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=remaining)
                output, status = check.stdout.decode("utf-8", "replace"), check.returncode
            except subprocess.TimeoutExpired:
                output, status = hang_report(monitor_path, args.kernel), None
            running = process.poll() is None
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    # The check's own output goes into the log after the guest's, so one file tells the whole story.
    with open(log_path, "ab") as log:
        log.write(f"--- host check: {' '.join(command)} (status {status}) ---\n{output}".encode())
    lines = read_lines(log_path, start)
    if any("KERNEL PANIC" in line for line in lines):
        return "the kernel panicked", lines
    if status is None:
        return "the host check timed out", lines
    if status != 0:
        return f"the host check exited with status {status}", lines
    if not running:
        return "the guest ended while the host check ran", lines
    return None, lines


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--append", default="")
    parser.add_argument("--module", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--cpus", type=int, default=qemu.DEFAULT_CPUS)
    parser.add_argument("--memory", default=qemu.DEFAULT_MEMORY)
    parser.add_argument("--expect", choices=["pass", "panic", "hang"], default="pass",
                        help="pass: the guest's cases pass; panic: the kernel panics; hang: the guest is still "
                             "running at --timeout with a vCPU in --hang-in")
    parser.add_argument("--hang-in", default=None, help="with --expect hang: the function a vCPU must be in")
    parser.add_argument("--log-dir", default=".")
    parser.add_argument("--machine-option", action="append", default=[],
                        help="appended to the machine's options, e.g. ioapic2=off")
    parser.add_argument("--forward", action="append", type=int, default=[],
                        help="guest TCP port to forward from a free host port (host-check mode)")
    parser.add_argument("--ready", default=None, help="regex of the serial line that says the guest is ready")
    parser.add_argument("--host-check", default=None,
                        help="host command run once the guest is ready; {port} is the first forwarded host port")
    parser.add_argument("--disk", default=None, help="virtio-blk disk file, created empty before the first boot")
    parser.add_argument("--disk-size", default="64M", help="size of the --disk file (e.g. 48M)")
    parser.add_argument("--boots", type=int, default=1, help="boot the guest this many times on the same disk")
    parser.add_argument("--icount", action="store_true",
                        help="QEMU's instruction counting (-icount shift=0,sleep=off), as the benchmarks' icount mode")
    args = parser.parse_args()
    if args.host_check is not None and (args.ready is None or not args.forward):
        parser.error("--host-check needs --ready and at least one --forward")
    if (args.expect == "hang") != (args.hang_in is not None):
        parser.error("--expect hang and --hang-in go together")
    if args.icount and (args.boots > 1 or args.host_check is not None):
        parser.error("--icount works only with a single boot and no --host-check")

    os.makedirs(args.log_dir, exist_ok=True)
    log_path = os.path.join(args.log_dir, f"{args.name}.log")
    if args.boots > 1:
        return run_boots(args, log_path)
    host_ports = [free_tcp_port() for _ in args.forward]
    # Scenarios always run under TCG: their outcome must not depend on the host's accelerator.
    if args.disk:
        prepare_disk(args)
    argv = qemu.command_line(args.kernel, args.append, args.module, "tcg", args.icount, args.memory, args.cpus,
                             network_forwards=list(zip(host_ports, args.forward)),
                             machine_options=args.machine_option, disk=args.disk, disk_cache="unsafe")
    monitor_path = os.path.join(args.log_dir, f"{args.name}.monitor")
    if os.path.exists(monitor_path):
        os.unlink(monitor_path)
    argv += ["-monitor", f"unix:{monitor_path},server=on,wait=off"]
    started = time.monotonic()
    if args.host_check is not None:
        reason, lines = run_host_check(args, argv, log_path, host_ports, monitor_path)
        return report(args.name, reason, time.monotonic() - started, log_path, lines)
    with open(log_path, "wb") as log:
        status, diagnosis = run_qemu(argv, log, args.timeout, monitor_path, args.kernel, args.hang_in)
    elapsed = time.monotonic() - started
    with open(log_path, "rb") as log:
        lines = [line.rstrip("\r") for line in log.read().decode("utf-8", "replace").split("\n")]

    if status is None and args.expect == "hang":
        reason = judge_hang(diagnosis, args.hang_in)
    elif status is None:
        reason = f"timed out after {args.timeout:.0f} s (hang)"
    elif args.expect == "hang":
        reason = f"the guest ended (QEMU exit status {status}) instead of hanging"
    elif args.expect == "pass":
        reason = judge_pass(status, lines)
    else:
        reason = judge_panic(status, lines)

    return report(args.name, reason, elapsed, log_path, lines)


def prepare_disk(args):
    """A fresh, empty (sparse) disk file: a scenario never sees an earlier run's disk."""
    if os.path.exists(args.disk):
        os.unlink(args.disk)
    qemu.create_disk(args.disk, qemu.parse_size(args.disk_size))


def run_boots(args, log_path):
    """Boots the guest args.boots times on one disk; each boot is judged on its own lines."""
    if args.expect != "pass" or not args.disk:
        raise SystemExit("error: --boots needs --disk and works only with --expect pass")
    prepare_disk(args)
    if args.host_check is not None:
        return run_host_check_boots(args, log_path)
    monitor_path = os.path.join(args.log_dir, f"{args.name}.monitor")
    started = time.monotonic()
    all_lines = []
    with open(log_path, "wb") as log:
        for boot in range(1, args.boots + 1):
            modules = [module.replace("{boot}", str(boot)) for module in args.module]
            argv = qemu.command_line(args.kernel, args.append, modules, "tcg", False, args.memory, args.cpus,
                                     machine_options=args.machine_option, disk=args.disk, disk_cache="unsafe")
            if os.path.exists(monitor_path):
                os.unlink(monitor_path)
            argv += ["-monitor", f"unix:{monitor_path},server=on,wait=off"]
            log.write(f"--- boot {boot} ---\n".encode())
            log.flush()
            boot_started = log.tell()
            status, _ = run_qemu(argv, log, args.timeout, monitor_path, args.kernel)
            log.flush()
            with open(log_path, "rb") as transcript:
                transcript.seek(boot_started)
                lines = [line.rstrip("\r") for line in transcript.read().decode("utf-8", "replace").split("\n")]
            all_lines += [f"--- boot {boot} ---"] + lines
            reason = f"timed out after {args.timeout:.0f} s (hang)" if status is None else judge_pass(status, lines)
            if reason is not None:
                return report(args.name, f"boot {boot}: {reason}", time.monotonic() - started, log_path, all_lines)
    return report(args.name, None, time.monotonic() - started, log_path, all_lines)


def run_host_check_boots(args, log_path):
    """--boots with --host-check: each boot waits for --ready and runs the check, "{boot}" in it
    replaced by the boot's number; the log holds every boot and check, one after the other."""
    monitor_path = os.path.join(args.log_dir, f"{args.name}.monitor")
    started = time.monotonic()
    all_lines = []
    open(log_path, "wb").close()
    for boot in range(1, args.boots + 1):
        modules = [module.replace("{boot}", str(boot)) for module in args.module]
        host_ports = [free_tcp_port() for _ in args.forward]
        argv = qemu.command_line(args.kernel, args.append, modules, "tcg", False, args.memory, args.cpus,
                                 network_forwards=list(zip(host_ports, args.forward)),
                                 machine_options=args.machine_option, disk=args.disk, disk_cache="unsafe")
        if os.path.exists(monitor_path):
            os.unlink(monitor_path)
        argv += ["-monitor", f"unix:{monitor_path},server=on,wait=off"]
        with open(log_path, "ab") as log:
            log.write(f"--- boot {boot} ---\n".encode())
        start = os.path.getsize(log_path)
        reason, lines = run_host_check(args, argv, log_path, host_ports, monitor_path, boot, start)
        all_lines += [f"--- boot {boot} ---"] + lines
        if reason is not None:
            return report(args.name, f"boot {boot}: {reason}", time.monotonic() - started, log_path, all_lines)
    return report(args.name, None, time.monotonic() - started, log_path, all_lines)


def report(name, reason, elapsed, log_path, lines):
    if reason is None:
        print(f"scenario {name}: passed in {elapsed:.2f} s (log {log_path})")
        return 0
    print(f"scenario {name}: FAILED: {reason} after {elapsed:.2f} s")
    print(f"--- last lines of {log_path} ---")
    for line in lines[-80:]:
        print(line)
    return 1


if __name__ == "__main__":
    sys.exit(main())
