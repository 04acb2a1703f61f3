"""Reads deploy/kubernetes the way the tests need it: the objects by kind
and name, a container's flags, and the binaries' own flag lists."""

import os
import re
import subprocess

import yaml

MANIFEST_DIR = os.path.join("deploy", "kubernetes")


def load(repo):
    """Every object of every manifest the kustomization lists, keyed by
    (kind, name), and the list of files it names."""
    directory = os.path.join(repo, MANIFEST_DIR)
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        files = yaml.safe_load(f)["resources"]
    objects = {}
    for name in files:
        with open(os.path.join(directory, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects, files


def container(workload, name):
    for c in workload["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise KeyError("no container %s" % name)


def flags(args):
    """--name=value arguments as a dict; a bare --name is "true"."""
    result = {}
    for arg in args:
        match = re.fullmatch(r"--([A-Za-z0-9_]+)(?:=(.*))?", arg)
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
