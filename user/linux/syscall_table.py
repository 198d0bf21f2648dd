#!/usr/bin/env python3
"""Prints the Markdown table of the Linux personality's system calls from LINUX_SYSCALLS in
syscalls.cpp (the one definition). With --update FILE, replaces the table between the markers
<!-- linux-syscalls:begin --> and <!-- linux-syscalls:end --> in FILE (docs/LINUX.md); with --check
FILE, exits 1 when that table is not the one the source gives (ctest linux_syscall_table_is_current)."""
import pathlib
import re
import sys

SOURCE = pathlib.Path(__file__).with_name("syscalls.cpp")


def table():
    text = SOURCE.read_text()
    block = text[text.index("#define LINUX_SYSCALLS(X)"):]
    block = block[:block.index("\n\n")]
    entries = []
    for match in re.finditer(r'X\((\d+),\s*(\w+),\s*((?:"(?:[^"\\]|\\.)*"\s*(?:\\\s*)?)+)\)', block):
        summary = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(3)))
        entries.append((int(match.group(1)), match.group(2), summary))
    lines = ["| number | call | what the personality does |", "|---:|---|---|"]
    lines += [f"| {number} | `{name}` | {summary} |" for number, name, summary in entries]
    lines.append("| any other | — | `-ENOSYS`, counted: the count goes to the manager at exit (the invocation's `detail`, a metric of the gateway), the first numbers to the log |")
    return "\n".join(lines)


def main():
    if len(sys.argv) == 3 and sys.argv[1] in ("--update", "--check"):
        path = pathlib.Path(sys.argv[2])
        text = path.read_text()
        begin, end = "<!-- linux-syscalls:begin -->", "<!-- linux-syscalls:end -->"
        head, rest = text.split(begin, 1)
        current, tail = rest.split(end, 1)
        if sys.argv[1] == "--check":
            if current.strip() != table():
                sys.exit(f"{path}: the system-call table is stale; run {sys.argv[0]} --update {path}")
            print(f"{path} matches LINUX_SYSCALLS")
            return
        path.write_text(f"{head}{begin}\n{table()}\n{end}{tail}")
    else:
        print(table())


if __name__ == "__main__":
    main()
