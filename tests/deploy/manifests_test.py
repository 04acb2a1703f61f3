"""deploy/kubernetes and deploy/Dockerfile agree with the binaries.

Usage: manifests_test.py REPO SIGILD SIGIL_AGENT

Both shapes, the single node (deploy/kubernetes) and the replicas on etcd
(deploy/kubernetes/replicated), are read as their kustomizations list them.
In each: every flag the manifests and deploy/sigild.flags pass exists in the
binary's --helpfull; the agent's HTTP probes and scrape port hit its
--http_listen; ports
agree between the listener, the container, the probes, the Service and the
agent's --authority; every file a flag or probe names lies in a mounted
Secret or ConfigMap item; the app and the agent share the agent's socket;
the policy ConfigMap is deploy/policy.example.textproto; the grace period
outlasts --shutdown_grace; the image builds with the libraries
scripts/install-deps.sh lists, installs what the pods run, and the
packages of every library the binaries link as deploy/runtime-packages.sh
finds them. In the replicated shape also: sigild's --etcd_endpoints are
the etcd members' stable names and ports, as their --initial-cluster; the
KEK comes from a read-only Secret whose example holds no key and is not
applied; etcd is reached over mutual TLS under a CA of its own; each
workload has a PodDisruptionBudget of 2 of 3 and spreads over nodes; only
sigild's pods reach etcd's client port; the etcd image is the version the
tests run."""

import os
import posixpath
import re
import subprocess
import sys
import unittest

import yaml

import manifests

REPO = SIGILD = SIGIL_AGENT = None
PROBE = "/usr/local/bin/grpc_health_probe"


def mounted_file(test, pod_spec, c, path):
    """Fails `test` unless `path` is a file some volume puts in container c."""
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    for mount in c.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        volume = volumes[mount["name"]]
        source = volume.get("secret") or volume.get("configMap")
        test.assertIsNotNone(source, "%s: %s is not a Secret or ConfigMap"
                             % (path, mount["name"]))
        items = [i["path"] for i in source.get("items", [])]
        test.assertIn(path[len(prefix):], items,
                      "%s: no item of volume %s" % (path, mount["name"]))
        return volume
    test.fail("%s is in no volume mounted in container %s" % (path, c["name"]))


def mount_of(c, volume_name):
    for mount in c.get("volumeMounts", []):
        if mount["name"] == volume_name:
            return mount["mountPath"]
    return None


