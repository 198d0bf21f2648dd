#!/usr/bin/env python3
"""The key file of scenario_gateway_many_keys, written at test time (a ctest fixture): the most keys
a key file may name (4,096, docs/NETWORK.md "Gateway"), key `key_of(t)` for tenant t = 1..4,096 in
that order, the one of OPERATOR_TENANT an operator key (`console`). check_many_keys.py takes the
keys from here. Usage: many_keys.py <output file>."""
import os
import sys

KEYS = 4096
FIRST_TENANT, LAST_TENANT = 1, KEYS
OPERATOR_TENANT = 2048


def key_of(tenant):
    """Tenant t's key (23 characters of the key alphabet), unlike any other's."""
    return f"many-key-{tenant:04d}.{tenant * 7919 % 100003:05d}-{tenant * 31 % 997:03d}"


def key_file():
    lines = ["# scenario_gateway_many_keys: 4,096 keys, one tenant each (tests/gateway/many_keys.py)"]
    for tenant in range(1, KEYS + 1):
        lines.append(f"{key_of(tenant)} tenant={tenant}" + (" console" if tenant == OPERATOR_TENANT else ""))
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} <output file>")
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[1])), exist_ok=True)
    with open(sys.argv[1], "w", encoding="ascii") as output:
        output.write(key_file())
    return 0


if __name__ == "__main__":
    sys.exit(main())
