#!/usr/bin/env python3
"""Checks the workspace's `rust-version` against the locked dependency graph: it must equal the highest
`rust-version` any locked dependency declares (lower would be a false promise, higher an unneeded demand).
Run from the repository root (`make test` runs it); needs only cargo and Python 3."""
import json
import re
import subprocess
import sys

meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked"],
                                 check=True, capture_output=True, text=True).stdout)
in_graph = {n["id"] for n in meta["resolve"]["nodes"]}
members = set(meta["workspace_members"])


def version(s):
    return tuple(int(x) for x in s.split("."))[:2]


deps = [(version(p["rust_version"]), p["name"], p["version"])
        for p in meta["packages"] if p["id"] in in_graph and p["id"] not in members and p.get("rust_version")]
need, name, ver = max(deps)
declared = re.search(r'^rust-version\s*=\s*"([0-9.]+)"', open("Cargo.toml").read(), re.M)
if not declared:
    sys.exit("check_msrv: no rust-version in the workspace Cargo.toml ([workspace.package])")
have = version(declared.group(1))
if have != need:
    sys.exit(f"check_msrv: Cargo.toml says rust-version {declared.group(1)}, but the locked dependencies need "
             f"{'.'.join(map(str, need))} ({name} {ver}); set it to that")
print(f"check_msrv: rust-version {declared.group(1)} = the highest a locked dependency needs ({name} {ver})")
