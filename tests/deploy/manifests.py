"""Reads deploy/kubernetes the way the tests need it: the objects of a
kustomization by kind and name, a container's flags, and the binaries' own
flag lists."""

import os
import re
import subprocess

import yaml

MANIFEST_DIR = os.path.join("deploy", "kubernetes")
# The replicated shape (sigild replicas on etcd), beside the single node.
REPLICATED_DIR = os.path.join(MANIFEST_DIR, "replicated")


def load(repo, directory=MANIFEST_DIR):
    """Every object of the kustomization in `directory` (relative to repo),
    keyed by (kind, name), as `kubectl kustomize` would list them, and the
    files they come from, relative to repo. A resource may be a file or a
    directory holding a kustomization (read the same way); the kustomization
    may hold nothing else, so that what is checked here is what applies."""
    objects = {}
    files = []
    _load_into(repo, directory, objects, files)
    return objects, files


def _load_into(repo, directory, objects, files):
    with open(os.path.join(repo, directory, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    unknown = set(kustomization) - {"apiVersion", "kind", "resources"}
    if unknown:
        raise ValueError("%s: kustomization fields this test cannot follow: "
                         "%s" % (directory, sorted(unknown)))
    for name in kustomization["resources"]:
        path = os.path.normpath(os.path.join(directory, name))
        if os.path.isdir(os.path.join(repo, path)):
            _load_into(repo, path, objects, files)
            continue
        files.append(path)
        with open(os.path.join(repo, path)) as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                key = (doc["kind"], doc["metadata"]["name"])
                if key in objects:
                    raise ValueError("%s: %s %s defined twice" % ((path,) + key))
                objects[key] = doc


def container(workload, name):
    for c in workload["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise KeyError("no container %s" % name)


def flags(args):
    """--name=value arguments as a dict; a bare --name is "true"."""
    result = {}
    for arg in args:
        match = re.fullmatch(r"--([A-Za-z0-9_-]+)(?:=(.*))?", arg)
        if not match:
            raise ValueError("not a --flag=value argument: %r" % arg)
        result[match.group(1)] = "true" if match.group(2) is None else match.group(2)
    return result


def binary_flags(binary):
    """The flags the binary accepts, from its --helpfull (Abseil) output."""
    out = subprocess.run([binary, "--helpfull"], capture_output=True, text=True)
    names = set(re.findall(r"^\s+--([A-Za-z0-9_]+) \(", out.stdout + out.stderr,
                           re.MULTILINE))
    if not names:
        raise RuntimeError("no flags in %s --helpfull" % binary)
    return names


def duration_seconds(text):
    """An Abseil duration flag value ("10s", "1m30s", "500ms") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError("not a duration: %r" % text)
    return sum(float(n) * units[u] for n, u in parts)


def split_address(address):
    """("unix", path) or (host, port) of a host:port or unix:PATH address."""
    if address.startswith("unix:"):
        return "unix", address[len("unix:"):]
    host, _, port = address.rpartition(":")
    return host, int(port)
