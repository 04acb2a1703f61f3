"""The pods of deploy/kubernetes/replicated, reproduced with processes.

Usage: replicated_pod_test.py REPO SIGILD

Runs the etcd StatefulSet's three members (Debian's etcd, the version of
the manifest's image) and the sigild Deployment's three replicas with
exactly the arguments the manifests give them: $(POD_NAME) expanded as the
kubelet does, each mounted path mapped to a temporary directory (throwaway
certificates for the Secrets, from two CAs as the manifests ask: etcd's own
and the callers'; 32 random bytes for the KEK; the policy from the
ConfigMap; a directory per emptyDir or claim) and each in-cluster name and
port mapped to a loopback port of its own. Then:
- every member's readiness probe (/health on its metrics listener) passes,
  over peer and client connections that are mutual TLS only;
- every replica's exec probes pass;
- a token issued at replica 0 verifies at replica 1 (the replicas share
  the signing keys through etcd, sealed under the KEK);
- a logout of A at replica 1 is denied at replicas 2 and 0 within
  max_staleness (milliseconds in practice; printed), while B still holds;
- SIGTERM stops every replica within its grace, with status 0.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import grpc

import manifests
from pod_test import (Pki, Pod, Process, fail, free_port, probe_command, run,
                      wait_until_probe_passes)

SERVICE_NAME = "sigild.sigil.svc"
MAX_STALENESS_S = 2.0


def etcd_binary():
    found = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.access(found, os.X_OK):
        fail("no etcd: install etcd-server (scripts/install-deps.sh)")
    return found


def member_name(sts, index):
    return "%s-%d" % (sts["metadata"]["name"], index)


def expand_pod_name(args, name):
    """$(POD_NAME) as the kubelet expands it from the container's env."""
    return [a.replace("$(POD_NAME)", name) for a in args]


def wait_until_healthy(process, url, deadline_s=30):
    end = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if not process.alive():
            fail("%s exited before %s answered" % (process.name, url))
        if time.monotonic() > end:
            fail("%s: %s not healthy after %ss" % (process.name, url,
                                                  deadline_s))
        time.sleep(0.1)


