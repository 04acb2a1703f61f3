"""The pods of deploy/kubernetes, reproduced with processes on this machine.

Usage: pod_test.py REPO SIGILD SIGIL_AGENT

Runs sigild and a sigil-agent with exactly the arguments the manifests give
them, with each mounted path mapped to a temporary directory (throwaway
certificates from the openssl command line for the Secrets, the policy
from the ConfigMap, a shared directory for the emptyDir) and the
in-cluster addresses mapped to 127.0.0.1: mTLS between them, the example
policy enforced. Then:
- the manifests' probes pass against both: sigild's exec probes (which fail
  without a client certificate) and the agent's HTTP /readyz and /healthz;
- a login service (the policy's spiffe://example.org/login) issues a token;
- the app, a gRPC client in another language (Python, stubs generated here
  by protoc) on SIGIL_AGENT_ADDRESS, verifies it through the agent: OK;
- Issue is refused by the agent's own policy and, asked with the agent's
  certificate, by sigild: each denial names who refused;
- the app logs the user out of A with the user's own token through the
  agent (its --policy grants the pod's uid, here this process's), and
  within --max_staleness the agent's verdict is LOGGED_OUT; sigild's audit
  line names the agent and, on its behalf, the app's uid;
- SIGTERM stops both within their grace, with status 0.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import grpc

import manifests

PROBE = "/usr/local/bin/grpc_health_probe"
SERVICE_NAME = "sigild.sigil.svc"


def fail(message):
    raise AssertionError(message)


def run(command, **kwargs):
    return subprocess.run(command, check=True, capture_output=True, **kwargs)


class Pki:
    """A throwaway CA and leaf certificates, made with the openssl CLI."""

    def __init__(self, directory):
        self.dir = directory
        self.ca_key = os.path.join(directory, "ca.key")
        self.ca_crt = os.path.join(directory, "ca.crt")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.ca_key,
             "-out", self.ca_crt, "-days", "1", "-subj", "/CN=sigil test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign"])

    def issue(self, out_dir, name, san, usage):
        """Writes tls.crt, tls.key and ca.crt into out_dir, as the Secrets
        in deploy/kubernetes hold them."""
        os.makedirs(out_dir, exist_ok=True)
        key = os.path.join(out_dir, "tls.key")
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=%s\n" % (san, usage))
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
             "-subj", "/CN=" + name])
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_crt,
             "-CAkey", self.ca_key, "-CAcreateserial", "-days", "1",
             "-extfile", ext, "-out", os.path.join(out_dir, "tls.crt")])
        shutil.copy(self.ca_crt, os.path.join(out_dir, "ca.crt"))
        return out_dir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pod:
    """Maps a pod's volumes to local directories, and so the paths its
    containers' arguments name under their mounts."""

    def __init__(self, local_dirs):
        self.local_dirs = local_dirs  # volume name -> local directory

    def mapper(self, container, addresses):
        prefixes = {}
        for mount in container.get("volumeMounts", []):
            prefixes[mount["mountPath"].rstrip("/")] = \
                self.local_dirs[mount["name"]]

        def map_value(value):
            for cluster, local in addresses.items():
                value = value.replace(cluster, local)
            for cluster, local in prefixes.items():
                if value == cluster or value.startswith(cluster + "/"):
                    return local + value[len(cluster):]
                if value.startswith("unix:" + cluster + "/"):
                    return "unix:" + local + value[len("unix:" + cluster):]
            return value

        def map_arg(arg):
            if arg.startswith("--") and "=" in arg:
                name, value = arg.split("=", 1)
                return name + "=" + map_value(value)
            return map_value(arg)

        return map_arg


class Process:

    def __init__(self, name, command, log_dir):
        self.name = name
        self.log = os.path.join(log_dir, name + ".log")
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log,
                                            stderr=subprocess.STDOUT)

    def alive(self):
        return self.process.poll() is None

    def stop(self, grace):
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            fail("%s did not stop within %ss of SIGTERM" % (self.name, grace))

    def kill(self):
        if self.alive():
            self.process.kill()
            self.process.wait()


def probe_command(repo, command, map_arg):
    if command[0] != PROBE:
        fail("probe runs %s, not %s" % (command[0], PROBE))
    script = os.path.join(repo, manifests.MANIFEST_DIR, "grpc_health_probe.py")
    return ["/usr/bin/python3", script] + [map_arg(a) for a in command[1:]]


def wait_until_probe_passes(process, command, deadline_s=30):
    """Bounded wait for readiness: the manifest's own probe, retried."""
    end = time.monotonic() + deadline_s
    while True:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            return
        if not process.alive():
            fail("%s exited before its probe passed" % process.name)
        if time.monotonic() > end:
            fail("%s probe still failing after %ss: %s" %
                 (process.name, deadline_s, result.stderr.strip()))
        time.sleep(0.1)


