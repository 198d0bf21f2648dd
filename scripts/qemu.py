"""QEMU command lines for MettEagle guests: one place that knows the machine, devices and modes.

Both our kernel and the Linux baseline guest boot on the same machine model, memory and CPU
count, so figures from the two are comparable.
"""
import os
import re
import shutil

MACHINE = "microvm,pit=on,pic=on,rtc=on"
DEFAULT_MEMORY = "512M"
DEFAULT_CPUS = 2
# isa-debug-exit: the guest writes v to port 0xf4, QEMU exits with (v << 1) | 1.
EXIT_SUCCESS = (0x10 << 1) | 1
EXIT_FAILURE = (0x11 << 1) | 1
EXIT_PANIC = (0x12 << 1) | 1
# microvm's second I/O APIC (ioapic2, on by default with ACPI) moves the virtio-mmio transports'
# interrupts to GSI 24 and up, which the kernel's single I/O APIC cannot route; without it there are
# 8 transports on GSI 16-23 (transport i on GSI 16 + i; 5 + i with acpi=off). Network guests pass
# this as machine_options (docs/NETWORK.md).
SINGLE_IOAPIC = ("ioapic2=off",)


def kvm_usable():
    """KVM only when /dev/kvm exists and the CPU really has hardware virtualization.

    Some hosts expose a paravirtual /dev/kvm without vmx/svm; it runs guest ring-0 code thousands
    of times slower than TCG and breaks `syscall` from ring 3, so it must not be picked.
    """
    if not os.path.exists("/dev/kvm") or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = re.search(r"^flags\s*:(.*)$", cpuinfo.read(), re.M)
    except OSError:
        return False
    return bool(flags) and bool({"vmx", "svm"} & set(flags.group(1).split()))


def pick_accelerator(requested="auto"):
    if requested == "auto":
        return "kvm" if kvm_usable() else "tcg"
    if requested == "kvm" and not kvm_usable():
        raise SystemExit("error: --accel kvm requested, but this CPU shows no vmx/svm (or /dev/kvm is missing)")
    return requested


def qemu_binary():
    binary = shutil.which("qemu-system-x86_64")
    if binary is None:
        raise SystemExit("error: qemu-system-x86_64 not found; run scripts/setup")
    return binary


def create_disk(path, size):
    """Creates the image store's disk file (sparse, `size` bytes) unless it exists; returns True if created."""
    if os.path.exists(path):
        return False
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as disk:
        disk.truncate(size)
    return True


def parse_size(text):
    """'4G', '512M', '64K' or a byte count (powers of 1024) -> bytes."""
    match = re.fullmatch(r"(\d+)([KMGT]?)", text.strip().upper())
    if not match:
        raise SystemExit(f"error: bad size {text!r} (want e.g. 4G, 512M or a byte count)")
    return int(match.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[match.group(2)]


def command_line(kernel, append="", modules=(), accel="tcg", icount=False, memory=DEFAULT_MEMORY,
                 cpus=DEFAULT_CPUS, network_forwards=(), extra=(), machine_options=(), disk=None,
                 disk_cache="writeback"):
    """The full QEMU argv for booting `kernel` with multiboot modules (each "path args").

    machine_options are appended to the machine's options (e.g. SINGLE_IOAPIC). disk: a raw image
    file attached as the image store's virtio-blk device (docs/STORE.md); disk_cache is QEMU's cache
    mode for it ("writeback" honours the guest's flushes; tests use "unsafe", which ignores them and
    is fast, and loses nothing when QEMU itself ends)."""
    for module in modules:
        if "," in module:
            raise SystemExit(f"error: a module entry may not contain ',' (QEMU separates modules with it): {module}")
    argv = [qemu_binary(), "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-M", ",".join((MACHINE,) + tuple(machine_options)), "-accel", accel, "-m", memory, "-smp", str(cpus),
            "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", kernel]
    if accel == "kvm":
        argv += ["-cpu", "host"]
    if append:
        argv += ["-append", append]
    if modules:
        argv += ["-initrd", ",".join(modules)]
    if icount:
        # The guest clock then advances one nanosecond per executed instruction: deterministic figures.
        argv += ["-icount", "shift=0,sleep=off"]
    if network_forwards:
        forwards = ",".join(f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for host, guest in network_forwards)
        argv += ["-netdev", f"user,id=net0,{forwards}", "-device", "virtio-net-device,netdev=net0"]
    if disk:
        if "," in disk:
            raise SystemExit(f"error: the disk path may not contain ',': {disk}")
        argv += ["-drive", f"file={disk},if=none,format=raw,id=store,cache={disk_cache}",
                 "-device", "virtio-blk-device,drive=store"]
    argv += list(extra)
    return argv