class SigildShape:
    """Checks both shapes hold for sigild, its Service and the agent; a
    subclass names its kustomization and sigild's workload."""

    DIRECTORY = None
    WORKLOAD_KIND = None

    @classmethod
    def setUpClass(cls):
        cls.objects, cls.files = manifests.load(REPO, cls.DIRECTORY)
        cls.workload = cls.objects[(cls.WORKLOAD_KIND, "sigild")]
        cls.service = cls.objects[("Service", "sigild")]
        cls.sigild = manifests.container(cls.workload, "sigild")
        cls.sigild_flags = manifests.flags(cls.sigild["args"])
        cls.subsystem = cls.objects[("Deployment", "subsystem-a")]
        cls.agent = manifests.container(cls.subsystem, "sigil-agent")
        cls.agent_flags = manifests.flags(cls.agent["args"])
        cls.app = manifests.container(cls.subsystem, "app")

    def test_every_flag_exists(self):
        for binary, c in ((SIGILD, self.sigild), (SIGIL_AGENT, self.agent)):
            accepted = manifests.binary_flags(binary)
            name = os.path.basename(binary)
            self.assertEqual(c["command"], ["/usr/local/bin/" + name])
            for flag in manifests.flags(c["args"]):
                with self.subTest(binary=name, flag=flag):
                    self.assertIn(flag, accepted)

    def test_every_object_is_in_one_namespace(self):
        namespaces = {o["metadata"].get("namespace") for k, o in
                      self.objects.items() if k[0] != "Namespace"}
        self.assertEqual(namespaces, {"sigil"})
        self.assertIn(("Namespace", "sigil"), self.objects)

    def test_sigterm_grace_outlasts_shutdown_grace(self):
        grace = self.workload["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"]
        shutdown = manifests.duration_seconds(
            self.sigild_flags.get("shutdown_grace", "5s"))
        self.assertGreater(grace, shutdown + 5)

    def test_ports_agree(self):
        host, port = manifests.split_address(self.sigild_flags["listen"])
        self.assertIn(host, ("0.0.0.0", "[::]"))
        ports = {p["name"]: p["containerPort"] for p in self.sigild["ports"]}
        self.assertEqual(ports["grpc"], port)
        self.assertEqual(self.service["spec"]["selector"],
                         self.workload["spec"]["template"]["metadata"]["labels"])
        (service_port,) = self.service["spec"]["ports"]
        target = service_port["targetPort"]
        self.assertEqual(ports[target] if isinstance(target, str) else target,
                         port)
        for probe in ("readinessProbe", "livenessProbe"):
            with self.subTest(probe=probe):
                command = self.sigild[probe]["exec"]["command"]
                self.assertEqual(command[0], PROBE)
                self.assertEqual(manifests.split_address(command[1]),
                                 ("127.0.0.1", port))

    def test_agent_reaches_the_service_over_mtls(self):
        name = "%s.%s.svc" % (self.service["metadata"]["name"],
                              self.service["metadata"]["namespace"])
        host, port = manifests.split_address(self.agent_flags["authority"])
        self.assertEqual(host, name)
        self.assertEqual(port, self.service["spec"]["ports"][0]["port"])
        for flag in ("authority_ca", "authority_cert", "authority_key"):
            self.assertIn(flag, self.agent_flags)
        self.assertEqual(self.agent_flags["issuer"],
                         self.sigild_flags["issuer"])
        # sigild's probe checks its certificate for the name agents dial.
        probe = manifests.flags(
            self.sigild["readinessProbe"]["exec"]["command"][2:])
        self.assertEqual(probe["server_name"], name)

    def test_mounted_files_match_the_flags(self):
        pod = self.workload["spec"]["template"]["spec"]
        for flag in ("tls_cert", "tls_key", "client_ca", "policy"):
            with self.subTest(flag=flag):
                mounted_file(self, pod, self.sigild, self.sigild_flags[flag])
        for probe in ("readinessProbe", "livenessProbe"):
            args = manifests.flags(self.sigild[probe]["exec"]["command"][2:])
            for flag in ("ca", "cert", "key"):
                with self.subTest(probe=probe, flag=flag):
                    mounted_file(self, pod, self.sigild, args[flag])
        pod = self.subsystem["spec"]["template"]["spec"]
        for flag in ("authority_ca", "authority_cert", "authority_key",
                     "policy"):
            with self.subTest(flag=flag):
                mounted_file(self, pod, self.agent, self.agent_flags[flag])

    def test_policy_is_the_example(self):
        volume = mounted_file(self, self.workload["spec"]["template"]["spec"],
                              self.sigild, self.sigild_flags["policy"])
        config_map = self.objects[("ConfigMap", volume["configMap"]["name"])]
        (item,) = volume["configMap"]["items"]
        with open(os.path.join(REPO, "deploy", "policy.example.textproto")) as f:
            self.assertEqual(config_map["data"][item["key"]], f.read())
        system = self.agent_flags["system"]
        self.assertRegex(config_map["data"][item["key"]],
                         r'system \{ name: "%s" \}' % re.escape(system))



