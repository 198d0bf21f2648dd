#!/bin/bash
# build-guest.sh: assembles the Linux baseline guest (kernel + initramfs) from Debian packages into <build-dir>/linux-guest.
#
# Usage: bench/linux/build-guest.sh <build-dir>
# Nothing is installed on the host: packages are fetched with `apt-get download`
# into <build-dir>/linux-guest/debs (kept as a cache) and unpacked with
# `dpkg -x`. Outputs: linux-guest/vmlinux (PVH-bootable ELF),
# linux-guest/initramfs.cpio (uncompressed newc) and linux-guest/root (the
# initramfs tree, whose bench/ directory the host reference reuses).
set -euo pipefail

die() { echo "build-guest: error: $*" >&2; exit 1; }
log() { echo "build-guest: $*"; }

[ $# -eq 1 ] || die "usage: $0 <build-dir>"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
build=$(cd "$1" && pwd)
G=$build/linux-guest
debs=$G/debs
ex=$G/extract
root=$G/root

for tool in apt-get apt-cache dpkg gcc cpio readelf lz4 python3 grep; do
    command -v "$tool" >/dev/null || die "'$tool' not found; install the packages in scripts/packages/bench.list"
done

# The build is skipped when none of its inputs changed: a hash over this
# script, the guest files and the resolved kernel package name.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || die "cannot resolve the kernel behind linux-image-cloud-amd64 (run apt-get update?)"
# The static Go "hello, world" the main build made with Debian's golang-go (user/tests/linux), so
# that both systems run the very same binary.
go_hello=$build/user/linux-programs/go_hello
[ -f "$go_hello" ] || die "$go_hello not found: build the project first (make build)"
# The Python image's tree (images/python/build-rootfs, target python_image): python_cold_start's
# bundle rootfs, the very tree MettEagle deploys.
python_rootfs=$build/images/python/rootfs
[ -f "$build/images/python/stamp" ] || die "$python_rootfs not built: build the project first (make build)"
inputs_hash=$( { echo "$kpkg"; cat "$build/images/python/stamp" "$go_hello" "$here/build-guest.sh" "$here/init.sh" "$here/suite.sh" "$here/oci_config.py" "$here/http-cgi.sh" "$here"/workloads/*; } | sha256sum | cut -d' ' -f1)
if [ -f "$G/stamp" ] && [ "$(cat "$G/stamp")" = "$inputs_hash" ] && [ -f "$G/vmlinux" ] && [ -f "$G/initramfs.cpio" ]; then
    log "up to date ($G)"
    exit 0
fi

mkdir -p "$debs" "$ex"

# download PKG: fetches the candidate version's .deb unless it is cached, and
# prints its path. The epoch's colon appears as %3a in apt's file names.
download() {
    local pkg=$1 ver f
    ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
    [ -n "$ver" ] || die "package '$pkg' is unknown to apt (run apt-get update?)"
    f=$(ls "$debs/${pkg}_${ver/:/%3a}_"*.deb 2>/dev/null | head -1 || true)
    if [ -z "$f" ]; then
        log "downloading $pkg $ver" >&2
        (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2) || die "apt-get download $pkg failed"
        f=$(ls "$debs/${pkg}_${ver/:/%3a}_"*.deb 2>/dev/null | head -1 || true)
        [ -n "$f" ] || die "apt-get download $pkg left no .deb in $debs"
    fi
    echo "$f"
}

# unpack DEB DIR: dpkg -x into DIR, skipped when DIR already holds that .deb.
unpack() {
    local deb=$1 dir=$2
    if [ ! -f "$dir/.from" ] || [ "$(cat "$dir/.from")" != "$(basename "$deb")" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        dpkg -x "$deb" "$dir" || die "dpkg -x $deb failed"
        basename "$deb" >"$dir/.from"
    fi
}

# --- kernel -----------------------------------------------------------------
# The kernel step is the slow one (a 14 MB scan and decompression), so a
# vmlinux already extracted from the same package is kept.
if [ -f "$G/vmlinux" ] && [ -f "$G/kernel-package" ] && [ "$(cat "$G/kernel-package")" = "$kpkg" ]; then
    log "kernel: $kpkg (already extracted)"
else
    unpack "$(download "$kpkg")" "$ex/kernel"
    vmlinuz=$(ls "$ex"/kernel/boot/vmlinuz-* 2>/dev/null | head -1 || true)
    [ -n "$vmlinuz" ] || die "$kpkg holds no boot/vmlinuz-*"
    # Debian compresses the kernel with LZ4 (legacy frame, magic 02 21 4c 18);
    # the uncompressed vmlinux boots straight through its PVH note, skipping the
    # decompressor, which is slow under TCG. lz4 complains about the bytes after
    # the payload, so success is judged by the ELF that comes out.
    off=$(grep -obUaP '\x02\x21\x4c\x18' "$vmlinuz" | head -1 | cut -d: -f1 || true)
    [ -n "$off" ] || die "no LZ4 payload in $vmlinuz (kernel no longer LZ4-compressed?)"
    tail -c +"$((off + 1))" "$vmlinuz" | lz4 -dc >"$G/vmlinux.tmp" 2>/dev/null || true
    readelf -h "$G/vmlinux.tmp" 2>/dev/null | grep -q 'ELF64' || die "LZ4 payload of $vmlinuz did not decompress to an ELF"
    # The PVH entry is an ELF note "Xen" of type 18 (0x12).
    readelf -n "$G/vmlinux.tmp" | grep -q 'Unknown note type: (0x00000012)' || die "vmlinux has no PVH entry note"
    mv "$G/vmlinux.tmp" "$G/vmlinux"
    cp "$vmlinuz" "$G/vmlinuz"
    log "kernel: $kpkg"
    echo "$kpkg" >"$G/kernel-package"
fi

# --- crun, its libraries, busybox --------------------------------------------
# Walk crun's Depends/PreDepends closure with apt-cache; alternatives and
# virtual packages (<...>) are skipped, which the bookworm closure does not need.
declare -A seen=()
queue=(crun)
while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    for d in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$p" |
        awk '/^  (Pre)?Depends: [^<]/ {sub(/:.*/, "", $2); print $2}'); do
        [ -n "${seen[$d]:-}" ] || queue+=("$d")
    done
done
for p in "${!seen[@]}"; do
    unpack "$(download "$p")" "$ex/pkg/$p"
done
unpack "$(download busybox-static)" "$ex/busybox"

rm -rf "$root"
mkdir -p "$root"/{bin,usr/bin,lib/x86_64-linux-gnu,lib64,bench/bin,bench/bundles/plain,bench/bundles/netns,bench/bundles/echo,bench/bundles/go,bench/bundles/rootfs,bench/www/cgi-bin,lib/modules}
cp "$ex/busybox/bin/busybox" "$root/bin/busybox"
cp "$ex/pkg/crun/usr/bin/crun" "$root/usr/bin/crun"

# find_lib NAME: the real file behind NAME in the unpacked packages. Symlinks
# are followed inside the unpack tree, never into the host's /lib.
find_lib() {
    local name=$1 p d f t
    for p in "${!seen[@]}"; do
        for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64; do
            f=$ex/pkg/$p/$d/$name
            [ -e "$f" ] || [ -L "$f" ] || continue
            while [ -L "$f" ]; do
                t=$(readlink "$f")
                case $t in
                /*) f=$ex/pkg/$p$t ;;
                *) f=$(dirname "$f")/$t ;;
                esac
            done
            if [ -f "$f" ]; then echo "$f"; return 0; fi
            # An absolute link may point into another package (ld.so in
            # /lib64 points into libc6's /lib); retry by base name.
            find_lib "$(basename "$f")" && return 0
        done
    done
    return 1
}

# Copy the NEEDED closure of crun, read from the dynamic sections, so no
# host library can slip in.
declare -A have=()
todo=("$root/usr/bin/crun")
while [ ${#todo[@]} -gt 0 ]; do
    obj=${todo[0]}
    todo=("${todo[@]:1}")
    for lib in $(readelf -d "$obj" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p'); do
        [ -n "${have[$lib]:-}" ] && continue
        have[$lib]=1
        src=$(find_lib "$lib") || die "library $lib (needed by $(basename "$obj")) not found in crun's dependency packages"
        cp "$src" "$root/lib/x86_64-linux-gnu/$lib"
        todo+=("$root/lib/x86_64-linux-gnu/$lib")
    done
done
interp=$(readelf -l "$root/usr/bin/crun" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
[ -n "$interp" ] || die "crun has no program interpreter"
src=$(find_lib "$(basename "$interp")") || die "program interpreter $interp not found in libc6"
mkdir -p "$root/$(dirname "$interp")"
cp "$src" "$root/$interp"
log "crun libraries: ${!have[*]}"

# --- workloads and bundles -----------------------------------------------------
for w in empty echo null_syscall pipe_roundtrip spawn_wait fork_exec_wait demand_zero fs_ops warm_server; do
    gcc -static -O2 -Wall -Wextra -Werror -o "$root/bench/bin/$w" "$here/workloads/$w.c" || die "compiling workloads/$w.c failed"
done
# The container's rootfs holds only the empty program and the mount points
# the read-only root cannot grow at start.
cp "$root/bench/bin/empty" "$root/bench/bundles/rootfs/empty"
cp "$root/bench/bin/echo" "$root/bench/bundles/rootfs/echo"
cp "$go_hello" "$root/bench/bin/go_hello"
cp "$go_hello" "$root/bench/bundles/rootfs/go_hello"
mkdir -p "$root"/bench/bundles/rootfs/{proc,dev,sys}
python3 "$here/oci_config.py" plain "$root/bench/bundles/plain/config.json"
python3 "$here/oci_config.py" netns "$root/bench/bundles/netns/config.json"
python3 "$here/oci_config.py" echo "$root/bench/bundles/echo/config.json"
python3 "$here/oci_config.py" go "$root/bench/bundles/go/config.json"
# fs_ops' files: a 4 KiB file and a 1,000-entry directory, as in MettEagle's image tree
# (user/tests/linux/make-image-tree: data/page.txt, bench/many).
mkdir -p "$root/bench/fsdata/many"
head -c 4096 /dev/zero | tr '\0' 'x' > "$root/bench/fsdata/page.txt"
for i in $(seq 0 999); do : > "$root/bench/fsdata/many/$i"; done
mkdir -p "$root/bench/bundles/python"
cp -a "$python_rootfs" "$root/bench/bundles/python/rootfs"
python3 "$here/oci_config.py" python "$root/bench/bundles/python/config.json"
# The Python functions' bundles (HTTP mode: cgi-bin/python_<workload>), sharing python/rootfs.
python_workloads=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import oci_config; print(" ".join(oci_config.PYTHON_WORKLOADS))' "$here")
for w in $python_workloads; do
    mkdir -p "$root/bench/bundles/py-$w"
    python3 "$here/oci_config.py" "py-$w" "$root/bench/bundles/py-$w/config.json"
done
# HTTP mode (bench.http=1, bench/linux/http_run.py): the virtio-net modules (Debian builds them as
# modules and ships no modules.dep, so init.sh loads them by path in dependency order) and the
# busybox httpd CGI that starts one container per request.
unpack "$(download "$kpkg")" "$ex/kernel"
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio net/core/failover \
    drivers/net/net_failover drivers/net/virtio_net; do
    f=$(ls "$ex"/kernel/lib/modules/*/kernel/$m.ko 2>/dev/null | head -1 || true)
    [ -n "$f" ] || die "kernel module $m.ko not found in $kpkg"
    cp "$f" "$root/lib/modules/$(basename "$f")"
done
cp "$here/http-cgi.sh" "$root/bench/www/cgi-bin/empty"
cp "$here/http-cgi.sh" "$root/bench/www/cgi-bin/echo"
chmod 755 "$root/bench/www/cgi-bin/empty" "$root/bench/www/cgi-bin/echo"
for w in $python_workloads; do
    cp "$here/http-cgi.sh" "$root/bench/www/cgi-bin/python_$w"
    chmod 755 "$root/bench/www/cgi-bin/python_$w"
done
cp "$here/suite.sh" "$root/bench/suite.sh"
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init" "$root/bench/suite.sh"

# Sorted names and owner 0 make the archive independent of who built it.
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$G/initramfs.cpio.tmp" || die "cpio failed"
mv "$G/initramfs.cpio.tmp" "$G/initramfs.cpio"
echo "$inputs_hash" >"$G/stamp"
log "done: $G/vmlinux, $G/initramfs.cpio ($(du -h "$G/initramfs.cpio" | cut -f1))"
