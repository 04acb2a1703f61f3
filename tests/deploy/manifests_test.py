"""deploy/kubernetes and deploy/Dockerfile agree with the binaries.

Usage: manifests_test.py REPO SIGILD SIGIL_AGENT

Every flag the manifests and deploy/sigild.flags pass exists in the
binary's --helpfull; the agent's HTTP probes and scrape port hit its
--http_listen; ports
agree between the listener, the container, the probes, the Service and the
agent's --authority; every file a flag or probe names lies in a mounted
Secret or ConfigMap item; the app and the agent share the agent's socket;
the policy ConfigMap is deploy/policy.example.textproto; the grace period
outlasts --shutdown_grace; the image builds with the libraries
scripts/install-deps.sh lists, installs what the pods run, and the
packages of every library the binaries link as deploy/runtime-packages.sh
finds them.
"""

import os
import posixpath
import re
import subprocess
import sys
import unittest

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


class ManifestsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.objects, cls.files = manifests.load(REPO)
        cls.sts = cls.objects[("StatefulSet", "sigild")]
        cls.service = cls.objects[("Service", cls.sts["spec"]["serviceName"])]
        cls.sigild = manifests.container(cls.sts, "sigild")
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

    def test_statefulset_keeps_its_data_on_a_claim(self):
        spec = self.sts["spec"]
        self.assertEqual(spec["replicas"], 1,
                         "a second replica would be a separate authority")
        claims = [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]]
        data_dir = self.sigild_flags["data_dir"]
        self.assertIn(mount_of(self.sigild, claims[0]), (data_dir, data_dir + "/"))

    def test_sigterm_grace_outlasts_shutdown_grace(self):
        grace = self.sts["spec"]["template"]["spec"][
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
                         self.sts["spec"]["template"]["metadata"]["labels"])
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
        pod = self.sts["spec"]["template"]["spec"]
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
        volume = mounted_file(self, self.sts["spec"]["template"]["spec"],
                              self.sigild, self.sigild_flags["policy"])
        config_map = self.objects[("ConfigMap", volume["configMap"]["name"])]
        (item,) = volume["configMap"]["items"]
        with open(os.path.join(REPO, "deploy", "policy.example.textproto")) as f:
            self.assertEqual(config_map["data"][item["key"]], f.read())
        system = self.agent_flags["system"]
        self.assertRegex(config_map["data"][item["key"]],
                         r'system \{ name: "%s" \}' % re.escape(system))

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

if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: manifests_test.py REPO SIGILD SIGIL_AGENT")
    REPO, SIGILD, SIGIL_AGENT = sys.argv[1:]
    unittest.main(argv=sys.argv[:1], verbosity=2)
