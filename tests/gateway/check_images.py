#!/usr/bin/env python3
"""Host-side check of the image routes (docs/API.md, Images) against a booted guest with a disk.

Boot 1 (--boot 1, on a blank disk): pushes the busybox image as an oci-archive (mettctl image
push, the name from the archive), as a docker-archive (chunked upload, ?name=) and as a gzipped
docker-archive (the name from RepoTags); lists them (exact names, digests computed here from the
archives, equal sizes for the same tree); deploys by image with mettctl and over HTTP (args
replacing Cmd, env added and overriding) and invokes with exact outputs; refuses to delete an
image in use (409), deletes it once its function is gone (204), then 404; refuses each bad archive
with its exact status, importer error name and message (the message must equal what the host's
metteagle-import says of the same archive; the layer bomb's names the store's limit) and leaves
the list as it was; deploys the identity images (WorkingDir and User: exact pwd, id -u, id -g and
a created file's owner; a missing WorkingDir and an unknown user refused with 422) and removes them.
Boot 2 (--boot 2, the same disk): the images of boot 1 are still there with the same digests and
sizes, deploy and invoke from one, then its delete (409, 204, 404).
Python 3 standard library only. Exits 0 when every check passed.
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import tarfile
import time

KEY = "dev-key-alpha"       # tests/gateway/test.keys: tenant 1.
OTHER_KEY = "dev-key-beta"  # Tenant 2: sees none of tenant 1's images.
FAILURES = []
STARTED = time.monotonic()
OUTPUT_DEFAULT = b"hi argzero argone\nhello from the image\n"
OUTPUT_ARGS = b"over added x\nhello from the image\n"
IN_USE = {"error": "the image is in use by a deployed function; remove the function first"}


def check(condition, what):
    print(f"{'ok    ' if condition else 'FAILED'} {time.monotonic() - STARTED:6.2f}s {what}", flush=True)
    if not condition:
        FAILURES.append(what)
    return condition


def request(port, method, path, body=None, headers=None, key=KEY, chunked=False):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    all_headers = dict(headers or {})
    if key is not None:
        all_headers["Authorization"] = f"Bearer {key}"
    if chunked:
        connection.putrequest(method, path)
        for name, value in all_headers.items():
            connection.putheader(name, value)
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for at in range(0, len(body), 300000):  # Uneven chunks, several per 4 MiB piece boundary.
            piece = body[at:at + 300000]
            connection.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
        connection.send(b"0\r\n\r\n")
    else:
        connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def as_json(data):
    try:
        return json.loads(data)
    except ValueError:
        return None


def oci_digest(path):
    with tarfile.open(path) as archive:
        index = json.load(archive.extractfile("index.json"))
    return index["manifests"][0]["digest"]


def docker_digest(path):
    with tarfile.open(path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    config = manifest[0]["Config"]
    return "sha256:" + re.search(r"([0-9a-f]{64})", config).group(1)


def host_import_error(tool, archive):
    """What the host's metteagle-import (the same importer) says of an archive: (name, message)."""
    result = subprocess.run([tool, archive, os.devnull + ".unused"], capture_output=True, text=True)
    match = re.match(r"metteagle-import: ([a-z_]+): (.*)\n", result.stderr)
    return (match.group(1), match.group(2)) if match else (None, result.stderr)


def mettctl(args, *words):
    command = [args.mettctl, "--gateway", f"http://127.0.0.1:{args.port}", "--key", KEY, "--request-timeout", "120s",
               *words]
    result = subprocess.run(command, capture_output=True)
    return result.returncode, result.stdout, result.stderr


def invoke(port, name):
    return request(port, "POST", f"/function/{name}", body=b"")


def deploy_http(port, config):
    return request(port, "POST", "/system/functions", body=b"",
                   headers={"X-Function-Config": json.dumps(config)})


def listed(port, key=KEY):
    status, data = request(port, "GET", "/system/images", key=key)
    return status, as_json(data)


def expected_list(args, sizes=None):
    """The list boot 1 leaves: names in the store's order, digests from the archives."""
    docker = docker_digest(os.path.join(args.archives, "busybox-docker.tar"))
    return [("busybox-docker:latest", docker), ("example/busybox:docker", docker)]