def main(repo, sigild_binary):
    objects, _ = manifests.load(repo, manifests.REPLICATED_DIR)
    etcd_sts = objects[("StatefulSet", "etcd")]
    etcd = manifests.container(etcd_sts, "etcd")
    deployment = objects[("Deployment", "sigild")]
    sigild = manifests.container(deployment, "sigild")
    members = etcd_sts["spec"]["replicas"]
    replicas = deployment["spec"]["replicas"]
    headless = "%s.%s.svc" % (etcd_sts["spec"]["serviceName"],
                              etcd_sts["metadata"]["namespace"])

    work = tempfile.mkdtemp(prefix="sigil_replicated_pod.")
    processes = []
    try:
        # Two CAs, as the manifests ask: etcd admits any certificate its
        # CA signed, so the callers' CA must not be it.
        pki = Pki(work)
        etcd_pki_dir = os.path.join(work, "etcd-pki")
        os.makedirs(etcd_pki_dir)
        etcd_pki = Pki(etcd_pki_dir)
        etcd_tls = etcd_pki.issue(
            os.path.join(work, "etcd-tls"), "etcd",
            "DNS:*.%s,DNS:%s,IP:127.0.0.1" % (headless, headless),
            "serverAuth,clientAuth")
        etcd_client = etcd_pki.issue(os.path.join(work, "sigild-etcd-client"),
                                     "sigild", "DNS:sigild", "clientAuth")
        sigild_tls = pki.issue(
            os.path.join(work, "sigild-tls"), "sigild",
            "DNS:%s,DNS:localhost" % SERVICE_NAME, "serverAuth,clientAuth")
        login_tls = pki.issue(os.path.join(work, "login-tls"), "login",
                              "URI:spiffe://example.org/login", "clientAuth")
        system_tls = {
            s: pki.issue(os.path.join(work, "system-%s-tls" % s),
                         "system-" + s,
                         "URI:spiffe://example.org/system/" + s, "clientAuth")
            for s in ("A", "B")}

        pod_spec = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        kek_dir = os.path.join(work, "kek")
        os.makedirs(kek_dir)
        for item in volumes["kek"]["secret"]["items"]:
            path = os.path.join(kek_dir, item["path"])
            with open(path, "wb") as f:
                f.write(os.urandom(32))
            os.chmod(path, 0o600)
        policy_dir = os.path.join(work, "policy")
        os.makedirs(policy_dir)
        config_map = objects[("ConfigMap",
                              volumes["policy"]["configMap"]["name"])]
        for item in volumes["policy"]["configMap"]["items"]:
            with open(os.path.join(policy_dir, item["path"]), "w") as f:
                f.write(config_map["data"][item["key"]])

        # Every member's client, peer and metrics ports, by in-cluster name.
        client_ports = [free_port() for _ in range(members)]
        peer_ports = [free_port() for _ in range(members)]
        metrics_ports = [free_port() for _ in range(members)]
        names = {}
        for i in range(members):
            host = "%s.%s" % (member_name(etcd_sts, i), headless)
            names["%s:2379" % host] = "127.0.0.1:%d" % client_ports[i]
            names["%s:2380" % host] = "127.0.0.1:%d" % peer_ports[i]

        etcd_processes = []
        for i in range(members):
            data = os.path.join(work, "etcd-%d" % i)
            os.makedirs(data)
            own = dict(names)
            own.update({
                "0.0.0.0:2379": "127.0.0.1:%d" % client_ports[i],
                "0.0.0.0:2380": "127.0.0.1:%d" % peer_ports[i],
                "0.0.0.0:2381": "127.0.0.1:%d" % metrics_ports[i]})
            mapper = Pod({"data": data, "tls": etcd_tls}).mapper(etcd, own)
            args = expand_pod_name(etcd["args"], member_name(etcd_sts, i))
            process = Process(member_name(etcd_sts, i),
                              [etcd_binary()] + [mapper(a) for a in args],
                              work)
            processes.append(process)
            etcd_processes.append(process)
        for i, process in enumerate(etcd_processes):
            probe = etcd["readinessProbe"]["httpGet"]
            wait_until_healthy(process, "http://127.0.0.1:%d%s" %
                               (metrics_ports[i], probe["path"]))
        print("replicated_pod_test: %d etcd members healthy over mutual TLS"
              % members)

        grpc_ports = [free_port() for _ in range(replicas)]
        replica_processes = []
        for r in range(replicas):
            data = os.path.join(work, "sigild-%d" % r)
            os.makedirs(data)
            own = dict(names)
            own.update({"0.0.0.0:50051": "127.0.0.1:%d" % grpc_ports[r],
                        "127.0.0.1:50051": "127.0.0.1:%d" % grpc_ports[r]})
            mapper = Pod({"data": data, "tls": sigild_tls,
                          "etcd-client": etcd_client, "kek": kek_dir,
                          "policy": policy_dir}).mapper(sigild, own)
            process = Process("sigild-%d" % r, [sigild_binary] +
                              [mapper(a) for a in sigild["args"]], work)
            processes.append(process)
            replica_processes.append(process)
            for probe in ("readinessProbe", "livenessProbe"):
                wait_until_probe_passes(process, probe_command(
                    repo, sigild[probe]["exec"]["command"], mapper))
        print("replicated_pod_test: %d sigild replicas pass their probes"
              % replicas)

        py_out = os.path.join(work, "py")
        os.makedirs(py_out)
        run(["protoc", "-I", os.path.join(repo, "proto"),
             "--python_out=" + py_out,
             os.path.join(repo, "proto", "sigil", "v1", "identity.proto")])
        sys.path.insert(0, py_out)
        from sigil.v1 import identity_pb2 as pb

        def read(path):
            with open(path, "rb") as f:
                return f.read()

        def channel(tls, r):
            return grpc.secure_channel(
                "127.0.0.1:%d" % grpc_ports[r],
                grpc.ssl_channel_credentials(
                    read(os.path.join(tls, "ca.crt")),
                    read(os.path.join(tls, "tls.key")),
                    read(os.path.join(tls, "tls.crt"))),
                [("grpc.ssl_target_name_override", SERVICE_NAME)])

        def call(ch, method, request, response_type):
            return ch.unary_unary(
                "/sigil.v1.Identity/" + method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_type.FromString)(
                    request, timeout=5)

        system_a = [channel(system_tls["A"], r) for r in range(replicas)]

        def verdict(r, token, system="A"):
            ch = system_a[r] if system == "A" else channel(system_tls[system], r)
            v = call(ch, "Verify",
                     pb.VerifyRequest(token=token, system=system),
                     pb.VerifyResponse).verdict
            return "%s %s" % (v.code, pb.Reason.Name(v.reason))

        login = channel(login_tls, 0)
        issued = call(login, "Issue",
                      pb.IssueRequest(subject="alice", systems=["A", "B"]),
                      pb.IssueResponse)
        login.close()
        got = verdict(1, issued.access_token)
        if got != "OK VALID":
            fail("a token issued at replica 0, verified at replica 1: %s, "
                 "want OK VALID (keys not shared?)" % got)
        print("replicated_pod_test: issued at replica 0, verified at "
              "replica 1: %s" % got)

        logout = call(system_a[1], "LogoutFromSystem",
                      pb.LogoutFromSystemRequest(system="A", subject="alice"),
                      pb.LogoutResponse)
        if logout.revoked_sessions != 1:
            fail("logout at replica 1 ended %d sessions, want 1"
                 % logout.revoked_sessions)
        for r in (2, 0):
            started = time.monotonic()
            while True:
                got = verdict(r, issued.access_token)
                if "LOGGED_OUT_OF_SYSTEM" in got:
                    break
                if (got != "OK VALID" or
                        time.monotonic() - started > MAX_STALENESS_S):
                    fail("replica %d after the logout at replica 1: %s, "
                         "want LOGGED_OUT_OF_SYSTEM" % (r, got))
                time.sleep(0.005)
            print("replicated_pod_test: logout at replica 1, replica %d says "
                  "%s after %.0f ms" % (r, got,
                                        (time.monotonic() - started) * 1000))
        # Only A: the token still holds at B.
        got = verdict(2, issued.access_token, system="B")
        if got != "OK VALID":
            fail("the token at B after the logout of A: %s, want OK VALID"
                 % got)
        for ch in system_a:
            ch.close()

        grace = pod_spec["terminationGracePeriodSeconds"]
        for process in replica_processes:
            code = process.stop(grace=grace)
            if code != 0:
                fail("%s exited %d after SIGTERM" % (process.name, code))
        for process in etcd_processes:
            process.stop(grace=etcd_sts["spec"]["template"]["spec"][
                "terminationGracePeriodSeconds"])
        print("replicated_pod_test: PASS")
    except Exception:
        for p in processes:
            p.kill()
            with open(p.log) as f:
                sys.stderr.write("---- %s log ----\n%s" % (p.name,
                                                           f.read()[-4000:]))
        raise
    finally:
        for p in processes:
            p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: replicated_pod_test.py REPO SIGILD")
    main(*sys.argv[1:])
