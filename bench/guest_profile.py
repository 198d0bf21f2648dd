"""guest_profile.py: a sampling profiler for a running MettEagle guest, from the host, through
QEMU's monitor (HMP on a unix socket). No guest code is involved: each sample stops the VM
(`stop`, which makes every vCPU leave its translated block with its registers exact), reads every
vCPU's registers (`info registers -a`), and lets it go on (`cont`).

A sample of a vCPU is one of: halted (HLT=1: the CPU had nothing to run), kernel (RIP in the
kernel's half; named by the kernel's own symbols, and charged to the task whose page tables were
loaded, i.e. on whose behalf the kernel ran), or user (named by the task's program). Which program
a page-table root (CR3) runs is found once per root: the monitor reads 16 bytes at a user RIP
through that vCPU's tables and they are compared with each candidate ELF's bytes at that address
(every program is linked at 0x400000, so addresses alone cannot tell). Roots no candidate matches
are "other tasks" (functions: fresh tasks per invocation).

Stopping the VM perturbs it (a few hundred microseconds of host time per sample); the shares are
what the profile is for, not the absolute rate. See docs/BENCHMARKS.md, "Profiling the HTTP path".
"""
import bisect
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict

KERNEL_HALF = 0xFFFF800000000000
# user/linux/linux.ld: the personality's link address; it stays below the function's stack.
PERSONALITY_BASE = 0x7E0000000000
PERSONALITY_END = 0x7E0010000000


class Monitor:
    """One HMP connection kept open for many commands."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self._read_prompt()

    def _read_prompt(self) -> str:
        received = b""
        while not received.endswith(b"(qemu) "):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the QEMU monitor closed")
            received += chunk
        text = received.decode("utf-8", "replace").replace("\r", "")
        return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)

    def command(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        return self._read_prompt()

    def close(self):
        self.sock.close()


class Symbols:
    """An ELF's function symbols (nm), for address -> name."""

    def __init__(self, path: str):
        self.starts, self.names = [], []
        out = subprocess.run(["nm", "-C", "--defined-only", "-n", path], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1] in "tTwW":
                self.starts.append(int(parts[0], 16))
                self.names.append(parts[2])

    def name(self, address: int) -> str:
        index = bisect.bisect_right(self.starts, address) - 1
        return self.names[index] if index >= 0 else f"{address:#x}"


class Program:
    """A candidate user program: its loadable bytes by address, and its symbols."""

    def __init__(self, name: str, path: str):
        self.name = name
        self.symbols = Symbols(path)
        self.segments = []  # (virtual address, file bytes)
        with open(path, "rb") as f:
            data = f.read()
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        for i in range(phnum):
            kind, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
            if kind == 1 and filesz:
                self.segments.append((vaddr, data[offset:offset + filesz]))

    def has_bytes(self, address: int, expected: bytes) -> bool:
        for vaddr, content in self.segments:
            if vaddr <= address and address + len(expected) <= vaddr + len(content):
                start = address - vaddr
                return content[start:start + len(expected)] == expected
        return False


CPU_LINE = re.compile(r"^CPU#(\d+)", re.M)
REG = {name: re.compile(rf"\b{name}=([0-9a-f]+)") for name in ("RIP", "CR3", "HLT")}


def parse_registers(text: str) -> list:
    """[(cpu, rip, cr3, halted)] from `info registers -a`."""
    out = []
    blocks = CPU_LINE.split(text)
    # split gives ['', '0', block0, '1', block1, ...]
    for i in range(1, len(blocks) - 1, 2):
        block = blocks[i + 1]
        values = {}
        for name, pattern in REG.items():
            match = pattern.search(block)
            if match:
                values[name] = int(match.group(1), 16)
        if "RIP" in values and "CR3" in values:
            out.append((int(blocks[i]), values["RIP"], values["CR3"] & ~0xFFF, values.get("HLT", 0) == 1))
    return out