def check_list(port, expected, what):
    status, images = listed(port)
    ok = status == 200 and isinstance(images, list) and [(i.get("name"), i.get("digest")) for i in images] == expected
    check(ok, f"{what}: GET /system/images lists exactly {[name for name, _ in expected]}")
    if ok:
        sizes = {image["size"] for image in images}
        check(len(sizes) == 1 and sizes.pop() > 0, f"{what}: one tree size for the same image in every form")
        check(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", image["created"]) for image in images),
              f"{what}: created is the configuration's RFC 3339 time")
    return images if ok else None


def boot_one(args):
    port = args.port
    archive = lambda name: os.path.join(args.archives, name)
    status, images = listed(port)
    check(status == 200 and images == [], "a blank disk lists no images")

    # The oci-archive through mettctl (Content-Length, streamed from the file), named by the archive.
    code, out, err = mettctl(args, "image", "push", archive("busybox-oci.tar"))
    oci = oci_digest(archive("busybox-oci.tar"))
    check(code == 0 and out == f"example/busybox:oci {oci}\n".encode(),
          f"mettctl image push of the oci-archive prints its name and manifest digest ({out!r} {err!r})")
    # The docker-archive chunked, with ?name= (no tag: :latest).
    docker = docker_digest(archive("busybox-docker.tar"))
    body = open(archive("busybox-docker.tar"), "rb").read()
    status, data = request(port, "POST", "/system/images?name=busybox-docker", body=body, chunked=True)
    answer = as_json(data)
    check(status == 201 and isinstance(answer, dict) and answer.get("name") == "busybox-docker:latest" and
          answer.get("digest") == docker, f"chunked docker-archive with ?name= is 201 busybox-docker:latest ({status} {data!r})")
    # The gzip-compressed docker-archive, named by its RepoTags (skopeo writes
    # "docker.io/example/busybox:docker", which is "example/busybox:docker" in docker's familiar form).
    body = open(archive("busybox-docker.tar.gz"), "rb").read()
    status, data = request(port, "POST", "/system/images", body=body)
    answer = as_json(data)
    check(status == 201 and isinstance(answer, dict) and answer.get("name") == "example/busybox:docker" and
          answer.get("digest") == docker, f"gzipped docker-archive is 201 example/busybox:docker ({status} {data!r})")
    check_list(port, [("busybox-docker:latest", docker), ("example/busybox:docker", docker),
                      ("example/busybox:oci", oci)], "after three pushes")
    status, images = listed(port, key=OTHER_KEY)
    check(status == 200 and images == [], "another tenant sees none of these images")
    code, out, _ = mettctl(args, "image", "ls")
    lines = out.decode().splitlines()
    check(code == 0 and len(lines) == 4 and lines[0].split() == ["NAME", "DIGEST", "SIZE", "CREATED"] and
          [line.split()[0] for line in lines[1:]] == ["busybox-docker:latest", "example/busybox:docker", "example/busybox:oci"],
          f"mettctl image ls prints the three images ({out!r})")

    # Deploy by image: the image's Entrypoint + Cmd and Env.
    code, out, err = mettctl(args, "deploy", "bb", "--image", "example/busybox:oci", "--memory", "32M")
    check(code == 0 and out == b"bb\n", f"mettctl deploy bb --image example/busybox:oci ({out!r} {err!r})")
    status, data = invoke(port, "bb")
    check(status == 200 and data == OUTPUT_DEFAULT, f"bb runs the image's Entrypoint and Cmd with its Env ({status} {data!r})")
    # Over HTTP: args replace Cmd, env adds EXTRA and overrides GREETING.
    status, data = deploy_http(port, {"name": "bb2", "image": "busybox-docker", "memory": 32 << 20,
                                      "args": ['echo "$GREETING $EXTRA $0"; read -r l < /etc/greeting; echo "$l"', "x"],
                                      "env": ["GREETING=over", "EXTRA=added"]})
    check(status == 201 and as_json(data) == {"name": "bb2", "image": "busybox-docker:latest"},
          f"deploy bb2 from busybox-docker with args and env ({status} {data!r})")
    status, data = invoke(port, "bb2")
    check(status == 200 and data == OUTPUT_ARGS, f"bb2: args replaced Cmd, env added and overrode ({status} {data!r})")
    code, out, err = mettctl(args, "deploy", "bb3", "--image", "example/busybox:oci", "--memory", "32M",
                             "--arg", 'echo "$A"; read -r l < /etc/greeting; echo "$l"', "--env", "A=from-mettctl")
    status, data = invoke(port, "bb3")
    check(code == 0 and status == 200 and data == b"from-mettctl\nhello from the image\n",
          f"mettctl deploy --arg --env then invoke ({out!r} {err!r} {status} {data!r})")
    # The OpenFaaS route deploys a store image too: envProcess (one quoted word here) replaces Cmd
    # after the Entrypoint (/bin/sh -c), envVars are added to the image's Env; PUT is not there yet.
    deployment = {"service": "ofbb", "image": "busybox-docker", "envProcess": "'echo \"$GREETING $EXTRA\"'",
                  "envVars": {"EXTRA": "openfaas"}, "limits": {"memory": "32Mi"}}
    status, data = request(port, "POST", "/system/functions", body=json.dumps(deployment).encode(),
                           headers={"Content-Type": "application/json"})
    check(status == 202 and as_json(data) == {"name": "ofbb", "image": "busybox-docker:latest"},
          f"OpenFaaS deploy of a store image is 202 ({status} {data!r})")
    status, data = invoke(port, "ofbb")
    check(status == 200 and data == b"hi openfaas\n", f"ofbb: envProcess replaced Cmd, envVars added ({status} {data!r})")
    status, data = request(port, "PUT", "/system/functions", body=json.dumps(deployment).encode(),
                           headers={"Content-Type": "application/json"})
    check(status == 501 and as_json(data) == {"error": "updating a function deployed from a store image in place is "
                                                       "not supported yet; DELETE it and POST it again"},
          f"OpenFaaS PUT of a store-image function is 501 ({status} {data!r})")
    status, data = deploy_http(port, {"name": "nope", "image": "nope:1", "memory": 32 << 20})
    check(status == 422 and as_json(data) == {"error": "no such image in the image store", "image": "nope:1"},
          f"deploy from a missing image is 422 naming it ({status} {data!r})")
    status, data = deploy_http(port, {"name": "bb", "image": "example/busybox:oci", "memory": 32 << 20})
    check(status == 409, f"deploy by image of a taken name is 409 ({status})")

    # Delete: 409 while used, 204 once not, then 404.
    status, data = request(port, "DELETE", "/system/images/example%2Fbusybox%3Aoci")
    check(status == 409 and as_json(data) == IN_USE, f"DELETE of an image in use is 409 ({status} {data!r})")
    code, _, err = mettctl(args, "image", "rm", "example/busybox:oci")
    check(code == 125 and b"409" in err, f"mettctl image rm of an image in use exits 125 ({err!r})")
    for function in ("bb", "bb3"):
        status, _ = request(port, "DELETE", f"/system/functions/{function}")
        check(status == 200, f"remove function {function}")
    code, out, err = mettctl(args, "image", "rm", "example/busybox:oci")
    check(code == 0 and out == b"example/busybox:oci\n", f"mettctl image rm once unused ({out!r} {err!r})")
    status, data = request(port, "DELETE", "/system/images/example/busybox:oci")
    check(status == 404 and as_json(data) == {"error": "no such image"}, f"DELETE again is 404 ({status} {data!r})")
    expected = expected_list(args)
    check_list(port, expected, "after the delete")

    # Bad input: exact status, error name and message; nothing left behind.
    cases = [("truncated.tar", 400), ("digest.tar", 422), ("mediatype.tar", 422), ("escape.tar", 400)]
    for name, expected_status in cases:
        error_name, message = host_import_error(args.import_tool, archive(name))
        body = open(archive(name), "rb").read()
        status, data = request(port, "POST", "/system/images?name=bad:1", body=body)
        check(status == expected_status and as_json(data) == {"error": message, "import_error": error_name},
              f"{name}: {expected_status} {error_name}: {message} ({status} {data!r})")
    body = open(archive("bomb.tar"), "rb").read()
    status, data = request(port, "POST", "/system/images?name=bomb:1", body=body)
    answer = as_json(data) or {}
    check(status == 413 and answer.get("import_error") == "limit_exceeded" and
          re.fullmatch(r"the layers unpack to more than \d+ bytes \(the limit\)", answer.get("error", "")) is not None,
          f"the layer bomb is 413 limit_exceeded at the store's free space ({status} {data!r})")
    status, data = request(port, "POST", "/system/images?name=Bad%20Name", body=b"x")
    check(status == 400 and as_json(data, ) == {"error": "bad image name: 1-100 characters of [A-Za-z0-9._/:@-] starting "
                                                "with a letter or digit (NAME:TAG; \":latest\" when no tag)"},
          f"a bad ?name= is 400 ({status} {data!r})")
    status, data = request(port, "POST", "/system/images", body=b"")
    check(status == 400, f"an empty body is 400 ({status} {data!r})")
    check_list(port, expected, "after the refused archives")
    # The space the refused archives took is back: the same image pushes again (replacing itself).
    body = open(archive("busybox-docker.tar"), "rb").read()
    status, data = request(port, "POST", "/system/images?name=example/busybox:docker", body=body)
    check(status == 201, f"a push after the refusals still imports ({status} {data!r})")
    check_list(port, expected, "after pushing example/busybox:docker again")
    check_identity(port, archive)
    check_list(port, expected, "after the identity images")