class ManifestsTest(SigildShape, unittest.TestCase):
    """The single node: deploy/kubernetes, sigild on RocksDB."""

    DIRECTORY = manifests.MANIFEST_DIR
    WORKLOAD_KIND = "StatefulSet"

    def test_statefulset_keeps_its_data_on_a_claim(self):
        spec = self.workload["spec"]
        self.assertEqual(spec["serviceName"], self.service["metadata"]["name"])
        self.assertEqual(spec["replicas"], 1,
                         "a second replica would be a separate authority")
        claims = [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]]
        data_dir = self.sigild_flags["data_dir"]
        self.assertIn(mount_of(self.sigild, claims[0]), (data_dir, data_dir + "/"))

    def test_agent_policy_grants_the_pods_user_its_system(self):
        pod = self.subsystem["spec"]["template"]["spec"]
        volume = mounted_file(self, pod, self.agent, self.agent_flags["policy"])
        config_map = self.objects[("ConfigMap", volume["configMap"]["name"])]
        (item,) = volume["configMap"]["items"]
        text = config_map["data"][item["key"]]
        user = pod["securityContext"]["runAsUser"]
        self.assertRegex(text, r'principal: "unix-uid:%d"' % user)
        self.assertRegex(text, r'system \{ name: "%s" \}'
                         % re.escape(self.agent_flags["system"]))
        self.assertNotIn("issuer", text.split("grants", 1)[1])
        self.assertNotIn("admin", text)

    def test_app_and_agent_share_the_socket(self):
        kind, path = manifests.split_address(self.agent_flags["listen"])
        self.assertEqual(kind, "unix")
        volumes = {v["name"]: v for v in
                   self.subsystem["spec"]["template"]["spec"]["volumes"]}
        directory = posixpath.dirname(path)
        shared = [m["name"] for m in self.agent["volumeMounts"]
                  if m["mountPath"] == directory]
        self.assertEqual(len(shared), 1, "no volume mounted at " + directory)
        self.assertIn("emptyDir", volumes[shared[0]])
        self.assertEqual(mount_of(self.app, shared[0]), directory)
        env = {e["name"]: e["value"] for e in self.app["env"]}
        self.assertEqual(env["SIGIL_AGENT_ADDRESS"], self.agent_flags["listen"])

    def test_agent_probes_and_scrapes_reach_its_http_side(self):
        host, port = manifests.split_address(self.agent_flags["http_listen"])
        self.assertIn(host, ("0.0.0.0", "[::]"), "the kubelet dials the pod IP")
        ports = {p["name"]: p["containerPort"] for p in self.agent["ports"]}
        for probe, path in (("readinessProbe", "/readyz"),
                            ("livenessProbe", "/healthz")):
            with self.subTest(probe=probe):
                get = self.agent[probe]["httpGet"]
                self.assertEqual(get["path"], path)
                target = get["port"]
                self.assertEqual(
                    ports[target] if isinstance(target, str) else target, port)
        annotations = self.subsystem["spec"]["template"]["metadata"][
            "annotations"]
        self.assertEqual(annotations["prometheus.io/port"], str(port))

    def test_example_flag_files_name_real_flags(self):
        for name, binary in (("sigild.flags", SIGILD),):
            path = os.path.join(REPO, "deploy", name)
            with open(path) as f:
                lines = [l.strip() for l in f]
            args = [l for l in lines if l and not l.startswith("#")]
            self.assertTrue(args, "%s holds no flag" % name)
            accepted = manifests.binary_flags(binary)
            for flag in manifests.flags(args):
                with self.subTest(file=name, flag=flag):
                    self.assertIn(flag, accepted)

    def test_image_installs_what_the_pods_run(self):
        with open(os.path.join(REPO, "deploy", "Dockerfile")) as f:
            dockerfile = f.read()
        self.assertIn("FROM debian:12 AS build", dockerfile)
        self.assertIn("FROM debian:12-slim", dockerfile)
        self.assertIn("COPY --from=build /opt/sigil/bin/ /usr/local/bin/",
                      dockerfile)
        self.assertIn("COPY deploy/kubernetes/grpc_health_probe.py " + PROBE,
                      dockerfile)
        for source in re.findall(r"^COPY (\S+) \S+$", dockerfile, re.MULTILINE):
            with self.subTest(copied=source):
                self.assertTrue(os.path.exists(os.path.join(REPO, source)))

    def test_image_builds_with_the_projects_packages(self):
        with open(os.path.join(REPO, "scripts", "install-deps.sh")) as f:
            listed = re.search(r"^packages=\((.*?)^\)", f.read(),
                               re.MULTILINE | re.DOTALL).group(1).split()
        # cpp-httplib is only the tests' HTTP client.
        test_only = {"libgtest-dev", "libgmock-dev", "libbenchmark-dev",
                     "libclang-rt-14-dev", "libcpp-httplib-dev"}
        needed = [p for p in listed if p not in test_only and
                  (p.endswith("-dev") or p.startswith("protobuf-compiler"))]
        self.assertIn("libgrpc++-dev", needed)
        with open(os.path.join(REPO, "deploy", "Dockerfile")) as f:
            build_stage = f.read().split("FROM debian:12-slim", 1)[0]
        for package in needed:
            with self.subTest(package=package):
                self.assertRegex(build_stage, r"\s%s\s" % re.escape(package))

    def test_image_has_the_libraries_the_binaries_link(self):
        with open(os.path.join(REPO, "deploy", "Dockerfile")) as f:
            dockerfile = f.read()
        self.assertIn("deploy/runtime-packages.sh /opt/sigil/bin/* "
                      ">/opt/sigil/runtime-packages", dockerfile)
        self.assertIn("$(cat /tmp/runtime-packages)", dockerfile)
        # It fails when a library the binaries link is held by no package.
        listed = subprocess.run(
            [os.path.join(REPO, "deploy", "runtime-packages.sh"), SIGILD,
             SIGIL_AGENT], capture_output=True, text=True, check=True)
        packages = listed.stdout.split()
        self.assertIn("libc6", packages)
        installed = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Status}\n"] + packages,
            capture_output=True, text=True, check=True).stdout
        for package in packages:
            with self.subTest(package=package):
                self.assertRegex(installed, r"(?m)^%s install ok installed$"
                                 % re.escape(package))


