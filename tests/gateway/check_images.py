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
Persistence of functions (docs/API.md, Persistence): boot 1 also deploys a native function
(`pecho`, the echo ELF with X-Function-Config), an OpenFaaS JSON function taking its executable
(`jecho`, then updated with PUT) besides the image functions bb2 and ofbb; boot 2 invokes all four
with exact outputs and exact FunctionStatus labels, deletes pecho; boot 3 finds pecho gone (404)
and the three others still answering exactly (jecho kept its own copy of pecho's executable).
Function strings and secrets (issues 11 and 14): boot 1 deploys image functions with a 60,000-byte
variable (exact output) and a secret file (its value, read-only, ls -l), refuses 64 KiB + 1 naming
the limit, checks tenant isolation of a secret name and a static busybox function reading both;
boots 2 and 3 find them again (the secret's update reaches readsecret only at its redeploy, the
restore of boot 3).
Python 3 standard library only. Exits 0 when every check passed.
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
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
    # Memory: the tree is the image's (shared by every invocation); private bytes once one ran.
    _, images = listed(port)
    tree_size = {i.get("name"): i.get("size") for i in images or []}.get("example/busybox:oci")
    status, data = request(port, "GET", "/system/functions/bb")
    described = as_json(data) or {}
    check(status == 200 and isinstance(tree_size, int) and tree_size > 0 and described.get("tree_bytes") == tree_size and
          described.get("private_bytes_last") == 0 and described.get("private_bytes_max") == 0,
          f"describe bb before any invocation: tree_bytes is the image's size {tree_size}, no private bytes yet ({data!r})")
    status, data = invoke(port, "bb")
    check(status == 200 and data == OUTPUT_DEFAULT, f"bb runs the image's Entrypoint and Cmd with its Env ({status} {data!r})")
    status, data = request(port, "GET", "/system/functions/bb")
    described = as_json(data) or {}
    private = described.get("private_bytes_last")
    check(status == 200 and isinstance(private, int) and 0 < private <= 32 << 20 and
          described.get("private_bytes_max") == private and described.get("tree_bytes") == tree_size,
          f"describe bb after one invocation: its private bytes, within its 32 MiB limit ({data!r})")
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
    # after the Entrypoint (/bin/sh -c), envVars are added to the image's Env (PUT: update_image_function).
    deployment = {"service": "ofbb", "image": "busybox-docker", "envProcess": "'echo \"$GREETING $EXTRA\"'",
                  "envVars": {"EXTRA": "openfaas"}, "limits": {"memory": "32Mi"}}
    status, data = request(port, "POST", "/system/functions", body=json.dumps(deployment).encode(),
                           headers={"Content-Type": "application/json"})
    check(status == 202 and as_json(data) == {"name": "ofbb", "image": "busybox-docker:latest"},
          f"OpenFaaS deploy of a store image is 202 ({status} {data!r})")
    status, data = invoke(port, "ofbb")
    check(status == 200 and data == b"hi openfaas\n", f"ofbb: envProcess replaced Cmd, envVars added ({status} {data!r})")
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


JECHO = {"service": "jecho", "image": "pecho", "envVars": {"MODE": "one"}, "labels": {"team": "a"},
         "limits": {"memory": "8Mi"}}
JECHO_UPDATE = {"service": "jecho", "image": "jecho", "labels": {"team": "b", "tier": "2"},
                "annotations": {"note": "updated"}}


def deploy_kept_functions(args):
    """Boot 1: the native and OpenFaaS JSON functions that must survive the reboots."""
    port = args.port
    echo = open(os.path.join(args.functions, "echo.elf"), "rb").read()
    status, data = request(port, "POST", "/system/functions", body=echo,
                           headers={"X-Function-Config": json.dumps({"name": "pecho", "memory": 4 << 20})})
    check(status == 201 and as_json(data) == {"name": "pecho"}, f"native deploy of pecho ({status} {data!r})")
    for method, body in (("POST", JECHO), ("PUT", JECHO_UPDATE)):
        status, data = request(port, method, "/system/functions", body=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
        check(status == 202 and (as_json(data) or {}).get("name") == "jecho", f"{method} jecho ({status} {data!r})")
    check_kept_functions(args, ["pecho", "jecho", "bb2", "ofbb"], "before the reboot")


# Update in place of a function deployed from a store image (issue 14, item 5). Version 1 (the
# native deploy by image, for its timeout) runs the gzipped docker-archive's image slowly; version 2
# (OpenFaaS's PUT) another image with another envProcess (2,000 characters more: kept whole, as
# fprocess too) and envVars.
UPBB_V1 = {"name": "upbb", "image": "example/busybox:docker", "memory": 32 << 20, "timeout_ms": 60000,
           "args": ['sleep 5; echo "v1 $EXTRA"'], "env": ["EXTRA=one"]}
UPBB_V2_COMMAND = ("'echo \"v2 $EXTRA ${#fprocess}\"; read -r l < /etc/greeting; echo \"$l\" # " + "p" * 2000 + "'")
UPBB_V2 = {"service": "upbb", "image": "busybox-docker", "envProcess": UPBB_V2_COMMAND, "envVars": {"EXTRA": "two"},
           "labels": {"version": "2"}, "limits": {"memory": "32Mi"}}
UPBB_V2_OUTPUT = f"v2 two {len(UPBB_V2_COMMAND)}\nhello from the image\n".encode()
IN_FLIGHT = re.compile(rb'^metteagle_invocations_in_flight\{tenant="1"\} (\d+)$', re.M)


def in_flight(port):
    """Tenant 1's invocations in flight, as its /metrics page says."""
    status, page = request(port, "GET", "/metrics")
    found = IN_FLIGHT.search(page) if status == 200 else None
    return int(found.group(1)) if found else None


def put_json(port, method, body):
    return request(port, method, "/system/functions", body=json.dumps(body).encode(),
                   headers={"Content-Type": "application/json"})


def check_upbb_status(port, envprocess, image, labels, what):
    status, data = request(port, "GET", "/system/function/upbb")
    answer = as_json(data) or {}
    check(status == 200 and answer.get("envProcess") == envprocess and answer.get("image") == image and
          answer.get("labels") == labels and answer.get("limits") == {"memory": str(32 << 20)},
          f"{what}: upbb's FunctionStatus shows envProcess ({len(envprocess)} characters), image {image}, "
          f"labels {labels} ({status} {data[:200]!r})")
    return answer


def update_image_function(args):
    """Boot 1: PUT replaces an image function atomically. The invocation in flight at the PUT ends
    on version 1 (its exact output), later ones run version 2; describe shows the new digest and a
    later createdAt; bad PUTs answer their precise 4xx and leave version 2 answering exactly; a PUT
    of a missing function is 404; version 1's image is free again (a push of its name is 201)."""
    port = args.port
    status, data = deploy_http(port, UPBB_V1)
    check(status == 201 and as_json(data) == {"name": "upbb", "image": "example/busybox:docker"},
          f"deploy upbb version 1 from example/busybox:docker ({status} {data!r})")
    status, data = request(port, "GET", "/system/function/upbb")
    first = as_json(data) or {}
    check(status == 200 and first.get("digest", "").startswith("sha256:"), f"version 1's status ({status} {data[:200]!r})")
    slow = {}
    def run_slow():
        slow["answer"] = invoke(port, "upbb")
    runner = threading.Thread(target=run_slow)
    runner.start()
    deadline = time.monotonic() + 60
    while in_flight(port) != 1 and time.monotonic() < deadline and runner.is_alive():
        time.sleep(0.05)
    check(in_flight(port) == 1, "version 1's invocation is in flight before the PUT")
    status, data = put_json(port, "PUT", UPBB_V2)
    check(status == 202 and as_json(data) == {"name": "upbb", "image": "busybox-docker:latest"},
          f"PUT upbb version 2 from busybox-docker while version 1 runs: 202 ({status} {data!r})")
    # What makes this a test of the swap: version 1's invocation was still running when it happened.
    check(runner.is_alive() and in_flight(port) == 1, "version 1's invocation was still in flight at the PUT's answer")
    status, data = invoke(port, "upbb")
    check(status == 200 and data == UPBB_V2_OUTPUT,
          f"an invocation after the PUT runs version 2 with its whole {len(UPBB_V2_COMMAND)}-character envProcess "
          f"({status} {data[:80]!r})")
    runner.join()
    status, data = slow.get("answer", (None, b""))
    check(status == 200 and data == b"v1 one\n", f"the invocation in flight at the PUT ended on version 1 ({status} {data!r})")
    second = check_upbb_status(port, UPBB_V2_COMMAND, "busybox-docker", {"version": "2"}, "version 2")
    check(second.get("digest", "").startswith("sha256:") and second.get("digest") != first.get("digest") and
          second.get("createdAt", "") > first.get("createdAt", "~"),
          f"describe shows version 2's digest and later createdAt ({first.get('digest')} {first.get('createdAt')} -> "
          f"{second.get('digest')} {second.get('createdAt')})")
    # Bad PUTs: the precise 4xx, and version 2 stays as it was.
    largest = re.compile(r"memory limit too large: no invocation can ever be admitted with it; the largest is \d+ MiB "
                         r"\(the manager's pool and tenant quota\)")
    refusals = [
        (dict(UPBB_V2, image="nope:1"), 422, lambda a: a == {"error": "no such image in the image store", "image": "nope:1"}),
        (dict(UPBB_V2, envProcess="'echo open"), 400, lambda a: a == {"error": "envProcess: a quote is left open"}),
        (dict(UPBB_V2, limits={"memory": "256Mi"}), 400,
         lambda a: largest.fullmatch(a.get("error", "")) is not None and 0 < a.get("largest_bytes", 0) < 256 << 20),
        (dict(UPBB_V2, limits={"memory": "300Mi"}), 400,
         lambda a: a == {"error": "configuration rejected by the manager (limits: docs/CONTAINERS.md)"}),
        (dict(UPBB_V2, secrets=["nosuch"]), 400,
         lambda a: a == {"error": "no such secret: nosuch (POST /system/secrets creates it)", "secret": "nosuch"}),
    ]
    for body, expected_status, expected in refusals:
        status, data = put_json(port, "PUT", body)
        answer = as_json(data) or {}
        check(status == expected_status and expected(answer), f"a bad PUT is {expected_status} ({status} {data!r})")
        status, data = invoke(port, "upbb")
        check(status == 200 and data == UPBB_V2_OUTPUT, f"after it upbb still runs version 2 ({status} {data[:80]!r})")
        after = check_upbb_status(port, UPBB_V2_COMMAND, "busybox-docker", {"version": "2"}, "after a bad PUT")
        check(after.get("digest") == second.get("digest") and after.get("createdAt") == second.get("createdAt"),
              f"after a bad PUT the digest and createdAt are version 2's ({after.get('digest')} {after.get('createdAt')})")
    status, data = put_json(port, "PUT", dict(UPBB_V2, service="nosuchfn"))
    check(status == 404 and as_json(data) == {"error": "no such function (PUT updates a deployed function)"},
          f"PUT of a missing function is 404 ({status} {data!r})")
    status, data = request(port, "GET", "/system/function/nosuchfn")
    check(status == 404, f"the refused PUT created nothing ({status} {data!r})")
    # Version 1 is gone with its last invocation: its image is in use no more.
    body = open(os.path.join(args.archives, "busybox-docker.tar"), "rb").read()
    status, data = request(port, "POST", "/system/images?name=example/busybox:docker", body=body)
    check(status == 201, f"version 1's image is free once its invocation ended: a push of its name is 201 ({status} {data!r})")


SECRET_VALUE = "s3cr3t-value \u00e9"  # Never to appear in any listing.
RAW_BYTES = bytes(range(256)) * 2  # A binary value through rawValue.


def secrets_request(port, method, body=None, key=KEY):
    return request(port, method, "/system/secrets", body=None if body is None else json.dumps(body).encode(),
                   headers={"Content-Type": "application/json"}, key=key)


def check_secret_list(port, expected, what, key=KEY):
    status, data = secrets_request(port, "GET", key=key)
    check(status == 200 and as_json(data) == [{"name": name} for name in expected],
          f"{what}: GET /system/secrets lists exactly {expected} ({status} {data!r})")
    check(SECRET_VALUE.encode() not in data and b"s3cr3t" not in data and b"value" not in data,
          f"{what}: no value in the listing")


def create_secrets(args):
    """Boot 1: secrets created, refused, listed per tenant; a deployment naming a missing one is 400."""
    port = args.port
    check_secret_list(port, [], "a fresh disk")
    status, data = secrets_request(port, "POST", {"name": "db-password", "value": SECRET_VALUE})
    check(status == 201 and as_json(data) == {"name": "db-password"}, f"POST a secret is 201 ({status} {data!r})")
    import base64
    status, data = secrets_request(port, "POST", {"name": "raw", "rawValue": base64.b64encode(RAW_BYTES).decode()})
    check(status == 201, f"POST a rawValue secret is 201 ({status} {data!r})")
    status, data = secrets_request(port, "POST", {"name": "db-password", "value": "x"})
    check(status == 409, f"POST of an existing secret is 409 ({status} {data!r})")
    for body, message in (({"name": "Bad_Name", "value": "x"}, "a secret name may hold only a-z, 0-9 and '-' (a DNS label)"),
                          ({"name": "n", "value": "x", "rawValue": "eA=="},
                           "exactly one of value (a string) and rawValue (base64) is required"),
                          ({"name": "n", "value": "x" * 4097}, "a secret's value is at most 4096 bytes"),
                          ({"name": "n", "rawValue": "%%%"},
                           "rawValue must be standard base64 (with padding) of at most 4096 bytes")):
        status, data = secrets_request(port, "POST", body)
        check(status == 400 and as_json(data) == {"error": message}, f"POST refused: {message} ({status} {data!r})")
    status, data = secrets_request(port, "PUT", {"name": "absent", "value": "x"})
    check(status == 404, f"PUT of a missing secret is 404 ({status} {data!r})")
    check_secret_list(port, ["db-password", "raw"], "after the creates")
    # Another tenant sees none of them and cannot touch them.
    check_secret_list(port, [], "tenant 2", key=OTHER_KEY)
    for method, body in (("PUT", {"name": "db-password", "value": "stolen"}), ("DELETE", {"name": "db-password"})):
        status, data = secrets_request(port, method, body, key=OTHER_KEY)
        check(status == 404, f"tenant 2's {method} of tenant 1's secret is 404 ({status} {data!r})")
    deployment = {"service": "withsecret", "image": "pecho", "secrets": ["db-password", "missing-one"]}
    status, data = request(port, "POST", "/system/functions", body=json.dumps(deployment).encode(),
                           headers={"Content-Type": "application/json"})
    check(status == 400 and as_json(data) == {"error": "no such secret: missing-one (POST /system/secrets creates it)",
                                              "secret": "missing-one"},
          f"a deployment naming a missing secret is 400 naming it ({status} {data!r})")
    status, data = request(port, "POST", "/system/functions", body=json.dumps(deployment).encode(),
                           headers={"Content-Type": "application/json"}, key=OTHER_KEY)
    check(status == 400 and (as_json(data) or {}).get("secret") == "db-password",
          f"tenant 2 cannot name tenant 1's secret ({status} {data!r})")


BIG_VALUE = "x" * 60000  # A 60,000-byte variable: far beyond one IPC message.
BIGENV = {"service": "bigenv", "image": "busybox-docker", "envProcess": "'echo ${#BIG} $TAIL'",
          "envVars": {"BIG": BIG_VALUE, "TAIL": "end"}, "limits": {"memory": "32Mi"}}
TOO_LARGE = ("envVars and envProcess take more than 65536 bytes (64 KiB, KEY=value strings): the limit of a function's "
             "environment and arguments")
# Reads its secret file, tries to write it, lists the directory (busybox's ls -l).
READSECRET = {"service": "readsecret", "image": "busybox-docker", "secrets": ["db-password"],
              "envProcess": "'cat /var/openfaas/secrets/db-password; echo; (echo x > /var/openfaas/secrets/db-password) "
                            "2>/dev/null || echo read-only; busybox ls -l /var/openfaas/secrets'",
              "limits": {"memory": "32Mi"}}
# The image has no /etc/passwd: busybox shows the owner (root) as 0.
SECRET_LISTING = re.compile(rb"(total 0\n)?-r--r--r-- +1 0 +0 +(\d+) .* db-password\n$")


def check_readsecret(port, value, what, key=KEY):
    """readsecret prints the secret's value, cannot write it, and ls -l shows one read-only file of its size."""
    status, data = request(port, "POST", "/function/readsecret", body=b"", key=key)
    expected = value.encode() + b"\nread-only\n"
    listing = SECRET_LISTING.match(data[len(expected):]) if data.startswith(expected) else None
    check(status == 200 and listing is not None and int(listing.group(2)) == len(value.encode()),
          f"{what}: /var/openfaas/secrets/db-password holds {value!r}, read-only, listed by ls -l ({status} {data!r})")


def deploy_large_and_secret(args):
    """Boot 1: a 60,000-byte environment reaches an image function exactly; 64 KiB + 1 is refused
    naming the limit; a secret is a read-only file, each tenant's its own, never in describe or logs."""
    port = args.port
    headers = {"Content-Type": "application/json"}
    status, data = request(port, "POST", "/system/functions", body=json.dumps(BIGENV).encode(), headers=headers)
    check(status == 202 and (as_json(data) or {}).get("name") == "bigenv", f"deploy with a 60 KB envVars ({status} {data!r})")
    status, data = invoke(port, "bigenv")
    check(status == 200 and data == b"60000 end\n", f"bigenv sees its 60,000-byte variable whole ({status} {data!r})")
    # "BIG=" + value + NUL: one byte over 64 KiB.
    too_large = dict(BIGENV, service="toolarge", envVars={"BIG": "y" * (65536 - 4)})
    status, data = request(port, "POST", "/system/functions", body=json.dumps(too_large).encode(), headers=headers)
    check(status == 400 and as_json(data) == {"error": TOO_LARGE}, f"65,537 bytes of environment are refused ({status} {data!r})")
    status, data = request(port, "GET", "/system/function/toolarge")
    check(status == 404, f"nothing of the refused deployment is left ({status} {data!r})")
    status, data = request(port, "POST", "/system/functions", body=json.dumps(READSECRET).encode(), headers=headers)
    check(status == 202, f"deploy naming a secret ({status} {data!r})")
    check_readsecret(port, SECRET_VALUE, "boot 1")
    # Tenant 2's secret of the same name is its own: its function (from its own copy of the image)
    # reads its value, never tenant 1's.
    body = open(os.path.join(args.archives, "busybox-docker.tar"), "rb").read()
    status, data = request(port, "POST", "/system/images?name=busybox-docker", body=body, key=OTHER_KEY)
    check(status == 201, f"tenant 2 pushes busybox-docker ({status} {data!r})")
    status, data = secrets_request(port, "POST", {"name": "db-password", "value": "tenant-two"}, key=OTHER_KEY)
    check(status == 201, f"tenant 2 creates its own db-password ({status} {data!r})")
    status, data = request(port, "POST", "/system/functions", body=json.dumps(READSECRET).encode(), headers=headers,
                           key=OTHER_KEY)
    check(status == 202, f"tenant 2 deploys readsecret ({status} {data!r})")
    check_readsecret(port, "tenant-two", "tenant 2", key=OTHER_KEY)
    check_readsecret(port, SECRET_VALUE, "tenant 1 after tenant 2's deploy")
    status, data = request(port, "DELETE", "/system/functions/readsecret", key=OTHER_KEY)
    check(status == 200, f"tenant 2 removes its readsecret ({status} {data!r})")
    status, data = secrets_request(port, "DELETE", {"name": "db-password"}, key=OTHER_KEY)
    check(status == 204, f"tenant 2 removes its db-password ({status} {data!r})")
    status, data = request(port, "DELETE", "/system/images/busybox-docker", key=OTHER_KEY)
    check(status == 204, f"tenant 2 removes its image ({status} {data!r})")
    # A static Linux function (Debian's busybox, uploaded as it is) gets its secret files and a large
    # environment the same way.
    busybox = open(shutil.which("busybox") or "/bin/busybox", "rb").read()
    status, data = request(port, "POST", "/system/functions", body=busybox,
                           headers={"X-Function-Config": json.dumps({"name": "sbb", "linux": True, "memory": 32 << 20})})
    check(status == 201, f"native deploy of Debian's static busybox ({status} {data!r})")
    deployment = {"service": "sbbsecret", "image": "sbb", "secrets": ["db-password"], "envVars": {"BIG": BIG_VALUE},
                  "envProcess": "sh -c 'read -r v < /var/openfaas/secrets/db-password; echo \"$v ${#BIG}\"'",
                  "limits": {"memory": "32Mi"}}
    status, data = request(port, "POST", "/system/functions", body=json.dumps(deployment).encode(), headers=headers)
    check(status == 202, f"deploy of a static Linux function naming a secret ({status} {data!r})")
    status, data = invoke(port, "sbbsecret")
    check(status == 200 and data == f"{SECRET_VALUE} 60000\n".encode(),
          f"the static function reads its secret file and its 60,000-byte variable ({status} {data!r})")
    for name in ("sbbsecret", "sbb"):
        status, data = request(port, "DELETE", f"/system/functions/{name}")
        check(status == 200, f"remove {name} ({status} {data!r})")
    for path in ("/system/function/readsecret", "/system/functions", "/system/logs?name=readsecret"):
        status, data = request(port, "GET", path)
        check(status == 200 and SECRET_VALUE.encode() not in data and b"tenant-two" not in data,
              f"GET {path} shows no secret value ({status})")


def check_kept_functions(args, present, what):
    """Each kept function answers exactly; jecho's FunctionStatus carries the update's metadata."""
    port = args.port
    expected = {"pecho": (b"persist me", b"persist me"), "jecho": (b"\x00binary\xff", b"\x00binary\xff"),
                "bb2": (b"", OUTPUT_ARGS), "ofbb": (b"", b"hi openfaas\n"), "bigenv": (b"", b"60000 end\n"),
                "readsecret": None,  # check_readsecret: its value depends on the boot.
                "upbb": (b"", UPBB_V2_OUTPUT)}
    for name in present:
        if expected[name] is None:
            continue
        given, output = expected[name]
        status, data = request(port, "POST", f"/function/{name}", body=given)
        check(status == 200 and data == output, f"{what}: {name} answers {output!r} ({status} {data!r})")
    if "jecho" in present:
        status, data = request(port, "GET", "/system/function/jecho")
        answer = as_json(data) or {}
        check(status == 200 and answer.get("labels") == {"team": "b", "tier": "2"} and
              answer.get("annotations") == {"note": "updated"} and answer.get("limits") == {"memory": str(8 << 20)},
              f"{what}: jecho's status keeps the update's labels, annotations and memory ({status} {data!r})")
    if "upbb" in present:  # The update is what a restart brings back, its envProcess whole.
        check_upbb_status(port, UPBB_V2_COMMAND, "busybox-docker", {"version": "2"}, what)
    status, data = request(port, "GET", "/system/functions")
    names = sorted(f.get("name") for f in (as_json(data) or []))
    check(status == 200 and names == sorted(present), f"{what}: exactly {sorted(present)} are deployed ({names})")


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
    check_kept_functions(args, ["pecho", "jecho", "bb2", "ofbb", "bigenv", "readsecret", "upbb"], "after the first reboot")
    check_readsecret(port, SECRET_VALUE, "after the first reboot")
    check_secret_list(port, ["db-password", "raw"], "after the first reboot")
    status, data = secrets_request(port, "PUT", {"name": "db-password", "value": "rotated"})
    check(status == 200 and as_json(data) == {"name": "db-password"}, f"PUT updates a secret: 200 ({status} {data!r})")
    # A function keeps the value it was deployed with until it is deployed again (docs/API.md, Secrets).
    check_readsecret(port, SECRET_VALUE, "after the secret's update, before a redeploy")
    status, data = secrets_request(port, "DELETE", {"name": "raw"})
    check(status == 204 and data == b"", f"DELETE a secret is 204 ({status} {data!r})")
    status, data = secrets_request(port, "DELETE", {"name": "raw"})
    check(status == 404, f"DELETE again is 404 ({status} {data!r})")
    check_secret_list(port, ["db-password"], "after the update and delete")
    status, data = request(port, "DELETE", "/system/functions/pecho")
    check(status == 200, f"delete pecho after the reboot ({status} {data!r})")
    check_kept_functions(args, ["jecho", "bb2", "ofbb", "bigenv", "readsecret", "upbb"], "after deleting pecho")
    return images


def check_follow(args):
    """GET /system/logs?follow=true streams the result line of an invocation made after it began,
    chunked; mettctl logs --follow prints it too."""
    port = args.port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/system/logs?name=jecho&follow=true", headers={"Authorization": f"Bearer {KEY}"})
    stream = connection.getresponse()
    check(stream.status == 200 and stream.getheader("Transfer-Encoding") == "chunked" and
          stream.getheader("Content-Type") == "application/x-ndjson",
          f"follow=true answers 200 chunked x-ndjson ({stream.status} {stream.getheaders()})")
    watcher = subprocess.Popen([args.mettctl, "--gateway", f"http://127.0.0.1:{port}", "--key", KEY, "logs", "jecho",
                                "--follow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)  # mettctl's stream is open before the invocation.
    connection_b = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection_b.request("POST", "/function/jecho", body=b"followed", headers={"Authorization": f"Bearer {KEY}"})
    answer = connection_b.getresponse()
    answer.read()
    call = answer.getheader("X-Call-Id")
    check(answer.status == 200 and call is not None, f"an invocation while following ({answer.status})")
    wanted = f"call={call} status=OK"
    seen = b""
    deadline = time.monotonic() + 60
    while wanted.encode() not in seen and time.monotonic() < deadline:
        piece = stream.read1(4096)
        if not piece:
            break
        seen += piece
    lines = [json.loads(line) for line in seen.splitlines() if line.strip()]
    check(any(line.get("instance") == call and line.get("text", "").startswith(wanted) and line.get("name") == "jecho"
              for line in lines), f"the stream carries the new result line {wanted!r} as a JSON line ({seen[-300:]!r})")
    connection.close()
    printed = b""
    deadline = time.monotonic() + 60
    os.set_blocking(watcher.stdout.fileno(), False)
    while wanted.encode() not in printed and time.monotonic() < deadline and watcher.poll() is None:
        chunk = watcher.stdout.read() or b""
        printed += chunk
        time.sleep(0.2)
    watcher.kill()
    watcher.wait()
    check(f" {call} {wanted}".encode() in printed, f"mettctl logs --follow prints it as it comes ({printed[-300:]!r})")


def boot_three(args):
    port = args.port
    status, data = request(port, "GET", "/system/function/pecho")
    check(status == 404, f"pecho, deleted before the second reboot, stays gone ({status} {data!r})")
    status, data = request(port, "POST", "/function/pecho", body=b"x")
    check(status == 404, f"invoking pecho is 404 ({status} {data!r})")
    check_kept_functions(args, ["jecho", "bb2", "ofbb", "bigenv", "readsecret", "upbb"], "after the second reboot")
    # The restart deployed readsecret again: it reads the secret's value of now.
    check_readsecret(port, "rotated", "after the second reboot")
    check_secret_list(port, ["db-password"], "after the second reboot (raw stays deleted)")
    check_follow(args)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--boot", type=int, required=True)
    parser.add_argument("--archives", required=True)
    parser.add_argument("--mettctl", required=True)
    parser.add_argument("--import-tool", required=True)
    parser.add_argument("--functions", required=True, help="the directory of the native functions (echo.elf)")
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
        deploy_kept_functions(args)
        update_image_function(args)
        create_secrets(args)
        deploy_large_and_secret(args)
    elif args.boot == 2:
        boot_two(args)
    else:
        boot_three(args)
    print(f"{'FAILED: ' + str(len(FAILURES)) if FAILURES else 'all passed'} ({time.monotonic() - STARTED:.1f} s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
