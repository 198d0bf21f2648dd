#!/usr/bin/env python3
"""Bad image archives for scenario_gateway_images, each made from a good oci-archive so that it
differs in exactly one way (make-image-archives calls this):

  truncated.tar       the archive cut inside its largest blob
  digest.tar          one byte of the layer changed (its sha256 no longer matches its digest)
  mediatype.tar       the layer's media type in the manifest is application/x-unknown-layer
                      (manifest and index re-hashed, so only the media type is wrong)
  escape.tar          a second layer whose tar holds "../escaped" (digests all correct)

Usage: make-bad-archives.py GOOD.tar OUTPUT_DIRECTORY
"""
import gzip
import hashlib
import io
import json
import sys
import tarfile


def read_archive(path):
    with tarfile.open(path) as archive:
        members = []
        for member in archive.getmembers():
            data = archive.extractfile(member).read() if member.isfile() else None
            members.append((member, data))
    return members


def write_archive(path, members):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for member, data in members:
            if data is not None:
                member.size = len(data)
                archive.addfile(member, io.BytesIO(data))
            else:
                archive.addfile(member)


def files(members):
    return {member.name.lstrip("./"): data for member, data in members if data is not None}


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_name(hex_digest):
    return "blobs/sha256/" + hex_digest.split(":", 1)[1]


def rebuild(members, blobs, index):
    """members with blobs (name -> bytes) replaced or added and index.json replaced."""
    out = []
    seen = set()
    for member, data in members:
        name = member.name.lstrip("./")
        if name == "index.json":
            data = json.dumps(index).encode()
        elif name in blobs:
            data = blobs[name]
        if data is not None and name.startswith("blobs/") and name not in blobs and name in removed:
            continue
        seen.add(name)
        out.append((member, data))
    for name, data in blobs.items():
        if name not in seen:
            member = tarfile.TarInfo(name)
            member.mode = 0o644
            out.append((member, data))
    return out


removed = set()


def main():
    good, out = sys.argv[1], sys.argv[2]
    members = read_archive(good)
    by_name = files(members)
    index = json.loads(by_name["index.json"])
    manifest_name = blob_name(index["manifests"][0]["digest"])
    manifest = json.loads(by_name[manifest_name])
    layer_name = blob_name(manifest["layers"][0]["digest"])
    config_name = blob_name(manifest["config"]["digest"])

    # Cut short inside the layer: the archive's tar ends in the middle of that file's data.
    raw = open(good, "rb").read()
    layer = by_name[layer_name]
    at = raw.find(layer[:4096])
    open(f"{out}/truncated.tar", "wb").write(raw[:at + len(layer) // 2])

    # One byte of the layer changed.
    changed = bytearray(layer)
    changed[len(changed) // 2] ^= 0xFF
    write_archive(f"{out}/digest.tar", rebuild(members, {layer_name: bytes(changed)}, index))

    # The layer's media type unknown; the manifest re-hashed and the index pointing at it.
    def with_manifest(new_manifest, extra_blobs):
        data = json.dumps(new_manifest).encode()
        new_index = json.loads(by_name["index.json"])
        new_index["manifests"][0]["digest"] = digest(data)
        new_index["manifests"][0]["size"] = len(data)
        blobs = dict(extra_blobs)
        blobs[blob_name(digest(data))] = data
        removed.clear()
        removed.add(manifest_name)
        return rebuild(members, blobs, new_index)

    unknown = json.loads(by_name[manifest_name])
    unknown["layers"][0]["mediaType"] = "application/x-unknown-layer"
    write_archive(f"{out}/mediatype.tar", with_manifest(unknown, {}))

    # A second layer with a path that escapes the root; its diff_id and digest are right.
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as layer_tar:
        entry = tarfile.TarInfo("../escaped")
        payload = b"outside\n"
        entry.size = len(payload)
        entry.mode = 0o644
        layer_tar.addfile(entry, io.BytesIO(payload))
    escape_tar = tar_bytes.getvalue()
    escape_gzip = gzip.compress(escape_tar, mtime=0)
    config = json.loads(by_name[config_name])
    config["rootfs"]["diff_ids"].append(digest(escape_tar))
    config_data = json.dumps(config).encode()
    escaping = json.loads(by_name[manifest_name])
    escaping["config"]["digest"] = digest(config_data)
    escaping["config"]["size"] = len(config_data)
    escaping["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               "digest": digest(escape_gzip), "size": len(escape_gzip)})
    write_archive(f"{out}/escape.tar", with_manifest(escaping, {
        blob_name(digest(escape_gzip)): escape_gzip, blob_name(digest(config_data)): config_data}))


if __name__ == "__main__":
    main()