def pod_labels(workload):
    return workload["spec"]["template"]["metadata"]["labels"]


def selects(selector, labels):
    """Whether a matchLabels selector (or a Service's selector) picks pods
    with `labels`; an empty selector would pick every pod, so it fails."""
    match = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def named_port(c, port):
    """A container port by name or number."""
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    return ports[port] if isinstance(port, str) else port


class ReplicatedManifestsTest(SigildShape, unittest.TestCase):
    """deploy/kubernetes/replicated: a Deployment of sigild replicas on an
    etcd StatefulSet, each behind a PodDisruptionBudget."""

    DIRECTORY = manifests.REPLICATED_DIR
    WORKLOAD_KIND = "Deployment"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etcd_sts = cls.objects[("StatefulSet", "etcd")]
        cls.etcd = manifests.container(cls.etcd_sts, "etcd")
        cls.etcd_flags = manifests.flags(cls.etcd["args"])
        cls.etcd_service = cls.objects[
            ("Service", cls.etcd_sts["spec"]["serviceName"])]

    def member_host(self, index):
        """The stable DNS name of etcd member `index` under its headless
        Service."""
        return "%s-%d.%s.%s.svc" % (
            self.etcd_sts["metadata"]["name"], index,
            self.etcd_service["metadata"]["name"],
            self.etcd_service["metadata"]["namespace"])

    def etcd_port(self, name):
        (port,) = [p for p in self.etcd_service["spec"]["ports"]
                   if p["name"] == name]
        self.assertEqual(named_port(self.etcd, port["targetPort"]),
                         port["port"], "Service etcd port %s" % name)
        return port["port"]

    def test_single_node_statefulset_is_gone(self):
        self.assertNotIn(("StatefulSet", "sigild"), self.objects)
        self.assertEqual(self.workload["spec"]["replicas"], 3)

    def test_sigild_replicas_share_the_etcd_store(self):
        self.assertEqual(self.sigild_flags["store"], "etcd")
        self.assertEqual(self.sigild_flags.get("etcd_prefix", "/sigil/"),
                         "/sigil/")
        client = self.etcd_port("client")
        expected = ["%s:%d" % (self.member_host(i), client)
                    for i in range(self.etcd_sts["spec"]["replicas"])]
        self.assertEqual(self.sigild_flags["etcd_endpoints"].split(","),
                         expected)

    def test_sigild_data_dir_is_an_empty_dir(self):
        pod = self.workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        data_dir = self.sigild_flags["data_dir"]
        (mount,) = [m for m in self.sigild["volumeMounts"]
                    if m["mountPath"].rstrip("/") == data_dir.rstrip("/")]
        self.assertIn("emptyDir", volumes[mount["name"]])
        # The audit log would otherwise die with the pod's emptyDir.
        self.assertEqual(self.sigild_flags.get("audit_log"), "-")

    def test_kek_comes_from_a_secret_mounted_read_only(self):
        pod = self.workload["spec"]["template"]["spec"]
        path = self.sigild_flags["kek_file"]
        volume = mounted_file(self, pod, self.sigild, path)
        secret = volume.get("secret")
        self.assertIsNotNone(secret, "%s is not in a Secret" % path)
        (mount,) = [m for m in self.sigild["volumeMounts"]
                    if m["name"] == volume["name"]]
        self.assertTrue(mount.get("readOnly"), "%s is writable" % path)
        self.assertEqual(secret.get("defaultMode", 0o644) & 0o007, 0,
                         "%s is readable by others" % path)
        self.assertNotIn(secret["secretName"],
                         [v["secret"]["secretName"] for v in pod["volumes"]
                          if "secret" in v and v is not volume])

    def test_kek_secret_is_an_example_holding_no_key(self):
        pod = self.workload["spec"]["template"]["spec"]
        volume = mounted_file(self, pod, self.sigild,
                              self.sigild_flags["kek_file"])
        path = os.path.join(manifests.REPLICATED_DIR, "kek-secret.example.yaml")
        # Applying it would overwrite the real KEK with the placeholder.
        self.assertNotIn(path, self.files)
        with open(os.path.join(REPO, path)) as f:
            (secret,) = [d for d in yaml.safe_load_all(f) if d]
        self.assertEqual(secret["kind"], "Secret")
        self.assertEqual(secret["metadata"]["name"],
                         volume["secret"]["secretName"])
        self.assertEqual(secret["metadata"]["namespace"], "sigil")
        (item,) = volume["secret"]["items"]
        value = secret["stringData"][item["key"]].encode()
        self.assertNotEqual(len(value), 32,
                            "%s holds something the size of a KEK" % path)
        self.assertIn("PLACEHOLDER", value.decode())

    def test_etcd_is_reached_over_mutual_tls_with_its_own_ca(self):
        pod = self.workload["spec"]["template"]["spec"]
        secrets = {}
        for flag in ("etcd_ca", "etcd_cert", "etcd_key"):
            with self.subTest(flag=flag):
                volume = mounted_file(self, pod, self.sigild,
                                      self.sigild_flags[flag])
                secrets[flag] = volume["secret"]["secretName"]
        # Whoever holds a certificate of etcd's CA may write the store.
        tls = mounted_file(self, pod, self.sigild,
                           self.sigild_flags["client_ca"])
        self.assertNotEqual(secrets["etcd_ca"], tls["secret"]["secretName"])
        etcd_pod = self.etcd_sts["spec"]["template"]["spec"]
        self.assertEqual(self.etcd_flags["client-cert-auth"], "true")
        self.assertEqual(self.etcd_flags["peer-client-cert-auth"], "true")
        for flag in ("trusted-ca-file", "cert-file", "key-file",
                     "peer-trusted-ca-file", "peer-cert-file", "peer-key-file"):
            with self.subTest(flag=flag):
                mounted_file(self, etcd_pod, self.etcd, self.etcd_flags[flag])
        for flag in ("listen-client-urls", "advertise-client-urls",
                     "listen-peer-urls", "initial-advertise-peer-urls"):
            with self.subTest(flag=flag):
                self.assertTrue(self.etcd_flags[flag].startswith("https://"))

    def test_etcd_members_are_named_by_the_headless_service(self):
        spec = self.etcd_service["spec"]
        self.assertEqual(spec["clusterIP"], "None")
        # Members resolve each other before any is ready.
        self.assertTrue(spec["publishNotReadyAddresses"])
        self.assertTrue(selects(spec["selector"], pod_labels(self.etcd_sts)))
        env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
               for e in self.etcd["env"] if "valueFrom" in e}
        self.assertEqual(env["POD_NAME"], "metadata.name")
        self.assertEqual(self.etcd_flags["name"], "$(POD_NAME)")
        client, peer = self.etcd_port("client"), self.etcd_port("peer")
        host = self.member_host(0).replace("etcd-0.", "$(POD_NAME).", 1)
        self.assertEqual(self.etcd_flags["advertise-client-urls"],
                         "https://%s:%d" % (host, client))
        self.assertEqual(self.etcd_flags["initial-advertise-peer-urls"],
                         "https://%s:%d" % (host, peer))
        self.assertEqual(self.etcd_flags["listen-client-urls"],
                         "https://0.0.0.0:%d" % client)
        self.assertEqual(self.etcd_flags["listen-peer-urls"],
                         "https://0.0.0.0:%d" % peer)
        members = self.etcd_sts["spec"]["replicas"]
        self.assertEqual(members, 3)
        expected = ["%s-%d=https://%s:%d" % (
            self.etcd_sts["metadata"]["name"], i, self.member_host(i), peer)
                    for i in range(members)]
        self.assertEqual(self.etcd_flags["initial-cluster"].split(","),
                         expected)
        self.assertEqual(self.etcd_flags["initial-cluster-state"], "new")

    def test_etcd_keeps_its_data_on_a_claim(self):
        claims = [t["metadata"]["name"]
                  for t in self.etcd_sts["spec"]["volumeClaimTemplates"]]
        mount = mount_of(self.etcd, claims[0])
        self.assertIsNotNone(mount)
        self.assertTrue(self.etcd_flags["data-dir"].startswith(
            mount.rstrip("/") + "/"), "--data-dir is not on the claim")

    def test_etcd_settings_the_store_relies_on(self):
        self.assertEqual(
            self.etcd_flags["experimental-enable-lease-checkpoint"], "true")
        self.assertIn("auto-compaction-retention", self.etcd_flags)
        # 3.4's default logger crashes etcd on its first warning.
        self.assertEqual(self.etcd_flags.get("logger"), "zap")
        resources = self.etcd["resources"]
        self.assertIn("memory", resources["requests"])
        self.assertIn("memory", resources["limits"])

    def test_etcd_image_is_the_version_the_tests_run(self):
        self.assertEqual(self.etcd["command"], ["/usr/local/bin/etcd"])
        image, _, tag = self.etcd["image"].rpartition(":")
        self.assertEqual(image, "quay.io/coreos/etcd")
        try:
            out = subprocess.run(["etcd", "--version"], capture_output=True,
                                 text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            self.skipTest("no etcd here (scripts/install-deps.sh)")
        version = re.search(r"etcd Version: (\S+)", out).group(1)
        self.assertEqual(tag, "v" + version)

    def test_etcd_probes_reach_its_metrics_listener(self):
        host, port = manifests.split_address(
            self.etcd_flags["listen-metrics-urls"][len("http://"):])
        self.assertEqual(host, "0.0.0.0")
        self.assertEqual(self.etcd["readinessProbe"]["httpGet"]["path"],
                         "/health")
        for probe in ("readinessProbe", "livenessProbe"):
            with self.subTest(probe=probe):
                action = (self.etcd[probe].get("httpGet") or
                          self.etcd[probe]["tcpSocket"])
                self.assertEqual(named_port(self.etcd, action["port"]), port)

    def test_disruption_budgets_keep_two_of_three(self):
        for kind, name in (("Deployment", "sigild"), ("StatefulSet", "etcd")):
            with self.subTest(workload=name):
                workload = self.objects[(kind, name)]
                budgets = [o for (k, _), o in self.objects.items()
                           if k == "PodDisruptionBudget" and
                           selects(o["spec"]["selector"], pod_labels(workload))]
                self.assertEqual(len(budgets), 1,
                                 "no single budget selects " + name)
                self.assertEqual(budgets[0]["spec"]["minAvailable"], 2)
                self.assertEqual(workload["spec"]["replicas"], 3)

    def test_pods_spread_over_nodes(self):
        for kind, name in (("Deployment", "sigild"), ("StatefulSet", "etcd")):
            with self.subTest(workload=name):
                workload = self.objects[(kind, name)]
                anti = workload["spec"]["template"]["spec"]["affinity"][
                    "podAntiAffinity"]
                terms = [t.get("podAffinityTerm", t) for t in
                         anti.get("requiredDuringSchedulingIgnoredDuringExecution", []) +
                         anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
                self.assertTrue(terms, "%s has no anti-affinity" % name)
                for term in terms:
                    self.assertEqual(term["topologyKey"],
                                     "kubernetes.io/hostname")
                    self.assertTrue(selects(term["labelSelector"],
                                            pod_labels(workload)))
        # Two members on one node would lose the quorum with it.
        self.assertIn("requiredDuringSchedulingIgnoredDuringExecution",
                      self.etcd_sts["spec"]["template"]["spec"]["affinity"][
                          "podAntiAffinity"])

    def test_only_sigild_reaches_etcds_client_port(self):
        (policy,) = [o for (k, _), o in self.objects.items()
                     if k == "NetworkPolicy"]
        self.assertTrue(selects(policy["spec"]["podSelector"],
                                pod_labels(self.etcd_sts)))
        client = self.etcd_port("client")
        for rule in policy["spec"]["ingress"]:
            ports = [named_port(self.etcd, p["port"]) for p in rule["ports"]]
            if client not in ports:
                continue
            (peer,) = rule["from"]
            self.assertTrue(selects(peer["podSelector"],
                                    pod_labels(self.workload)))
            self.assertFalse(selects(peer["podSelector"],
                                     pod_labels(self.subsystem)))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: manifests_test.py REPO SIGILD SIGIL_AGENT")
    REPO, SIGILD, SIGIL_AGENT = sys.argv[1:]
    unittest.main(argv=sys.argv[:1], verbosity=2)