class Sampler(threading.Thread):
    def __init__(self, monitor_path: str, kernel: str, programs: dict, interval: float = 0.005,
                 personality: str = None):
        super().__init__(daemon=True)
        self.monitor_path = monitor_path
        self.kernel = Symbols(kernel)
        # Functions' Linux personality, linked at PERSONALITY_BASE in every function task: its user
        # samples are named by its symbols, apart from the function program's own code.
        self.personality = Symbols(personality) if personality else None
        self.programs = [Program(name, path) for name, path in programs.items()]
        self.interval = interval
        self.stop_event = threading.Event()
        self.samples = []  # (cpu, rip, cr3, halted)
        self.root_program = {}  # cr3 -> Program or None
        self.error = None

    def identify(self, monitor: Monitor, cpu: int, rip: int, cr3: int):
        monitor.command(f"cpu {cpu}")
        dump = monitor.command(f"x/16xb {rip:#x}")
        found = re.findall(r"0x([0-9a-f]{2})\b", dump.split("\n", 1)[-1])
        if len(found) < 16:
            return None
        expected = bytes(int(b, 16) for b in found[:16])
        matches = [p for p in self.programs if p.has_bytes(rip, expected)]
        return matches[0] if len(matches) == 1 else None

    def run(self):
        try:
            monitor = Monitor(self.monitor_path)
            while not self.stop_event.is_set():
                monitor.command("stop")
                registers = parse_registers(monitor.command("info registers -a"))
                for cpu, rip, cr3, halted in registers:
                    if not halted and rip < KERNEL_HALF and cr3 not in self.root_program:
                        self.root_program[cr3] = self.identify(monitor, cpu, rip, cr3)
                monitor.command("cont")
                self.samples.extend(registers)
                time.sleep(self.interval)
            monitor.close()
        except (OSError, ConnectionError) as error:
            self.error = error

    def stop(self):
        self.stop_event.set()
        self.join()

    def report(self, top: int = 25) -> str:
        total = len(self.samples)
        if total == 0:
            return "no samples\n"
        where = Counter()
        kernel_functions = Counter()
        user_functions = defaultdict(Counter)
        for _cpu, rip, cr3, halted in self.samples:
            program = self.root_program.get(cr3)
            task = program.name if program else "other tasks"
            if halted:
                where["halted (idle)"] += 1
            elif rip >= KERNEL_HALF:
                where[f"kernel, for {task}"] += 1
                kernel_functions[self.kernel.name(rip)] += 1
            elif program is None and self.personality and PERSONALITY_BASE <= rip < PERSONALITY_END:
                where["user: functions' Linux personality"] += 1
                user_functions["functions' Linux personality"][self.personality.name(rip)] += 1
            else:
                where[f"user: {task}"] += 1
                user_functions[task][program.symbols.name(rip) if program else f"{rip:#x}"] += 1
        lines = [f"{total} vCPU samples ({total // max(1, len({s[0] for s in self.samples}))} per vCPU)", "",
                 "| where | share |", "|---|---:|"]
        lines += [f"| {name} | {count * 100 / total:.1f}% |" for name, count in where.most_common()]
        busy_kernel = sum(kernel_functions.values())
        lines += ["", f"Kernel functions (share of all samples; {busy_kernel} in the kernel):", "",
                  "| function | share |", "|---|---:|"]
        lines += [f"| `{name}` | {count * 100 / total:.1f}% |" for name, count in kernel_functions.most_common(top)]
        for task, functions in sorted(user_functions.items(), key=lambda item: -sum(item[1].values())):
            if task == "other tasks":
                continue
            lines += ["", f"User functions of {task}:", "", "| function | share |", "|---|---:|"]
            lines += [f"| `{name}` | {count * 100 / total:.1f}% |" for name, count in functions.most_common(top // 2)]
        return "\n".join(lines) + "\n"


def boot_programs(modules) -> dict:
    """The boot modules that are programs (name -> ELF path), the candidates a sample is named by."""
    programs = {}
    for module in modules:
        path = module.split(" ", 1)[0]
        if path.endswith(".elf"):
            programs[os.path.basename(path)[:-4]] = path
    return programs


def write_report(sampler: "Sampler", head: str, out: str) -> int:
    """Prints the profile under `head` and writes it to `out`; 1 when the monitor failed."""
    if sampler.error:
        print(f"error: the monitor: {sampler.error}", file=sys.stderr)
        return 1
    text = head + sampler.report()
    with open(out, "w") as f:
        f.write(text)
    print(text)
    return 0