def check_identity(port, archive):
    """WorkingDir and User: the process starts in the image's working directory as the image's
    user, by name (its group from /etc/passwd) or uid:group (the group from /etc/group): getuid,
    getgid and a created file's owner say so; a missing WorkingDir or an unknown user is a 422 at
    deploy naming it. The images and functions go again, so boot 2 finds what it did before."""
    for tag in ("ident", "ident-numeric", "ident-nodir", "ident-nouser"):
        status, data = request(port, "POST", f"/system/images?name=example/{tag}:1",
                               body=open(archive(f"{tag}.tar"), "rb").read())
        check(status == 201, f"push {tag} ({status} {data!r})")
    expected = {"ident": b"/srv/app\n1234\n4321\n1234:4321\n", "ident-numeric": b"/srv/app\n4242\n10\n4242:10\n"}
    for tag, output in expected.items():
        status, data = deploy_http(port, {"name": tag, "image": f"example/{tag}:1", "memory": 32 << 20})
        check(status == 201, f"deploy {tag} ({status} {data!r})")
        status, data = invoke(port, tag)
        check(status == 200 and data == output, f"{tag} starts in /srv/app as its user ({status} {data!r})")
    refusals = {"ident-nodir": {"error": "the image's WorkingDir is no directory of the image", "elf_status": 22},
                "ident-nouser": {"error": "the image's User names no user or group of the image's /etc/passwd or "
                                          "/etc/group", "elf_status": 23}}
    for tag, answer in refusals.items():
        status, data = deploy_http(port, {"name": tag, "image": f"example/{tag}:1", "memory": 32 << 20})
        check(status == 422 and as_json(data) == answer, f"deploy {tag} is 422 naming the problem ({status} {data!r})")
    for tag in expected:
        status, _ = request(port, "DELETE", f"/system/functions/{tag}")
        check(status == 200, f"remove function {tag}")
    for tag in ("ident", "ident-numeric", "ident-nodir", "ident-nouser"):
        status, _ = request(port, "DELETE", f"/system/images/example/{tag}:1")
        check(status == 204, f"delete image example/{tag}:1 ({status})")


