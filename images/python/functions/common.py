# common.py: what every workload shares: reading its JSON request from stdin, picking the size,
# writing one JSON line to stdout. A request is {"size": "small"|"standard"} (default "small").
import json
import sys


def request():
    text = sys.stdin.read()
    return json.loads(text) if text.strip() else {}


def size(event, sizes):
    name = event.get("size", "small")
    if name not in sizes:
        raise SystemExit("unknown size %r (one of %s)" % (name, ", ".join(sorted(sizes))))
    return name, sizes[name]


def reply(result):
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
