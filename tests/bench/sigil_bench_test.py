"""sigil-bench against a real sigild on a free loopback port.

Usage: sigil_bench_test.py SIGILD SIGIL_BENCH
Runs each scenario for a small count and checks what its JSON reports:
every call counted once, valid tokens verify, bad ones get the verdicts
they deserve, the fan-out reaches every subscriber. No timing is checked.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

SIGILD = SIGIL_BENCH = ""
COUNT = 60

INVALID_VERDICTS = {"MALFORMED", "BAD_SIGNATURE", "UNSUPPORTED_ALGORITHM",
                    "UNKNOWN_KEY", "WRONG_AUDIENCE", "EXPIRED"}


class SigilBenchTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="sigil_bench_test.")
        cls.log_path = os.path.join(cls.work, "sigild.log")
        cls.log = open(cls.log_path, "w")
        cls.sigild = subprocess.Popen(
            [SIGILD, "--listen=127.0.0.1:0",
             "--data_dir=" + os.path.join(cls.work, "data")],
            stdout=cls.log, stderr=subprocess.STDOUT)
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            if cls.sigild.poll() is not None:
                break
            with open(cls.log_path) as f:
                m = re.search(r"sigild serving on \S+ \(port (\d+)\)", f.read())
            if m:
                port = m.group(1)
            else:
                time.sleep(0.1)
        if port is None:
            cls.tearDownClass()
            raise RuntimeError("sigild did not start:\n" + open(cls.log_path).read())
        cls.target = "127.0.0.1:" + port

    @classmethod
    def tearDownClass(cls):
        if cls.sigild.poll() is None:
            cls.sigild.kill()
        cls.sigild.wait()
        cls.log.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def bench(self, *args, target=None):
        return subprocess.run(
            [SIGIL_BENCH, "--target=" + (target or self.target)] + list(args),
            capture_output=True, text=True, timeout=120)

    def run_json(self, scenario, *args):
        done = self.bench("--scenario=" + scenario, "--json", "--warmup=0",
                          "--count=%d" % COUNT, "--concurrency=4",
                          "--max_time=90s", *args)
        self.assertEqual(done.returncode, 0, done.stderr)
        report = json.loads(done.stdout)
        self.assertEqual(report["scenario"], scenario)
        self.assertFalse(report["hit_time_cap"])
        return report

    def assert_all_counted(self, report, method):
        self.assertEqual(report["completed"], COUNT)
        self.assertEqual(sum(report["status"].values()), COUNT)
        self.assertEqual(report["status"], {"OK": COUNT}, report["first_error"])
        self.assertEqual(report["method"], {method: COUNT})
        latency = report["latency_ms"]
        self.assertTrue(0 < latency["p50"] <= latency["p99"] <= latency["p999"]
                        <= latency["max"])

    def test_verify_repeated_token_is_valid(self):
        report = self.run_json("verify")
        self.assert_all_counted(report, "Verify")
        self.assertEqual(report["verdict"], {"VALID": COUNT})

    def test_verify_distinct_tokens_are_valid(self):
        report = self.run_json("verify_distinct", "--tokens=50")
        self.assert_all_counted(report, "Verify")
        self.assertEqual(report["verdict"], {"VALID": COUNT})

    def test_verify_invalid_reports_each_reason(self):
        report = self.run_json("verify_invalid")
        # The verdict is data: the RPC succeeds.
        self.assert_all_counted(report, "Verify")
        self.assertEqual(set(report["verdict"]), INVALID_VERDICTS)
        self.assertEqual(sum(report["verdict"].values()), COUNT)

    def test_issue(self):
        report = self.run_json("issue")
        self.assert_all_counted(report, "Issue")
        self.assertEqual(report["verdict"], {})

    def test_refresh_follows_each_chain(self):
        report = self.run_json("refresh")
        self.assert_all_counted(report, "Refresh")

    def test_logout_records_a_revocation_each_call(self):
        report = self.run_json("logout")
        self.assert_all_counted(report, "LogoutFromSystem")

    def test_health_is_the_empty_baseline(self):
        report = self.run_json("health")
        self.assert_all_counted(report, "Check")

    def test_mix_logs_in_verifies_and_logs_out(self):
        report = self.run_json("mix")
        self.assertEqual(report["completed"], COUNT)
        self.assertEqual(report["status"], {"OK": COUNT}, report["first_error"])
        methods = report["method"]
        self.assertEqual(set(methods), {"Issue", "Verify", "LogoutFromSystem"})
        self.assertEqual(sum(methods.values()), COUNT)
        verdicts = report["verdict"]
        self.assertEqual(set(verdicts), {"VALID", "LOGGED_OUT"})
        self.assertEqual(sum(verdicts.values()), methods["Verify"])
        # Three verifies before each logout, one after it.
        self.assertGreaterEqual(verdicts["VALID"], verdicts["LOGGED_OUT"])

    def test_watch_reaches_every_subscriber(self):
        done = self.bench("--scenario=watch", "--json", "--subscribers=5",
                          "--count=10", "--max_time=90s")
        self.assertEqual(done.returncode, 0, done.stderr)
        report = json.loads(done.stdout)
        self.assertEqual(report["subscribers"], 5)
        self.assertEqual(report["requested"], 50)
        self.assertEqual(report["completed"], 50)
        self.assertEqual(report["status"], {"OK": 10})
        self.assertEqual(report["method"]["LogoutFromSystem"], 10)

    def test_table_by_default(self):
        done = self.bench("--scenario=health", "--count=10", "--warmup=0")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("throughput", done.stdout)
        self.assertIn("status       OK 10", done.stdout)

    def test_refuses_targets_off_this_machine(self):
        for target in ("10.1.2.3:50051", "example.com:443", "[2001:db8::1]:50051"):
            done = self.bench("--scenario=health", target=target)
            self.assertEqual(done.returncode, 2, target)
            self.assertIn("not on loopback", done.stderr)

    def test_unknown_scenario(self):
        done = self.bench("--scenario=nope", "--count=1")
        self.assertEqual(done.returncode, 2)
        self.assertIn("unknown scenario", done.stderr)


if __name__ == "__main__":
    SIGILD, SIGIL_BENCH = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
