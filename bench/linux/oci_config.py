#!/usr/bin/env python3
"""oci_config.py: writes the OCI bundle configs (plain, with a network namespace, echo, go, python, and
py-<workload> for the Python image's functions) for the crun workloads."""
import json
import sys

# The spec is `crun spec` (crun 1.8.1) trimmed: no terminal, the empty program
# as the process, and no /sys/fs/cgroup mount because cgroups are disabled.
# Keeping the rest (proc, dev tmpfs, devpts, shm, mqueue, sysfs, masked paths,
# capabilities) keeps the start as costly as a default container's.
CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


# The Python image's functions (images/python/functions), run per HTTP request by the guest's CGI
# (http-cgi.sh, cgi-bin/python_<workload>) as MettEagle runs them: the image's entrypoint and the
# function's file, the image's own environment (images/python/build-rootfs: umoci config).
PYTHON_WORKLOADS = ("empty", "dynamic_html", "compression", "graph_pagerank", "graph_bfs", "graph_mst")
PYTHON_IMAGE_ENV = ("PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8")
# The functions' writable storage: MettEagle gives each invocation its own /tmp (compression writes
# there); the bundle's root is read-only, so /tmp is a fresh tmpfs per container, as docker's --tmpfs.
TMP_MOUNT = {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=262144k"]}


def config(netns: bool, args=("/empty",), env=("PATH=/",), root="../rootfs", tmp=False) -> dict:
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if netns:
        namespaces.insert(1, {"type": "network"})
    return {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": list(env),
            "cwd": "/",
            "capabilities": {k: list(CAPS) for k in ("bounding", "effective", "permitted", "ambient")}
            | {"inheritable": []},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        # The bundles sit next to a shared rootfs, so the path is relative to
        # the bundle and works both in the guest and on the host.
        "root": {"path": root, "readonly": True},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ] + ([TMP_MOUNT] if tmp else []),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def main() -> int:
    # echo: the plain bundle with the echo program (stdin to stdout) as the process, for the HTTP
    # throughput workload; go: the plain bundle with the static Go "hello, world"; python: the
    # Python image's tree (images/python/build-rootfs) as the bundle's own rootfs, running what
    # MettEagle's python_cold_start runs.
    bundles = {"plain": {}, "netns": {}, "echo": {"args": ["/echo"]}, "go": {"args": ["/go_hello"]},
               "python": {"args": ["/usr/bin/python3", "-c", "pass"],
                          "env": ["PATH=/usr/bin:/bin", "HOME=/", "LANG=C.UTF-8"], "root": "rootfs"}}
    # py-<workload>: a bundle beside python/ sharing its rootfs (the very tree MettEagle imports).
    for workload in PYTHON_WORKLOADS:
        bundles["py-" + workload] = {"args": ["/usr/bin/python3", f"/function/{workload}.py"],
                                     "env": list(PYTHON_IMAGE_ENV), "root": "../python/rootfs", "tmp": True}
    if len(sys.argv) != 3 or sys.argv[1] not in bundles:
        print("usage: oci_config.py plain|netns|echo|go|python|py-<workload> <out-config.json>", file=sys.stderr)
        return 2
    with open(sys.argv[2], "w") as f:
        json.dump(config(sys.argv[1] == "netns", **bundles[sys.argv[1]]), f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