def boot_two(args):
    port = args.port
    images = check_list(port, expected_list(args), "after the reboot")
    code, out, err = mettctl(args, "deploy", "again", "--image", "example/busybox:docker", "--memory", "32M")
    status, data = invoke(port, "again")
    check(code == 0 and status == 200 and data == OUTPUT_DEFAULT,
          f"deploy and invoke from an image pushed before the reboot ({out!r} {err!r} {status} {data!r})")
    status, data = request(port, "DELETE", "/system/images/example/busybox:docker")
    check(status == 409 and as_json(data) == IN_USE, f"409 while used after the reboot ({status} {data!r})")
    status, _ = request(port, "DELETE", "/system/functions/again")
    check(status == 200, "remove function again")
    status, data = request(port, "DELETE", "/system/images/example/busybox:docker")
    check(status == 204 and data == b"", f"204 once unused ({status} {data!r})")
    status, data = request(port, "DELETE", "/system/images/example/busybox:docker")
    check(status == 404, f"404 after ({status})")
    docker = docker_digest(os.path.join(args.archives, "busybox-docker.tar"))
    check_list(port, [("busybox-docker:latest", docker)], "at the end")
    return images


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--boot", type=int, required=True)
    parser.add_argument("--archives", required=True)
    parser.add_argument("--mettctl", required=True)
    parser.add_argument("--import-tool", required=True)
    args = parser.parse_args()
    for attempt in range(100):  # The gateway listens before the store has mounted its disk.
        try:
            status, _ = request(args.port, "GET", "/system/images")
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    if args.boot == 1:
        boot_one(args)
    else:
        boot_two(args)
    print(f"{'FAILED: ' + str(len(FAILURES)) if FAILURES else 'all passed'} ({time.monotonic() - STARTED:.1f} s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