def http_probe_url(container, probe, map_arg):
    """The URL the kubelet's httpGet probe asks, on the mapped --http_listen
    (manifests_test checks that the probe's port is that one)."""
    listen = map_arg(manifests.flags(container["args"])["http_listen"])
    return "http://%s%s" % (listen, container[probe]["httpGet"]["path"])


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_until_http_probe_passes(process, url, deadline_s=30):
    end = time.monotonic() + deadline_s
    while True:
        status = http_status(url)
        if 200 <= status < 400:
            return
        if not process.alive():
            fail("%s exited before %s passed" % (process.name, url))
        if time.monotonic() > end:
            fail("%s: %s answers %d after %ss" %
                 (process.name, url, status, deadline_s))
        time.sleep(0.1)


def main(repo, sigild_binary, agent_binary):
    objects, _ = manifests.load(repo)
    sts = objects[("StatefulSet", "sigild")]
    deployment = objects[("Deployment", "subsystem-a")]
    sigild = manifests.container(sts, "sigild")
    agent = manifests.container(deployment, "sigil-agent")
    app = manifests.container(deployment, "app")

    work = tempfile.mkdtemp(prefix="sigil_pod.")
    processes = []
    try:
        pki = Pki(work)
        # The Secrets, the ConfigMap, the claim and the emptyDir.
        sigild_tls = pki.issue(
            os.path.join(work, "sigild-tls"), "sigild",
            "DNS:%s,DNS:localhost" % SERVICE_NAME, "serverAuth,clientAuth")
        agent_tls = pki.issue(os.path.join(work, "subsystem-a-tls"),
                              "system-a-agent",
                              "URI:spiffe://example.org/system/A/agent",
                              "clientAuth")
        login_tls = pki.issue(os.path.join(work, "login-tls"), "login",
                              "URI:spiffe://example.org/login", "clientAuth")
        policy_dir = os.path.join(work, "policy")
        os.makedirs(policy_dir)
        policy_volume = next(v for v in sts["spec"]["template"]["spec"]["volumes"]
                             if "configMap" in v)
        config_map = objects[("ConfigMap", policy_volume["configMap"]["name"])]
        for item in policy_volume["configMap"]["items"]:
            with open(os.path.join(policy_dir, item["path"]), "w") as f:
                f.write(config_map["data"][item["key"]])
        for d in ("data", "run"):
            os.makedirs(os.path.join(work, d))

        port = free_port()
        sigild_pod = Pod({"data": os.path.join(work, "data"),
                               "tls": sigild_tls, "policy": policy_dir})
        sigild_map = sigild_pod.mapper(sigild, {
            "0.0.0.0:50051": "127.0.0.1:%d" % port,
            "127.0.0.1:50051": "127.0.0.1:%d" % port})
        sigild_process = Process(
            "sigild", [sigild_binary] + [sigild_map(a) for a in sigild["args"]],
            work)
        processes.append(sigild_process)
        probe = probe_command(repo, sigild["readinessProbe"]["exec"]["command"],
                              sigild_map)
        wait_until_probe_passes(sigild_process, probe)
        liveness = probe_command(
            repo, sigild["livenessProbe"]["exec"]["command"], sigild_map)
        subprocess.run(liveness, check=True)
        without_cert = [a for a in probe
                        if not a.startswith(("--cert=", "--key="))]
        if subprocess.run(without_cert, capture_output=True).returncode == 0:
            fail("sigild answered a caller without a client certificate")
        print("pod_test: sigild probes pass over mTLS on 127.0.0.1:%d" % port)

        # The agent's policy names the pod's uid (runAsUser); here the app
        # is this process, so its uid stands in.
        pod_user = deployment["spec"]["template"]["spec"]["securityContext"][
            "runAsUser"]
        agent_policy_dir = os.path.join(work, "agent-policy")
        os.makedirs(agent_policy_dir)
        agent_volume = next(
            v for v in deployment["spec"]["template"]["spec"]["volumes"]
            if "configMap" in v)
        agent_config = objects[("ConfigMap", agent_volume["configMap"]["name"])]
        for item in agent_volume["configMap"]["items"]:
            with open(os.path.join(agent_policy_dir, item["path"]), "w") as f:
                f.write(agent_config["data"][item["key"]].replace(
                    '"unix-uid:%d"' % pod_user, '"unix-uid:%d"' % os.getuid()))
        agent_pod = Pod({"sigil-socket": os.path.join(work, "run"),
                         "sigil-tls": agent_tls,
                         agent_volume["name"]: agent_policy_dir})
        agent_http_port = free_port()
        agent_map = agent_pod.mapper(
            agent, {"%s:50051" % SERVICE_NAME: "localhost:%d" % port,
                    "0.0.0.0:9102": "127.0.0.1:%d" % agent_http_port})
        agent_process = Process(
            "sigil-agent", [agent_binary] + [agent_map(a) for a in agent["args"]],
            work)
        processes.append(agent_process)
        wait_until_http_probe_passes(
            agent_process, http_probe_url(agent, "readinessProbe", agent_map))
        if http_status(http_probe_url(agent, "livenessProbe", agent_map)) != 200:
            fail("the agent's liveness probe fails")
        print("pod_test: the agent's HTTP probes pass")

        # sigil.v1 stubs for Python, as a subsystem in another language
        # would generate them.
        py_out = os.path.join(work, "py")
        os.makedirs(py_out)
        run(["protoc", "-I", os.path.join(repo, "proto"),
             "--python_out=" + py_out,
             os.path.join(repo, "proto", "sigil", "v1", "identity.proto")])
        sys.path.insert(0, py_out)
        from sigil.v1 import identity_pb2 as pb

        def call(channel, method, request, response_type):
            return channel.unary_unary(
                "/sigil.v1.Identity/" + method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_type.FromString)(
                    request, timeout=5)

        def read(path):
            with open(path, "rb") as f:
                return f.read()

        login = grpc.secure_channel(
            "127.0.0.1:%d" % port,
            grpc.ssl_channel_credentials(
                read(os.path.join(login_tls, "ca.crt")),
                read(os.path.join(login_tls, "tls.key")),
                read(os.path.join(login_tls, "tls.crt"))),
            [("grpc.ssl_target_name_override", SERVICE_NAME)])
        issued = call(login, "Issue",
                      pb.IssueRequest(subject="alice", systems=["A"]),
                      pb.IssueResponse)
        token = issued.access_token

        env = {e["name"]: e["value"] for e in app["env"]}
        app_address = agent_pod.mapper(app, {})(env["SIGIL_AGENT_ADDRESS"])
        to_agent = grpc.insecure_channel(app_address)

        def verdict():
            v = call(to_agent, "Verify", pb.VerifyRequest(token=token,
                                                          system="A"),
                     pb.VerifyResponse).verdict
            return "%s %s" % (v.code, pb.Reason.Name(v.reason))

        got = verdict()
        if got != "OK VALID":
            fail("Verify through the agent: %s, want OK VALID" % got)
        print("pod_test: the app verified through %s: %s" % (app_address, got))

        # Refused twice over: by the agent's own policy (the app's uid holds
        # no issuer grant), and by sigild for the agent's certificate (system
        # A's agent may not issue). Each denial names who refused.
        agent_itself = grpc.secure_channel(
            "127.0.0.1:%d" % port,
            grpc.ssl_channel_credentials(
                read(os.path.join(agent_tls, "ca.crt")),
                read(os.path.join(agent_tls, "tls.key")),
                read(os.path.join(agent_tls, "tls.crt"))),
            [("grpc.ssl_target_name_override", SERVICE_NAME)])
        for channel, who, names in (
                (to_agent, "the agent", "sigil-agent of system A"),
                (agent_itself, "sigild",
                 '"spiffe://example.org/system/A/agent" may not issue')):
            try:
                call(channel, "Issue", pb.IssueRequest(subject="mallory",
                                                       systems=["A"]),
                     pb.IssueResponse)
                fail("Issue was allowed by %s; system A may not issue" % who)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.PERMISSION_DENIED:
                    fail("Issue at %s: %s, want PERMISSION_DENIED"
                         % (who, error.code()))
                if names not in error.details():
                    fail("Issue at %s: %r, want a denial naming %s"
                         % (who, error.details(), names))
        agent_itself.close()

        logout = call(to_agent, "LogoutFromSystem",
                      pb.LogoutFromSystemRequest(system="A", token=token),
                      pb.LogoutResponse)
        if logout.revoked_sessions != 1:
            fail("logout ended %d sessions, want 1" % logout.revoked_sessions)
        with open(os.path.join(work, "data", "audit.log")) as f:
            audited = [l for l in f if '"action":"LogoutFromSystem"' in l]
        want = ('"principal":"spiffe://example.org/system/A/agent",'
                '"on_behalf_of":"unix-uid:%d"' % os.getuid())
        if len(audited) != 1 or want not in audited[0]:
            fail("audit of the logout: %r, want one line with %s"
                 % (audited, want))
        # The agent learns of the logout from its revocation stream: within
        # --max_staleness by contract, milliseconds in practice.
        staleness = manifests.duration_seconds(
            manifests.flags(agent["args"]).get("max_staleness", "2s"))
        started = time.monotonic()
        while True:
            got = verdict()
            if got == "UNAUTHENTICATED LOGGED_OUT":
                break
            if got != "OK VALID" or time.monotonic() - started > staleness:
                fail("Verify after logout: %s, want UNAUTHENTICATED LOGGED_OUT"
                     % got)
            time.sleep(0.01)
        print("pod_test: after the logout the agent says %s (%.0f ms)" %
              (got, (time.monotonic() - started) * 1000))
        login.close()
        to_agent.close()

        code = agent_process.stop(grace=15)
        if code != 0:
            fail("sigil-agent exited %d after SIGTERM" % code)
        grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        code = sigild_process.stop(grace=grace)
        if code != 0:
            fail("sigild exited %d after SIGTERM" % code)
        print("pod_test: PASS")
    except Exception:
        for p in processes:
            p.kill()
            with open(p.log) as f:
                sys.stderr.write("---- %s log ----\n%s" % (p.name, f.read()))
        raise
    finally:
        for p in processes:
            p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: pod_test.py REPO SIGILD SIGIL_AGENT")
    main(*sys.argv[1:])
